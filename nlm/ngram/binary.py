"""Memory-mapped binary n-gram files: a backoff model that opens without reading its tables.

An ``.npz`` model is read whole into memory (numpy cannot map an array inside a zip
archive). This format stores the query tables of a :class:`~nlm.ngram.backoff.BackoffModel`
as raw aligned arrays after a small JSON header, and loading maps them with ``mmap``:
opening a model costs the header (vocabulary included) and nothing else, and a query
pages in only what it touches. Layout (little-endian)::

    bytes 0-7     magic  b"NLMBIN\\r\\n"  (the \\r\\n catches text-mode mangling)
    bytes 8-15    uint64 length H of the JSON header
    bytes 16..    the UTF-8 JSON header (format, version, kind, config, vocabulary,
                  and for each array its dtype, shape and offset from the data start)
    data start    16 + H rounded up to 4096; every array starts on a 64-byte boundary

The arrays are the kernels' flat tables (:mod:`.backoff_kernels`: keys, off, lp, bow,
child, coff), which answer every query (next-word distributions, single n-grams,
export), the probing table that scoring text uses (:mod:`.binary_kernels`: one
32-byte slot per n-gram with its probability and backoff weight, so that a lookup
touches one cache line; built once, here), and the vocabulary's counts.
Probabilities stay float64, so a binary model gives bit for bit the numbers of the
model it was built from. Size: about 32 bytes per n-gram for the sorted tables and
46 for the probing table (load factor 0.7).

Loading checks what can be checked without reading the tables: the magic, the header,
the format version (a newer one is refused with a one-line error), the file size (a
truncated file is refused) and the consistency of every array's size with the
model's order and vocabulary. The tables' contents are trusted, as KenLM trusts its
binary files: they were verified when the file was written (:func:`write_binary`
checks a model completely before writing it), and :func:`verify_binary` reads
everything again. No pickle anywhere.
"""
from __future__ import annotations

import json
import mmap
import os
import struct

import numpy as np

from ..errors import ModelFileError, NlmError
from ..files import atomic_output
from ..modelfile import FileFormat, register_format
from ..version import __version__
from ..vocab import Vocabulary
from .backoff import BackoffModel
from .binary_kernels import (_build_probing, _probing_suffix_closed, _stops_cleanly,
                             _unigram_extends)

MAGIC = b"NLMBIN\r\n"
FORMAT = "nlm-binary"
FORMAT_VERSION = 1
SUFFIX = ".nlmbin"
ALIGN = 64
PAGE = 4096
#: KenLM's binary files start with this text; named in the error for one given to nlm.
KENLM_MAGIC = b"mmap lm "
_TABLES = ("keys", "off", "lp", "bow", "child", "coff")
_DTYPES = {"keys": "<i8", "off": "<i8", "lp": "<f8", "bow": "<f8", "child": "<i8",
           "coff": "<i8", "probing": "<i8", "unigram_extends": "|u1", "vocab.counts": "<i8"}
#: slots per n-gram of the probing table
LOAD_FACTOR = 0.7


def _round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def build_probing(model: BackoffModel) -> tuple[np.ndarray, np.ndarray, bool]:
    """(the (slots, 4) int64 probing table of ``model``'s n-grams of order >= 2, the (V,)
    uint8 flags of the unigrams that extend, whether scoring may stop at the first
    n-gram not found: the model is suffix-closed and every n-gram without
    continuations has backoff weight 1)."""
    keys, off, lp, bow, child, coff = model._tab()
    N, V = model.order, model.vocab_size
    n = int(off[-1] - off[1])
    size = max(int(n / LOAD_FACTOR) + 1, 16)
    slots = np.empty((size, 4), dtype=np.int64)
    _build_probing(keys, off, lp, bow, child, coff, N, slots, slots.view(np.float64))
    extends = np.empty(V, dtype=np.uint8)
    _unigram_extends(child, coff, bow, off, N, V, extends)
    closed = bool(_probing_suffix_closed(keys, off, N, V, slots)) and bool(
        _stops_cleanly(off, bow, child, coff, N))
    return slots, extends, closed


def write_binary(model: BackoffModel, path) -> int:
    """Write ``model`` as a memory-mappable binary file at ``path`` (atomically: an
    existing file is replaced only on success). Verifies the tables and builds the
    query hash first. Returns the file's size in bytes."""
    path = os.fspath(path)
    if not isinstance(model, BackoffModel):
        raise NlmError(f"{model.kind} models have no backoff tables; only backoff and "
                       "interpolated n-gram models (and ARPA files) can be made binary")
    try:
        model.check_tables()
    except ValueError as e:
        raise NlmError(f"the model's tables are inconsistent ({e})") from None
    slots, extends, closed = build_probing(model)
    arrays = dict(zip(_TABLES, model._tab()))
    arrays["probing"] = slots
    arrays["unigram_extends"] = extends
    arrays["vocab.counts"] = model.vocab.counts
    layout, offset = {}, 0
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr, dtype=_DTYPES[name])
        arrays[name] = arr
        layout[name] = {"dtype": _DTYPES[name], "shape": list(arr.shape), "offset": offset}
        offset = _round_up(offset + arr.nbytes, ALIGN)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "nlm_version": __version__,
              "kind": model.kind, "config": model.config(), "vocab": model.vocab.to_json(),
              "probing": {"closed": bool(closed)}, "arrays": layout,
              "data_bytes": offset}
    text = json.dumps(header).encode("utf-8")
    start = _round_up(16 + len(text), PAGE)
    with atomic_output(path) as f:
        f.write(MAGIC + struct.pack("<Q", len(text)) + text)
        f.write(b"\0" * (start - 16 - len(text)))
        at = 0
        for name, arr in arrays.items():
            f.write(b"\0" * (layout[name]["offset"] - at))
            flat = arr.reshape(-1).view(np.uint8)
            for a in range(0, len(flat), 1 << 26):   # large tables in 64 MiB pieces
                f.write(flat[a:a + (1 << 26)].data)
            at = layout[name]["offset"] + arr.nbytes
        f.write(b"\0" * (offset - at))
    return start + offset


def read_binary_header(path) -> tuple[dict, int]:
    """(the JSON header, the byte offset where the arrays start) of a binary model file,
    with a one-line ModelFileError for anything wrong with the file as a whole."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ModelFileError(f"{path}: is a directory, not a model file")
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(16)
            if head[:8] != MAGIC:
                if head.startswith(KENLM_MAGIC):
                    raise ModelFileError(f"{path}: a KenLM binary file; nlm reads KenLM's ARPA "
                                         "files (build a binary with nlm build-binary)")
                raise ModelFileError(f"{path}: not an nlm binary model (unrecognized format)")
            if len(head) < 16:
                raise ModelFileError(f"{path}: truncated (ends inside the header)")
            (length,) = struct.unpack("<Q", head[8:16])
            if 16 + length > size:
                raise ModelFileError(f"{path}: truncated (ends inside the header)")
            raw = f.read(length)
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ModelFileError(f"{path}: corrupt nlm binary header") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an nlm binary model (unknown header)")
    version = header.get("format_version")
    if not isinstance(version, int):
        raise ModelFileError(f"{path}: corrupt nlm binary header (no format version)")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: written by a newer nlm (binary format {version}; this "
                             f"nlm {__version__} reads up to {FORMAT_VERSION}); upgrade nlm")
    start = _round_up(16 + length, PAGE)
    data = header.get("data_bytes")
    if not isinstance(data, int) or data < 0:
        raise ModelFileError(f"{path}: corrupt nlm binary header (no data size)")
    if size < start + data:
        raise ModelFileError(f"{path}: truncated ({size} bytes, the header announces "
                             f"{start + data})")
    return header, start


def read_binary(path) -> BackoffModel:
    """Open a binary model file: the tables are memory-mapped, not read."""
    path = os.fspath(path)
    header, start = read_binary_header(path)
    try:
        with open(path, "rb") as f:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as e:
        raise ModelFileError(f"{path}: cannot map ({getattr(e, 'strerror', None) or e})") \
            from None
    try:
        arrays = _arrays(header, buf, start)
        config = header["config"]
        vocab = Vocabulary.from_json(header["vocab"], arrays.pop("vocab.counts"))
        slots = arrays.pop("probing")
        extends = arrays.pop("unigram_extends")
        off = arrays["off"]
        if slots.ndim != 2 or slots.shape[1] != 4 or slots.shape[0] < off[-1] - off[1]:
            raise ValueError("the probing table is too small for the n-grams")
        if extends.shape != (len(vocab),):
            raise ValueError("the unigram flags do not match the vocabulary")
        model = BackoffModel.from_flat(
            vocab, tuple(arrays[name] for name in _TABLES),
            method=str(config.get("method", "arpa")),
            normalized=bool(config.get("normalized", True)),
            options=dict(config.get("options", {})))
        model.use_probing(slots, extends, bool(header["probing"]["closed"]))
        return model
    except KeyError as e:
        raise ModelFileError(f"{path}: corrupt nlm binary model (missing {e.args[0]!r})") \
            from None
    except (TypeError, ValueError, AttributeError, IndexError, NlmError) as e:
        raise ModelFileError(f"{path}: corrupt nlm binary model ({e})".splitlines()[0]) \
            from None


def _arrays(header: dict, buf, start: int) -> dict[str, np.ndarray]:
    layout = header["arrays"]
    data = header["data_bytes"]
    out = {}
    for name, dtype in _DTYPES.items():
        spec = layout[name]
        if spec["dtype"] != dtype:
            raise ValueError(f"array {name} has dtype {spec['dtype']}, expected {dtype}")
        shape = tuple(int(s) for s in spec["shape"])
        offset = int(spec["offset"])
        count = int(np.prod(shape)) if shape else 1
        nbytes = count * np.dtype(dtype).itemsize
        if min(shape, default=0) < 0 or offset < 0 or offset % ALIGN or offset + nbytes > data:
            raise ValueError(f"array {name} lies outside the file")
        out[name] = np.frombuffer(buf, dtype=dtype, count=count,
                                  offset=start + offset).reshape(shape)
    # what the kernels index by: small arrays, read and checked here
    off, coff = out["off"], out["coff"]
    if off.ndim != 1 or len(off) < 2 or off[0] != 0 or (np.diff(off) < 0).any():
        raise ValueError("bad order offsets")
    return out


def verify_binary(path) -> BackoffModel:
    """Open a binary model and verify every table (reads the whole file); returns it."""
    model = read_binary(path)
    try:
        model.check_tables()
        slots, extends, closed = build_probing(model)
        if not (np.array_equal(slots, model._probing[0]) and
                np.array_equal(extends, model._probing[2]) and closed == model._probing[3]):
            raise ValueError("the probing table does not match the tables")
    except ValueError as e:
        raise ModelFileError(f"{os.fspath(path)}: corrupt nlm binary model ({e})") from None
    return model


register_format(FileFormat("binary", load=read_binary, suffixes=(SUFFIX,), magic=MAGIC))

__all__ = ["write_binary", "read_binary", "read_binary_header", "verify_binary", "SUFFIX"]
