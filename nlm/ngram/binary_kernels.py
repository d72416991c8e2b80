"""Numba kernels of the binary format's probing tables (see :mod:`nlm.ngram.binary`).

Scoring text asks, for each word and each order, whether the n-gram ending there is
stored. The binary format answers from one open-addressing table per order (linear
probing, load factor 0.7) of 16-byte slots, as KenLM's probing structure does::

    slots[h, 0]  uint64: (hash of the n-gram's words >> 1) << 1 | extends  (0: empty)
    slots[h, 1]  uint64: float32 ln probability (low half), float32 ln backoff (high)

``extends`` is 1 when a longer n-gram may follow from this one (it has continuations,
or a backoff weight other than 1); an n-gram that does not extend is not carried as
context to the next word, which saves the lookup that would fail there. The hash of
a word sequence is chained word by word (:func:`_chain`), so the hashes of every
n-gram ending at a word follow from those ending at the word before: the lookups of
one word do not wait for the previous word's results to be known, and four slots
share a cache line. Hash collisions (two different n-grams with the same 63-bit
hash) are not detected, as in KenLM; the chance is about n^2 / 2^64 per table.

Probabilities in the slots are float32 (KenLM's precision); the binary model stores
its sorted tables rounded the same way, so every query path gives the same numbers,
summed in the order of :func:`~nlm.ngram.backoff_kernels._score_corpus`.
No validation here.
"""
from __future__ import annotations

import numpy as np
from numba import njit

BOS_ROW = 1
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always")
def _mix(x):
    """splitmix64's finalizer: a bijection of uint64 that scatters every input bit."""
    x = x + GOLDEN
    x = (x ^ (x >> np.uint64(30))) * MIX1
    x = (x ^ (x >> np.uint64(27))) * MIX2
    return x ^ (x >> np.uint64(31))


@njit(cache=True, inline="always")
def _chain(h, w):
    """The hash of a word sequence extended by word ``w`` (``h``: the sequence's hash;
    a single word's hash is ``_chain(0, w)``)."""
    return _mix(h ^ _mix(np.uint64(w)))


@njit(cache=True, inline="always")
def _tag(h):
    """The slot key of hash ``h`` without its extends bit: never 0 (0 marks empty)."""
    q = h >> np.uint64(1)
    if q == np.uint64(0):
        q = np.uint64(1)
    return q << np.uint64(1)


@njit(cache=True, inline="always")
def _probe(slots, start, size, tag):
    """The slot of the table at ``start`` (``size`` slots) whose key is ``tag``, or -1."""
    h = np.int64(((tag >> np.uint64(32)) * np.uint64(size)) >> np.uint64(32))
    one = np.uint64(1)
    while True:
        c = slots[start + h, 0]
        if (c | one) == (tag | one):
            return start + h
        if c == np.uint64(0):
            return -1
        h += 1
        if h == size:
            h = 0


@njit(cache=True)
def _extends(child, coff, bow, off, N, k, row):
    """Whether the k-gram at ``row`` has continuations in table k+1 or a backoff weight
    other than 1 (ln 0)."""
    if k >= N:
        return False
    if child[coff[k] + row + 1] > child[coff[k] + row]:
        return True
    return bow[off[k - 1] + row] != 0.0


@njit(cache=True)
def _build_probing(keys, off, lp, bow, child, coff, N, V, starts, slots, slots_f,
                   unigram_extends):
    """Fill the tables (order k at slots[starts[k]:starts[k+1]]) and the unigrams' extends
    flags. Returns True when the model is suffix-closed (every k-gram's last k-1 words
    are stored) and every n-gram without continuations has backoff weight 1: then
    scoring may stop at the first n-gram not found or not carried."""
    clean = True
    n_max = 1
    for k in range(1, N + 1):
        n_max = max(n_max, off[k] - off[k - 1])
    hash_prev = np.empty(n_max, dtype=np.uint64)   # hash of each (k-1)-gram
    sfx_prev = np.empty(n_max, dtype=np.uint64)    # hash of its last k-2 words
    hash_cur = np.empty(n_max, dtype=np.uint64)
    sfx_cur = np.empty(n_max, dtype=np.uint64)
    for w in range(V):
        hash_prev[w] = _chain(np.uint64(0), w)
        unigram_extends[w] = 1 if _extends(child, coff, bow, off, N, 1, w) else 0
        if N > 1 and child[coff[1] + w + 1] == child[coff[1] + w] and bow[w] != 0.0:
            clean = False
    slots[starts[2]:starts[N + 1], 0] = 0
    slots[starts[2]:starts[N + 1], 1] = 0
    for k in range(2, N + 1):
        start, size = starts[k], starts[k + 1] - starts[k]
        base = off[k - 1]
        for g in range(base, off[k]):
            key = keys[g]
            r, w = key // V, key % V
            h = _chain(hash_prev[r], w)
            hash_cur[g - base] = h
            sfx_cur[g - base] = _chain(np.uint64(0), w) if k == 2 else _chain(sfx_prev[r], w)
            row = g - base
            ext = _extends(child, coff, bow, off, N, k, row)
            if k < N and child[coff[k] + row + 1] == child[coff[k] + row] and bow[g] != 0.0:
                clean = False
            tag = _tag(h)
            s = np.int64(((tag >> np.uint64(32)) * np.uint64(size)) >> np.uint64(32))
            while slots[start + s, 0] != np.uint64(0):
                s += 1
                if s == size:
                    s = 0
            slots[start + s, 0] = tag | np.uint64(1 if ext else 0)
            slots_f[start + s, 2] = np.float32(lp[g])
            slots_f[start + s, 3] = np.float32(bow[g])
        if k >= 3 and clean:
            # each k-gram's suffix (its last k-1 words) must be in table k-1
            pstart, psize = starts[k - 1], starts[k] - starts[k - 1]
            for g in range(base, off[k]):
                if _probe(slots, pstart, psize, _tag(sfx_cur[g - base])) < 0:
                    clean = False
                    break
        hash_prev, hash_cur = hash_cur, hash_prev
        sfx_prev, sfx_cur = sfx_cur, sfx_prev
    return clean


@njit(cache=True, inline="always")
def _probing_step(w, ctx, N, uni_lp, uni_bow, uni_ext, starts, slots, slots_f, closed,
                  prev_hash, prev_ok, prev_bow, cur_hash, cur_ok, cur_bow):
    """One token of the probing scorers: ln P(w | the last ``ctx`` words, whose stored
    extending n-grams are in prev_*), filling cur_* for the next token. Returns
    (ln P, the length of the longest stored n-gram ending at w). With ``closed`` (a
    suffix-closed model) a missing n-gram ends the search early."""
    cur_ok[:] = False
    cur_hash[0] = _chain(np.uint64(0), w)
    if uni_ext[w]:
        cur_ok[0] = True
        cur_bow[0] = uni_bow[w]
    longest = 1
    v = uni_lp[w]
    for j in range(2, min(N, ctx + 1) + 1):
        if prev_ok[j - 2]:
            h = _chain(prev_hash[j - 2], w)
            slot = _probe(slots, starts[j], starts[j + 1] - starts[j], _tag(h))
            if slot >= 0:
                longest = j
                v = np.float64(slots_f[slot, 2])
                if slots[slot, 0] & np.uint64(1):
                    cur_ok[j - 1] = True
                    cur_hash[j - 1] = h
                    cur_bow[j - 1] = np.float64(slots_f[slot, 3])
            elif closed:
                break
        elif closed:
            break
    for m in range(longest, min(N - 1, ctx) + 1):
        if prev_ok[m - 1]:
            v += prev_bow[m - 1]
        elif closed:
            break
    return v, longest


@njit(cache=True)
def _score_probing(ids, offsets, V, N, uni_lp, uni_bow, uni_ext, starts, slots, slots_f,
                   closed, out):
    """out[t] = ln P(ids[t] | its sentence so far), every sentence after <s>."""
    prev_hash = np.zeros(N, dtype=np.uint64)   # hash of the j-gram ending one word back
    prev_ok = np.zeros(N, dtype=np.bool_)      # ... stored and extends
    prev_bow = np.zeros(N, dtype=np.float64)   # ... its backoff weight
    cur_hash = np.zeros(N, dtype=np.uint64)
    cur_ok = np.zeros(N, dtype=np.bool_)
    cur_bow = np.zeros(N, dtype=np.float64)
    for s in range(len(offsets) - 1):
        prev_ok[:] = False
        prev_hash[0] = _chain(np.uint64(0), BOS_ROW)
        if uni_ext[BOS_ROW]:
            prev_ok[0] = True
            prev_bow[0] = uni_bow[BOS_ROW]
        ctx = 1
        for t in range(offsets[s], offsets[s + 1]):
            v, _ = _probing_step(ids[t], ctx, N, uni_lp, uni_bow, uni_ext, starts, slots,
                                 slots_f, closed, prev_hash, prev_ok, prev_bow, cur_hash,
                                 cur_ok, cur_bow)
            out[t] = v
            for j in range(N):
                prev_ok[j] = cur_ok[j]
                prev_hash[j] = cur_hash[j]
                prev_bow[j] = cur_bow[j]
            ctx += 1


@njit(cache=True)
def _sentence_probing(ids, bos, V, N, uni_lp, uni_bow, uni_ext, starts, slots, slots_f,
                      out, matched):
    """out[t] = ln P(ids[t] | the sentence so far), matched[t] = the length of the
    longest stored n-gram ending there, for one sentence read after ``<s>`` (``bos``)
    or after no context (the probing-table twin of
    :func:`~nlm.ngram.backoff_kernels._sentence_full_scores`)."""
    prev_hash = np.zeros(N, dtype=np.uint64)
    prev_ok = np.zeros(N, dtype=np.bool_)
    prev_bow = np.zeros(N, dtype=np.float64)
    cur_hash = np.zeros(N, dtype=np.uint64)
    cur_ok = np.zeros(N, dtype=np.bool_)
    cur_bow = np.zeros(N, dtype=np.float64)
    ctx = 0
    if bos and N > 1:
        prev_hash[0] = _chain(np.uint64(0), BOS_ROW)
        if uni_ext[BOS_ROW]:
            prev_ok[0] = True
            prev_bow[0] = uni_bow[BOS_ROW]
        ctx = 1
    for t in range(len(ids)):
        v, longest = _probing_step(ids[t], ctx, N, uni_lp, uni_bow, uni_ext, starts, slots,
                                   slots_f, False, prev_hash, prev_ok, prev_bow, cur_hash,
                                   cur_ok, cur_bow)
        out[t] = v
        matched[t] = longest
        for j in range(N):
            prev_ok[j] = cur_ok[j]
            prev_hash[j] = cur_hash[j]
            prev_bow[j] = cur_bow[j]
        ctx += 1


@njit(cache=True)
def _probing_context_step(hist, L, w, bos_lp, N, uni_lp, uni_bow, uni_ext, starts, slots,
                          slots_f):
    """KenLM's BaseFullScore through the probing tables (the twin of
    :func:`~nlm.ngram.backoff_kernels._context_step`, same numbers): the context's
    stored n-grams are probed from its words (the first ``L`` of ``hist``), then
    :func:`_probing_step` scores ``w``. Returns (ln P, ngram length, state length);
    ids outside the vocabulary give (nan, 0, 0)."""
    V = len(uni_lp)
    if w < 0 or w >= V:
        return np.nan, 0, 0
    for i in range(L):
        if hist[i] < 0 or hist[i] >= V:
            return np.nan, 0, 0
    prev_hash = np.zeros(N, dtype=np.uint64)
    prev_ok = np.zeros(N, dtype=np.bool_)
    prev_bow = np.zeros(N, dtype=np.float64)
    cur_hash = np.zeros(N, dtype=np.uint64)
    cur_ok = np.zeros(N, dtype=np.bool_)
    cur_bow = np.zeros(N, dtype=np.float64)
    if L:
        last = hist[L - 1]
        prev_ok[0] = uni_ext[last] != 0
        prev_bow[0] = uni_bow[last]
        h = _chain(np.uint64(0), last)
        prev_hash[0] = h
        for j in range(2, L + 1):        # the j-gram ending at the context's last word
            h = np.uint64(0)
            for i in range(L - j, L):
                h = _chain(h, hist[i])
            prev_hash[j - 1] = h
            slot = _probe(slots, starts[j], starts[j + 1] - starts[j], _tag(h))
            if slot >= 0 and slots[slot, 0] & np.uint64(1):
                prev_ok[j - 1] = True
                prev_bow[j - 1] = np.float64(slots_f[slot, 3])
    v, longest = _probing_step(w, L, N, uni_lp, uni_bow, uni_ext, starts, slots, slots_f,
                               False, prev_hash, prev_ok, prev_bow, cur_hash, cur_ok, cur_bow)
    if longest == 1 and w == BOS_ROW:
        v = bos_lp
        for m in range(1, L + 1):
            if prev_ok[m - 1]:
                v += prev_bow[m - 1]
    keep = 0
    for j in range(min(longest, N - 1), 0, -1):
        if cur_ok[j - 1]:
            keep = j
            break
    return v, longest, keep
