"""Matrix products through numpy's BLAS, single-threaded when they are small.

A multi-threaded BLAS splits every product between its threads and then waits
for all of them. For the small products of a training step (a class softmax's
class layer, an MLP's hidden layer at small batch sizes) the split gains
little, and on a machine whose cores are busy with other work it costs a
scheduler time slice whenever a BLAS thread is descheduled (the README's
"Measured design choices" gives the figures). So :func:`matmul` runs
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


def thread_control(lib):
    """(set, get) of an OpenBLAS library's thread count, typed for ctypes, or None."""
    setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
    getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
    if setter is None or getter is None:
        return None
    setter.argtypes = [ctypes.c_int]
    setter.restype = None
    getter.argtypes = []
    getter.restype = ctypes.c_int
    return setter, getter


def _find_openblas():
    """(library, set, get) of numpy's OpenBLAS, or (None, None, None)."""
    for path in _candidate_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        control = thread_control(lib)
        if control is not None:
            return (lib, *control)
    return None, None, None


_lib, _set_threads, _get_threads = _find_openblas()


def blas_threads() -> int:
    """BLAS threads used for large products (1 if the BLAS cannot be controlled)."""
    return _get_threads() if _get_threads is not None else 1


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b, out=out)`` for 2-D operands, on one thread when small."""
    with threads_for(a.shape[0] * a.shape[1] * b.shape[1]):
        return np.matmul(a, b, out=out)


class threads_for:
    """Context: numpy's BLAS on one thread while the products in it are small (``work``
    multiply-adds each, below :data:`SMALL`); larger ones keep all its threads."""

    def __init__(self, work: int):
        self.work = work
        self.before = None

    def __enter__(self):
        if _get_threads is not None and self.work < SMALL:
            n = _get_threads()
            if n > 1:
                self.before = n
                _set_threads(1)
        return self

    def __exit__(self, *exc):
        if self.before is not None:
            _set_threads(self.before)
        return False


# -- numpy's BLAS inside Numba kernels ---------------------------------------------------
# ``np.dot`` inside a Numba kernel calls SciPy's BLAS: a second library with its own thread
# pool (and slower than numpy's on the RNN's per-step shapes, see the README's
# "Measured design choices"). A kernel that takes one of the objects below as an argument calls numpy's own
# ``cblas_?gemm`` instead, through a first-class function pointer (passed as an argument,
# not a global, so the kernel can still be cached). The gemm comes from the library whose
# threads :class:`threads_for` controls. Only 64-bit-integer (ILP64) builds are used,
# numpy's wheel build; with any other BLAS ``kernel_gemm`` returns None and the kernels
# fall back to ``np.dot``.
CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS = 101, 111, 112
_GEMM_NAMES = {"s": ("scipy_cblas_sgemm64_", "cblas_sgemm64_"),
               "d": ("scipy_cblas_dgemm64_", "cblas_dgemm64_")}


def _find_gemm() -> dict:
    if _lib is None:
        return {}
    found = {}
    for kind, names in _GEMM_NAMES.items():
        fn = next((getattr(_lib, n) for n in names if hasattr(_lib, n)), None)
        if fn is not None:
            found[kind] = ctypes.cast(fn, ctypes.c_void_p).value
    return found if len(found) == 2 else {}


def _make_gemm_objects() -> dict:
    addresses = _find_gemm()
    if not addresses:
        return {}
    try:
        import numba.experimental.function_type  # noqa: F401  (lets numba type the objects)
        from numba import types
    except ImportError:   # pragma: no cover - numba without first-class functions
        return {}

    class CblasGemm(types.WrapperAddressProtocol):
        """cblas_?gemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc),
        array pointers passed as integers (``arr.ctypes.data``)."""

        def __init__(self, address, float_type):
            self._address = address
            i32, i64, ptr = types.int32, types.int64, types.uintp
            self._signature = types.void(i32, i32, i32, i64, i64, i64, float_type, ptr, i64,
                                         ptr, i64, float_type, ptr, i64)

        def __wrapper_address__(self):
            return self._address

        def signature(self):
            return self._signature

    return {np.dtype(np.float32): CblasGemm(addresses["s"], types.float32),
            np.dtype(np.float64): CblasGemm(addresses["d"], types.float64)}


_GEMMS = _make_gemm_objects()


def kernel_gemm(dtype):
    """numpy's BLAS gemm for kernels working in ``dtype`` (float32 or float64), or None."""
    return _GEMMS.get(np.dtype(dtype))
