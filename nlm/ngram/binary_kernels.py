"""Numba kernels of the binary format's probing table (see :mod:`nlm.ngram.binary`).

Every n-gram of order >= 2 has one 32-byte slot in an open-addressing table with
linear probing, holding everything scoring needs from it::

    slots_i[h, 0]  ck = key * 32 + order     (key as in the sorted tables; -1: empty)
    slots_i[h, 1]  row * 2 + extends: its local row in table ``order`` (the next
                   order's keys use it), and 1 when a longer n-gram may follow from
                   it (it has continuations, or a backoff weight other than 1)
    slots_f[h, 2]  ln probability            (slots_f: the same memory as float64)
    slots_f[h, 3]  ln backoff weight

so a lookup touches one cache line, where the sorted tables' layout needs one
more line for the probability and another for each backoff weight (as KenLM's
probing structure stores probability and backoff in the entry). An n-gram that
does not extend is not carried as context to the next word, which saves the
lookup that would fail there (as KenLM's state keeps only n-grams that extend;
``extends`` of the unigrams is an array of its own). The table has
any number of slots (not a power of two): a 64-bit hash is mapped to a slot by
``((hash >> 32) * size) >> 32``. Sums are done in the order of
:func:`~nlm.ngram.backoff_kernels._score_corpus`, so the numbers are the same
bit for bit. No validation here.
"""
from __future__ import annotations

import numpy as np
from numba import njit

HASH_MULT = np.uint64(0x9E3779B97F4A7C15)
EMPTY = -1
BOS_ROW = 1


@njit(cache=True, inline="always")
def _slot(ck, size):
    return np.int64(((np.uint64(ck) * HASH_MULT) >> np.uint64(32)) * np.uint64(size)
                    >> np.uint64(32))


@njit(cache=True, inline="always")
def _probe(slots_i, size, ck):
    """The slot holding ``ck``, or -1."""
    h = _slot(ck, size)
    while True:
        c = slots_i[h, 0]
        if c == ck:
            return h
        if c == EMPTY:
            return -1
        h += 1
        if h == size:
            h = 0


@njit(cache=True)
def _extends(child, coff, bow, off, N, k, row):
    """Whether the k-gram at ``row`` has continuations in table k+1 or a backoff
    weight other than 1 (ln 0)."""
    if k < N and child[coff[k] + row + 1] > child[coff[k] + row]:
        return True
    return k < N and bow[off[k - 1] + row] != 0.0


@njit(cache=True)
def _unigram_extends(child, coff, bow, off, N, V, out):
    for w in range(V):
        out[w] = 1 if _extends(child, coff, bow, off, N, 1, w) else 0


@njit(cache=True)
def _build_probing(keys, off, lp, bow, child, coff, N, slots_i, slots_f):
    """Fill the (size, 4) table with every k-gram, k >= 2."""
    size = slots_i.shape[0]
    for h in range(size):
        slots_i[h, 0] = EMPTY
        slots_i[h, 1] = 0
        slots_f[h, 2] = 0.0
        slots_f[h, 3] = 0.0
    for k in range(2, N + 1):
        for g in range(off[k - 1], off[k]):
            ck = keys[g] * 32 + k
            h = _slot(ck, size)
            while slots_i[h, 0] != EMPTY:
                h += 1
                if h == size:
                    h = 0
            row = g - off[k - 1]
            slots_i[h, 0] = ck
            slots_i[h, 1] = row * 2 + (1 if _extends(child, coff, bow, off, N, k, row) else 0)
            slots_f[h, 2] = lp[g]
            slots_f[h, 3] = bow[g]


@njit(cache=True)
def _probing_suffix_closed(keys, off, N, V, slots_i):
    """True when every stored k-gram's last k-1 words are stored too (see
    :func:`~nlm.ngram.backoff_kernels._suffix_closed`)."""
    if N < 3:
        return True
    size = slots_i.shape[0]
    n_max = 1
    for k in range(1, N + 1):
        n_max = max(n_max, off[k] - off[k - 1])
    sfx_prev = np.empty(n_max, dtype=np.int64)
    sfx_cur = np.empty(n_max, dtype=np.int64)
    for g in range(off[1], off[2]):
        sfx_prev[g - off[1]] = keys[g] % V
    for k in range(3, N + 1):
        for g in range(off[k - 1], off[k]):
            key = keys[g]
            h = _probe(slots_i, size, (sfx_prev[key // V] * V + key % V) * 32 + (k - 1))
            if h < 0:
                return False
            sfx_cur[g - off[k - 1]] = slots_i[h, 1] >> 1
        sfx_prev, sfx_cur = sfx_cur, sfx_prev
    return True


@njit(cache=True)
def _stops_cleanly(off, bow, child, coff, N):
    """True when every n-gram that does not extend has backoff weight 1 (ln 0) — with
    suffix closure, what lets scoring stop at the first context not carried."""
    for k in range(1, N):
        for row in range(off[k] - off[k - 1]):
            if child[coff[k] + row + 1] == child[coff[k] + row] and bow[off[k - 1] + row] != 0.0:
                return False
    return True


@njit(cache=True)
def _score_probing(ids, offsets, V, N, uni_lp, uni_bow, uni_ext, slots_i, slots_f, closed, out):
    """out[t] = ln P(ids[t] | its sentence so far), every sentence after <s>."""
    size = slots_i.shape[0]
    prev_row = np.empty(N, dtype=np.int64)   # row of the j-gram ending one token back
    prev_bow = np.empty(N, dtype=np.float64)  # and its backoff weight
    cur_row = np.empty(N, dtype=np.int64)
    cur_bow = np.empty(N, dtype=np.float64)
    for s in range(len(offsets) - 1):
        prev_row[:] = -1
        if uni_ext[BOS_ROW]:
            prev_row[0] = BOS_ROW
            prev_bow[0] = uni_bow[BOS_ROW]
        ctx = 1
        for t in range(offsets[s], offsets[s + 1]):
            w = ids[t]
            cur_row[:] = -1
            if uni_ext[w]:
                cur_row[0] = w
                cur_bow[0] = uni_bow[w]
            longest = 1
            v = uni_lp[w]
            top = min(N, ctx + 1)
            for j in range(2, top + 1):
                r = prev_row[j - 2]
                if r >= 0:
                    h = _probe(slots_i, size, (r * V + w) * 32 + j)
                    if h >= 0:
                        packed = slots_i[h, 1]
                        if packed & 1:
                            cur_row[j - 1] = packed >> 1
                            cur_bow[j - 1] = slots_f[h, 3]
                        longest = j
                        v = slots_f[h, 2]
                    elif closed:
                        break
                elif closed:
                    break
            for m in range(longest, min(N - 1, ctx) + 1):
                if prev_row[m - 1] >= 0:
                    v += prev_bow[m - 1]
                elif closed:
                    break
            out[t] = v
            for j in range(N):
                prev_row[j] = cur_row[j]
                prev_bow[j] = cur_bow[j]
            ctx += 1


@njit(cache=True)
def _sentence_probing(ids, bos, V, N, uni_lp, uni_bow, uni_ext, slots_i, slots_f, out,
                      matched):
    """out[t] = ln P(ids[t] | the sentence so far), matched[t] = the length of the
    longest stored n-gram ending there, for one sentence read after ``<s>`` (``bos``)
    or after no context (the probing-table twin of
    :func:`~nlm.ngram.query_kernels._sentence_full_scores`)."""
    size = slots_i.shape[0]
    prev_row = np.full(N, -1, dtype=np.int64)
    prev_bow = np.zeros(N, dtype=np.float64)
    cur_row = np.empty(N, dtype=np.int64)
    cur_bow = np.empty(N, dtype=np.float64)
    ctx = 0
    if bos and N > 1:
        if uni_ext[BOS_ROW]:
            prev_row[0] = BOS_ROW
            prev_bow[0] = uni_bow[BOS_ROW]
        ctx = 1
    for t in range(len(ids)):
        w = ids[t]
        cur_row[:] = -1
        if uni_ext[w]:
            cur_row[0] = w
            cur_bow[0] = uni_bow[w]
        longest = 1
        v = uni_lp[w]
        for j in range(2, min(N, ctx + 1) + 1):
            r = prev_row[j - 2]
            if r >= 0:
                h = _probe(slots_i, size, (r * V + w) * 32 + j)
                if h >= 0:
                    packed = slots_i[h, 1]
                    if packed & 1:
                        cur_row[j - 1] = packed >> 1
                        cur_bow[j - 1] = slots_f[h, 3]
                    longest = j
                    v = slots_f[h, 2]
        for m in range(longest, min(N - 1, ctx) + 1):
            if prev_row[m - 1] >= 0:
                v += prev_bow[m - 1]
        out[t] = v
        matched[t] = longest
        for j in range(N):
            prev_row[j] = cur_row[j]
            prev_bow[j] = cur_bow[j]
        ctx += 1
