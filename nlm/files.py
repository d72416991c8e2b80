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

import contextvars
import json
import os
import re
import signal
import stat
import tempfile
import threading
import zipfile
import zlib
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


_HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def hold_signals():
    """Hold off Ctrl-C, SIGTERM and SIGHUP (main thread only) until the returned function
    is called: for the moment between creating a temporary file or directory and being
    inside the ``try`` that removes it, so that a signal never lands in between. A signal
    that came meanwhile is handed to its handler when released. (Python-level: blocking
    the signal in the main thread would not do, another thread may take it.)"""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    came: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: came.append(signum))
                for sig in _HELD}

    def release():
        if not previous:
            return
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        handlers = dict(previous)
        previous.clear()
        for sig in dict.fromkeys(came):
            handler = handlers[sig]
            if callable(handler):
                handler(sig, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(sig)
    return release


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
    release = hold_signals()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=TEMP_SUFFIX,
                                   dir=directory)
    except OSError as e:
        release()
        raise NlmError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        release()      # a signal held meanwhile arrives here, inside the try
        with os.fdopen(fd, mode) as f:
            yield f
        # mkstemp makes the file private (0600); give it the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        group = _GROUP.get()
        if group is not None and os.path.abspath(path) in group.paths:
            group.pending.append((tmp, path))    # renamed with the command's other outputs
        else:
            os.replace(tmp, path)
    except BaseException as e:
        _unlink(tmp)
        if isinstance(e, OSError):
            group = _GROUP.get()
            if group is not None and os.path.abspath(path) not in group.paths:
                group = None       # not one of the command's outputs (a checkpoint)
            # several outputs written at once: the error may be another's, so all are named
            named = (f"{path}: cannot write" if group is None or len(group.paths) < 2 else
                     "cannot write " + " and ".join(sorted(group.names)))
            raise NlmError(f"{named} ({e.strerror or e}); {_kept(path, group)}") from None
        raise


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _kept(path, group) -> str:
    """What a failed write left: the previous output files as they were, or nothing."""
    paths = group.paths if group is not None else {os.path.abspath(path)}
    if any(os.path.exists(p) for p in paths):
        return ("the previous file is left as it was" if len(paths) == 1
                else "nothing was written; the previous files are left as they were")
    return "nothing was written"


class _Group:
    def __init__(self, paths):
        self.names = {os.fspath(p) for p in paths}
        self.paths = {os.path.abspath(name) for name in self.names}
        self.pending: list[tuple[str, str]] = []     # (temp file, target)


_GROUP: contextvars.ContextVar = contextvars.ContextVar("nlm_output_group", default=None)


@contextmanager
def outputs_together(*paths):
    """The outputs of one command (``paths``; None: not given), written all or nothing.

    Inside the block, :func:`atomic_output` to one of ``paths`` writes its temporary file
    but does not rename it; when the block ends without an exception every temporary file
    is renamed onto its target (signals held off meanwhile), and when it ends with one
    (a failed write, Ctrl-C, SIGTERM) every temporary file is removed, so each output is
    either the new file or the previous one, for all of them together. Files written to
    other paths inside the block (a training checkpoint) are renamed at once as usual."""
    group = _Group(p for p in paths if p is not None)
    token = _GROUP.set(group)
    try:
        yield
        _commit(group)
    except BaseException:
        for tmp, _ in group.pending:
            _unlink(tmp)
        raise
    finally:
        _GROUP.reset(token)


def _commit(group: _Group) -> None:
    release = hold_signals()
    try:
        while group.pending:
            tmp, path = group.pending[0]
            try:
                os.replace(tmp, path)
            except OSError as e:
                raise NlmError(f"{path}: cannot write ({e.strerror or e})") from None
            group.pending.pop(0)
    finally:
        release()


#: What :func:`file_kind` finds, and how messages name it.
KINDS = {
    "missing": "no such file",
    "directory": "a directory",
    "stream": "a pipe or device (read once, as it streams)",
    "empty": "an empty file",
    "npz": "an npz archive",
    "npy": "a bare .npy array",
    "zip": "a zip archive",
    "arpa": "an ARPA model file",
    "arpa-gzip": "a gzip-compressed ARPA model file",
    "nlmbin": "an nlm binary model file",
    "kenlm": "a KenLM binary model file",
    "gzip": "gzip-compressed data",
    "bzip2": "bzip2-compressed data",
    "xz": "xz-compressed data",
    "zstd": "zstd-compressed data",
    "text": "a text file",
    "binary": "a binary file of unknown kind",
}

#: First bytes of each kind a file is recognized by (whatever it is called).
MAGIC = ((b"PK\x03\x04", "npz"), (b"PK\x05\x06", "npz"), (b"\x93NUMPY", "npy"),
         (b"NLMBIN\r\n", "nlmbin"), (b"mmap lm ", "kenlm"), (b"\x1f\x8b", "gzip"),
         (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))
_SNIFF = 1 << 16


def sniff_bytes(head: bytes) -> str:
    """The kind (a key of :data:`KINDS`) that a file's first bytes announce; "text" or
    "binary" when no magic matches. ARPA text is recognized by its ``\\data\\`` line
    (after a byte order mark, blank lines and any lines before it in ``head``)."""
    if not head:
        return "empty"
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if text.lstrip().startswith(b"\\data\\") or b"\n\\data\\" in text:
        return "arpa"
    if b"\x00" in text[:4096]:
        return "binary"
    try:
        text[:4096].decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(text[:4096]) - 4:     # not just a character cut at the end
            return "binary"
    return "text"


def file_kind(path) -> str:
    """What ``path`` holds, from its content (the suffix plays no part): a key of
    :data:`KINDS`. Reads at most its first 64 KiB; a pipe or device is not read at all
    ("stream"), so that it can still be read once by whoever needs it. A zip archive is
    an "npz" when its members are ``.npy`` arrays; a gzip file holding ARPA text is
    "arpa-gzip"."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "binary"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    if not stat.S_ISREG(st.st_mode):
        return "stream"
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF)
    except OSError:
        return "binary"
    kind = sniff_bytes(head)
    if kind == "npz":
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
            if names and not all(n.endswith(".npy") for n in names):
                kind = "zip"
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            pass          # a damaged npz: its reader says what is wrong
    elif kind == "gzip":
        import zlib
        try:
            inner = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 4096)
        except zlib.error:
            inner = b""
        if sniff_bytes(inner) == "arpa":
            kind = "arpa-gzip"
    return kind


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


class _WriterZip(zipfile.ZipFile):
    """A ZipFile that is never closed by the garbage collector: :class:`NpzWriter` closes
    it on success only. (A signal landing between its creation and the ``with`` block's
    ``__exit__``, or while an exception unwinds, left ``ZipFile.__del__`` writing to a
    closed file and printing a traceback after the one-line error.)"""

    def __del__(self):
        pass


class NpzWriter:
    """The one writer of nlm's npz containers (model files, checkpoints): an uncompressed
    ``.npz`` (stored members ``NAME.npy``, as np.savez writes them, no pickle) written to
    an open binary file one array at a time; an array may be written in pieces
    (:meth:`begin`, :meth:`write`, :meth:`end`) so that it is never whole in memory.
    Used as a context manager: closed on success, abandoned on failure (closing a
    half-written archive would write again; :class:`_WriterZip` is never closed by the
    garbage collector either)."""

    def __init__(self, fileobj):
        self.zip = _WriterZip(fileobj, "w", zipfile.ZIP_STORED, allowZip64=True)
        self._member = None

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.zip.close()
        return False

    def whole(self, name: str, array) -> None:
        with self.zip.open(name + ".npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)

    def begin(self, name: str, dtype, n: int) -> None:
        """Start the 1-D array ``name`` of ``n`` entries of ``dtype``."""
        self._member = self.zip.open(name + ".npy", "w", force_zip64=True)
        np.lib.format.write_array_header_1_0(self._member, {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
            "shape": (int(n),)})
        self._dtype, self._left = np.dtype(dtype), int(n)

    def write(self, part: np.ndarray) -> None:
        part = np.ascontiguousarray(part, dtype=self._dtype)
        self._left -= len(part)
        self._member.write(memoryview(part).cast("B"))

    def end(self) -> None:
        if self._left != 0:
            raise RuntimeError(f"array written with {self._left} entries missing")
        self._member.close()
        self._member = None

    def copy_file(self, name: str, path: str, dtype, n: int, block: int = 1 << 22) -> None:
        """The 1-D array ``name`` from the raw file ``path`` of ``n`` entries (a file
        that does not exist holds none)."""
        self.begin(name, dtype, n)
        if n == 0 and not os.path.exists(path):
            self.end()
            return
        with open(path, "rb") as f:
            while True:
                part = np.fromfile(f, dtype=dtype, count=block)
                if len(part) == 0:
                    break
                self.write(part)
        self.end()


def header_array(header: dict) -> np.ndarray:
    """The JSON header as the uint8 array a container stores it in."""
    return np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)


def write_npz(path, header: dict, arrays: dict[str, np.ndarray], header_name: str) -> None:
    """Write ``arrays`` and the JSON ``header`` (as array ``header_name``, last)
    atomically, with :class:`NpzWriter`."""
    with atomic_output(path) as f, NpzWriter(f) as npz:
        for name, arr in arrays.items():
            npz.whole(name, arr)
        npz.whole(header_name, header_array(header))


def map_npz(path: str) -> dict:
    """The 1-D arrays of an npz container, uncompressed members as read-only memory maps
    (the kernel pages them in and out), compressed ones read; ValueError for anything
    unexpected, a stored member's bytes included (their crc32 is checked, as np.load's
    reading does). The header is not decoded: that is the caller's."""
    import struct
    out = {}
    with open(path, "rb") as f, zipfile.ZipFile(f) as z:
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[:-4]
            if info.compress_type != zipfile.ZIP_STORED:
                with z.open(info) as m:
                    out[name] = np.lib.format.read_array(m, allow_pickle=False)
                continue
            f.seek(info.header_offset)
            local = f.read(30)
            if local[:4] != b"PK\x03\x04":
                raise ValueError("bad zip member")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            if _stored_crc32(f, start, info.compress_size) != info.CRC:
                raise ValueError(f"damaged zip member {info.filename} (crc32)")
            f.seek(start)
            version = np.lib.format.read_magic(f)
            reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = reader(f)
            if dtype.hasobject or fortran or len(shape) != 1:
                raise ValueError("unexpected array")
            offset = f.tell()
            if offset + int(np.prod(shape)) * dtype.itemsize > os.path.getsize(path):
                raise ValueError("truncated")
            out[name] = (np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
                         if shape[0] else np.zeros(0, dtype=dtype))
    return out


def _stored_crc32(f, start: int, size: int) -> int:
    """The crc32 of ``size`` bytes of file ``f`` from ``start`` (read in blocks)."""
    f.seek(start)
    crc = 0
    while size > 0:
        block = f.read(min(size, 1 << 24))
        if not block:
            break
        crc = zlib.crc32(block, crc)
        size -= len(block)
    return crc


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
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise error(f"{path}: holds pickled (object) arrays; nlm refuses to load pickle, "
                        f"which can run code: not an {what}") from None
        raise error(f"{path}: truncated or corrupt ({type(e).__name__}: {e})"
                    .splitlines()[0][:300]) from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError,
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


__all__ = ["outputs_together", "hold_signals", "file_kind", "sniff_bytes", "KINDS", "MAGIC",
           "atomic_output", "remove_stale_temps", "check_writable", "check_distinct",
           "NpzWriter", "header_array", "write_npz", "read_npz", "map_npz"]
