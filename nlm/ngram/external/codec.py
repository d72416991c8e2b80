"""A compact encoding of the integer tables the out-of-core pipeline spills.

Every spilled table is a run of rows of integers (windows of word ids, an n-gram
table's first word, suffix row and count, output records of words and a float64's
two halves), and successive rows are alike: sorted or grouped tables repeat most
columns of the row before, and word ids are small. A file is a sequence of blocks,
one per :func:`append`::

    int64 rows, int64 payload bytes, payload

The payload holds the rows one after the other: each of the first ``delta`` columns
as the difference from the same column of the previous row of the block (the first
row: from 0), zigzag-mapped to an unsigned number and written in little-endian base
128 (7 bits a byte, the high bit set on every byte but the last: 1 byte for a
difference in [-64, 64)); each remaining column as its raw bytes (4 for int32, 8 for
int64; used for the float64 values, which do not shrink so). Dependency-free and
jitted: about 0.5-1 GB of rows a second each way. Measured at order 5 on the
synthetic corpus: the n-gram tables shrink about 4x, windows about 2.5x, output
records about 2x (their float64 values stay 8 bytes).
"""
from __future__ import annotations

import os

import numpy as np
from numba import njit

HEAD = 16


@njit(cache=True, nogil=True)
def _encode(a, delta, raw_bytes, out):
    """Encode the rows of ``a`` (n, w) int32 or int64 into ``out`` (uint8, large enough:
    ``bound``); returns the bytes used."""
    n, w = a.shape
    pos = 0
    prev = np.zeros(max(delta, 1), dtype=np.int64)
    for i in range(n):
        for c in range(delta):
            v = np.int64(a[i, c])
            d = v - prev[c]
            prev[c] = v
            z = np.uint64((d << 1) ^ (d >> 63))
            while z >= 128:
                out[pos] = np.uint8((z & np.uint64(127)) | np.uint64(128))
                z >>= np.uint64(7)
                pos += 1
            out[pos] = np.uint8(z)
            pos += 1
        for c in range(delta, w):
            v = np.int64(a[i, c])
            for b in range(raw_bytes):
                out[pos] = np.uint8((v >> (8 * b)) & 255)
                pos += 1
    return pos


@njit(cache=True, nogil=True)
def _decode(buf, start, n, delta, raw_bytes, out, row0):
    """Decode ``n`` rows from ``buf[start:]`` into ``out[row0:row0 + n]``; returns the
    position after them."""
    w = out.shape[1]
    pos = start
    prev = np.zeros(max(delta, 1), dtype=np.int64)
    for i in range(row0, row0 + n):
        for c in range(delta):
            z = np.uint64(0)
            shift = np.uint64(0)
            while True:
                byte = np.uint64(buf[pos])
                pos += 1
                z |= (byte & np.uint64(127)) << shift
                if byte < 128:
                    break
                shift += np.uint64(7)
            d = np.int64(z >> np.uint64(1)) ^ -np.int64(z & np.uint64(1))
            prev[c] += d
            out[i, c] = prev[c]
        for c in range(delta, w):
            v = np.uint64(0)
            for b in range(raw_bytes):
                v |= np.uint64(buf[pos]) << np.uint64(8 * b)
                pos += 1
            if raw_bytes == 4:
                out[i, c] = np.int64(np.int32(np.uint32(v)))
            else:
                out[i, c] = np.int64(v)
    return pos


@njit(cache=True, nogil=True, inline="always")
def _block_head(buf, pos):
    """A block's (rows, payload bytes): two little-endian int64 at ``pos``."""
    n = 0
    m = 0
    for b in range(8):
        n |= np.int64(buf[pos + b]) << (8 * b)
        m |= np.int64(buf[pos + 8 + b]) << (8 * b)
    return n, m


@njit(cache=True, nogil=True)
def _decode_blocks(buf, delta, raw_bytes, out):
    pos = 0
    row = 0
    while pos < len(buf):
        n, m = _block_head(buf, pos)
        _decode(buf, pos + HEAD, n, delta, raw_bytes, out, row)
        row += n
        pos += HEAD + m
    return row


def encode(array: np.ndarray, delta: int | None = None) -> bytes:
    """One block holding ``array`` ((n,) or (n, w) int32 or int64); its first ``delta``
    columns (all by default) delta-coded, the rest raw."""
    a = np.ascontiguousarray(array)
    if a.dtype not in (np.int32, np.int64):
        raise TypeError(f"cannot encode {a.dtype}")
    a = a.reshape(len(a), -1)
    w = a.shape[1]
    d = w if delta is None else int(delta)
    raw = a.dtype.itemsize
    out = np.empty(HEAD + len(a) * (10 * d + raw * (w - d)), dtype=np.uint8)
    used = _encode(a, d, raw, out[HEAD:])
    out[:HEAD].view(np.int64)[:] = (len(a), used)
    return out[:HEAD + used]


def append(path: str, array: np.ndarray, delta: int | None = None) -> int:
    """Append ``array`` to ``path`` as one block; returns the bytes written."""
    if not len(array):
        return 0
    block = encode(array, delta)
    with open(path, "ab") as f:
        f.write(memoryview(block))
    return len(block)


def load(path: str, dtype, width: int | None = None, delta: int | None = None) -> np.ndarray:
    """The rows of every block of ``path`` as (n,) or (n, width) of ``dtype`` (empty when
    the file does not exist); ``delta`` as given to :func:`append`."""
    return load_all([path], dtype, width, delta)


def load_all(paths, dtype, width: int | None = None, delta: int | None = None) -> np.ndarray:
    """:func:`load` of the files ``paths`` one after the other (those that do not exist
    hold nothing), decoded into one array: each file's rows are counted from its block
    heads first, so no file's rows are ever held twice."""
    w = 1 if width is None else int(width)
    present = [p for p in paths if os.path.exists(p)]
    rows = [_rows_of_file(p) for p in present]
    out = np.empty((sum(rows), w), dtype=dtype)
    d = w if delta is None else int(delta)
    row = 0
    for p, n in zip(present, rows):
        buf = np.fromfile(p, dtype=np.uint8)
        if _decode_blocks(buf, d, np.dtype(dtype).itemsize, out[row:row + n]) != n:
            raise RuntimeError(f"{p}: changed while read")
        del buf
        row += n
    return out.reshape(-1) if width is None else out


def _rows_of_file(path: str) -> int:
    """Total rows of the blocks of ``path``, from their heads alone."""
    total = 0
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        pos = 0
        while pos < size:
            f.seek(pos)
            n, m = np.frombuffer(f.read(HEAD), dtype=np.int64)
            total += int(n)
            pos += HEAD + int(m)
    return total


__all__ = ["encode", "append", "load", "load_all"]
