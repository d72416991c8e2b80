"""Model files: one ``.npz`` per model, never pickle.

Layout: the array ``__nlm__`` holds a UTF-8 JSON header (format name and
version, model kind, hyper-parameters, vocabulary); every other array is a
model parameter, stored under its own name. ``vocab.counts`` holds the
vocabulary's counts. Files are written to a temporary file in the target
directory and renamed into place, so a failed write leaves any previous file
untouched.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from contextlib import contextmanager

import numpy as np

from . import __version__
from .errors import ModelFileError, NlmError
from .model import MODEL_KINDS, LanguageModel
from .vocab import Vocabulary

FORMAT = "nlm-model"
FORMAT_VERSION = 1
HEADER = "__nlm__"


@contextmanager
def atomic_output(path, mode: str = "wb"):
    """Open a temporary file next to ``path``; rename it onto ``path`` on success only."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise NlmError(f"{path}: is a directory")
    if not os.path.isdir(directory):
        raise NlmError(f"{path}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".nlm-", suffix=".tmp", dir=directory)
    except OSError as e:
        raise NlmError(f"{path}: cannot write ({e.strerror})") from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        # mkstemp makes the file private (0600); give it the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def check_writable(path) -> None:
    """Fail early, before long work, when ``path`` cannot be written."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise NlmError(f"{path}: is a directory")
    if not os.path.isdir(directory):
        raise NlmError(f"{path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise NlmError(f"{path}: not writable")


def save(model: LanguageModel, path) -> None:
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nlm_version": __version__,
        "kind": model.kind,
        "config": model.config(path=os.fspath(path)) if model.refers_to_files else model.config(),
        "vocab": model.vocab.to_json(),
    }
    arrays = dict(model.arrays())
    for name, arr in arrays.items():
        if name == HEADER or name.startswith("vocab."):
            raise ValueError(f"reserved array name {name!r}")
        if np.asarray(arr).dtype == object:
            raise ValueError(f"array {name!r} has dtype object")
    arrays[HEADER] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    arrays["vocab.counts"] = model.vocab.counts
    with atomic_output(path) as f:
        np.savez(f, **arrays)


def read_header(path) -> tuple[dict, dict[str, np.ndarray]]:
    """Header and arrays of a model file, with clear errors for anything wrong."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ModelFileError(f"{path}: is a directory, not a model file")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read ({e.strerror})") from None
    if magic.startswith(b"\x93NUMPY"):
        raise ModelFileError(f"{path}: not an nlm model file (a bare .npy array)")
    if not magic.startswith(b"PK"):
        raise ModelFileError(f"{path}: not an nlm model file (unrecognized format)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ModelFileError(f"{path}: not an nlm model file (a bare .npy array)")
            if HEADER not in npz.files:
                raise ModelFileError(f"{path}: not an nlm model file (no nlm header)")
            arrays = {name: npz[name] for name in npz.files}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError,
            UnicodeDecodeError, zipfile.LargeZipFile) as e:
        raise ModelFileError(f"{path}: truncated or corrupt ({type(e).__name__}: {e})"
                             .splitlines()[0][:300]) from None
    except Exception as e:  # zlib.error and friends from damaged members
        raise ModelFileError(f"{path}: truncated or corrupt ({type(e).__name__})") from None
    try:
        header = json.loads(arrays.pop(HEADER).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ModelFileError(f"{path}: corrupt nlm header") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an nlm model file (unknown header)")
    version = header.get("format_version")
    if not isinstance(version, int):
        raise ModelFileError(f"{path}: corrupt nlm header (no format version)")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: written by a newer nlm (format {version}; "
                             f"this nlm {__version__} reads up to {FORMAT_VERSION}); upgrade nlm")
    return header, arrays


def load(path) -> LanguageModel:
    """Load any model file: ``.npz`` model files, mixtures, or ARPA text files."""
    path = os.fspath(path)
    loader = _ALTERNATE_LOADERS.get(_suffix(path))
    if loader is not None:
        return loader(path)
    header, arrays = read_header(path)
    kind = header.get("kind")
    cls = MODEL_KINDS.get(kind)
    if cls is None:
        raise ModelFileError(f"{path}: unknown model kind {kind!r} (written by a newer nlm?)")
    try:
        counts = arrays.pop("vocab.counts")
        vocab = Vocabulary.from_json(header["vocab"], counts)
        where = {"path": path} if cls.refers_to_files else {}
        return cls.from_saved(vocab, header["config"], arrays, **where)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, NlmError) as e:
        raise ModelFileError(f"{path}: corrupt {kind} model ({type(e).__name__}: {e})"
                             .splitlines()[0]) from None


# suffix -> loader, for model formats that are not npz (ARPA, mixtures).
_ALTERNATE_LOADERS: dict = {}


def register_loader(suffix: str, loader):
    _ALTERNATE_LOADERS[suffix] = loader


def _suffix(path: str) -> str:
    name = os.path.basename(path).lower()
    for suffix in sorted(_ALTERNATE_LOADERS, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return ""
