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
def _window_part(hist, x, N, part_of, split_row, sub_part):
    """The partition of the window ``hist, x`` (see :func:`_windows`): ``part_of`` of its
    context word w_t, or, for a word split into sub-partitions (``split_row[w_t]`` >= 0),
    ``sub_part[row, u + 1]`` where u is the word before w_t (-1 for none), or the next
    word x where w_t is ``<s>`` (nothing precedes it) or the windows are bigrams."""
    w = hist[N - 2]
    r = split_row[w]
    if r < 0:
        return part_of[w]
    return sub_part[r, _split_key(hist, x, N) + 1]


@njit(cache=True, nogil=True)
def _split_key(hist, x, N):
    """The word that picks a split word's sub-partition (see :func:`_window_part`)."""
    if hist[N - 2] == BOS or N == 2:
        return x
    return hist[N - 3]


@njit(cache=True, nogil=True)
def _advance(hist, x, N):
    """The history after word x (a sentence end starts the next sentence)."""
    if x == EOS:
        for c in range(N - 2):
            hist[c] = -1
        hist[N - 2] = BOS
    else:
        for c in range(N - 2):
            hist[c] = hist[c + 1]
        hist[N - 2] = x


@njit(cache=True, nogil=True)
def _start(N):
    hist = np.empty(N - 1, dtype=np.int32)
    for c in range(N - 2):
        hist[c] = -1
    hist[N - 2] = BOS
    return hist


@njit(cache=True, nogil=True)
def _windows(ids, N, part_of, split_row, sub_part, part, win, start):
    """For every token x of ``ids`` (whole sentences, each ending with ``</s>``), the
    window of the N words ending at x in the padded stream: ``w_{t-N+2} .. w_t, x``
    where w_t is the word before x (``<s>`` for a sentence's first token) and -1 stands
    for positions before ``<s>``; every n-gram of order >= 2 whose second-to-last word is
    w_t is read from this window. The windows are written grouped by partition
    (:func:`_window_part`), in the order of ``ids`` within each: partition q's are
    ``win[start[q]:start[q + 1]]`` (``start``: (P + 1,), ``part``: (len(ids),) scratch)."""
    hist = _start(N)
    start[:] = 0
    for j in range(len(ids)):
        x = ids[j]
        q = _window_part(hist, x, N, part_of, split_row, sub_part)
        part[j] = q
        start[q + 1] += 1
        _advance(hist, x, N)
    for g in range(len(start) - 1):
        start[g + 1] += start[g]
    fill = start[:-1].copy()
    hist = _start(N)
    for j in range(len(ids)):
        x = ids[j]
        r = fill[part[j]]
        fill[part[j]] = r + 1
        for c in range(N - 1):
            win[r, c] = hist[c]
        win[r, N - 1] = x
        _advance(hist, x, N)


@njit(cache=True, nogil=True)
def _windows_of(ids, N, part_of, split_row, sub_part, q, win, start):
    """The windows of :func:`_windows` of partition ``q``, appended to ``win`` from row
    ``start``; returns the next free row."""
    hist = _start(N)
    j = start
    for i in range(len(ids)):
        x = ids[i]
        if _window_part(hist, x, N, part_of, split_row, sub_part) == q:
            for c in range(N - 1):
                win[j, c] = hist[c]
            win[j, N - 1] = x
            j += 1
        _advance(hist, x, N)
    return j


@njit(cache=True, nogil=True)
def _key_counts(ids, N, split_row, counts):
    """``counts[split_row[w_t], u + 1] += 1`` for every window whose context word w_t is
    split, u its key word (:func:`_window_part`)."""
    hist = _start(N)
    for i in range(len(ids)):
        x = ids[i]
        r = split_row[hist[N - 2]]
        if r >= 0:
            counts[r, _split_key(hist, x, N) + 1] += 1
        _advance(hist, x, N)


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
def _sort_rows_by(src, m, col, V, dst):
    """``dst[:m]``: the rows ``src[:m]`` in stable order of ``src[i, col]`` (in [0, V))."""
    start = np.zeros(V + 1, dtype=np.int64)
    for i in range(m):
        start[src[i, col] + 1] += 1
    for v in range(V):
        start[v + 1] += start[v]
    w = src.shape[1]
    for i in range(m):
        o = start[src[i, col]]
        for c in range(w):
            dst[o, c] = src[i, c]
        start[src[i, col]] = o + 1


@njit(cache=True, nogil=True)
def _compact_rows(win, m, col, row, hi):
    """Keep the rows of ``win[:m]`` whose column ``col`` holds a word, in order, moved to the
    front; ``hi[i]`` = ``row`` of the kept row. Returns how many were kept."""
    kept = 0
    w = win.shape[1]
    for i in range(m):
        if win[i, col] >= 0:
            if kept != i:
                for c in range(w):
                    win[kept, c] = win[i, c]
            hi[kept] = row[i]
            kept += 1
    return kept


@njit(cache=True, nogil=True)
def _sort_rows_within(win, m, hi, col):
    """Sort the rows of ``win[:m]``, grouped by ``hi`` (non-decreasing), by column ``col``
    within each group, in place (small groups by insertion, larger ones by sorting
    word-and-index keys)."""
    w = win.shape[1]
    held = np.empty(w, dtype=win.dtype)
    a = 0
    while a < m:
        b = a + 1
        while b < m and hi[b] == hi[a]:
            b += 1
        g = b - a
        if g <= 32:
            for i in range(a + 1, b):
                key = win[i, col]
                x = i - 1
                if win[x, col] <= key:
                    continue
                for c in range(w):
                    held[c] = win[i, c]
                while x >= a and win[x, col] > key:
                    for c in range(w):
                        win[x + 1, c] = win[x, c]
                    x -= 1
                for c in range(w):
                    win[x + 1, c] = held[c]
        else:
            keys = np.empty(g, dtype=np.int64)
            for i in range(g):
                keys[i] = (np.int64(win[a + i, col]) << 32) | i
            keys.sort()
            rows = np.empty((g, w), dtype=win.dtype)
            for i in range(g):
                s = a + (keys[i] & 0xFFFFFFFF)
                for c in range(w):
                    rows[i, c] = win[s, c]
            for i in range(g):
                for c in range(w):
                    win[a + i, c] = rows[i, c]
        a = b


@njit(cache=True, nogil=True)
def _fill_rows(win, m, hi, col, first, suffix, count, row_new):
    """The table of distinct (suffix row ``hi``, first word ``win[:, col]``) pairs of rows
    sorted by them, their counts, and ``row_new[i]``: the row of the n-gram of row i."""
    n = -1
    last_h = -1
    last_w = -1
    for i in range(m):
        h = hi[i]
        w = win[i, col]
        if h != last_h or w != last_w:
            n += 1
            last_h = h
            last_w = w
            first[n] = w
            suffix[n] = h
            count[n] = 0
        count[n] += 1
        row_new[i] = n
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
