"""The out-of-core pipeline's working directory and the raw files in it.

Everything the pipeline spills (token ids, partition windows and tables, output
buckets) lives in one directory made for the run inside ``--temp-dir`` (the
system's temporary directory by default) and named after the process
(``nlm-spill-PID-XXXX``). It is removed when the run ends, whether it succeeded,
failed or was interrupted (Ctrl-C, or ``kill``: SIGTERM); one left by a process that was killed outright
is removed by the next run that uses the same ``--temp-dir``.

Files are headerless arrays (``append`` / ``load``): the pipeline knows their
dtypes and widths, and they never outlive the run.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from contextlib import contextmanager

import numpy as np

from ...errors import NlmError, raise_terminated
from ...files import dead_writers, hold_signals

PREFIX = "nlm-spill-"
_NAME = re.compile(re.escape(PREFIX) + r"(\d+)-.*")


def remove_stale(directory: str) -> list[str]:
    """Remove working directories of runs whose process is gone; return their names."""
    removed = []
    for name in dead_writers(directory, _NAME):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


_on_sigterm = raise_terminated      # SIGTERM (kill PID): the working directory is removed


@contextmanager
def work_dir(temp_dir=None):
    """A fresh working directory inside ``temp_dir``, removed on leaving the block
    however it is left (an exception, KeyboardInterrupt and SIGTERM included)."""
    base = os.fspath(temp_dir) if temp_dir is not None else tempfile.gettempdir()
    if not os.path.isdir(base):
        raise NlmError(f"{base}: temporary directory does not exist")
    if not os.access(base, os.W_OK | os.X_OK):
        raise NlmError(f"{base}: temporary directory is not writable")
    remove_stale(base)
    import signal
    import threading
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    release = hold_signals()     # no signal between creating the directory and the try
    try:
        path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base)
    except OSError as e:
        release()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        raise NlmError(f"{base}: cannot create a working directory ({e.strerror or e})") from None
    try:
        release()
        yield path
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EFBIG):
            raise NlmError(f"{base}: cannot spill to the temporary directory "
                           f"({e.strerror or e}); free some space or give --temp-dir") from None
        raise
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def append(path: str, array: np.ndarray) -> None:
    """Append an array's bytes to ``path``."""
    if array.size:
        with open(path, "ab") as f:
            f.write(memoryview(np.ascontiguousarray(array)).cast("B"))


def load(path: str, dtype, width: int | None = None) -> np.ndarray:
    """A file written by :func:`append`, as (n,) or (n, width) of ``dtype`` (empty when
    the file does not exist)."""
    if not os.path.exists(path):
        a = np.zeros(0, dtype=dtype)
    else:
        a = np.fromfile(path, dtype=dtype)
    return a if width is None else a.reshape(-1, width)


def remove(*paths: str) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
