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

import os
import shutil
import tempfile

from ...errors import NlmError, OptionError
from ...files import hold_signals
from .summary import AdjustSummary
from .partition import count_one, estimate_one


_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def check_address(address: str) -> None:
    """Refuse, before any work, a --dask value that is neither local[:N] nor a scheduler
    address [SCHEME://]HOST:PORT (Dask's own parser would raise a bare ValueError)."""
    import re
    if address == "local" or address.startswith("local:"):
        return
    example = "give local, local:N, or the scheduler's address such as tcp://HOST:8786"
    scheme, sep, rest = address.rpartition("://")
    if sep and scheme not in _SCHEMES:
        hint = (" (that is the dashboard's web address; the scheduler listens on "
                "tcp://HOST:8786)" if scheme in ("http", "https") else "")
        raise OptionError(f"--dask {address!r}: unknown scheme {scheme!r}{hint}; {example}")
    if scheme == "inproc":
        return
    m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d+)", rest)
    if m is None or not 0 < int(m.group(2)) < 65536:
        raise OptionError(f"--dask {address!r}: not a scheduler address (HOST:PORT, the port "
                          f"a number from 1 to 65535); {example}")


def _client(address):
    if not isinstance(address, str):
        return address, None           # a Client made by the caller
    check_address(address)
    scratch = None
    if address == "local" or address.startswith("local:"):
        workers = _local_workers(address)
        scratch = _scratch()
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise OptionError('--dask needs dask.distributed: pip install "nlm[dask]"') from None
    if scratch is not None:
        try:
            import dask
            dask.config.set({"temporary-directory": scratch})
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, local_directory=scratch)
            return Client(cluster), _Local(cluster, scratch)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    try:
        return Client(address, timeout=30), None
    except OSError as e:
        raise NlmError(f"cannot reach the Dask scheduler at {address} ({e})") from None


def _local_workers(address: str) -> int:
    n = address.partition(":")[2] or "2"
    try:
        workers = int(n)
        if workers < 1:
            raise ValueError
    except ValueError:
        raise OptionError(f"--dask local:N needs a number of workers, got {address!r}") from None
    return workers


def _scratch() -> str:
    """A scratch directory for the local cluster's workers (Dask's default,
    $TMPDIR/dask-scratch-space, outlives every run), removed with the cluster, and at exit
    too: the removal is registered before Dask is imported, so that it runs after Dask's
    own exit handlers have stopped the cluster's processes (which may still write there
    when a signal stopped the cluster as it started)."""
    import atexit
    _remove_stale_scratch()
    release = hold_signals()
    try:
        scratch = tempfile.mkdtemp(prefix=f"{_SCRATCH}{os.getpid()}-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    finally:
        release()
    return scratch


_SCRATCH = ".nlm-dask-"


def _remove_stale_scratch() -> None:
    """Scratch directories of local clusters whose nlm process is gone (killed with -9)."""
    import re
    from ...files import dead_writers
    base = tempfile.gettempdir()
    for name in dead_writers(base, re.compile(re.escape(_SCRATCH) + r"(\d+)-.*")):
        shutil.rmtree(os.path.join(base, name), ignore_errors=True)


class _Local:
    """A local cluster and its scratch directory, closed and removed together (again at
    exit: Dask's finalizers may recreate its lock files after the cluster closed)."""

    def __init__(self, cluster, scratch: str):
        import logging
        self.cluster, self.scratch = cluster, scratch
        # Dask's finalizers complain when they find their directories already removed
        logging.getLogger("distributed.diskutils").setLevel(logging.CRITICAL)

    def close(self):
        import logging
        import sys
        if sys.exc_info()[0] is not None:   # interrupted: Dask's own complaints are noise
            logging.getLogger("distributed").setLevel(logging.CRITICAL)
        try:
            self.cluster.close()
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _count_task(d, q, N, V, last_unigram, rank, scan=None, split=False):
    return count_one(d, q, N, V, last_unigram, rank, scan, split)


def _estimate_task(d, q, N, V, method, p1, bucket_of, R, bigrams=True):
    return estimate_one(d, q, N, V, method, p1, bucket_of, R, writer=f".w{q}", bigrams=bigrams)


class DaskRunner:
    """Runs :func:`.pipeline.estimate`'s per-partition loops as Dask tasks."""

    def __init__(self, address):
        self.client, self._cluster = _client(address)
        self._owned = isinstance(address, str)

    def count(self, d, P, N, V, last_unigram, rank, scans, split) -> AdjustSummary:
        rank_f = self.client.scatter(rank, broadcast=True)
        futures = [self.client.submit(_count_task, d, q, N, V, last_unigram, rank_f, scans[q],
                                      split[q], key=f"nlm-count-{d}-{q}", pure=False)
                   for q in range(P)]
        total = AdjustSummary()
        for s in self.client.gather(futures):
            total = total.add(s)
        return total

    def estimate(self, d, P, N, V, method, p1, bucket_of, R, bigrams):
        p1_f = self.client.scatter(p1, broadcast=True)
        b_f = self.client.scatter(bucket_of, broadcast=True)
        futures = [self.client.submit(_estimate_task, d, q, N, V, method, p1_f, b_f, R,
                                      bigrams[q], key=f"nlm-estimate-{d}-{q}", pure=False)
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

    def count(self, d, P, N, V, last_unigram, rank, scans, split) -> AdjustSummary:
        total = AdjustSummary()
        for s in self.pool.starmap(_count_task, [(d, q, N, V, last_unigram, rank, scans[q],
                                                  split[q]) for q in range(P)], chunksize=1):
            total = total.add(s)
        return total

    def estimate(self, d, P, N, V, method, p1, bucket_of, R, bigrams):
        return self.pool.starmap(_estimate_task, [(d, q, N, V, method, p1, bucket_of, R,
                                                   bigrams[q]) for q in range(P)], chunksize=1)

    def map(self, fn, arglist: list) -> list:
        """``[fn(*args) for args in arglist]``, one call per worker process at a time (for
        the stages that split the whole corpus: reading and sharding by ranges)."""
        return self.pool.starmap(fn, arglist, chunksize=1)

    def map_async(self, fn, arglist: list):
        """:meth:`map` started in the background: an ``AsyncResult`` (``ready()``,
        ``get()``), so that the caller can show progress while the workers run."""
        return self.pool.starmap_async(fn, arglist, chunksize=1)

    def follow(self, result, progress=None, died: str = "a worker process stopped",
               every: float = 0.5) -> list:
        """``result.get()`` of :meth:`map_async`, calling ``progress()`` every ``every``
        seconds meanwhile (to move a bar). A worker that dies (killed, out of memory) takes
        its task with it and the pool would wait for ever: NlmError(``died``) instead."""
        from multiprocessing import active_children
        workers = {p.pid for p in active_children()}
        while True:
            result.wait(every)
            if progress is not None:
                progress()
            if result.ready():
                return result.get()
            if not workers <= {p.pid for p in active_children()}:
                raise NlmError(died)

    def finish(self):
        """Let the idle workers exit (their work done). ``terminate`` here could leave a
        worker stuck on a lock of the pool's queues, and ``join`` waiting on it for ever
        (seen once at 1B tokens)."""
        if not self._closed:
            self._closed = True
            self.pool.close()
            self.pool.join()

    def close(self):
        """Stop the workers, whatever they are doing (a failed or interrupted run)."""
        if not self._closed:
            self._closed = True
            self.pool.terminate()
            self.pool.join()
