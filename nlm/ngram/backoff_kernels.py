"""Numba kernels for querying backoff tables (see :mod:`nlm.ngram.backoff`).

The tables of all orders are passed flat, as one tuple ``tab``::

    keys  (n,) int64    sorted keys of every order, order k at off[k-1]:off[k]
    off   (N+1,) int64  start of each order in keys / logprob / logbow
    lp    (n,) float64  ln probability of each stored n-gram
    bow   (n,) float64  ln backoff weight (0 for the highest order)
    child (m,) int64    for k = 2..N at coff[k-1]:coff[k]: the (n_{k-1}+1,)
                        start of each (k-1)-gram's block of continuations in
                        table k (local rows)
    coff  (N+1,) int64

Row numbers are local to their order; a unigram's row is its word id. A k-gram
``(prefix row r, word w)`` is found by binary search for ``r*V + w`` inside
r's block of continuations (the layout of a trie), or, when scoring text, in
a hash table of all n-grams (as KenLM's probing structure), which is about
twice as fast because a frequent context's block is long.

Floating-point sums are done in the same order everywhere (the probability of
the longest stored n-gram, then the backoff weights of the longer contexts,
shortest first), so every path gives bit-identical numbers.
No validation here (except :func:`_context_step`, whose ids come from a state object):
the Python wrappers check ids and shapes.
"""
from __future__ import annotations

import numpy as np
from numba import njit

BOS_ROW = 1  # the unigram row of <s> (its word id)


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
def _child(tab, k, r, w, V):
    """Local row in table k of the k-gram (row r of table k-1, word w), or -1."""
    keys, off, lp, bow, child, coff = tab
    lo = child[coff[k - 1] + r]
    hi = child[coff[k - 1] + r + 1]
    key = r * V + w
    base = off[k - 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[base + mid] < key:
            lo = mid + 1
        else:
            hi = mid
    if lo < child[coff[k - 1] + r + 1] and keys[base + lo] == key:
        return lo
    return -1


# -- a hash of every n-gram of order >= 2, for scoring long texts ------------------
# Open addressing with linear probing over slots (ck, row), ck = key * 32 + order
# (orders are at most 20). One probe usually touches one cache line, where a
# binary search in a frequent word's block of continuations touches a dozen.
HASH_MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: 2^64 / golden ratio
EMPTY = -1


@njit(cache=True)
def _build_hash(keys, off, N, bits, table):
    """Fill ``table`` (2^bits, 2) int64 with every k-gram (k >= 2): (ck, local row)."""
    table[:, 0] = EMPTY
    shift = np.uint64(64 - bits)
    mask = (1 << bits) - 1
    for k in range(2, N + 1):
        for g in range(off[k - 1], off[k]):
            ck = keys[g] * 32 + k
            h = np.int64((np.uint64(ck) * HASH_MULT) >> shift)
            while table[h, 0] != EMPTY:
                h = (h + 1) & mask
            table[h, 0] = ck
            table[h, 1] = g - off[k - 1]


@njit(cache=True, inline="always")
def _hashed(table, bits, k, r, w, V):
    """Local row in table k of the k-gram (row r of table k-1, word w), or -1."""
    ck = (r * V + w) * 32 + k
    h = np.int64((np.uint64(ck) * HASH_MULT) >> np.uint64(64 - bits))
    mask = (1 << bits) - 1
    while True:
        c = table[h, 0]
        if c == ck:
            return table[h, 1]
        if c == EMPTY:
            return -1
        h = (h + 1) & mask


@njit(cache=True)
def _suffix_closed(keys, off, N, V, table, bits):
    """True when every stored k-gram's suffix (its last k-1 words) is stored too, as
    in models estimated from counts (not always after pruning). Then a lookup that
    fails means no longer n-gram ending there exists either, and scoring can stop
    early."""
    if N < 3:
        return True  # the suffix of a bigram is a unigram, always stored
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
            row = _hashed(table, bits, k - 1, sfx_prev[key // V], key % V, V)
            if row < 0:
                return False
            sfx_cur[g - off[k - 1]] = row
        sfx_prev, sfx_cur = sfx_cur, sfx_prev
    return True


@njit(cache=True)
def _score_corpus(ids, offsets, V, N, tab, table, bits, closed, out):
    """out[t] = ln P(ids[t] | its sentence so far), every sentence starting after <s>.
    ``table``/``bits``: the hash of :func:`_build_hash`, or bits = 0 to search the
    sorted blocks instead (where building the hash would not pay). ``closed``: the
    model is suffix-closed (:func:`_suffix_closed`), so the first n-gram or context
    not found ends the search (the numbers are the same either way)."""
    keys, off, lp, bow, child, coff = tab
    prev = np.empty(N, dtype=np.int64)  # prev[j-1]: row of the j-gram ending one token back
    cur = np.empty(N, dtype=np.int64)
    S = len(offsets) - 1
    for s in range(S):
        prev[:] = -1
        prev[0] = BOS_ROW
        ctx = 1  # tokens of context available (<s> included), capped at N-1 below
        for t in range(offsets[s], offsets[s + 1]):
            w = ids[t]
            cur[:] = -1
            cur[0] = w
            longest = 1
            top = min(N, ctx + 1)
            for j in range(2, top + 1):
                r = prev[j - 2]
                if r >= 0:
                    if bits:
                        row = _hashed(table, bits, j, r, w, V)
                    else:
                        row = _child(tab, j, r, w, V)
                    cur[j - 1] = row
                    if row >= 0:
                        longest = j
                    elif closed:
                        break
                elif closed:
                    break
            v = lp[off[longest - 1] + cur[longest - 1]]
            for m in range(longest, min(N - 1, ctx) + 1):
                r = prev[m - 1]
                if r >= 0:
                    v += bow[off[m - 1] + r]
                elif closed:
                    break
            out[t] = v
            for j in range(N):
                prev[j] = cur[j]
            ctx += 1


@njit(cache=True)
def _context_rows(hist, V, N, tab, rows):
    """rows[j-1] = row of the last j ids of ``hist`` in table j (-1 if not stored)."""
    L = len(hist)
    for j in range(1, L + 1):
        r = hist[L - j]
        for i in range(1, j):
            if r < 0:
                break
            r = _child(tab, i + 1, r, hist[L - j + i], V)
        rows[j - 1] = r


@njit(cache=True)
def _add_in_order(src, bs, out):
    """out = ((src + bs[0]) + bs[1]) + ...: the same rounding as adding one weight at a
    time, in up to three weights per sweep (a sweep with a short fixed body vectorizes)."""
    n = len(bs)
    V = len(out)
    if n == 0:
        out[:] = src
        return
    i = 0
    first = True
    while i < n:
        left = n - i
        s = src if first else out
        if left == 1:
            b0 = bs[i]
            for w in range(V):
                out[w] = s[w] + b0
            i += 1
        elif left == 2:
            b0, b1 = bs[i], bs[i + 1]
            for w in range(V):
                out[w] = (s[w] + b0) + b1
            i += 2
        else:
            b0, b1, b2 = bs[i], bs[i + 1], bs[i + 2]
            for w in range(V):
                out[w] = ((s[w] + b0) + b1) + b2
            i += 3
        first = False


@njit(cache=True)
def _next_logprobs(hist, V, N, tab, out):
    """out[w] = ln P(w | hist) for every word (hist: the last <= N-1 ids)."""
    keys, off, lp, bow, child, coff = tab
    L = len(hist)
    rows = np.empty(max(L, 1), dtype=np.int64)
    _context_rows(hist, V, N, tab, rows)
    # words found only as unigrams: p(w) plus every stored context's backoff weight
    bs = np.empty(max(L, 1), dtype=np.float64)
    nb = 0
    for m in range(1, L + 1):
        if rows[m - 1] >= 0:
            bs[nb] = bow[off[m - 1] + rows[m - 1]]
            nb += 1
    _add_in_order(lp[:V], bs[:nb], out)
    # continuations of ever longer contexts overwrite, with the weights of the longer ones
    for c in range(1, L + 1):
        r = rows[c - 1]
        if r < 0:
            continue
        k = c + 1
        base = off[k - 1]
        for row in range(child[coff[k - 1] + r], child[coff[k - 1] + r + 1]):
            v = lp[base + row]
            for m in range(k, L + 1):
                if rows[m - 1] >= 0:
                    v += bow[off[m - 1] + rows[m - 1]]
            out[keys[base + row] - r * V] = v


@njit(cache=True)
def _ngram_logprobs(grams, lengths, V, N, tab, out):
    """out[i] = ln P(last word | the words before it) of each row of ``grams`` (its first
    ``lengths[i]`` entries; contexts longer than N-1 words are cut to their last N-1)."""
    keys, off, lp, bow, child, coff = tab
    for i in range(grams.shape[0]):
        n = lengths[i]
        a = max(0, n - N)
        hist = grams[i, a:n - 1]
        w = grams[i, n - 1]
        L = len(hist)
        rows = np.empty(max(L, 1), dtype=np.int64)
        _context_rows(hist, V, N, tab, rows)
        longest = 1
        row_l = w
        for c in range(1, L + 1):
            if rows[c - 1] >= 0:
                row = _child(tab, c + 1, rows[c - 1], w, V)
                if row >= 0:
                    longest = c + 1
                    row_l = row
        v = lp[off[longest - 1] + row_l]
        for m in range(longest, L + 1):
            if rows[m - 1] >= 0:
                v += bow[off[m - 1] + rows[m - 1]]
        out[i] = v


# -- KenLM-style queries (nlm.kenlm): the length of the n-gram matched ---------------
@njit(cache=True)
def _sentence_full_scores(ids, bos, V, N, tab, out, matched):
    """out[t] = ln P(ids[t] | the sentence so far) by the backoff rule and matched[t] =
    the length of the longest stored n-gram ending there (1: the unigram alone), for
    one sentence read after ``<s>`` (``bos``) or after no context; the context rows
    are carried from word to word (one search per order and word, as text is scored).
    The sums are done in the order of ``_score_corpus``: the same numbers bit for bit."""
    keys, off, lp, bow, child, coff = tab
    prev = np.empty(max(N, 1), dtype=np.int64)   # prev[j-1]: row of the j-gram ending before
    cur = np.empty(max(N, 1), dtype=np.int64)
    prev[:] = -1
    ctx = 0
    if bos and N > 1:
        prev[0] = 1                                # the unigram row of <s>
        ctx = 1
    for t in range(len(ids)):
        w = ids[t]
        cur[:] = -1
        cur[0] = w
        longest = 1
        for j in range(2, min(N, ctx + 1) + 1):
            r = prev[j - 2]
            if r >= 0:
                row = _child(tab, j, r, w, V)
                cur[j - 1] = row
                if row >= 0:
                    longest = j
        v = lp[off[longest - 1] + cur[longest - 1]]
        for m in range(longest, min(N - 1, ctx) + 1):
            if prev[m - 1] >= 0:
                v += bow[off[m - 1] + prev[m - 1]]
        out[t] = v
        matched[t] = longest
        for j in range(N):
            prev[j] = cur[j]
        ctx += 1


@njit(cache=True)
def _context_step(hist, L, w, bos_lp, V, N, tab, table, bits):
    """KenLM's BaseFullScore over the sorted tables: (ln P(w | the first ``L`` ids of
    ``hist``, most recent last), the length of the longest stored n-gram ending at w,
    how many of the last words (w included) the next state keeps: the longest stored
    n-gram ending at w (at most N-1 words) that extends (has continuations or a backoff
    weight other than 1)). ``bos_lp`` stands for ln P(<s>) as a unigram (nlm stores 0
    probability; KenLM answers the file's value). ``table``/``bits``: the n-gram hash
    (:func:`_build_hash`), or bits = 0 to search the sorted blocks. Ids outside 0..V-1
    give (nan, 0, 0)."""
    keys, off, lp, bow, child, coff = tab
    if w < 0 or w >= V:
        return np.nan, 0, 0
    for i in range(L):
        if hist[i] < 0 or hist[i] >= V:
            return np.nan, 0, 0
    rows = np.empty(max(L, 1), dtype=np.int64)    # rows[j-1]: the last j ids of hist
    for j in range(1, L + 1):
        r = hist[L - j]
        for i in range(1, j):
            if r < 0:
                break
            r = (_hashed(table, bits, i + 1, r, hist[L - j + i], V) if bits
                 else _child(tab, i + 1, r, hist[L - j + i], V))
        rows[j - 1] = r
    wrow = np.empty(max(N, 1), dtype=np.int64)    # wrow[j-1]: the j-gram ending at w
    wrow[0] = w
    longest = 1
    for c in range(1, min(L, N - 1) + 1):
        wrow[c] = -1
        if rows[c - 1] >= 0:
            r = (_hashed(table, bits, c + 1, rows[c - 1], w, V) if bits
                 else _child(tab, c + 1, rows[c - 1], w, V))
            wrow[c] = r
            if r >= 0:
                longest = c + 1
    v = bos_lp if (longest == 1 and w == BOS_ROW) else lp[off[longest - 1] + wrow[longest - 1]]
    for m in range(longest, L + 1):
        if rows[m - 1] >= 0:
            v += bow[off[m - 1] + rows[m - 1]]
    keep = 0
    for j in range(min(longest, N - 1), 0, -1):
        r = wrow[j - 1]
        if r >= 0 and (child[coff[j] + r + 1] > child[coff[j] + r] or bow[off[j - 1] + r] != 0.0):
            keep = j
            break
    return v, longest, keep
