"""The scorers of :mod:`.backoff_kernels` in plain Python, for a few sentences.

Scoring one sentence from an ``.nlmbin`` file takes a few hundred microseconds in
Python; the jitted kernels would first cost Numba's import and the loading of their
cached machine code (about 0.3 s of CPU). :class:`~nlm.ngram.backoff.BackoffModel`
therefore scores its first few thousand tokens here while no kernel has been loaded and
its probing table is already there (mapped from a binary file). The numbers are bit for
bit the kernels': the same probes in the same table (64-bit hashing on Python integers,
masked) and the same float64 sums in the same order (float32 values widen exactly).
``table`` is :meth:`BackoffModel.query_table`'s (meta, ints, vals, closed); no
validation here.
"""
from __future__ import annotations

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15     # the kernels' Fibonacci hashing constant
BOS_ROW = 1


class Probing:
    """A probing table (see :mod:`.backoff_kernels`) read from Python."""

    def __init__(self, table: tuple):
        meta, self.ints, self.vals, self.closed = table
        self.meta = [int(x) for x in meta]
        self.N, self.V = self.meta[0], self.meta[1]

    def probe(self, k: int, r: int, w: int) -> int:
        """:func:`~nlm.ngram.backoff_kernels._probe`: the local row in table k of the
        k-gram (row r of table k-1, word w), or -1."""
        meta, ints = self.meta, self.ints
        cs = meta[meta[3] + k] + r
        lo, hi = ints.item(cs), ints.item(cs + 1)
        if lo == hi:
            return -1
        start = meta[meta[4] + k]
        size = meta[meta[4] + k + 1] - start
        base = meta[meta[2] + k - 1]
        x = ((r * self.V + w) * GOLDEN) & MASK
        h = (((x >> 32) * size) & MASK) >> 32
        while True:
            s = ints.item(start + h)
            if s == 0:
                return -1
            g = s - 1
            if lo <= g < hi and ints.item(base + g) == w:
                return g
            h += 1
            if h == size:
                h = 0

    def word_step(self, w: int, ctx: int, prev: list) -> tuple[float, int, list]:
        """:func:`~nlm.ngram.backoff_kernels._word_step`: (ln P(w | the last ``ctx``
        words, whose rows are ``prev``), the longest stored n-gram ending at w, the rows
        ending at w)."""
        N, meta, closed = self.N, self.meta, self.closed
        cur = [-1] * N
        cur[0] = w
        longest = 1
        for j in range(2, min(N, ctx + 1) + 1):
            r = prev[j - 2]
            if r >= 0:
                row = self.probe(j, r, w)
                cur[j - 1] = row
                if row >= 0:
                    longest = j
                elif closed:
                    break
            elif closed:
                break
        v = self.vals.item(meta[meta[2] + longest - 1] + cur[longest - 1])
        b0 = meta[meta[2] + N]
        for m in range(longest, min(N - 1, ctx) + 1):
            r = prev[m - 1]
            if r >= 0:
                v += self.vals.item(b0 + meta[meta[2] + m - 1] + r)
            elif closed:
                break
        return v, longest, cur


def score_corpus(ids, offsets, table: Probing, out) -> None:
    """:func:`~nlm.ngram.backoff_kernels._score_corpus`: out[t] = ln P(ids[t] | its
    sentence so far), every sentence after ``<s>``."""
    ids, offsets = ids.tolist(), offsets.tolist()
    for s in range(len(offsets) - 1):
        prev = [-1] * table.N
        prev[0] = BOS_ROW
        ctx = 1
        for t in range(offsets[s], offsets[s + 1]):
            out[t], _, prev = table.word_step(ids[t], ctx, prev)
            ctx += 1


def sentence_scores(ids, bos: bool, table: Probing, out, matched) -> None:
    """:func:`~nlm.ngram.backoff_kernels._sentence_scores`: ln P and the longest stored
    n-gram at each word of one sentence, read after ``<s>`` (``bos``) or no context."""
    prev = [-1] * table.N
    ctx = 0
    if bos and table.N > 1:
        prev[0] = BOS_ROW
        ctx = 1
    for t, w in enumerate(ids.tolist()):
        out[t], matched[t], prev = table.word_step(w, ctx, prev)
        ctx += 1


__all__ = ["Probing", "score_corpus", "sentence_scores"]
