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

Format 2 (written now) holds the query table every backoff model is scored from
(:mod:`.backoff_kernels`: ``meta``, ``ints``, ``vals``): for each n-gram its last word
(uint32), its probability and backoff weight (float32, KenLM's precision: a binary
model's log-probabilities differ from the model it was built from by about 1e-7
relative), the starts of each context's block of continuations and an open-addressing
table of rows (load factor 0.7), plus the vocabulary's counts. That serves every
query (scoring, next-word distributions, single n-grams, KenLM's API); export and
pruning rebuild the sorted tables from it. About 14 bytes per highest-order n-gram
and 22 per other n-gram, at most the size of KenLM's probing binary of the model.
Format 1 files (the sorted tables in float64 beside a probing table of hashes) are
still read: their sorted tables are used, and the query table built from them on first
use.

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
import zlib

import numpy as np

from ..errors import ModelFileError, NlmError
from ..files import atomic_output
from ..modelfile import FileFormat, check_header, register_format
from ..version import __version__
from ..vocab import Vocabulary
from .backoff import BackoffModel

MAGIC = b"NLMBIN\r\n"
FORMAT = "nlm-binary"
FORMAT_VERSION = 2
SUFFIX = ".nlmbin"
ALIGN = 64
PAGE = 4096
#: KenLM's binary files start with this text; named in the error for one given to nlm.
KENLM_MAGIC = b"mmap lm "
_TABLES = ("keys", "off", "lp", "bow", "child", "coff")
#: format 1's arrays (its probing table is not used any more)
_DTYPES_1 = {"keys": ("<i8",), "off": ("<i8",), "lp": ("<f8",), "bow": ("<f8",),
             "child": ("<i8",), "coff": ("<i8",), "vocab.counts": ("<i8",)}
_DTYPES = {"meta": ("<i8",), "ints": ("<u4", "<i8"), "vals": ("<f4",),
           "vocab.counts": ("<i8",)}


def _round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def float32_model(model: BackoffModel) -> BackoffModel:
    """``model`` with its probabilities and backoff weights rounded to float32 values
    (kept as float64: every path then sums the same numbers), as the binary file holds
    them."""
    keys, off, lp, bow, child, coff = model._tab()
    return BackoffModel.from_flat(model.vocab, (keys, off, _f32(lp), _f32(bow), child, coff),
                                  method=model.method, normalized=model.normalized,
                                  options=model.options)


def _f32(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(x, dtype=np.float32).astype(np.float64)


def write_binary(model: BackoffModel, path) -> int:
    """Write ``model`` as a memory-mappable binary file at ``path`` (atomically: an
    existing file is replaced only on success). Verifies the tables, rounds the
    probabilities to float32 values and builds the probing tables first. Returns the
    file's size in bytes."""
    path = os.fspath(path)
    if not isinstance(model, BackoffModel):
        raise NlmError(f"{model.kind} models have no backoff tables; only backoff and "
                       "interpolated n-gram models (and ARPA files) can be made binary")
    try:
        model.check_tables()
    except ValueError as e:
        raise NlmError(f"the model's tables are inconsistent ({e})") from None
    model = float32_model(model)
    meta, ints, vals, closed = model.query_table()
    arrays = {"meta": meta, "ints": ints, "vals": vals.astype(np.float32),
              "vocab.counts": model.vocab.counts}
    layout, offset = array_layout({name: (arr.dtype, arr.shape) for name, arr in arrays.items()})
    for name, arr in arrays.items():
        arrays[name] = np.ascontiguousarray(arr, dtype=layout[name]["dtype"])
    crc = 0
    for piece in _data_pieces(arrays, layout, offset):    # the data region's crc32
        crc = zlib.crc32(piece, crc)
    head = header_bytes({"kind": model.kind, "config": model.config(),
                         "vocab": model.vocab.to_json()}, closed, layout, offset, crc)
    with atomic_output(path) as f:
        f.write(head)
        for piece in _data_pieces(arrays, layout, offset):
            f.write(piece)
    return len(head) + offset


def array_layout(specs: dict) -> tuple[dict, int]:
    """(the header's ``arrays`` entry, the data region's size) for arrays of the given
    (dtype, shape), named as a format-2 file names them, in that order."""
    layout, offset = {}, 0
    for name, (dtype, shape) in specs.items():
        dtype = np.dtype(dtype)
        dtype = dtype.newbyteorder("<").str if name == "ints" else _DTYPES[name][0]
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        layout[name] = {"dtype": dtype, "shape": [int(s) for s in shape], "offset": offset}
        offset = _round_up(offset + nbytes, ALIGN)
    return layout, offset


def header_bytes(model: dict, closed: bool, layout: dict, data_bytes: int, crc: int) -> bytes:
    """A format-2 file's bytes before its data region: magic, header length, the JSON
    header (``model``: its kind, config and vocabulary JSON) and the padding to a page."""
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "nlm_version": __version__,
              "kind": model["kind"], "config": model["config"], "vocab": model["vocab"],
              "probing": {"closed": bool(closed)}, "arrays": layout,
              "data_bytes": data_bytes, "data_crc32": crc}
    text = _with_header_crc(json.dumps(header).encode("utf-8"))
    start = _round_up(16 + len(text), PAGE)
    return MAGIC + struct.pack("<Q", len(text)) + text + b"\0" * (start - 16 - len(text))


def _data_pieces(arrays: dict, layout: dict, end: int):
    """The data region's bytes in order (alignment padding included), large tables in
    64 MiB pieces."""
    at = 0
    for name, arr in arrays.items():
        yield b"\0" * (layout[name]["offset"] - at)
        flat = arr.reshape(-1).view(np.uint8)
        for a in range(0, len(flat), 1 << 26):
            yield flat[a:a + (1 << 26)].data
        at = layout[name]["offset"] + arr.nbytes
    yield b"\0" * (end - at)


#: the last key of the JSON header: the crc32 of the header written without it
HEADER_CRC = b', "header_crc32": '


def _with_header_crc(text: bytes) -> bytes:
    return text[:-1] + HEADER_CRC + str(zlib.crc32(text)).encode() + b"}"


def _check_header_crc(raw: bytes, header: dict, path: str) -> None:
    """A header written with a checksum must match it (older files have none)."""
    if "header_crc32" not in header:
        return
    at = raw.rfind(HEADER_CRC)
    if at < 0 or zlib.crc32(raw[:at] + b"}") != header["header_crc32"]:
        raise ModelFileError(f"{path}: corrupt nlm binary model (the header does not match its "
                             "checksum)")


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
                    _refuse_kenlm_binary(path)
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
    check_header(path, header, FORMAT, FORMAT_VERSION, what="nlm binary model",
                 header_name="nlm binary header", format_name="binary format")
    _check_header_crc(raw.rstrip(b" "), header, path)
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
    _check_data_crc(buf, header, start, path)
    try:
        config = header["config"]
        kw = dict(method=str(config.get("method", "arpa")),
                  normalized=bool(config.get("normalized", True)),
                  options=dict(config.get("options", {})))
        if header["format_version"] < 2:
            arrays = _arrays(header, buf, start, _DTYPES_1)
            vocab = Vocabulary.from_json(header["vocab"], arrays.pop("vocab.counts"))
            return BackoffModel.from_flat(vocab, tuple(arrays[name] for name in _TABLES), **kw)
        arrays = _arrays(header, buf, start, _DTYPES)
        vocab = Vocabulary.from_json(header["vocab"], arrays.pop("vocab.counts"))
        table = (arrays["meta"], arrays["ints"], arrays["vals"],
                 bool(header["probing"]["closed"]))
        return BackoffModel.from_query_table(vocab, table, **kw)
    except KeyError as e:
        raise ModelFileError(f"{path}: corrupt nlm binary model (missing {e.args[0]!r})") \
            from None
    except (TypeError, ValueError, AttributeError, IndexError, NlmError) as e:
        raise ModelFileError(f"{path}: corrupt nlm binary model ({e})".splitlines()[0]) \
            from None


def _check_data_crc(buf, header: dict, start: int, path: str) -> None:
    """The tables must match the header's checksum (files written before nlm had one are
    taken as they are). Reads the whole data region: about 1 ms per MB."""
    want = header.get("data_crc32")
    if want is None:
        return
    view = memoryview(buf)
    crc, end = 0, start + header["data_bytes"]
    try:
        for a in range(start, end, 1 << 26):
            crc = zlib.crc32(view[a:min(a + (1 << 26), end)], crc)
    finally:
        view.release()
    if crc != want:
        raise ModelFileError(f"{path}: corrupt nlm binary model (the tables do not match their "
                             "checksum: the file was damaged after it was written)")


def _arrays(header: dict, buf, start: int, dtypes: dict) -> dict[str, np.ndarray]:
    layout = header["arrays"]
    data = header["data_bytes"]
    out = {}
    for name, allowed in dtypes.items():
        spec = layout[name]
        dtype = spec["dtype"]
        if dtype not in allowed:
            raise ValueError(f"array {name} has dtype {dtype}, expected {allowed[0]}")
        shape = tuple(int(s) for s in spec["shape"])
        offset = int(spec["offset"])
        count = int(np.prod(shape)) if shape else 1
        nbytes = count * np.dtype(dtype).itemsize
        if min(shape, default=0) < 0 or offset < 0 or offset % ALIGN or offset + nbytes > data:
            raise ValueError(f"array {name} lies outside the file")
        out[name] = np.frombuffer(buf, dtype=dtype, count=count,
                                  offset=start + offset).reshape(shape)
    if "off" in out:    # format 1: what the kernels index by, read and checked here
        off = out["off"]
        if off.ndim != 1 or len(off) < 2 or off[0] != 0 or (np.diff(off) < 0).any():
            raise ValueError("bad order offsets")
    return out


def verify_binary(path) -> BackoffModel:
    """Open a binary model and verify every table (reads the whole file); returns it."""
    model = read_binary(path)
    try:
        model.check_tables()
        fresh = BackoffModel.from_flat(model.vocab, model._tab())
        meta, ints, vals, closed = fresh.query_table()
        m_meta, m_ints, m_vals, m_closed = model.query_table()
        if not (np.array_equal(meta, m_meta) and np.array_equal(ints, m_ints)
                and np.array_equal(vals, m_vals) and closed == m_closed):
            raise ValueError("the query table does not match the tables")
    except ValueError as e:
        raise ModelFileError(f"{os.fspath(path)}: corrupt nlm binary model ({e})") from None
    return model


def _refuse_kenlm_binary(path) -> BackoffModel:
    """KenLM's binary files (probing or trie, whatever their name) are recognized by their
    magic and named, with what to do instead."""
    raise ModelFileError(f"{os.fspath(path)}: a KenLM binary file (probing or trie), which nlm "
                         "cannot read; give nlm the ARPA file it was built from, or make an "
                         "nlm binary of that with `nlm build-binary MODEL.arpa OUT.nlmbin`")


register_format(FileFormat("binary", load=read_binary, suffixes=(SUFFIX,), magic=MAGIC))
register_format(FileFormat("kenlm-binary", load=_refuse_kenlm_binary, magic=KENLM_MAGIC))

__all__ = ["write_binary", "read_binary", "read_binary_header", "verify_binary", "SUFFIX",
           "array_layout", "header_bytes"]
