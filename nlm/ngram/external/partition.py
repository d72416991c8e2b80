"""The work done on one partition, wherever it runs: in the ``nlm train`` process, in a
local worker process or in a Dask task (:mod:`.distributed`).

Input and output pass through the working directory ``d`` (windows or the ids file
in, tables and bucket records out); the return values are small: the partition's
:class:`~.adjust.AdjustSummary`, then its unigram backoff weights.
"""
from __future__ import annotations

import numpy as np

from . import codec, spill
from .summary import AdjustSummary, summarize
from .count import PartitionTables, count_partition
from .probabilities import estimate_partition
from .shard import window_path, windows_of


def count_one(d, q, N, V, last_unigram, rank, scan=None) -> AdjustSummary:
    """Count partition ``q`` (its windows from a scan of the ids file when ``scan`` is
    given, else from its shard file), keep its tables on disk, return its summary."""
    if scan is not None:
        win = windows_of(scan[0], N, scan[1], q, scan[2], scan[3])
    else:
        path = window_path(d, q)
        win = codec.load(path, np.int32, N)
        spill.remove(path)
    tables = count_partition(win, N, V)
    del win
    tables.save(d, q)
    return summarize(tables, last_unigram, rank)


def estimate_one(d, q, N, V, method, p1, bucket_of, R, writer: str = ""):
    """Estimate partition ``q`` from its saved tables into the buckets; ``writer`` tells
    its record files apart from those of partitions estimated at the same time."""
    tables = PartitionTables.load(d, q, N, V)
    out = estimate_partition(tables, method, p1, d, bucket_of, R, writer=writer)
    PartitionTables.remove(d, q, N)
    return out
