"""Stage 2 of n-gram estimation: the counts each smoothing method discounts.

Input: :class:`~nlm.ngram.counts.NgramCounts` (raw counts with suffix links).
Output: per-order count arrays aligned with the count tables, and counts of
counts. Nothing here depends on a smoothing method's parameters.

Kneser-Ney replaces the count of a lower-order n-gram by its *continuation
count*, the number of distinct words seen before it,

    N1+(. w_2..w_k) = |{v : c(v w_2..w_k) > 0}|,

because a lower order is only consulted when the longer context was not seen,
so what matters is how many contexts a word completes, not how often. As in
KenLM's ``lmplz`` (``lm/builder/adjust_counts.cc``): the highest order keeps
raw counts, and so does every n-gram that starts with ``<s>``, which cannot be
extended to the left. The set of (k+1)-grams ending in a k-gram is exactly the
set of (k+1)-grams whose suffix link points at it, so one ``bincount`` over the
suffix links of table k+1 gives every continuation count of table k.
"""
from __future__ import annotations

import numpy as np

from ..vocab import BOS_ID
from .counts import NgramCounts


def first_words(counts: NgramCounts) -> list[np.ndarray]:
    """first[k-1]: (n_k,) the first word of every k-gram."""
    out = [np.arange(counts.vocab_size, dtype=np.int64)]
    for k in range(2, counts.order + 1):
        out.append(out[-1][counts.prefix(k)])
    return out


def continuation_counts(counts: NgramCounts, k: int) -> np.ndarray:
    """(n_k,) number of distinct words that precede each k-gram (k < N)."""
    _need_suffix(counts)
    return np.bincount(counts.suffix[k], minlength=counts.size(k)).astype(np.int64)


def adjusted_counts(counts: NgramCounts) -> list[np.ndarray]:
    """Kneser-Ney counts per order: continuation counts below the highest order,
    raw counts at the highest order and for n-grams that start with ``<s>``."""
    N = counts.order
    starts_bos = [f == BOS_ID for f in first_words(counts)]
    out = []
    for k in range(1, N):
        a = continuation_counts(counts, k)
        raw = starts_bos[k - 1]
        a[raw] = counts.counts[k - 1][raw]
        out.append(a)
    out.append(counts.counts[N - 1].copy())
    return out


def counts_of_counts(values: np.ndarray, upto: int = 4) -> np.ndarray:
    """(upto + 1,) n_r = number of entries equal to r, r = 0..upto."""
    return np.bincount(np.minimum(values, upto + 1), minlength=upto + 2)[:upto + 1].astype(np.int64)


def context_sums(counts: NgramCounts, k: int, values: np.ndarray) -> np.ndarray:
    """Sum of ``values`` (aligned with table k) over the children of each context:
    (1,) for k = 1 (the empty context), else (n_{k-1},)."""
    if k == 1:
        return np.array([values.sum()], dtype=np.float64)
    return np.bincount(counts.prefix(k), weights=values, minlength=counts.size(k - 1))


def context_of(counts: NgramCounts, k: int) -> np.ndarray:
    """(n_k,) row of each k-gram's context in the arrays ``context_sums`` returns."""
    if k == 1:
        return np.zeros(counts.size(1), dtype=np.int64)
    return counts.prefix(k)


def _need_suffix(counts: NgramCounts):
    if len(counts.suffix) != counts.order:
        raise ValueError("these counts carry no suffix links; build them with count_ngrams")
