"""Safe file output and the one npz + JSON-header container.

Everything nlm writes goes through :func:`atomic_output`: a temporary file in
the target directory, renamed onto the target only when writing succeeded, so
a failed or interrupted command leaves any previous file as it was.
:func:`check_writable` fails early, before long work, when an output cannot be
written.

Model files and training checkpoints share one container: an ``.npz`` archive
(read with ``allow_pickle=False``) whose array ``header_name`` holds a UTF-8
JSON header; :func:`write_npz` and :func:`read_npz` write and read it with
one-line errors for every kind of damage. What the header must say is the
caller's business (:mod:`nlm.modelfile`, :mod:`nlm.neural.checkpoint`).
This module knows nothing about models.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from contextlib import contextmanager

import numpy as np

from .errors import NlmError

TEMP_PREFIX = ".nlm-"
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-[^/]*" + re.escape(TEMP_SUFFIX))


def _target(path) -> tuple[str, str]:
    """(path, its directory), or an NlmError when ``path`` is a directory or its
    directory does not exist."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise NlmError(f"{path}: is a directory")
    if not os.path.isdir(directory):
        raise NlmError(f"{path}: directory {directory} does not exist")
    return path, directory


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:      # EPERM: alive, another user's
        return True
    return True


def dead_writers(directory, pattern) -> list[str]:
    """Names in ``directory`` that match ``pattern`` (a compiled regex whose group 1 is a
    process id) and belong to a process that is gone; [] if the directory cannot be read."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    out = []
    for name in names:
        m = pattern.fullmatch(name)
        if m is not None and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            out.append(name)
    return out


def remove_stale_temps(directory) -> list[str]:
    """Remove temporary files (``.nlm-PID-*.tmp``) left in ``directory`` by writers that
    were killed (their process is gone); return the names removed. A temp file of a live
    process, or not named by this scheme, is left alone."""
    removed = []
    for name in dead_writers(directory, _TEMP_NAME):
        try:
            os.unlink(os.path.join(directory, name))
            removed.append(name)
        except OSError:
            pass
    return removed


@contextmanager
def atomic_output(path, mode: str = "wb"):
    """Open a temporary file next to ``path``; rename it onto ``path`` on success only.

    The temporary file is named ``.nlm-PID-XXXX.tmp`` after the writing process, so that
    the next writer into the directory can remove one a killed process left behind. Any
    OSError while writing (disk full, permissions changed, read-only file system) becomes
    a one-line NlmError naming ``path``; the temporary file is removed and a previous
    ``path`` is left as it was."""
    path, directory = _target(path)
    remove_stale_temps(directory)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=TEMP_SUFFIX,
                                   dir=directory)
    except OSError as e:
        raise NlmError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        # mkstemp makes the file private (0600); give it the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            kept = ("the previous file is left as it was" if os.path.exists(path)
                    else "nothing was written")
            raise NlmError(f"{path}: cannot write ({e.strerror or e}); {kept}") from None
        raise


def check_writable(path) -> None:
    """Fail early, before long work, when ``path`` cannot be written."""
    path, directory = _target(path)
    if not os.access(directory, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise NlmError(f"{path}: not writable")


def _same(a: str, b: str) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        try:
            return os.path.samefile(a, b)
        except OSError:
            pass
    return os.path.realpath(a) == os.path.realpath(b)


def check_distinct(inputs: dict, outputs: dict) -> None:
    """Refuse, before any work, an output that is one of the command's inputs or another
    of its outputs. ``inputs`` and ``outputs`` map a label ("training text", "-o") to a
    path (None: not given); a one-line NlmError names both."""
    ins = [(label, os.fspath(p)) for label, p in inputs.items() if p is not None and p != "-"]
    outs = [(label, os.fspath(p)) for label, p in outputs.items() if p is not None]
    for i, (olabel, out) in enumerate(outs):
        for ilabel, inp in ins:
            if _same(out, inp):
                raise NlmError(f"{out}: the {olabel} would overwrite the {ilabel}; "
                               "write it to another file")
        for olabel2, out2 in outs[i + 1:]:
            if _same(out, out2):
                raise NlmError(f"{out}: given both as the {olabel} and the {olabel2}; "
                               "use two different files")


def write_npz(path, header: dict, arrays: dict[str, np.ndarray], header_name: str) -> None:
    """Write ``arrays`` and the JSON ``header`` (as array ``header_name``) atomically."""
    out = dict(arrays)
    out[header_name] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with atomic_output(path) as f:
        np.savez(f, **out)


def read_npz(path, header_name: str, what: str, error=NlmError
             ) -> tuple[object, dict[str, np.ndarray]]:
    """(decoded JSON header, the other arrays) of an npz container, or ``error`` with a
    one-line message naming ``path`` and what is wrong; ``what`` names the expected kind
    of file ("nlm model file", "nlm checkpoint")."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise error(f"{path}: no such file")
    if os.path.isdir(path):
        raise error(f"{path}: is a directory, not an {what}")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror})") from None
    if magic.startswith(b"\x93NUMPY"):
        raise error(f"{path}: not an {what} (a bare .npy array)")
    if not magic.startswith(b"PK"):
        raise error(f"{path}: not an {what} (unrecognized format)")
    try:
        # the file is opened here, so that it is closed whatever np.load meets in it
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise error(f"{path}: not an {what} (a bare .npy array)")
            if header_name not in npz.files:
                raise error(f"{path}: not an {what} (no nlm header)")
            arrays = {name: npz[name] for name in npz.files}
    except NlmError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError,
            UnicodeDecodeError, zipfile.LargeZipFile) as e:
        raise error(f"{path}: truncated or corrupt ({type(e).__name__}: {e})"
                    .splitlines()[0][:300]) from None
    except Exception as e:  # zlib.error and friends from damaged members
        raise error(f"{path}: truncated or corrupt ({type(e).__name__})") from None
    try:
        header = json.loads(arrays.pop(header_name).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise error(f"{path}: corrupt nlm header") from None
    return header, arrays


__all__ = ["atomic_output", "remove_stale_temps", "check_writable", "check_distinct", "write_npz", "read_npz"]
