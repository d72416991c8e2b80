"""Data parallelism over threads: one training step, or one scoring pass, split by rows
between copies of a network that share its parameters.

With two cores, numpy's BLAS splits each large product between two threads, but
everything between the products (the Numba kernels, the attention maps' many small
products, the bias sums) runs on one. Splitting the batch instead keeps every core
busy for the whole step: worker j runs the forward and backward pass of rows
``shards[j]`` on its own replica of the network (its own activations and
gradient buffers, the same parameter arrays), with BLAS on one thread, and the
gradients are summed afterwards. Each replica is given the full batch's loss
scale, so the sum is the full batch's gradient; the result differs from one
worker's only in the order of the float additions.

The replicas need ``net.replica()`` (a network over the same parameter arrays with
buffers of its own), ``net.grads`` and ``net.touched_rows()``; the kernels they call
release the GIL (``nogil=True``), numpy's products release it by themselves.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .blas import blas_threads, threads_for


def default_workers() -> int:
    """Workers of a training step or scoring pass: one per BLAS thread (the cores numpy
    is allowed, ``OPENBLAS_NUM_THREADS`` or the machine's)."""
    return max(1, blas_threads())


def shards(n: int, workers: int) -> list[tuple[int, int]]:
    """``min(workers, n)`` contiguous row ranges of nearly equal size covering 0..n."""
    k = max(1, min(int(workers), int(n)))
    edges = [n * j // k for j in range(k + 1)]
    return [(edges[j], edges[j + 1]) for j in range(k)]


def union_rows(touched: list[dict]) -> dict[str, np.ndarray]:
    """The rows each gradient may be non-zero in over all replicas (a key missing from
    any replica's dict is dense, and stays missing)."""
    keys = set(touched[0]).intersection(*touched[1:])
    out = {}
    for k in keys:
        rows = touched[0][k]
        for t in touched[1:]:
            rows = np.union1d(rows, t[k])
        out[k] = rows
    return out


class DataParallel:
    """``workers`` replicas of ``net`` (the first is ``net`` itself) and the threads that
    run them. With one worker everything runs on the calling thread, as before."""

    def __init__(self, net, workers: int | None = None):
        self.workers = default_workers() if workers is None else max(1, int(workers))
        self.nets = [net] + [net.replica() for _ in range(self.workers - 1)]
        self._pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        # the summed gradients (the single network's own buffers with one worker)
        self.grads = net.grads if self.workers == 1 else \
            {k: np.zeros_like(v) for k, v in net.grads.items()}
        self._touched: dict = {}

    def map(self, fn, parts: list) -> list:
        """[fn(nets[j], parts[j])], in parallel, with BLAS on one thread meanwhile."""
        if self._pool is None or len(parts) == 1:
            return [fn(self.nets[j], p) for j, p in enumerate(parts)]
        with threads_for(0):
            futures = [self._pool.submit(fn, self.nets[j], p) for j, p in enumerate(parts)]
            return [f.result() for f in futures]

    def merge(self, used: int) -> None:
        """Sum the gradients of the first ``used`` replicas into :attr:`grads` (rows
        that no replica touched are left as they are: optimizers skip them)."""
        nets = self.nets[:used]
        if self.workers == 1:
            self._touched = nets[0].touched_rows()
            return
        self._touched = union_rows([n.touched_rows() for n in nets])
        for k, out in self.grads.items():
            rows = self._touched.get(k)
            if rows is None:
                np.copyto(out, nets[0].grads[k])
                for n in nets[1:]:
                    out += n.grads[k]
            else:
                acc = nets[0].grads[k][rows]
                for n in nets[1:]:
                    acc += n.grads[k][rows]
                out[rows] = acc

    def touched_rows(self) -> dict[str, np.ndarray]:
        """The merged gradients' rows that may be non-zero (keys missing: dense)."""
        return self._touched

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
