"""Stage 2 of out-of-core estimation: one partition's windows -> its n-gram tables.

Input: the windows of one partition (:mod:`.shard`), (m, N) int32. Output:
:class:`PartitionTables`: for every order k = 2..N, the distinct k-grams whose
second-to-last word the partition owns, in suffix order (sorted by the row of
their suffix ``w_2 .. w_k``, then by their first word), each with its first word,
the row of its suffix in table k-1 (for k = 2 the suffix is the word ``w_2``
itself), and its count.

The counting is the in-memory radix method (:mod:`nlm.ngram.counts_kernels`) turned
around: the k-gram read from window j is (the (k-1)-gram read from it one order
earlier, one more word to the left). The windows are sorted in place: by (last word,
context word) with two stable counting sorts for the bigrams; then, order by order,
the windows that read the same (k-1)-gram are already together, and sorting each
such group by the next word to the left puts equal k-grams next to each other. Every
pass reads the windows in order (sorting positions instead, and reading the windows
through them, was three times slower: a cache miss a window a pass). Memory: the
windows (4N bytes each) and their sorted copy while the bigrams are sorted, then two
int64 arrays over them, plus the tables (20 bytes an n-gram).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ...vocab import BOS_ID
from . import codec, spill
from .kernels import _compact_rows, _dense_pairs, _fill_rows, _sort_rows_by, _sort_rows_within


@dataclass
class PartitionTables:
    vocab_size: int
    first: list    # first[k]: (n_k,) int32 first word of each k-gram (k = 2..N; 0, 1 unused)
    suffix: list   # suffix[k]: (n_k,) int64 row of w_2..w_k in table k-1 (k = 2: the word)
    count: list    # count[k]: (n_k,) int64
    #: (n_2,) int64 Kneser-Ney counts of the bigrams, where they are not this partition's
    #: own to find (a split word's sub-partitions, :func:`merge_bigrams`); else None
    bigram_adjusted: np.ndarray | None = None

    @property
    def order(self) -> int:
        return len(self.first) - 1

    def size(self, k: int) -> int:
        return len(self.first[k])

    def words(self, k: int, rows: np.ndarray | None = None) -> np.ndarray:
        """(n, k) int32 words of the k-grams at ``rows`` (all by default)."""
        rows = np.arange(self.size(k)) if rows is None else np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), k), dtype=np.int32)
        for j in range(k, 1, -1):
            out[:, k - j] = self.first[j][rows]
            rows = self.suffix[j][rows]
        out[:, k - 1] = rows
        return out

    def contexts(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids (n_k,), rep (n_ctx,)): a dense id for the context ``w_1 .. w_{k-1}`` of each
        k-gram, and one k-gram holding each context. Computed from the contexts of the
        suffixes: context(w_1 .. w_k) = (w_1, context(w_2 .. w_k))."""
        n = self.size(k)
        hi = (np.zeros(n, dtype=np.int64) if k == 2
              else self.context_ids[k - 1][self.suffix[k]])
        n_hi = 1 if k == 2 else int(self.context_count[k - 1])
        ids = np.empty(n, dtype=np.int64)
        rep = np.empty(n, dtype=np.int64)
        c = _dense_pairs(hi, n_hi, self.first[k].astype(np.int64), self.vocab_size, ids, rep)
        return ids, rep[:c]

    def prepare_contexts(self):
        """Context ids of every order (see :meth:`contexts`), kept for estimation."""
        self.context_ids = [None, None]
        self.context_count = [0, 0]
        self.context_rep = [None, None]
        for k in range(2, self.order + 1):
            ids, rep = self.contexts(k)
            self.context_ids.append(ids)
            self.context_count.append(len(rep))
            self.context_rep.append(rep)

    # -- spilling ------------------------------------------------------------------
    def save(self, directory: str, q: int, orders=None):
        """Write the tables of ``orders`` (all by default), replacing those on disk."""
        for k in orders or range(2, self.order + 1):
            for name in _TABLE_DTYPES:
                path = _table_path(directory, q, k, name)
                spill.remove(path)
                codec.append(path, getattr(self, name)[k])
        if self.bigram_adjusted is not None:
            path = _table_path(directory, q, 2, "adjusted")
            spill.remove(path)
            codec.append(path, self.bigram_adjusted)

    @classmethod
    def load(cls, directory: str, q: int, order: int, vocab_size: int) -> "PartitionTables":
        t = cls(vocab_size, [None, None], [None, None], [None, None])
        for k in range(2, order + 1):
            for name, dtype in _TABLE_DTYPES.items():
                getattr(t, name).append(codec.load(_table_path(directory, q, k, name), dtype))
        path = _table_path(directory, q, 2, "adjusted")
        if os.path.exists(path):
            t.bigram_adjusted = codec.load(path, np.int64)
        return t

    @staticmethod
    def remove(directory: str, q: int, order: int):
        for k in range(2, order + 1):
            for name in _TABLE_DTYPES:
                spill.remove(_table_path(directory, q, k, name))
        spill.remove(_table_path(directory, q, 2, "adjusted"))


_TABLE_DTYPES = {"first": np.int32, "suffix": np.int64, "count": np.int64}


def _table_path(directory: str, q: int, k: int, name: str) -> str:
    return os.path.join(directory, f"t{q}.{k}.{name}")


def merge_bigrams(directory: str, subs: list[int], order: int, vocab_size: int
                  ) -> PartitionTables:
    """The bigram level of a split word (see :mod:`.shard`) from the tables of its
    sub-partitions ``subs`` on disk: every bigram's count and Kneser-Ney count summed over
    them (each distinct trigram ``u w v``, one more word before ``w v``, is in one
    sub-partition). Each sub-partition's bigram table is replaced by the merged one, in
    the same order as a partition of its own would hold (by suffix, then first word), and
    its trigrams' suffix rows renumbered to match. Returns the merged bigram tables."""
    V = int(vocab_size)
    parts = [{name: codec.load(_table_path(directory, q, 2, name), dtype)
              for name, dtype in _TABLE_DTYPES.items()} for q in subs]
    keys = np.concatenate([t["suffix"] * V + t["first"] for t in parts])
    merged_keys, row = np.unique(keys, return_inverse=True)
    del keys
    count = np.zeros(len(merged_keys), dtype=np.int64)
    np.add.at(count, row, np.concatenate([t["count"] for t in parts]))
    merged = PartitionTables(V, [None, None, (merged_keys % V).astype(np.int32)],
                             [None, None, merged_keys // V], [None, None, count])
    if order >= 3:
        continuation = np.zeros(len(merged_keys), dtype=np.int64)
        start = 0
        for q, t in zip(subs, parts):
            rows = row[start:start + len(t["count"])]
            start += len(t["count"])
            path = _table_path(directory, q, 3, "suffix")
            longer = codec.load(path, np.int64)
            continuation[rows] += np.bincount(longer, minlength=len(rows))
            spill.remove(path)
            codec.append(path, rows[longer])
        # as kneser_ney_counts: n-grams that start with <s> keep their raw counts
        merged.bigram_adjusted = np.where(merged.first[2] == BOS_ID, count, continuation)
    for q in subs:
        merged.save(directory, q, orders=[2])
    return merged


def count_partition(win: np.ndarray, order: int, vocab_size: int) -> PartitionTables:
    """The partition's tables from its windows (reordered in place: pass a copy to keep
    them). The windows themselves are sorted, so that every pass reads them in order:
    by (last word, context word) with two counting sorts for the bigrams, then, order by
    order, within each group of windows that read the same (k-1)-gram by the next word to
    the left (windows too short for the order dropped)."""
    N, V = order, int(vocab_size)
    win = np.ascontiguousarray(win, dtype=np.int32)
    m = len(win)
    tables = PartitionTables(V, [None, None], [None, None], [None, None])
    rows = np.empty_like(win)
    _sort_rows_by(win, m, N - 2, V, rows)
    _sort_rows_by(rows, m, N - 1, V, win)
    del rows
    hi = win[:, N - 1].astype(np.int64)           # order-1 rows: word ids
    row_new = np.empty(m, dtype=np.int64)
    kept = m
    for k in range(2, N + 1):
        col = N - k
        if k > 2:
            kept = _compact_rows(win, kept, col, row_new, hi)
            _sort_rows_within(win, kept, hi, col)
        # at most one n-gram per window: fill, then keep the part used
        first = np.empty(kept, dtype=np.int32)
        suffix = np.empty(kept, dtype=np.int64)
        cnt = np.empty(kept, dtype=np.int64)
        n = _fill_rows(win, kept, hi, col, first, suffix, cnt, row_new)
        tables.first.append(first[:n].copy())
        tables.suffix.append(suffix[:n].copy())
        tables.count.append(cnt[:n].copy())
        del first, suffix, cnt
    return tables
