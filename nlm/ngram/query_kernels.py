"""Numba kernel for KenLM-style queries: each word's probability and the length of the
n-gram it came from (see :mod:`nlm.kenlm`), over the sorted tables of
:mod:`.backoff_kernels` (binary files use the probing twin in :mod:`.binary_kernels`).
No validation here: the Python wrappers check ids and shapes."""
from __future__ import annotations

import numpy as np
from numba import njit

from .backoff_kernels import _child


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
