"""Numba kernels behind :func:`nlm.ngram.counts.count_ngrams`.

The counting is a linear-time radix sort, one order at a time. Positions of
the padded stream (``<s> w1 .. wn </s>`` per sentence) are kept sorted by
their word once (``order_by_word``). For order k, a stable counting sort of
those positions by the row of the (k-1)-gram ending just before them
(``sort_by_context``) leaves them sorted by (context row, word), which is
exactly the key order ``context_row * V + word`` of table k. Equal keys are
then adjacent: ``count_distinct`` sizes the table, ``fill_table`` writes its
keys, counts, suffix rows, and the row of the k-gram ending at each position
(the context rows of order k+1). No comparison sort, no hashing.

Kernels trust their inputs (C-contiguous, fixed dtypes, in-range rows); the
Python wrapper validates and allocates.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _pad_stream(ids, offsets, words, depth):
    """Fill ``words`` (T + S,) with every sentence preceded by ``<s>`` (id 1) and
    ``depth`` with each position's index in its padded sentence (0 at ``<s>``)."""
    S = len(offsets) - 1
    j = 0
    for s in range(S):
        words[j] = 1
        depth[j] = 0
        j += 1
        d = 1
        for t in range(offsets[s], offsets[s + 1]):
            words[j] = ids[t]
            depth[j] = d
            d += 1
            j += 1


@njit(cache=True)
def _order_by_word(words, depth, V, out):
    """Positions with depth >= 1 (every scored token), stably sorted by word.
    Writes them to ``out`` and returns how many there are."""
    start = np.zeros(V + 1, dtype=np.int64)
    for i in range(len(words)):
        if depth[i] >= 1:
            start[words[i] + 1] += 1
    for v in range(V):
        start[v + 1] += start[v]
    m = start[V]
    for i in range(len(words)):
        if depth[i] >= 1:
            w = words[i]
            out[start[w]] = i
            start[w] += 1
    return m


@njit(cache=True)
def _sort_by_context(positions, m, depth, k, row_prev, n_prev, ctx, out):
    """Keep the first ``m`` entries of ``positions`` that end a k-gram (depth >=
    k-1), compacting ``positions`` in place, and write them to ``out`` stably
    sorted by the row of the (k-1)-gram ending before them (``ctx``, (m,) scratch,
    holds those rows in ``positions`` order). Returns the count kept."""
    kept = 0
    for j in range(m):
        q = positions[j]
        if depth[q] >= k - 1:
            positions[kept] = q
            ctx[kept] = row_prev[q - 1]
            kept += 1
    start = np.zeros(n_prev + 1, dtype=np.int64)
    for j in range(kept):
        start[ctx[j] + 1] += 1
    for r in range(n_prev):
        start[r + 1] += start[r]
    for j in range(kept):
        r = ctx[j]
        out[start[r]] = positions[j]
        start[r] += 1
    return kept


@njit(cache=True)
def _count_distinct(sorted_pos, m, words, row_prev):
    """Number of distinct (context row, word) pairs among sorted positions."""
    n = 0
    last_r = -1
    last_w = -1
    for j in range(m):
        q = sorted_pos[j]
        r = row_prev[q - 1]
        w = words[q]
        if r != last_r or w != last_w:
            n += 1
            last_r = r
            last_w = w
    return n


@njit(cache=True)
def _fill_table(sorted_pos, m, words, row_prev, V, keys, counts, suffix, row_new):
    """Table k from positions sorted by (context row, word): ``keys`` (n,) =
    context_row * V + word, ``counts`` (n,), ``suffix`` (n,) = row in table k-1
    of the k-gram without its first word (the (k-1)-gram ending at the same
    position), and ``row_new[q]`` = row of the k-gram ending at position q."""
    n = -1
    last_r = -1
    last_w = -1
    for j in range(m):
        q = sorted_pos[j]
        r = row_prev[q - 1]
        w = words[q]
        if r != last_r or w != last_w:
            n += 1
            last_r = r
            last_w = w
            keys[n] = r * V + w
            counts[n] = 0
            suffix[n] = row_prev[q]
        counts[n] += 1
        row_new[q] = n


@njit(cache=True)
def _first_positions(ids, out):
    """out[w] = index of the first occurrence of word w in ``ids`` (left as is
    for words that never occur)."""
    for i in range(len(ids) - 1, -1, -1):
        out[ids[i]] = i
