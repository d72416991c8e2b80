"""Matrix products through numpy's BLAS, single-threaded when they are small.

A multi-threaded BLAS splits every product between its threads and then waits
for all of them. For the small products of a training step (a class softmax's
class layer, an MLP's hidden layer at small batch sizes) the split gains
little, and on a machine whose cores are busy with other work it costs a
scheduler time slice whenever a BLAS thread is descheduled: on this project's
shared 2-core machines the class-softmax MLP trained 6x faster with those
products on one thread (77k instead of 13k words/s). So :func:`matmul` runs
products below :data:`SMALL` multiply-adds on one thread and leaves large
ones to all of BLAS's threads.

The thread count is changed through OpenBLAS's ``*_set_num_threads`` (found in
the library numpy loaded, including the ``scipy_openblas`` builds of numpy
wheels). With any other BLAS this module does nothing and products use
whatever threading the BLAS chooses.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

#: Products with fewer multiply-adds (M*N*K) than this run on one BLAS thread.
SMALL = 1 << 22

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads")


def _candidate_libraries() -> list[str]:
    here = os.path.dirname(np.__file__)
    paths = []
    for pattern in ("../numpy.libs/*openblas*", ".libs/*openblas*", "../numpy/.libs/*openblas*"):
        paths += glob.glob(os.path.join(here, pattern))
    try:  # whatever OpenBLAS this process has loaded (system numpy builds), on Linux
        with open("/proc/self/maps") as f:
            loaded = {line.split()[-1] for line in f if "openblas" in line.lower()}
        paths += sorted(p for p in loaded if ".so" in os.path.basename(p))
    except OSError:
        pass
    return paths


def _find_openblas():
    for path in _candidate_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
        if setter is not None and getter is not None:
            setter.argtypes = [ctypes.c_int]
            setter.restype = None
            getter.argtypes = []
            getter.restype = ctypes.c_int
            return setter, getter
    return None, None


_set_threads, _get_threads = _find_openblas()


def blas_threads() -> int:
    """BLAS threads used for large products (1 if the BLAS cannot be controlled)."""
    return _get_threads() if _get_threads is not None else 1


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b, out=out)`` for 2-D operands, on one thread when small."""
    if _get_threads is not None and a.shape[0] * a.shape[1] * b.shape[1] < SMALL:
        n = _get_threads()
        if n > 1:
            _set_threads(1)
            try:
                return np.matmul(a, b, out=out)
            finally:
                _set_threads(n)
    return np.matmul(a, b, out=out)
