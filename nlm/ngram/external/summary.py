"""Stage 3 of out-of-core estimation: a partition's Kneser-Ney counts and counts of counts.

Input: one partition's tables (:mod:`.count`). Output: :class:`AdjustSummary`,
what the discounts need from the partition (counts of counts of the raw and the
adjusted counts per order, its share of the unigram continuation counts, and the
candidates for lmplz's last-n-gram tally); summed over partitions these are the
global figures :mod:`nlm.ngram.estimate.adjust` computes in memory.

The adjusted count of a k-gram (k < N) is the number of k+1-grams whose suffix
it is, raw at the highest order and for n-grams that start with ``<s>``, computed by
the in-memory estimator's :func:`nlm.ngram.estimate.adjust.kneser_ney_counts`; every
left extension of a k-gram has the
same second-to-last word (k >= 2), so it is in the same partition.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...vocab import BOS_ID
from ..estimate.adjust import counts_of_counts, kneser_ney_counts
from .count import PartitionTables


def adjusted(tables: PartitionTables, k: int) -> np.ndarray:
    """(n_k,) Kneser-Ney counts of the partition's k-grams (k >= 2)."""
    if k == 2 and tables.bigram_adjusted is not None:   # merged from sub-partitions
        return tables.bigram_adjusted
    longer = tables.suffix[k + 1] if k < tables.order else None
    return kneser_ney_counts(tables.count[k], longer, tables.first[k] == BOS_ID)


@dataclass
class AdjustSummary:
    coc_adjusted: dict = field(default_factory=dict)   # k -> (5,) n_0..n_4
    coc_raw: dict = field(default_factory=dict)
    unigram_continuation: np.ndarray | None = None     # (V,) distinct bigrams ending in w
    last_bigram: tuple | None = None                   # (rank, word) of lmplz's candidate
    sizes: dict = field(default_factory=dict)

    def add(self, other: "AdjustSummary") -> "AdjustSummary":
        out = AdjustSummary()
        for name in ("coc_adjusted", "coc_raw", "sizes"):
            a, b = getattr(self, name), getattr(other, name)
            setattr(out, name, {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)})
        u, v = self.unigram_continuation, other.unigram_continuation
        out.unigram_continuation = v if u is None else (u if v is None else u + v)
        cands = [c for c in (self.last_bigram, other.last_bigram) if c is not None]
        out.last_bigram = max(cands) if cands else None
        return out


def summarize(tables: PartitionTables, last_unigram: int | None, rank: np.ndarray,
              bigrams: bool = True, longer: bool = True) -> AdjustSummary:
    """The partition's summary: of its bigrams (the unigram continuation counts and lmplz's
    candidate too) unless ``bigrams`` is False, of its n-grams of order >= 3 unless
    ``longer`` is False (a split word's bigrams are summarized once, merged, and its
    longer n-grams sub-partition by sub-partition)."""
    s = AdjustSummary()
    V = tables.vocab_size
    for k in range(2 if bigrams else 3, tables.order + 1 if longer else 3):
        s.coc_adjusted[k] = counts_of_counts(adjusted(tables, k), 4)
        s.coc_raw[k] = counts_of_counts(tables.count[k], 4)
        s.sizes[k] = tables.size(k)
    if not bigrams:
        return s
    s.unigram_continuation = np.bincount(tables.suffix[2], minlength=V).astype(np.int64)
    if last_unigram is not None:
        rows = np.flatnonzero(tables.suffix[2] == last_unigram)
        if len(rows):
            words = tables.first[2][rows]
            best = int(words[np.argmax(rank[words])])
            s.last_bigram = (int(rank[best]), best)
    return s


def kenlm_rank(first_seen: np.ndarray) -> np.ndarray:
    """KenLM's word ids: <unk> 0, <s> 1, </s> 2, then by first appearance."""
    rank = np.argsort(np.argsort(first_seen, kind="stable"), kind="stable").astype(np.int64) + 3
    rank[:3] = np.arange(3)
    return rank


def lmplz_tally(coc: list[np.ndarray], unigram_raw: np.ndarray, unigram_cont: np.ndarray,
                rank: np.ndarray, last_bigram, load_partition, order: int) -> list[np.ndarray]:
    """The counts of counts lmplz tallies (see :func:`nlm.ngram.estimate.discount.lmplz_counts_of_counts`):
    the last n-gram of each order below the highest, in lmplz's suffix order, counted with
    its raw count. ``coc[k-1]`` are the correct ones of order k; ``last_bigram`` the best
    candidate over partitions; ``load_partition(word)`` the tables of the partition that
    owns ``word``, where the rest of the chain lives."""
    N = order
    out = [n.copy() for n in coc]
    if N == 1:
        return out
    occurs = np.flatnonzero(unigram_raw > 0)
    if len(occurs) == 0:
        return out
    u = int(occurs[np.argmax(rank[occurs])])
    if u == BOS_ID:
        return out
    _tally(out[0], int(unigram_raw[u]), int(unigram_cont[u]))
    if N == 2 or last_bigram is None:
        return out
    v = last_bigram[1]
    t = load_partition(v, u)
    row = int(np.flatnonzero((t.first[2] == v) & (t.suffix[2] == u))[0])
    for k in range(2, N):
        if k > 2:
            children = np.flatnonzero(t.suffix[k] == row)
            if len(children) == 0:
                break
            row = int(children[np.argmax(rank[t.first[k][children]])])
        if t.first[k][row] == BOS_ID:
            break
        _tally(out[k - 1], int(t.count[k][row]), int(adjusted(t, k)[row]))
    return out


def _tally(n: np.ndarray, raw: int, adj: int):
    if adj <= 4:
        n[adj] -= 1
    if raw <= 4:
        n[raw] += 1
