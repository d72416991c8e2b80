"""Numba kernels of the out-of-core pipeline (:mod:`nlm.ngram.external`).

Every kernel takes plain C-contiguous arrays of fixed dtypes and writes into
preallocated outputs; validation and allocation are the callers' business.
Words are int32 ids in [0, V); -1 marks a position before a sentence's ``<s>``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

BOS = 1
EOS = 2


# -- stage 1: windows ------------------------------------------------------------------

@njit(cache=True, nogil=True)
def _windows(ids, N, part_of, win, part):
    """For every token x of ``ids`` (whole sentences, each ending with ``</s>``), the
    window of the N words ending at x in the padded stream: ``win[j] = w_{t-N+2} ..
    w_t, x`` where w_t is the word before x (``<s>`` for a sentence's first token) and
    -1 stands for positions before ``<s>``. ``part[j] = part_of[w_t]``: every n-gram
    of order >= 2 whose second-to-last word is w_t is read from this window."""
    hist = np.empty(N - 1, dtype=np.int32)
    for c in range(N - 2):
        hist[c] = -1
    hist[N - 2] = BOS
    for j in range(len(ids)):
        x = ids[j]
        for c in range(N - 1):
            win[j, c] = hist[c]
        win[j, N - 1] = x
        part[j] = part_of[hist[N - 2]]
        if x == EOS:
            for c in range(N - 2):
                hist[c] = -1
            hist[N - 2] = BOS
        else:
            for c in range(N - 2):
                hist[c] = hist[c + 1]
            hist[N - 2] = x


@njit(cache=True, nogil=True)
def _windows_of(ids, N, part_of, q, win, start):
    """The windows of :func:`_windows` whose context word w_t belongs to partition ``q``,
    appended to ``win`` from row ``start``; returns the next free row."""
    hist = np.empty(N - 1, dtype=np.int32)
    for c in range(N - 2):
        hist[c] = -1
    hist[N - 2] = BOS
    j = start
    for i in range(len(ids)):
        x = ids[i]
        if part_of[hist[N - 2]] == q:
            for c in range(N - 1):
                win[j, c] = hist[c]
            win[j, N - 1] = x
            j += 1
        if x == EOS:
            for c in range(N - 2):
                hist[c] = -1
            hist[N - 2] = BOS
        else:
            for c in range(N - 2):
                hist[c] = hist[c + 1]
            hist[N - 2] = x
    return j


@njit(cache=True, nogil=True)
def _group(keys, n_groups, order):
    """Stable counting sort of positions by ``keys`` (values in [0, n_groups)): writes
    the permutation to ``order`` and returns the (n_groups + 1,) group starts."""
    start = np.zeros(n_groups + 1, dtype=np.int64)
    for i in range(len(keys)):
        start[keys[i] + 1] += 1
    for g in range(n_groups):
        start[g + 1] += start[g]
    fill = start[:-1].copy()
    for i in range(len(keys)):
        g = keys[i]
        order[fill[g]] = i
        fill[g] += 1
    return start


@njit(cache=True, nogil=True)
def _first_and_counts(ids, base, first, counts):
    """Unigram counts of ``ids`` (added to ``counts``) and the first position of each
    word (``first[w]`` kept if already set below ``base + j``)."""
    for j in range(len(ids)):
        w = ids[j]
        counts[w] += 1
        if first[w] > base + j:
            first[w] = base + j


# -- stage 2: counting a partition -----------------------------------------------------

@njit(cache=True, nogil=True)
def _keep_valid(pos, m, win, col):
    """Compact the first ``m`` entries of ``pos`` to the windows whose column ``col``
    holds a word (the n-gram reaching that far back exists). Returns how many."""
    kept = 0
    for i in range(m):
        j = pos[i]
        if win[j, col] >= 0:
            pos[kept] = j
            kept += 1
    return kept


@njit(cache=True, nogil=True)
def _sort_by_pair(pos, m, hi, n_hi, win, col, V, tmp, out):
    """``out[:m]``: the windows ``pos[:m]`` sorted by (hi[j], win[j, col]), by two stable
    counting sorts (low key first)."""
    start = np.zeros(V + 1, dtype=np.int64)
    for i in range(m):
        start[win[pos[i], col] + 1] += 1
    for v in range(V):
        start[v + 1] += start[v]
    for i in range(m):
        j = pos[i]
        w = win[j, col]
        tmp[start[w]] = j
        start[w] += 1
    start2 = np.zeros(n_hi + 1, dtype=np.int64)
    for i in range(m):
        start2[hi[tmp[i]] + 1] += 1
    for r in range(n_hi):
        start2[r + 1] += start2[r]
    for i in range(m):
        j = tmp[i]
        r = hi[j]
        out[start2[r]] = j
        start2[r] += 1


@njit(cache=True, nogil=True)
def _sort_within(pos, m, hi, win, col, out):
    """``out[:m]``: the windows ``pos[:m]``, already grouped by ``hi[j]`` in increasing
    order, sorted within each group by ``win[j, col]``: the same order as
    :func:`_sort_by_pair` up to the order of equal pairs, in one pass (small groups by
    insertion, larger ones by sorting word-and-index keys)."""
    a = 0
    while a < m:
        h = hi[pos[a]]
        b = a + 1
        while b < m and hi[pos[b]] == h:
            b += 1
        g = b - a
        if g <= 32:
            for i in range(a, b):
                j = pos[i]
                w = win[j, col]
                x = i - 1
                while x >= a and win[out[x], col] > w:
                    out[x + 1] = out[x]
                    x -= 1
                out[x + 1] = j
        else:
            keys = np.empty(g, dtype=np.int64)
            for i in range(g):
                keys[i] = (np.int64(win[pos[a + i], col]) << 32) | i
            keys.sort()
            for i in range(g):
                out[a + i] = pos[a + (keys[i] & 0xFFFFFFFF)]
        a = b


@njit(cache=True, nogil=True)
def _fill_pairs(sorted_pos, m, hi, win, col, first, suffix, count, row_new):
    """The table of distinct (suffix row, first word) pairs in sorted order, their
    counts, and ``row_new[j]``: the row of the n-gram read from window j."""
    n = -1
    last_h = -1
    last_w = -1
    for i in range(m):
        j = sorted_pos[i]
        h = hi[j]
        w = win[j, col]
        if h != last_h or w != last_w:
            n += 1
            last_h = h
            last_w = w
            first[n] = w
            suffix[n] = h
            count[n] = 0
        count[n] += 1
        row_new[j] = n
    return n + 1


@njit(cache=True, nogil=True)
def _dense_pairs(hi, n_hi, lo, V, ids, rep):
    """Dense ids of the distinct (hi, lo) pairs, numbered in (hi, lo) order: ``ids[i]``
    for each entry; ``rep[c]`` one entry holding pair c. Returns the number of pairs."""
    n = len(hi)
    tmp = np.empty(n, dtype=np.int64)
    out = np.empty(n, dtype=np.int64)
    start = np.zeros(V + 1, dtype=np.int64)
    for i in range(n):
        start[lo[i] + 1] += 1
    for v in range(V):
        start[v + 1] += start[v]
    for i in range(n):
        w = lo[i]
        tmp[start[w]] = i
        start[w] += 1
    start2 = np.zeros(n_hi + 1, dtype=np.int64)
    for i in range(n):
        start2[hi[tmp[i]] + 1] += 1
    for r in range(n_hi):
        start2[r + 1] += start2[r]
    for i in range(n):
        j = tmp[i]
        out[start2[hi[j]]] = j
        start2[hi[j]] += 1
    c = -1
    last_h = -1
    last_l = -1
    for i in range(n):
        j = out[i]
        if hi[j] != last_h or lo[j] != last_l:
            c += 1
            last_h = hi[j]
            last_l = lo[j]
            rep[c] = j
        ids[j] = c
    return c + 1


# -- stage 5: sorted output --------------------------------------------------------------

@njit(cache=True, nogil=True)
def _sort_records(rec, k, V, tmp):
    """Sort the rows of ``rec`` (n, k + 2) int32 by their first k columns (words),
    lexicographically: LSD radix sort moving whole rows between ``rec`` and ``tmp``
    (same shape). Returns the array holding the result."""
    n, width = rec.shape
    start = np.empty(V + 1, dtype=np.int64)
    src, dst = rec, tmp
    for c in range(k - 1, -1, -1):
        start[:] = 0
        for i in range(n):
            start[src[i, c] + 1] += 1
        if start[src[0, c] + 1] == n:
            continue            # one value in this column: the order stands
        for v in range(V):
            start[v + 1] += start[v]
        for i in range(n):
            w = src[i, c]
            o = start[w]
            for b in range(width):
                dst[o, b] = src[i, b]
            start[w] = o + 1
        src, dst = dst, src
    return src


@njit(cache=True, nogil=True)
def _rows_equal(a, i, b, j, k):
    for c in range(k):
        if a[i, c] != b[j, c]:
            return False
    return True


@njit(cache=True, nogil=True)
def _join_sorted(a, b, bvals, out):
    """``out[i] = bvals[j]`` where row i of ``a`` equals row j of ``b``; both sorted, the
    rows of ``b`` a subset of those of ``a``. Returns how many rows of ``b`` matched."""
    n, k = a.shape
    m = b.shape[0]
    j = 0
    for i in range(n):
        if j < m and _rows_equal(a, i, b, j, k):
            out[i] = bvals[j]
            j += 1
    return j


@njit(cache=True, nogil=True)
def _context_rows(words, prev, out):
    """``out[i]``: the row of ``prev`` (sorted (m, k-1)) equal to the first k-1 words of
    row i of ``words`` (sorted (n, k)); -1 when it is missing (a bug upstream)."""
    n, k = words.shape
    m = prev.shape[0]
    p = 0
    for i in range(n):
        while p < m:
            same = True
            for c in range(k - 1):
                if prev[p, c] != words[i, c]:
                    same = False
                    break
            if same:
                break
            p += 1
        out[i] = p if p < m else -1
        if p >= m:
            p = 0


@njit(cache=True, nogil=True)
def _balance(words, weights, P, part_of):
    """Greedy partition: each word (heaviest first) goes to the lightest partition."""
    load = np.zeros(P, dtype=np.int64)
    for i in range(len(words)):
        best = 0
        for q in range(1, P):
            if load[q] < load[best]:
                best = q
        part_of[words[i]] = best
        load[best] += weights[i]
    return load


@njit(cache=True, nogil=True)
def _bucket_records(words, values, bucket_of, n_buckets, out):
    """Records (k words, then the float64 value as two int32) of every row, grouped by
    the bucket of their first word, into ``out`` (n, k + 2); returns the bucket starts.
    ``values`` is the (n, 2) int32 view of the float64 values."""
    n, k = words.shape
    start = np.zeros(n_buckets + 1, dtype=np.int64)
    for i in range(n):
        start[bucket_of[words[i, 0]] + 1] += 1
    for r in range(n_buckets):
        start[r + 1] += start[r]
    fill = start[:-1].copy()
    for i in range(n):
        r = bucket_of[words[i, 0]]
        o = fill[r]
        for c in range(k):
            out[o, c] = words[i, c]
        out[o, k] = values[i, 0]
        out[o, k + 1] = values[i, 1]
        fill[r] = o + 1
    return start
