"""The per-partition stages of out-of-core estimation on a Dask cluster.

``nlm train ... --dask tcp://scheduler:8786`` (or ``--dask local:2``): the driver
(the ``nlm train`` process) reads the text and shards it into partition files
(:mod:`.shard`); each partition is then counted (:mod:`.count`, :mod:`.adjust`)
and, once the discounts are known, estimated (:mod:`.probabilities`) by a Dask
task on any worker; the driver assembles the outputs (:mod:`.assemble`). Tasks
carry only file names and small arrays (vocabulary-sized); the data moves through
the working directory, so on several machines ``--temp-dir`` must be a directory
every worker reaches by the same path (NFS or the like), and every worker needs
nlm installed. A partition holds the n-grams of its context words only, so a
worker's memory is that of one partition (see :mod:`.budget`).
"""
from __future__ import annotations

from ...errors import NlmError, OptionError
from .adjust import AdjustSummary
from .partition import count_one, estimate_one


def _client(address):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise OptionError('--dask needs dask.distributed: pip install "nlm[dask]"') from None
    if not isinstance(address, str):
        return address, None           # a Client made by the caller
    if address == "local" or address.startswith("local:"):
        n = address.partition(":")[2] or "2"
        try:
            workers = int(n)
            if workers < 1:
                raise ValueError
        except ValueError:
            raise OptionError(f"--dask local:N needs a number of workers, got {address!r}") from None
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(address, timeout=30), None
    except OSError as e:
        raise NlmError(f"cannot reach the Dask scheduler at {address} ({e})") from None


def _count_task(d, q, N, V, last_unigram, rank, scan=None):
    return count_one(d, q, N, V, last_unigram, rank, scan)


def _estimate_task(d, q, N, V, method, p1, bucket_of, R):
    return estimate_one(d, q, N, V, method, p1, bucket_of, R, writer=f".w{q}")


class DaskRunner:
    """Runs :func:`.pipeline.estimate`'s per-partition loops as Dask tasks."""

    def __init__(self, address):
        self.client, self._cluster = _client(address)
        self._owned = isinstance(address, str)

    def count(self, d, P, N, V, last_unigram, rank, scans) -> AdjustSummary:
        rank_f = self.client.scatter(rank, broadcast=True)
        futures = [self.client.submit(_count_task, d, q, N, V, last_unigram, rank_f, scans[q],
                                      key=f"nlm-count-{d}-{q}", pure=False) for q in range(P)]
        total = AdjustSummary()
        for s in self.client.gather(futures):
            total = total.add(s)
        return total

    def estimate(self, d, P, N, V, method, p1, bucket_of, R):
        p1_f = self.client.scatter(p1, broadcast=True)
        b_f = self.client.scatter(bucket_of, broadcast=True)
        futures = [self.client.submit(_estimate_task, d, q, N, V, method, p1_f, b_f, R,
                                      key=f"nlm-estimate-{d}-{q}", pure=False)
                   for q in range(P)]
        return self.client.gather(futures)

    def close(self):
        if self._owned:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()


class ProcessRunner:
    """The same per-partition loops in ``workers`` local processes (forked: they share the
    parent's vocabulary-sized arrays), each holding one partition at a time."""

    def __init__(self, workers: int):
        import multiprocessing
        self.workers = workers
        self.pool = multiprocessing.get_context("fork").Pool(workers)
        self._closed = False

    def count(self, d, P, N, V, last_unigram, rank, scans) -> AdjustSummary:
        total = AdjustSummary()
        for s in self.pool.starmap(_count_task, [(d, q, N, V, last_unigram, rank, scans[q])
                                                 for q in range(P)], chunksize=1):
            total = total.add(s)
        return total

    def estimate(self, d, P, N, V, method, p1, bucket_of, R):
        return self.pool.starmap(_estimate_task, [(d, q, N, V, method, p1, bucket_of, R)
                                                  for q in range(P)], chunksize=1)

    def close(self):
        if not self._closed:
            self._closed = True
            self.pool.terminate()
            self.pool.join()
