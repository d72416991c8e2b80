"""Counting n-grams of every order 1..N, and the tables later stages index.

Stage 1 of n-gram estimation (count -> adjust -> discount -> interpolate ->
write; see :mod:`nlm.ngram.estimate.methods`). Input: a :class:`~nlm.corpus.Corpus`.
Output: :class:`NgramCounts`, sorted tables that later stages and queries
index without scanning.

Each sentence is counted as ``<s> w1 .. wn </s>`` (one ``<s>``, as SRILM and
KenLM). Table 1 is indexed by word id directly (so every vocabulary word,
including ``<s>`` with count 0, has a unigram entry). A k-gram (k >= 2) is
stored as the integer key ``prefix_index * V + last_word``, where
``prefix_index`` is the row of its first k-1 words in table k-1. Keys are
sorted, so the continuations of one context form one contiguous block of the
next table, found by binary search: nothing ever scans a table at query time.
Each k-gram also knows the row of its suffix (the k-gram minus its first
word) in table k-1: that link carries continuation counts down one order and
lower-order probabilities up one order during estimation.

Counting is a radix sort per order in Numba (:mod:`.counts_kernels`), O(T)
time per order for T tokens. Memory while counting: seven int32 arrays of
T + S entries (int64 past 2**31 positions), 28 bytes per token, plus the
growing tables (keys, counts and suffix rows: 24 bytes per distinct n-gram).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..corpus import Corpus
from ..vocab import BOS_ID


@dataclass
class NgramCounts:
    vocab_size: int
    keys: list[np.ndarray]    # keys[k-1]: (n_k,) int64 sorted keys of the k-grams
    counts: list[np.ndarray]  # counts[k-1]: (n_k,) int64
    _child_start: list = field(default_factory=list, repr=False)
    # suffix[k-1]: (n_k,) int64 row in table k-1 of each k-gram minus its first
    # word (k >= 2); suffix[0] is all zeros (the empty n-gram). Empty when the
    # tables were not built by count_ngrams (model files, ARPA).
    suffix: list = field(default_factory=list, repr=False)
    _prefix: list = field(default_factory=list, repr=False)

    @property
    def order(self) -> int:
        return len(self.keys)

    def size(self, k: int) -> int:
        return len(self.keys[k - 1])

    def prefix(self, k: int) -> np.ndarray:
        """Row in table k-1 of each k-gram's context (k >= 2). Cached: estimation
        asks for it many times (``drop_caches`` frees it)."""
        while len(self._prefix) < self.order + 1:
            self._prefix.append(None)
        if self._prefix[k] is None:
            self._prefix[k] = self.keys[k - 1] // self.vocab_size
        return self._prefix[k]

    def drop_caches(self):
        self._prefix = []
        self._child_start = []

    def release(self, k: int):
        """Drop what estimation no longer needs of table k: its counts, suffix
        links and cached context rows (the keys stay)."""
        if k - 1 < len(self.counts):
            self.counts[k - 1] = None
        if k - 1 < len(self.suffix):
            self.suffix[k - 1] = None
        if k < len(self._prefix):
            self._prefix[k] = None
        if k < len(self._child_start):
            self._child_start[k] = None

    def last_word(self, k: int) -> np.ndarray:
        return self.keys[k - 1] % self.vocab_size

    def child_start(self, k: int) -> np.ndarray:
        """(n_{k-1} + 1,) start of each context's block of continuations in table k."""
        while len(self._child_start) < self.order + 1:
            self._child_start.append(None)
        if self._child_start[k] is None:
            bounds = np.arange(self.size(k - 1) + 1, dtype=np.int64) * self.vocab_size
            self._child_start[k] = np.searchsorted(self.keys[k - 1], bounds)
        return self._child_start[k]

    def find(self, ids) -> int:
        """Row of the n-gram ``ids`` in table ``len(ids)``, or -1 if it was never seen."""
        if len(ids) == 0:
            return 0
        row = int(ids[0])
        V = self.vocab_size
        for k in range(2, len(ids) + 1):
            key = row * V + int(ids[k - 1])
            keys = self.keys[k - 1]
            j = int(np.searchsorted(keys, key))
            if j >= len(keys) or keys[j] != key:
                return -1
            row = j
        return row

    def continuations(self, k: int, context_row: int) -> tuple[np.ndarray, np.ndarray]:
        """Word ids and counts of the k-grams whose first k-1 words are row ``context_row``."""
        start = self.child_start(k)
        a, b = start[context_row], start[context_row + 1]
        return self.keys[k - 1][a:b] % self.vocab_size, self.counts[k - 1][a:b]

    def context_totals(self, k: int) -> np.ndarray:
        """(n_{k-1},) total count of all k-grams extending each (k-1)-gram."""
        return np.bincount(self.prefix(k), weights=self.counts[k - 1],
                           minlength=self.size(k - 1)).astype(np.int64)


def padded_stream(ids: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``<s>`` prepended to every sentence, and each position's depth in its sentence
    (0 at ``<s>``). Returns (padded ids (T + S,), depth (T + S,))."""
    S = len(offsets) - 1
    T = len(ids)
    padded = np.empty(T + S, dtype=np.int64)
    bos_pos = offsets[:-1] + np.arange(S)
    is_bos = np.zeros(T + S, dtype=bool)
    is_bos[bos_pos] = True
    padded[is_bos] = BOS_ID
    padded[~is_bos] = ids
    depth = np.arange(T + S, dtype=np.int64) - np.repeat(bos_pos, np.diff(offsets) + 1)
    return padded, depth


def _position_dtype(n: int):
    return np.int32 if n < 2**31 - 1 else np.int64


def count_ngrams(corpus: Corpus, order: int, vocab_size: int) -> NgramCounts:
    """Counts of every k-gram, k = 1..order, with suffix links (see the module doc)."""
    # the kernels (and Numba) are imported when first needed, not with the module
    from .counts_kernels import (_count_distinct, _fill_table, _order_by_word, _pad_stream,
                                 _sort_by_context)
    V = int(vocab_size)
    ids = np.ascontiguousarray(corpus.ids, dtype=np.int32)
    offsets = np.ascontiguousarray(corpus.offsets, dtype=np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= V):
        raise ValueError("corpus ids outside the vocabulary")
    P = len(ids) + len(offsets) - 1
    pos_t = _position_dtype(P)
    words = np.empty(P, dtype=np.int32)
    depth = np.empty(P, dtype=np.int32)
    _pad_stream(ids, offsets, words, depth)

    keys = [np.arange(V, dtype=np.int64)]
    counts = [np.bincount(ids, minlength=V).astype(np.int64)]
    suffix = [np.zeros(V, dtype=np.int64)]
    if order == 1:
        return NgramCounts(V, keys, counts, suffix=suffix)

    by_word = np.empty(P, dtype=pos_t)
    m = _order_by_word(words, depth, V, by_word)
    sorted_pos = np.empty(P, dtype=pos_t)
    ctx = np.empty(P, dtype=pos_t)
    row_prev = words                      # rows of table 1 are word ids
    spare = np.empty(P, dtype=pos_t)
    row_new = np.empty(P, dtype=pos_t)
    for k in range(2, order + 1):
        n_prev = len(keys[-1])
        m = _sort_by_context(by_word, m, depth, k, row_prev, n_prev, ctx, sorted_pos)
        n = _count_distinct(sorted_pos, m, words, row_prev)
        key = np.empty(n, dtype=np.int64)
        cnt = np.empty(n, dtype=np.int64)
        suf = np.empty(n, dtype=np.int64)
        _fill_table(sorted_pos, m, words, row_prev, V, key, cnt, suf, row_new)
        keys.append(key)
        counts.append(cnt)
        suffix.append(suf)
        # the rows just written are the contexts of the next order; the buffer
        # holding order k-1 rows is free again (table 1's rows are ``words``)
        row_prev, row_new = row_new, (spare if row_prev is words else row_prev)
    return NgramCounts(V, keys, counts, suffix=suffix)


def first_positions(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """(V,) index of each word's first occurrence in ``ids`` (len(ids) if none)."""
    from .counts_kernels import _first_positions
    out = np.full(vocab_size, len(ids), dtype=np.int64)
    _first_positions(np.ascontiguousarray(ids, dtype=np.int32), out)
    return out


def ngram_rows(counts: NgramCounts, padded: np.ndarray, depth: np.ndarray,
               max_order: int | None = None) -> list[np.ndarray]:
    """For every position of a padded stream and every order j, the row of the
    j-gram ending there (-1 where it was never seen or would cross ``<s>``).
    rows[j-1] is an int64 array like ``padded``."""
    N = counts.order if max_order is None else max_order
    V = counts.vocab_size
    rows = [np.where(depth >= 0, padded, -1)]
    for j in range(2, N + 1):
        prev = np.full(len(padded), -1, dtype=np.int64)
        prev[1:] = rows[-1][:-1]
        ok = (depth >= j - 1) & (prev >= 0)
        key = np.where(ok, prev * V + padded, 0)
        table = counts.keys[j - 1]
        pos = np.searchsorted(table, key)
        pos_c = np.minimum(pos, max(len(table) - 1, 0))
        found = ok & (len(table) > 0)
        if len(table):
            found &= table[pos_c] == key
        rows.append(np.where(found, pos_c, -1))
    return rows
