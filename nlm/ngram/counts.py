"""Counting n-grams of every order 1..N in one sweep per order, with numpy.

Stage 1 of n-gram estimation (count -> adjust -> discount -> interpolate ->
write). Input: a :class:`~nlm.corpus.Corpus`. Output: :class:`NgramCounts`,
sorted tables that later stages and queries index without scanning.

Each sentence is counted as ``<s> w1 .. wn </s>`` (one ``<s>``, as SRILM and
KenLM). Table 1 is indexed by word id directly (so every vocabulary word,
including ``<s>`` with count 0, has a unigram entry). A k-gram (k >= 2) is
stored as the integer key ``prefix_index * V + last_word``, where
``prefix_index`` is the row of its first k-1 words in table k-1. Keys are
sorted, so the continuations of one context form one contiguous block of the
next table, found by binary search: nothing ever scans a table at query time.
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

    @property
    def order(self) -> int:
        return len(self.keys)

    def size(self, k: int) -> int:
        return len(self.keys[k - 1])

    def prefix(self, k: int) -> np.ndarray:
        """Row in table k-1 of each k-gram's context (k >= 2)."""
        return self.keys[k - 1] // self.vocab_size

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


def count_ngrams(corpus: Corpus, order: int, vocab_size: int) -> NgramCounts:
    padded, depth = padded_stream(corpus.ids, corpus.offsets)
    V = vocab_size
    keys = [np.arange(V, dtype=np.int64)]
    counts = [np.bincount(padded[depth >= 1], minlength=V).astype(np.int64)]
    row = padded  # row of the (k-1)-gram ending at each position, valid where depth >= k-2
    for k in range(2, order + 1):
        valid = np.flatnonzero(depth >= k - 1)
        key = row[valid - 1] * V + padded[valid]
        uniq, inverse, cnt = np.unique(key, return_inverse=True, return_counts=True)
        keys.append(uniq.astype(np.int64))
        counts.append(cnt.astype(np.int64))
        row = np.full(len(padded), -1, dtype=np.int64)
        row[valid] = inverse.reshape(-1)
    return NgramCounts(V, keys, counts)


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
