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

from ...vocab import BOS_ID
from ..counts import NgramCounts


def first_word(counts: NgramCounts, k: int, rows: np.ndarray) -> np.ndarray:
    """First word of the k-grams at ``rows`` (walks the context links down)."""
    rows = np.asarray(rows, dtype=np.int64)
    for j in range(k, 1, -1):
        rows = counts.keys[j - 1][rows] // counts.vocab_size
    return rows


def starts_with_bos(counts: NgramCounts, k: int, previous: np.ndarray | None = None) -> np.ndarray:
    """(n_k,) bool: the k-gram starts with ``<s>``. ``previous`` is the answer for
    k-1, which makes this one gather instead of a walk."""
    if k == 1:
        return np.arange(counts.vocab_size) == BOS_ID
    if previous is None:
        previous = starts_with_bos(counts, k - 1)
    return previous[counts.prefix(k)]


def kneser_ney_counts(raw: np.ndarray, longer_suffix: np.ndarray | None,
                     bos: np.ndarray) -> np.ndarray:
    """Kneser-Ney counts of one order's n-grams on plain arrays, whatever holds them (the
    in-memory tables here, a partition's out of core): the number of distinct words
    before each n-gram, i.e. how many n-grams of the next order have it as their suffix
    (``longer_suffix``: their suffix rows); raw counts at the highest order
    (``longer_suffix`` None) and for the n-grams that start with ``<s>`` (``bos``)."""
    if longer_suffix is None:
        return raw.copy()
    a = np.bincount(longer_suffix, minlength=len(raw)).astype(np.int64)
    a[bos] = raw[bos]
    return a


def adjusted(counts: NgramCounts, k: int, bos: np.ndarray) -> np.ndarray:
    """Kneser-Ney counts of order k (:func:`kneser_ney_counts`); ``bos`` from
    :func:`starts_with_bos`."""
    if k == counts.order:
        return kneser_ney_counts(counts.counts[k - 1], None, bos)
    _need_suffix(counts, k + 1)
    return kneser_ney_counts(counts.counts[k - 1], counts.suffix[k], bos)


def adjusted_counts(counts: NgramCounts) -> list[np.ndarray]:
    """All orders' Kneser-Ney counts at once (see :func:`adjusted`)."""
    out, bos = [], None
    for k in range(1, counts.order + 1):
        bos = starts_with_bos(counts, k, bos)
        out.append(adjusted(counts, k, bos))
    return out


def adjusted_counts_of_counts(counts: NgramCounts, upto: int = 4) -> list[np.ndarray]:
    """Per order, counts of counts of the Kneser-Ney counts, computed one order at
    a time (the adjusted counts themselves are not kept)."""
    out, bos = [], None
    for k in range(1, counts.order + 1):
        bos = starts_with_bos(counts, k, bos)
        out.append(counts_of_counts(adjusted(counts, k, bos), upto))
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


def _need_suffix(counts: NgramCounts, k: int):
    if len(counts.suffix) != counts.order or counts.suffix[k - 1] is None:
        raise ValueError("these counts carry no suffix links; build them with count_ngrams")
