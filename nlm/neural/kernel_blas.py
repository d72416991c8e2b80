"""One thread for the BLAS that Numba's ``np.dot`` calls (the recurrence kernels'
fallback: they normally call numpy's own BLAS, see :func:`nlm.neural.blas.kernel_gemm`).

``np.dot`` inside a Numba kernel calls the BLAS that SciPy links, which is not
numpy's: a second BLAS with its own thread pool. The recurrent kernels call it
once per time step on small products (B x n by n x n, B = 20-64 streams),
where threads cost more in synchronization than they gain, and its workers
then compete for the cores with numpy's pool, which runs the large products
of the same training step. Even on idle cores and for the largest shapes
benchmarked, threads on these per-step products were slower (figures in the
README's "Measured design choices"). :func:`single_threaded`
runs a kernel with that BLAS set to one thread and restores the setting after.

Best effort: the library is found from the address of SciPy's ``sgemm`` and
must export an OpenBLAS ``*openblas_set_num_threads*`` function; otherwise (MKL,
another platform) kernels run with whatever threading the BLAS has. Nothing
here affects numbers, only speed.
"""
from __future__ import annotations

import ctypes
import threading

from .blas import thread_control


class _Dl_info(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _find_thread_control():
    """(get, set) of the thread count of the BLAS behind numba's np.dot, or None."""
    try:
        from scipy.linalg import cython_blas
        capsule = cython_blas.__pyx_capi__["sgemm"]
        get_name = ctypes.pythonapi.PyCapsule_GetName
        get_name.restype = ctypes.c_char_p
        get_name.argtypes = [ctypes.py_object]
        get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
        get_ptr.restype = ctypes.c_void_p
        get_ptr.argtypes = [ctypes.py_object, ctypes.c_char_p]
        address = get_ptr(capsule, get_name(capsule))
        info = _Dl_info()
        if not ctypes.CDLL(None).dladdr(ctypes.c_void_p(address), ctypes.byref(info)):
            return None
        # symbols are looked up in scipy's module and the libraries it depends on,
        # which hold its BLAS (and not numpy's, a separate library)
        lib = ctypes.CDLL(info.dli_fname.decode())
        control = thread_control(lib)
        return None if control is None else (control[1], control[0])
    except Exception:   # any platform or build where this does not apply
        return None


_control = None
_looked = False
_lock = threading.Lock()


def single_threaded(kernel, *args):
    """``kernel(*args)`` with the kernels' BLAS on one thread."""
    global _control, _looked
    if not _looked:
        with _lock:
            if not _looked:
                _control = _find_thread_control()
                _looked = True
    if _control is None:
        return kernel(*args)
    get, set_ = _control
    before = get()
    if before <= 1:
        return kernel(*args)
    set_(1)
    try:
        return kernel(*args)
    finally:
        set_(before)
