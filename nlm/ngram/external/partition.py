"""The work done on one partition, wherever it runs: in the ``nlm train`` process, in a
local worker process or in a Dask task (:mod:`.distributed`).

Input and output pass through the working directory ``d`` (windows or the ids file
in, tables and bucket records out); the return values are small: the partition's
:class:`~.adjust.AdjustSummary`, then its unigram backoff weights. A split word's
sub-partitions (:mod:`.shard`) are counted like any other partition, but their bigram
level is merged and summarized once (:func:`merge_split`) before they are estimated.
"""
from __future__ import annotations

import numpy as np

from .summary import AdjustSummary, summarize
from .count import PartitionTables, count_partition, merge_bigrams
from .probabilities import estimate_partition
from .shard import Layout, load_windows, windows_of


def count_one(d, q, N, V, last_unigram, rank, scan=None, split=False) -> AdjustSummary:
    """Count partition ``q`` (its windows from a scan of the ids file when ``scan`` =
    (corpus, layout, chunk tokens) is given, else from its shard files), keep its tables
    on disk, return its summary (without the bigrams when it is a sub-partition of a
    ``split`` word: :func:`merge_split` summarizes those)."""
    if scan is not None:
        win = windows_of(scan[0], N, scan[1], q, scan[2])
    else:
        win = load_windows(d, q, N)
    tables = count_partition(win, N, V)
    del win
    tables.save(d, q)
    return summarize(tables, last_unigram, rank, bigrams=not split)


def merge_split(d, subs, N, V, last_unigram, rank) -> AdjustSummary:
    """Merge the bigram level of a split word's counted sub-partitions ``subs``
    (:func:`.count.merge_bigrams`); return its summary."""
    return summarize(merge_bigrams(d, subs, N, V), last_unigram, rank, longer=False)


def estimate_one(d, q, N, V, method, p1, bucket_of, R, writer: str = "", bigrams=True):
    """Estimate partition ``q`` from its saved tables into the buckets; ``writer`` tells
    its record files apart from those of partitions estimated at the same time;
    ``bigrams`` False: the bigrams (a split word's, merged) are written by another
    sub-partition."""
    tables = PartitionTables.load(d, q, N, V)
    out = estimate_partition(tables, method, p1, d, bucket_of, R, writer=writer,
                             bigrams=bigrams)
    PartitionTables.remove(d, q, N)
    return out


def chain_tables(d, layout: Layout, N, V, v, u, rank) -> PartitionTables:
    """The tables where lmplz's chain of last n-grams (:func:`.summary.lmplz_tally`) that
    starts with the bigram ``v u`` goes on: those of context word v's partition, or for a
    split word those of the sub-partition holding the trigram ``x v u`` of the highest
    ranked x (each sub-partition holds the same, merged, bigrams)."""
    parts = layout.partitions_of(v)
    if len(parts) == 1 or N < 3:
        return PartitionTables.load(d, parts[0], N, V)
    best = (-1, parts[0])
    for q in parts:
        t = PartitionTables.load(d, q, 3, V)
        row = np.flatnonzero((t.first[2] == v) & (t.suffix[2] == u))
        children = np.flatnonzero(t.suffix[3] == row[0]) if len(row) else row
        if len(children):
            best = max(best, (int(rank[t.first[3][children]].max()), q))
        del t
    return PartitionTables.load(d, best[1], N, V)
