"""Model files: one ``.npz`` per model, never pickle.

Layout: the array ``__nlm__`` holds a UTF-8 JSON header (format name and
version, model kind, hyper-parameters, vocabulary); every other array is a
model parameter, stored under its own name. ``vocab.counts`` holds the
vocabulary's counts. Writing is atomic (:mod:`nlm.files`).

Most kinds are saved as ``config()`` + ``arrays()`` and rebuilt by
``from_saved``. A kind whose file needs more than that (a mixture refers to
other files by paths relative to itself) registers a :class:`FileFormat` with
:func:`register_format`; so does a format that is not npz at all (ARPA text,
recognized by its suffix). This module is the only place model files are
opened.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import catalog
from .errors import ModelFileError, NlmError
from .files import KINDS, atomic_output, check_writable, file_kind, map_npz, read_npz, write_npz  # noqa: F401
from .model import MODEL_KINDS, LanguageModel
from .version import __version__
from .vocab import Vocabulary

FORMAT = "nlm-model"
FORMAT_VERSION = 1
HEADER = "__nlm__"


@dataclass(frozen=True)
class FileFormat:
    """How one kind of model file is written and read.

    ``kind`` formats live inside the npz container: ``config(model, path)`` gives the
    header's config (default ``model.config()``), ``load(vocab, config, arrays, path)``
    rebuilds the model (default ``cls.from_saved``). ``suffixes`` formats are whole
    files of another kind: ``load(path)`` reads one; a ``magic`` format is also
    recognized by its first bytes, whatever the file is called.
    """
    name: str
    load: Callable
    kind: str | None = None
    config: Callable | None = None
    suffixes: tuple[str, ...] = ()
    magic: bytes = b""


_BY_KIND: dict[str, FileFormat] = {}
_BY_SUFFIX: dict[str, FileFormat] = {}
_BY_MAGIC: dict[bytes, FileFormat] = {}


def register_format(fmt: FileFormat) -> None:
    if fmt.kind is not None:
        _BY_KIND[fmt.kind] = fmt
    for suffix in fmt.suffixes:
        _BY_SUFFIX[suffix] = fmt
    if fmt.magic:
        _BY_MAGIC[fmt.magic] = fmt


def model_header(kind: str, config: dict, vocab: Vocabulary) -> dict:
    """The JSON header of a model file: the one place its keys are written."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "nlm_version": __version__,
            "kind": kind, "config": config, "vocab": vocab.to_json()}


def save(model: LanguageModel, path) -> None:
    fmt = _BY_KIND.get(model.kind)
    config = fmt.config(model, os.fspath(path)) if fmt and fmt.config else model.config()
    header = model_header(model.kind, config, model.vocab)
    arrays = dict(model.arrays())
    for name, arr in arrays.items():
        if name == HEADER or name.startswith("vocab."):
            raise ValueError(f"reserved array name {name!r}")
        if np.asarray(arr).dtype == object:
            raise ValueError(f"array {name!r} has dtype object")
    arrays["vocab.counts"] = model.vocab.counts
    write_npz(path, header, arrays, HEADER)


#: other npz containers nlm writes that are not model files: their header array's name ->
#: explain(path), the message saying what the file is instead (or None); registered by the
#: modules that write them (a training checkpoint: :mod:`nlm.neural.checkpoint`)
_NOT_MODELS: dict[str, Callable[[str], str | None]] = {}


def register_other_container(header: str, explain: Callable[[str], str | None]) -> None:
    _NOT_MODELS[header] = explain


def _other_container(path: str) -> str | None:
    """What ``path`` is when it is one of the other npz containers, or None."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return None
    for header in catalog.CONTAINERS:
        if header + ".npy" in names and header not in _NOT_MODELS:
            catalog.provide(catalog.CONTAINERS, header)
    for header, explain in _NOT_MODELS.items():
        if header + ".npy" in names:
            return explain(path)
    return None


def read_header(path) -> tuple[dict, dict[str, np.ndarray]]:
    """Header and arrays of a model file, with clear errors for anything wrong."""
    path = os.fspath(path)
    try:
        header, arrays = read_npz(path, HEADER, "nlm model file", ModelFileError)
    except ModelFileError as e:
        other = _other_container(path) if str(e).endswith("(no nlm header)") else None
        if other is None:
            raise
        raise ModelFileError(f"{path}: {other}") from None
    check_header(path, header)
    return header, arrays


def check_header(path: str, header, fmt: str = FORMAT, version: int = FORMAT_VERSION,
                 what: str = "nlm model file", header_name: str = "nlm header",
                 format_name: str = "format") -> None:
    """The one check of a model file's header, whatever the container (the ``.npz`` model
    file here, the ``.nlmbin`` binary file in :mod:`nlm.ngram.binary`): the right format
    name, and a format version this nlm reads. A one-line ModelFileError otherwise."""
    if not isinstance(header, dict) or header.get("format") != fmt:
        raise ModelFileError(f"{path}: not an {what} (unknown header)")
    found = header.get("format_version")
    if not isinstance(found, int):
        raise ModelFileError(f"{path}: corrupt {header_name} (no format version)")
    if found > version:
        raise ModelFileError(f"{path}: written by a newer nlm ({format_name} {found}; "
                             f"this nlm {__version__} reads up to {version}); upgrade nlm")


def map_model_file(path) -> tuple[dict, Vocabulary, dict[str, np.ndarray]]:
    """(header, vocabulary, arrays) of an ``.npz`` model file without reading its tables:
    they are read-only memory maps (:func:`nlm.files.map_npz`). The header is checked as
    :func:`read_header` checks it; ValueError or ModelFileError when anything is odd."""
    import json
    path = os.fspath(path)
    arrays = map_npz(path)
    header = json.loads(bytes(np.asarray(arrays.pop(HEADER))).decode("utf-8"))
    check_header(path, header)
    vocab = Vocabulary.from_json(header["vocab"], np.asarray(arrays.pop("vocab.counts")))
    return header, vocab, arrays


def load(path) -> LanguageModel:
    """Load any model file: ``.npz`` model files, mixtures, or ARPA text files."""
    path = os.fspath(path)
    other = _format_of(path)
    if other is not None:
        return other.load(path)
    header, arrays = read_header(path)
    kind = header.get("kind")
    if kind not in MODEL_KINDS:
        catalog.provide(catalog.KINDS, kind)     # the module defining the kind, on first use
    cls = MODEL_KINDS.get(kind)
    if cls is None:
        raise ModelFileError(f"{path}: unknown model kind {kind!r} (written by a newer nlm?)")
    fmt = _BY_KIND.get(kind)
    try:
        counts = arrays.pop("vocab.counts")
        vocab = Vocabulary.from_json(header["vocab"], counts)
        if fmt is not None:
            return fmt.load(vocab, header["config"], arrays, path)
        return cls.from_saved(vocab, header["config"], arrays)
    except ModelFileError as e:
        raise ModelFileError(_naming(path, e)) from None
    except KeyError as e:
        raise ModelFileError(f"{path}: corrupt {kind} model (missing {e.args[0]!r})") from None
    except (TypeError, ValueError, IndexError, NlmError) as e:
        raise ModelFileError(f"{path}: corrupt {kind} model ({type(e).__name__}: {e})"
                             .splitlines()[0]) from None


#: What to do with a file that is not a model file, by its kind (:data:`nlm.files.KINDS`).
_ADVICE = {
    "text": "to train a model on it: nlm train FILE -o MODEL.npz",
    "gzip": "compressed text? nlm train reads it as it is",
    "bzip2": "compressed text? nlm train reads it as it is",
    "xz": "compressed text? nlm train reads it as it is",
    "zstd": "decompress it first (unzstd)",
    "zip": "unzip it first",
    "npy": "nlm model files are .npz archives written by nlm train",
    "stream": "save it to a file first: model files are read with random access",
    "empty": "", "binary": "unrecognized format",
}


def _format_of(path: str) -> FileFormat | None:
    """The format that reads ``path``, from its content first (an npz: None, the npz
    reader), its suffix only when the content does not say; a ModelFileError naming what
    the file is when no format reads it."""
    if path == "-":
        raise ModelFileError("-: standard input cannot be a model file (model files are read "
                             "with random access); give the file's name")
    kind = file_kind(path)
    named = {"arpa": "arpa", "arpa-gzip": "arpa", "nlmbin": "binary", "kenlm": "binary"}
    if kind in named:
        _provide_format(named[kind])
    by_name = {fmt.name: fmt for fmt in list(_BY_SUFFIX.values()) + list(_BY_MAGIC.values())}
    if kind in named and named[kind] in by_name:
        return by_name[named[kind]]
    if kind in ("npz", "missing", "directory"):
        return None            # read_header says what is wrong, if anything
    suffix = registered_suffix(path)
    if suffix in catalog.SUFFIXES:
        _provide_format(catalog.SUFFIXES[suffix])
    hinted = _BY_SUFFIX.get(suffix)
    if hinted is not None and kind in ("text", "binary", "empty", "gzip"):
        return hinted          # the suffix's reader says what is wrong with it
    advice = _ADVICE.get(kind, "")
    raise ModelFileError(f"{path}: not an nlm model file ({KINDS[kind]}"
                         + (f"; {advice})" if advice else ")"))


def _provide_format(name: str) -> None:
    """Import the module that registers format ``name`` if none is registered yet."""
    if not any(fmt.name == name for table in (_BY_SUFFIX, _BY_MAGIC, _BY_KIND)
               for fmt in table.values()):
        catalog.provide(catalog.FORMATS, name)


def _naming(path: str, e: ModelFileError) -> str:
    """The message of a model's own ModelFileError, naming the file, and saying "missing
    'x'" where the model's reader reported a bare KeyError."""
    msg = str(e).splitlines()[0] if str(e) else "corrupt model"
    cause = e.__cause__ or e.__context__
    if isinstance(cause, KeyError) and cause.args and msg.endswith(str(cause)):
        msg = msg[:-len(str(cause))] + f"missing {cause.args[0]!r}"
    return msg if msg.startswith(path + ":") else f"{path}: {msg}"


def registered_suffix(path: str) -> str:
    """The suffix of ``path`` that a registered file format claims (".arpa", ...), or ""."""
    name = os.path.basename(path).lower()
    for suffix in sorted(set(_BY_SUFFIX) | set(catalog.SUFFIXES), key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return ""


__all__ = ["save", "load", "read_header", "check_header", "model_header", "map_model_file", "register_format", "register_other_container",
           "registered_suffix", "file_kind", "FileFormat", "atomic_output",
           "check_writable", "HEADER", "FORMAT", "FORMAT_VERSION"]
