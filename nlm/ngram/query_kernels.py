"""Numba kernel for KenLM-style queries: a probability and the length of the n-gram it
came from (see :mod:`nlm.kenlm`). Flat tables as in :mod:`.backoff_kernels`.
No validation here: the Python wrappers check ids and shapes."""
from __future__ import annotations

import numpy as np
from numba import njit

from .backoff_kernels import _child, _context_rows


@njit(cache=True)
def _full_scores(grams, lengths, V, N, tab, out, matched):
    """For each row i of ``grams`` (its first ``lengths[i]`` ids: a context and a word;
    at most N of them): out[i] = ln P(word | context) by the backoff rule, and
    matched[i] = the length of the longest stored n-gram ending in the word (1 for a
    word that only has its unigram). The sums are done in the order of
    ``_ngram_logprobs``, so the numbers are the same bit for bit."""
    keys, off, lp, bow, child, coff = tab
    rows = np.empty(max(N, 1), dtype=np.int64)
    for i in range(grams.shape[0]):
        n = lengths[i]
        hist = grams[i, :n - 1]
        w = grams[i, n - 1]
        L = n - 1
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
        matched[i] = longest

