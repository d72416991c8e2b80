"""Numba kernels for querying backoff tables (see :mod:`nlm.ngram.backoff`): one
probing table, the same for models in memory, binary files and :mod:`nlm.kenlm`.

Every query reads three arrays (few arguments: a call from Python pays for each)::

    meta  int64        N, V, and where in meta three lists start: off (the first
                       global row of each order, N+1), the positions in ints of
                       each order's block starts (index k = 2..N) and of each
                       order's table (k = 2..N+1, the last is the end)
    ints  uint32/int64 word[g] for every n-gram (global row g; order k at
                       off[k-1]:off[k]; a unigram's row is its word id), then for
                       k = 2..N the (n_{k-1}+1,) start of each (k-1)-gram's block of
                       continuations in table k (local rows, as a trie), then for
                       k = 2..N an open-addressing table (linear probing, load factor
                       0.7) whose slots hold local row + 1 of a k-gram (0: empty)
    vals  float64/32   ln probability of every n-gram, then the ln backoff weight of
                       every n-gram of order < N

A k-gram is (row r of its (k-1)-word prefix, last word w): its slot is found by
hashing r * V + w, and a slot is verified by the row's word and its place in r's
block of continuations, so there are no false matches and no stored keys. Scoring
carries the rows of the n-grams ending at the last word from word to word, one probe
per order; next-word distributions and export walk the blocks of continuations. A
model in memory builds the table on first use from its sorted tables (float64
values); a binary file maps it (float32 values, as KenLM's).

Floating-point sums are done in the same order everywhere (the probability of the
longest stored n-gram, then the backoff weights of the longer contexts, shortest
first), so every path gives bit-identical numbers. No validation here (except
:func:`_context_step`, whose ids come from a state object): the Python wrappers check
ids and shapes.
"""
from __future__ import annotations

import numpy as np
from numba import njit

BOS_ROW = 1  # the unigram row of <s> (its word id)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: 2^64 / golden ratio


def compiled_for(kernel, *args):
    """The compiled body of ``kernel`` for the types of ``args`` (compiling it by one call
    with them): calling it skips the dispatcher's type resolution (about 1 us a call),
    which matters for per-word APIs such as nlm.kenlm's. The caller must always pass
    arguments of these same types."""
    kernel(*args)
    from numba import typeof
    want = tuple(typeof(a) for a in args)
    for sig, cres in kernel.overloads.items():
        if tuple(sig) == want:
            return cres.entry_point
    return kernel


@njit(cache=True, inline="always")
def _slot0(key, size):
    x = np.uint64(key) * GOLDEN
    return np.int64(((x >> np.uint64(32)) * np.uint64(size)) >> np.uint64(32))


@njit(cache=True, inline="always")
def probe_insert(ints, start, size, key, value):
    """Put ``value`` in the linear-probing table ``ints[start:start + size]``: the first
    empty (0) slot from ``key``'s home slot on, wrapping around."""
    h = _slot0(key, size)
    while ints[start + h] != 0:
        h += 1
        if h == size:
            h = 0
    ints[start + h] = value


@njit(cache=True, inline="always")
def _probe(meta, ints, k, r, w):
    """Local row in table k of the k-gram (row r of table k-1, word w), or -1."""
    N = meta[0]
    cs = meta[meta[3] + k] + r
    lo = np.int64(ints[cs])
    hi = np.int64(ints[cs + 1])
    if lo == hi:
        return np.int64(-1)             # r has no continuations
    start = meta[meta[4] + k]
    size = meta[meta[4] + k + 1] - start
    base = meta[meta[2] + k - 1]
    h = _slot0(r * meta[1] + w, size)
    while True:
        s = np.int64(ints[start + h])
        if s == 0:
            return np.int64(-1)
        g = s - 1
        if lo <= g and g < hi and np.int64(ints[base + g]) == w:
            return g
        h += 1
        if h == size:
            h = 0


@njit(cache=True, inline="always")
def _extends(meta, ints, vals, k, row):
    """Whether the k-gram at local ``row`` can be continued: it has continuations in
    table k+1 or a backoff weight other than 1 (KenLM keeps it in a state then)."""
    N = meta[0]
    if k >= N:
        return False
    cs = meta[meta[3] + k + 1] + row
    if ints[cs + 1] > ints[cs]:
        return True
    return vals[meta[meta[2] + N] + meta[meta[2] + k - 1] + row] != 0.0


@njit(cache=True)
def _build_table(keys, off, child, coff, N, V, meta, ints):
    """Fill ``ints`` (and ``meta``'s offsets, already set) from the sorted tables
    (keys r * V + w, and the continuation starts ``child``/``coff`` of
    :class:`~nlm.ngram.backoff.BackoffModel`). Returns True when the model is
    suffix-closed (every stored k-gram's last k-1 words are stored, as in models
    estimated from counts; not always after pruning): then a lookup that fails means
    no longer n-gram ending there exists either, and scoring may stop early."""
    cst, sst = meta[3], meta[4]
    for g in range(off[N]):
        ints[g] = keys[g] % V
    for k in range(2, N + 1):
        a = meta[cst + k]
        for i in range(coff[k] - coff[k - 1]):
            ints[a + i] = child[coff[k - 1] + i]
        start, end = meta[sst + k], meta[sst + k + 1]
        size = end - start
        for i in range(start, end):
            ints[i] = 0
        base = off[k - 1]
        for g in range(base, off[k]):
            probe_insert(ints, start, size, keys[g], g - base + 1)
    if N < 3:
        return True
    n_max = 1
    for k in range(1, N + 1):
        n_max = max(n_max, off[k] - off[k - 1])
    sfx_prev = np.empty(n_max, dtype=np.int64)  # suffix row of each (k-1)-gram
    sfx_cur = np.empty(n_max, dtype=np.int64)
    for g in range(off[1], off[2]):             # the suffix of (a, b) is the unigram b
        sfx_prev[g - off[1]] = keys[g] % V
    for k in range(3, N + 1):
        for g in range(off[k - 1], off[k]):
            key = keys[g]
            row = _probe(meta, ints, k - 1, sfx_prev[key // V], key % V)
            if row < 0:
                return False
            sfx_cur[g - off[k - 1]] = row
        sfx_prev, sfx_cur = sfx_cur, sfx_prev
    return True


@njit(cache=True, inline="always")
def _rows_step(w, ctx, meta, ints, prev, cur):
    """cur[j-1] = row of the j-gram ending at ``w`` (-1: not stored), from the rows
    ending one word back (``prev``; ``ctx`` words of context)."""
    N = meta[0]
    cur[:] = -1
    cur[0] = w
    for j in range(2, min(N, ctx + 1) + 1):
        r = prev[j - 2]
        if r >= 0:
            cur[j - 1] = _probe(meta, ints, j, r, w)


@njit(cache=True, inline="always")
def _word_step(w, ctx, meta, ints, vals, closed, prev, cur):
    """ln P(w | the last ``ctx`` words, whose rows are in ``prev``) and the length of the
    longest stored n-gram ending at w; fills ``cur`` for the next word. ``closed``: the
    model is suffix-closed, so the first n-gram or context not found ends the search
    (the numbers are the same either way)."""
    N = meta[0]
    cur[:] = -1
    cur[0] = w
    longest = 1
    for j in range(2, min(N, ctx + 1) + 1):
        r = prev[j - 2]
        if r >= 0:
            row = _probe(meta, ints, j, r, w)
            cur[j - 1] = row
            if row >= 0:
                longest = j
            elif closed:
                break
        elif closed:
            break
    v = np.float64(vals[meta[meta[2] + longest - 1] + cur[longest - 1]])
    b0 = meta[meta[2] + N]
    for m in range(longest, min(N - 1, ctx) + 1):
        r = prev[m - 1]
        if r >= 0:
            v += np.float64(vals[b0 + meta[meta[2] + m - 1] + r])
        elif closed:
            break
    return v, longest


@njit(cache=True)
def _score_corpus(ids, offsets, meta, ints, vals, closed, out):
    """out[t] = ln P(ids[t] | its sentence so far), every sentence starting after <s>."""
    N = meta[0]
    prev = np.empty(N, dtype=np.int64)  # prev[j-1]: row of the j-gram ending one token back
    cur = np.empty(N, dtype=np.int64)
    for s in range(len(offsets) - 1):
        prev[:] = -1
        prev[0] = BOS_ROW
        ctx = 1
        for t in range(offsets[s], offsets[s + 1]):
            v, _ = _word_step(ids[t], ctx, meta, ints, vals, closed, prev, cur)
            out[t] = v
            prev, cur = cur, prev
            ctx += 1


@njit(cache=True)
def _sentence_scores(ids, bos, meta, ints, vals, closed, out, matched):
    """out[t] = ln P(ids[t] | the sentence so far) and matched[t] = the length of the
    longest stored n-gram ending there, for one sentence read after ``<s>`` (``bos``)
    or after no context. Returns the sum of out."""
    N = meta[0]
    prev = np.empty(max(N, 1), dtype=np.int64)
    cur = np.empty(max(N, 1), dtype=np.int64)
    prev[:] = -1
    ctx = 0
    if bos and N > 1:
        prev[0] = BOS_ROW
        ctx = 1
    total = 0.0
    for t in range(len(ids)):
        v, longest = _word_step(ids[t], ctx, meta, ints, vals, closed, prev, cur)
        out[t] = v
        total += v
        matched[t] = longest
        prev, cur = cur, prev
        ctx += 1
    return total


@njit(cache=True)
def _context_rows(hist, meta, ints, rows):
    """rows[j-1] = row of the last j ids of ``hist`` in table j (-1 if not stored)."""
    N = meta[0]
    L = len(hist)
    tmp = np.empty(max(N, L, 1), dtype=np.int64)
    rows[:] = -1
    for i in range(L):
        _rows_step(hist[i], i, meta, ints, rows, tmp)
        rows[:] = tmp[:len(rows)]


@njit(cache=True)
def _add_in_order(src, bs, out):
    """out = ((src + bs[0]) + bs[1]) + ...: the same rounding as adding one weight at a
    time, in up to three weights per sweep (a sweep with a short fixed body vectorizes)."""
    n = len(bs)
    V = len(out)
    for w in range(V):
        out[w] = src[w]
    i = 0
    while i < n:
        left = n - i
        if left == 1:
            b0 = bs[i]
            for w in range(V):
                out[w] = out[w] + b0
            i += 1
        elif left == 2:
            b0, b1 = bs[i], bs[i + 1]
            for w in range(V):
                out[w] = (out[w] + b0) + b1
            i += 2
        else:
            b0, b1, b2 = bs[i], bs[i + 1], bs[i + 2]
            for w in range(V):
                out[w] = ((out[w] + b0) + b1) + b2
            i += 3


@njit(cache=True)
def _next_logprobs(hist, meta, ints, vals, out):
    """out[w] = ln P(w | hist) for every word (hist: the last <= N-1 ids)."""
    N, V = meta[0], meta[1]
    L = len(hist)
    b0 = meta[meta[2] + N]
    rows = np.empty(max(N, L, 1), dtype=np.int64)
    _context_rows(hist, meta, ints, rows)
    # words found only as unigrams: p(w) plus every stored context's backoff weight
    bs = np.empty(max(L, 1), dtype=np.float64)
    nb = 0
    for m in range(1, L + 1):
        if rows[m - 1] >= 0:
            bs[nb] = vals[b0 + meta[meta[2] + m - 1] + rows[m - 1]]
            nb += 1
    _add_in_order(vals[:V], bs[:nb], out)
    # continuations of ever longer contexts overwrite, with the weights of the longer ones
    cst = meta[3]
    for c in range(1, L + 1):
        r = rows[c - 1]
        if r < 0:
            continue
        k = c + 1
        base = meta[meta[2] + k - 1]
        cs = meta[cst + k] + r
        for row in range(np.int64(ints[cs]), np.int64(ints[cs + 1])):
            v = np.float64(vals[base + row])
            for m in range(k, L + 1):
                if rows[m - 1] >= 0:
                    v += vals[b0 + meta[meta[2] + m - 1] + rows[m - 1]]
            out[ints[base + row]] = v


@njit(cache=True)
def _ngram_logprobs(grams, lengths, meta, ints, vals, out):
    """out[i] = ln P(last word | the words before it) of each row of ``grams`` (its first
    ``lengths[i]`` entries; contexts longer than N-1 words are cut to their last N-1)."""
    N = meta[0]
    rows = np.empty(max(N, 1), dtype=np.int64)
    cur = np.empty(max(N, 1), dtype=np.int64)
    for i in range(grams.shape[0]):
        n = lengths[i]
        a = max(0, n - N)
        _context_rows(grams[i, a:n - 1], meta, ints, rows)
        v, _ = _word_step(grams[i, n - 1], n - 1 - a, meta, ints, vals, False, rows, cur)
        out[i] = v


# -- KenLM-style queries (nlm.kenlm) ----------------------------------------------
@njit(cache=True)
def _context_step(meta, ints, vals, hist, L, w, bos_lp):
    """KenLM's BaseFullScore: (ln P(w | the first ``L`` ids of ``hist``, most recent
    last), the length of the longest stored n-gram ending at w, how many of the last
    words (w included) the next state keeps: the longest stored n-gram ending at w (at
    most N-1 words) that extends (has continuations or a backoff weight other than 1)).
    The context's rows are probed from its words (carrying them in the state was
    measured: no faster, the call's arguments cost as much). ``bos_lp`` stands for
    ln P(<s>) as a unigram (nlm stores 0 probability; KenLM answers the file's value).
    Ids outside 0..V-1 give (nan, 0, 0)."""
    N, V = meta[0], meta[1]
    if w < 0 or w >= V:
        return np.nan, 0, 0
    for i in range(L):
        if hist[i] < 0 or hist[i] >= V:
            return np.nan, 0, 0
    n = max(N, L, 1)
    prev = np.empty(n, dtype=np.int64)
    cur = np.empty(n, dtype=np.int64)
    prev[:] = -1
    for i in range(L):
        _rows_step(hist[i], i, meta, ints, prev, cur)
        prev, cur = cur, prev
    v, longest = _word_step(w, L, meta, ints, vals, False, prev, cur)
    if longest == 1 and w == BOS_ROW:
        v = bos_lp
        b0 = meta[meta[2] + N]
        for m in range(1, min(N - 1, L) + 1):
            if prev[m - 1] >= 0:
                v += vals[b0 + meta[meta[2] + m - 1] + prev[m - 1]]
    keep = 0
    for j in range(min(longest, N - 1), 0, -1):
        r = cur[j - 1]
        if r >= 0 and _extends(meta, ints, vals, j, r):
            keep = j
            break
    return v, longest, keep
