"""Stage 4 of out-of-core estimation: probabilities and backoff weights, per partition.

Input: one partition's tables (:mod:`.count`), the method with its discounts (from
the summed counts of counts, :mod:`.adjust`) and the final unigram probabilities.
Output: records in the output buckets (:mod:`.assemble`): for every k-gram of the
partition its natural-log probability, and for every context ``w_1 .. w_{k-1}`` of
those k-grams its log backoff weight (the context's own n-gram belongs to another
partition; the records meet in the bucket of their first word). Contexts of order 1
are returned instead: the unigram table is global and small.

The arithmetic is that of :mod:`nlm.ngram.methods` and :mod:`nlm.ngram.interpolate`
(interpolated form), term for term, one order at a time, lowest first:

    alpha(h w) = (v(h w) - removed(h w)) / sum_w v(h w),   leftover(h) = sum_w removed / sum_w v
    P(h w) = leftover(h) P(w | h') + alpha(h w),           bow(h) = leftover(h)

with Witten-Bell's, stupid backoff's and MLE's own alpha and leftover; P(w | h') is
the suffix's probability, which the partition holds.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from ...vocab import BOS_ID
from .adjust import adjusted
from .count import PartitionTables
from .kernels import _bucket_records
from . import spill

STUPID_BACKOFF_FACTOR = 0.4


@dataclass
class Method:
    """What the out-of-core estimator needs to know of a model kind."""
    name: str                        # mle, witten-bell, absolute, kn, mkn, stupid
    discounts: list = field(default_factory=list)   # per order: float (absolute) or [0,D1,D2,D3+]
    mle_unigrams: bool = False

    @property
    def uniform(self) -> bool:
        return self.name in ("kn", "mkn") or (self.name in ("witten-bell", "absolute")
                                              and not self.mle_unigrams)

    @property
    def adjusted_counts(self) -> bool:
        return self.name in ("kn", "mkn")


def masses(method: Method, k: int, values: np.ndarray, ctx: np.ndarray, n_ctx: int):
    """(alpha (n,), leftover (n_ctx,)) of one order; ``values`` the counts the method
    uses (raw or adjusted), ``ctx`` each entry's context id (all 0 for unigrams)."""
    name = method.name
    v = values.astype(np.float64)
    if name == "witten-bell":
        total = np.bincount(ctx, weights=v, minlength=n_ctx)
        n_plus = np.bincount(ctx, weights=(v > 0).astype(np.float64), minlength=n_ctx)
        if k == 1 and method.mle_unigrams:
            n_plus[:] = 0.0
        denom = total + n_plus
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(denom[ctx] > 0, v / denom[ctx], 0.0)
            leftover = np.where(denom > 0, n_plus / denom, 1.0)
        return alpha, leftover
    if name == "mle":
        removed = np.zeros(len(v))
    elif name == "absolute":
        removed = np.minimum(values, method.discounts[k - 1]).astype(float)
    else:  # kn, mkn
        removed = method.discounts[k - 1][np.minimum(values, 3)]
    total = np.bincount(ctx, weights=v, minlength=n_ctx)
    gone = np.bincount(ctx, weights=removed, minlength=n_ctx)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = total[ctx]
        alpha = np.where(denom > 0, (v - removed) / denom, 0.0)
        leftover = np.where(total > 0, gone / total, 1.0)
    return alpha, leftover


def unigrams(method: Method, raw: np.ndarray, continuation: np.ndarray) -> np.ndarray:
    """(V,) final unigram probabilities (not logs), as the in-memory fold computes them."""
    V = len(raw)
    if method.name == "stupid":
        total = raw.sum()
        with np.errstate(divide="ignore"):
            p = raw / total if total > 0 else np.zeros(V)
        p = p.astype(np.float64)
        p[BOS_ID] = 0.0
        return p
    if method.adjusted_counts:
        values = continuation.copy()
        values[BOS_ID] = raw[BOS_ID]
    else:
        values = raw
    alpha, left = masses(method, 1, values, np.zeros(V, dtype=np.int64), 1)
    p = alpha.astype(np.float64, copy=True)
    if method.uniform and V > 1:
        p += left[0] / (V - 1)
    p[BOS_ID] = 0.0
    return p


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
            spill.append(record_path(directory, r, k, what, writer), rec[a:b])


def estimate_partition(tables: PartitionTables, method: Method, p_unigram: np.ndarray,
                       directory: str, bucket_of: np.ndarray, n_buckets: int, writer: str = ""):
    """Spill the partition's records; return (context words, log bow) of its order-1
    contexts (unigram backoff weights)."""
    N = tables.order
    tables.prepare_contexts()
    p_prev = p_unigram
    uni_words = uni_bow = None
    for k in range(2, N + 1):
        ctx = tables.context_ids[k]
        n_ctx = tables.context_count[k]
        rep = tables.context_rep[k]
        count = tables.count[k]
        if method.name == "stupid":
            total = np.bincount(ctx, weights=count.astype(np.float64), minlength=n_ctx)
            with np.errstate(divide="ignore", invalid="ignore"):
                lp = np.where(total[ctx] > 0, np.log(count) - np.log(total[ctx]), -np.inf)
            p = None
            bow_log = None
        else:
            values = adjusted(tables, k) if method.adjusted_counts else count
            alpha, left = masses(method, k, values, ctx, n_ctx)
            del values
            p = left[ctx]
            p *= p_prev[tables.suffix[k]]
            p += alpha
            del alpha
            lp = _log(p)
            bow_log = _log(left)
            del left
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


def stupid_log_factor() -> float:
    return math.log(STUPID_BACKOFF_FACTOR)
