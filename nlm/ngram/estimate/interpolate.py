"""Stage 4 of n-gram estimation: from a method's masses to ARPA-form tables.

Input: the count tables and an estimator (:mod:`nlm.ngram.estimate.methods`) that gives,
for one order k at a time (k = 1, 2, ..., N):

* ``alpha`` (n_k,): the probability every stored k-gram h w gets from its
  own (discounted) count, P_k*(w | h);
* ``leftover``: the mass each context h keeps back for words it has not
  seen (or seen but cut): (1,) for k = 1 (the empty context), else
  (n_{k-1},), indexed by the row of h in table k-1; 1 for contexts that were
  never followed by anything.

Output: per order ``keys``, ``logprob`` (natural log of the final P(w | h) of
every stored n-gram) and ``logbow`` (natural log of each context's backoff
weight): the tables of :class:`~nlm.ngram.backoff.BackoffModel`, which computes

    P(w | h) = P(h w) if h w is stored, else bow(h) P(w | h minus its first word).

Two ways to get there, one order at a time, lowest first, so that the final
lower-order probability of every stored n-gram's suffix is at hand (through the
suffix links of :mod:`nlm.ngram.counts`):

* interpolated (Chen & Goodman):  P(h w) = alpha(h w) + leftover(h) P(w | h'),
  bow(h) = leftover(h). This is exact, not an approximation: an unseen w gets
  leftover(h) P(w | h') in both forms. KenLM and SRILM write ARPA files so.
* backoff (Katz):  P(h w) = alpha(h w),
  bow(h) = leftover(h) / (1 - sum_{w: h w stored} P(w | h')),
  which makes every distribution sum to 1. Where a context's stored words are
  the whole vocabulary there is nothing to back off to; its leftover is then
  shared among its words in proportion to their alpha.

The unigram level is ``alpha + leftover * uniform`` where uniform gives
1/(V-1) to every word but ``<s>`` (KenLM's choice: ``<s>`` is never
predicted), or just ``alpha`` when the estimator says ``uniform = False``
(maximum-likelihood unigrams, as nltk.lm). ``<s>`` always gets probability 0.

Count cutoffs (lmplz ``--prune``) remove n-grams of order >= 2 whose raw
count is at most the order's threshold, after estimation: their alpha joins
their context's leftover, which keeps the model normalized, and the surviving
rows are renumbered.

Memory: an order's tables are released once the next order no longer needs
them, so the peak is about the final tables plus two orders' temporaries.
"""
from __future__ import annotations

import numpy as np

from ...vocab import BOS_ID
from ..counts import NgramCounts


def _log_inplace(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(x, out=x)


def fold(counts: NgramCounts, estimator, interpolate: bool, thresholds: list[int]):
    """(keys, logprob, logbow) per order, from ``estimator.masses(k)`` (see module
    doc). Consumes ``counts``: each order's counts, suffix links and caches are
    dropped once used."""
    N, V = counts.order, counts.vocab_size
    keys_out, lp_out, bow_out = [], [], []
    new_row = np.arange(V, dtype=np.int64)     # row renumbering of the previous table
    p_prev = keep_prev = None
    for k in range(1, N + 1):
        alpha, left = estimator.masses(k)
        keep = None
        if k > 1 and thresholds[k - 1] > 0:
            keep = counts.counts[k - 1] > thresholds[k - 1]
            cut = ~keep
            left = left + np.bincount(counts.prefix(k)[cut], weights=alpha[cut],
                                      minlength=counts.size(k - 1))
            alpha[cut] = 0.0
        if k == 1:
            p = unigram_probabilities(alpha, left, estimator.uniform)
        else:
            p, bow = (_interpolated if interpolate else _backoff)(
                counts, k, alpha, left, p_prev, keep, V)
            # order k-1 is complete: its probabilities and backoff weights are final
            keys, new_row = compact_keys(counts.keys[k - 2], keep_prev, new_row, V)
            keys_out.append(keys)
            lp_out.append(_select(_log_inplace(p_prev), keep_prev))
            bow_out.append(_select(_log_inplace(bow), keep_prev))
            counts.release(k - 1)
        del alpha, left
        p_prev, keep_prev = p, keep
    keys, _ = compact_keys(counts.keys[N - 1], keep_prev, new_row, V)
    keys_out.append(keys)
    lp_out.append(_select(_log_inplace(p_prev), keep_prev))
    counts.release(N)
    return keys_out, lp_out, bow_out


def unigram_probabilities(alpha: np.ndarray, leftover: np.ndarray, uniform: bool) -> np.ndarray:
    """(V,) final unigram probabilities: alpha, plus the leftover spread over the V-1
    words other than ``<s>`` when ``uniform``; ``<s>`` gets 0."""
    V = len(alpha)
    p = alpha.astype(np.float64, copy=True)
    if uniform and V > 1:
        p += leftover[0] / (V - 1)
    p[BOS_ID] = 0.0
    return p


def _interpolated(counts, k, alpha, left, p_prev, keep, V):
    pref = counts.prefix(k)
    p = left[pref]
    p *= p_prev[counts.suffix[k - 1]]
    p += alpha
    bow = np.where(_children(counts, k, keep) > 0, left, 1.0)
    return p, bow


def _backoff(counts, k, alpha, left, p_prev, keep, V):
    pref = counts.prefix(k)
    n_prev = counts.size(k - 1)
    low = p_prev[counts.suffix[k - 1]]
    if keep is not None:
        low[~keep] = 0.0
    covered = np.bincount(pref, weights=low, minlength=n_prev)
    del low
    nchild = _children(counts, k, keep)
    room = 1.0 - covered
    full = (nchild > 0) & ((nchild >= V - 1) | (room <= 0.0))
    ok = (nchild > 0) & ~full
    bow = np.ones(n_prev)
    bow[ok] = left[ok] / room[ok]
    p = alpha.astype(np.float64, copy=True)
    if full.any():
        given = 1.0 - left
        scale = np.divide(1.0, given, out=np.ones(n_prev), where=full & (given > 0))
        p *= scale[pref]
    return p, bow


def _children(counts: NgramCounts, k: int, keep) -> np.ndarray:
    """(n_{k-1},) number of (kept) children of every context in table k-1."""
    pref = counts.prefix(k)
    if keep is not None:
        pref = pref[keep]
    return np.bincount(pref, minlength=counts.size(k - 1))


def _select(x, keep):
    return x if keep is None else x[keep]


def compact_keys(keys, keep, prev_new_row, V):
    """Keys of the kept rows with their context rows renumbered (the renumbering
    is monotone, so the keys stay sorted), and this table's own renumbering."""
    # an empty previous table (an order without n-grams) renumbers nothing
    identity = (prev_new_row is None or len(prev_new_row) == 0
                or prev_new_row[-1] == len(prev_new_row) - 1)
    if keep is None and identity:
        return keys, np.arange(len(keys), dtype=np.int64)
    if keep is not None:
        keys = keys[keep]
    if not identity:
        keys = prev_new_row[keys // V] * V + keys % V
    new_row = (np.arange(len(keep), dtype=np.int64) if keep is None
               else np.cumsum(keep, dtype=np.int64) - 1)
    return keys, new_row
