"""Stage 4 of out-of-core estimation: probabilities and backoff weights, per partition.

Input: one partition's tables (:mod:`.count`), the method with its discounts (from
the summed counts of counts, :mod:`.adjust`) and the final unigram probabilities.
Output: records in the output buckets (:mod:`.assemble`): for every k-gram of the
partition its natural-log probability, and for every context ``w_1 .. w_{k-1}`` of
those k-grams its log backoff weight (the context's own n-gram belongs to another
partition; the records meet in the bucket of their first word). Contexts of order 1
are returned instead: the unigram table is global and small.

The arithmetic is that of :mod:`nlm.ngram.estimate.methods` (each method's ``order_masses``,
called here on the partition's arrays) and :mod:`nlm.ngram.estimate.interpolate` (interpolated
form), one order at a time, lowest first:

    alpha(h w) = (v(h w) - removed(h w)) / sum_w v(h w),   leftover(h) = sum_w removed / sum_w v
    P(h w) = leftover(h) P(w | h') + alpha(h w),           bow(h) = leftover(h)

with each method's own alpha and leftover (stupid backoff, ``method`` None, stores
relative frequencies); P(w | h') is the suffix's probability, which the partition holds.
"""
from __future__ import annotations

import os

import numpy as np

from ...vocab import BOS_ID
from ..estimate.interpolate import unigram_probabilities
from ..estimate.methods import Smoothing, relative_frequencies
from .summary import adjusted
from .count import PartitionTables
from .kernels import _bucket_records
from . import codec

def unigrams(method: Smoothing | None, raw: np.ndarray,
             continuation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V,) final unigram probabilities and their logs, as the in-memory estimators compute
    them; ``method`` None: stupid backoff's relative frequencies (logs only, the
    probabilities are not used)."""
    V = len(raw)
    if method is None:
        lp = relative_frequencies(raw, np.zeros(V, dtype=np.int64), 1, True)
        lp[BOS_ID] = -np.inf
        return np.exp(lp), lp
    if method.adjusted_counts:
        values = continuation.copy()
        values[BOS_ID] = raw[BOS_ID]
    else:
        values = raw
    alpha, left = method.order_masses(1, values, np.zeros(V, dtype=np.int64), 1)
    p = unigram_probabilities(alpha, left, method.uniform)
    return p, _log(p)


def _log(x):
    with np.errstate(divide="ignore"):
        return np.log(x)


def record_path(directory: str, r: int, k: int, what: str, writer: str = "") -> str:
    """Records of order k in bucket r; ``writer`` tells apart the files of partitions
    estimated at the same time (Dask workers), which the assembler reads together."""
    return os.path.join(directory, f"b{r}.{k}.{what}{writer}")


def spill_records(directory: str, bucket_of: np.ndarray, n_buckets: int, k: int, what: str,
                  words: np.ndarray, values: np.ndarray, writer: str = ""):
    """Append records (n, k + 2) int32 -- the words, then the float64 value's 8 bytes --
    to the buckets of their first words."""
    if len(words) == 0:
        return
    n = len(words)
    rec = np.empty((n, k + 2), dtype=np.int32)
    vals = np.ascontiguousarray(values, dtype=np.float64).view(np.int32).reshape(n, 2)
    start = _bucket_records(np.ascontiguousarray(words, dtype=np.int32), vals,
                            bucket_of, n_buckets, rec)
    for r in range(n_buckets):
        a, b = start[r], start[r + 1]
        if b > a:
            codec.append(record_path(directory, r, k, what, writer), rec[a:b], delta=k)


def estimate_partition(tables: PartitionTables, method: Smoothing | None, p_unigram: np.ndarray,
                       directory: str, bucket_of: np.ndarray, n_buckets: int, writer: str = "",
                       bigrams: bool = True):
    """Spill the partition's records; return (context words, log bow) of its order-1
    contexts (unigram backoff weights). ``bigrams`` False: the bigrams' records and
    their contexts' weights are another partition's to write (a split word's merged
    bigrams, which each of its sub-partitions estimates, see :mod:`.shard`): (None,
    None) is returned."""
    N = tables.order
    tables.prepare_contexts()
    p_prev = p_unigram
    uni_words = uni_bow = None
    for k in range(2, N + 1):
        ctx = tables.context_ids[k]
        n_ctx = tables.context_count[k]
        rep = tables.context_rep[k]
        count = tables.count[k]
        if method is None:   # stupid backoff: relative frequencies, a constant weight
            lp = relative_frequencies(count, ctx, n_ctx, False)
            p = None
            bow_log = None
        else:
            values = adjusted(tables, k) if method.adjusted_counts else count
            alpha, left = method.order_masses(k, values, ctx, n_ctx)
            del values
            p = left[ctx]
            p *= p_prev[tables.suffix[k]]
            p += alpha
            del alpha
            lp = _log(p)
            bow_log = _log(left)
            del left
        if k == 2 and not bigrams:
            p_prev = p
            continue
        words = tables.words(k)
        spill_records(directory, bucket_of, n_buckets, k, "lp", words, lp, writer)
        del lp
        if bow_log is not None:
            ctx_words = words[rep, :k - 1]
            if k == 2:
                uni_words, uni_bow = ctx_words[:, 0].copy(), bow_log
            else:
                spill_records(directory, bucket_of, n_buckets, k - 1, "bow", ctx_words,
                              bow_log, writer)
        del words
        p_prev = p
    return uni_words, uni_bow


