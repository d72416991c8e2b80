"""Stage 4 of n-gram estimation: from a method's masses to ARPA-form tables.

Input: the count tables and, per order k, what the smoothing method decided:

* ``alpha[k-1]`` (n_k,): the probability every stored k-gram h w gets from
  its own (discounted) count, P_k*(w | h);
* ``leftover[k-1]``: the mass each context h keeps back for words it has not
  seen (or seen but pruned): (1,) for k = 1 (the empty context), else
  (n_{k-1},), indexed by the row of h in table k-1. 1 for contexts that were
  never followed by anything.

Output: ``logprob`` (natural log of the final P(w | h) of every stored
n-gram) and ``logbow`` (natural log of each context's backoff weight), the
tables of :class:`~nlm.ngram.backoff.BackoffModel`, which computes

    P(w | h) = P(h w) if h w is stored, else bow(h) P(w | h minus its first word).

Two ways to get there, done one order at a time, lowest first, so that the
final lower-order probability of every stored n-gram's suffix is at hand
(through the suffix links of :mod:`nlm.ngram.counts`):

* interpolated (Chen & Goodman):  P(h w) = alpha(h w) + leftover(h) P(w | h'),
  bow(h) = leftover(h). This is exact, not an approximation: an unseen w gets
  leftover(h) P(w | h') in both forms. KenLM and SRILM write ARPA files so.
* backoff (Katz):  P(h w) = alpha(h w),
  bow(h) = leftover(h) / (1 - sum_{w: h w stored} P(w | h')),
  which makes every distribution sum to 1.

The unigram level is ``alpha + leftover * uniform`` where uniform gives
1/(V-1) to every word but ``<s>`` (KenLM's choice: ``<s>`` is never
predicted), or just ``alpha`` when ``uniform`` is false (maximum-likelihood
unigrams, as nltk.lm). ``<s>`` always gets probability 0.

Count cutoffs remove n-grams after estimation: their alpha joins their
context's leftover (``apply_cutoffs``), which keeps the model normalized,
and ``compact`` renumbers the surviving rows.
"""
from __future__ import annotations

import numpy as np

from ..vocab import BOS_ID
from .counts import NgramCounts


def unigram_probs(counts: NgramCounts, alpha1: np.ndarray, leftover0: float,
                  uniform: bool) -> np.ndarray:
    V = counts.vocab_size
    p = alpha1.astype(np.float64, copy=True)
    if uniform and V > 1:
        p += leftover0 / (V - 1)
    p[BOS_ID] = 0.0
    return p


def _children(counts: NgramCounts, k: int, keep: np.ndarray | None) -> np.ndarray:
    """(n_{k-1},) number of (kept) children of every context in table k-1."""
    pref = counts.prefix(k)
    if keep is not None:
        pref = pref[keep]
    return np.bincount(pref, minlength=counts.size(k - 1))


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(x)


def fold_interpolated(counts: NgramCounts, alpha: list[np.ndarray], leftover: list[np.ndarray],
                      uniform: bool = True, keep: list | None = None):
    """(logprob, logbow) per order for an interpolated model (see module doc)."""
    N = counts.order
    keep = keep or [None] * N
    probs = [unigram_probs(counts, alpha[0], float(leftover[0][0]), uniform)]
    logbow = []
    for k in range(2, N + 1):
        pref = counts.prefix(k)
        left = leftover[k - 1]
        probs.append(alpha[k - 1] + left[pref] * probs[k - 2][counts.suffix[k - 1]])
        bow = np.where(_children(counts, k, keep[k - 1]) > 0, left, 1.0)
        logbow.append(_log(bow))
    return [_log(p) for p in probs], logbow


def fold_backoff(counts: NgramCounts, alpha: list[np.ndarray], leftover: list[np.ndarray],
                 uniform: bool = True, keep: list | None = None):
    """(logprob, logbow) per order for a backoff model (see module doc).

    Where a context's stored words are the whole vocabulary there is nothing to
    back off to; its leftover mass is then shared among its words in proportion
    to their alpha (renormalized), so the distribution still sums to 1."""
    N, V = counts.order, counts.vocab_size
    keep = keep or [None] * N
    probs = [unigram_probs(counts, alpha[0], float(leftover[0][0]), uniform)]
    logbow = []
    for k in range(2, N + 1):
        pref = counts.prefix(k)
        kept = keep[k - 1]
        low = probs[k - 2][counts.suffix[k - 1]]
        if kept is not None:
            low = np.where(kept, low, 0.0)
        n_prev = counts.size(k - 1)
        covered = np.bincount(pref, weights=low, minlength=n_prev)
        nchild = _children(counts, k, kept)
        left = leftover[k - 1]
        room = 1.0 - covered
        full = (nchild > 0) & ((nchild >= V - 1) | (room <= 0.0))
        ok = (nchild > 0) & ~full
        bow = np.ones(n_prev)
        bow[ok] = left[ok] / room[ok]
        p = alpha[k - 1].astype(np.float64, copy=True)
        if full.any():
            given = 1.0 - left
            scale = np.divide(1.0, given, out=np.ones(n_prev), where=full & (given > 0))
            p *= scale[pref]
        probs.append(p)
        logbow.append(_log(bow))
    return [_log(p) for p in probs], logbow


def cutoff_masks(counts: NgramCounts, thresholds: list[int]) -> list[np.ndarray | None]:
    """keep[k-1]: n-grams of order k >= 2 whose raw count exceeds threshold k
    (None where nothing is cut). thresholds[0] must be 0 (checked by the caller)."""
    keep: list[np.ndarray | None] = [None]
    for k in range(2, counts.order + 1):
        t = thresholds[k - 1]
        keep.append(counts.counts[k - 1] > t if t > 0 else None)
    return keep


def apply_cutoffs(counts: NgramCounts, alpha: list[np.ndarray], leftover: list[np.ndarray],
                  keep: list) -> None:
    """Move the alpha of every cut n-gram into its context's leftover, in place."""
    for k in range(2, counts.order + 1):
        kept = keep[k - 1]
        if kept is None:
            continue
        cut = ~kept
        leftover[k - 1] = leftover[k - 1] + np.bincount(
            counts.prefix(k)[cut], weights=alpha[k - 1][cut], minlength=counts.size(k - 1))
        alpha[k - 1] = np.where(kept, alpha[k - 1], 0.0)


def compact(counts: NgramCounts, keep: list, logprob: list[np.ndarray],
            logbow: list[np.ndarray]):
    """Drop the n-grams ``keep`` leaves out; returns (keys, logprob, logbow) with
    rows renumbered (keys stay sorted: the renumbering is monotone)."""
    N, V = counts.order, counts.vocab_size
    keys = [counts.keys[0]]
    lp = [logprob[0]]
    bw = [logbow[0]] if N > 1 else []
    new_row = np.arange(V, dtype=np.int64)
    for k in range(2, N + 1):
        kept = keep[k - 1]
        key = counts.keys[k - 1]
        if kept is None:
            kept = np.ones(len(key), dtype=bool)
        key = new_row[key[kept] // V] * V + key[kept] % V
        keys.append(key)
        lp.append(logprob[k - 1][kept])
        if k < N:
            bw.append(logbow[k - 1][kept])
        new_row = np.cumsum(kept, dtype=np.int64) - 1
    return keys, lp, bw
