"""A binary model file (:mod:`.binary`, format 2) written from sorted tables streamed
in, order by order and block by block, never holding a whole table: the out-of-core
estimator's direct ``.nlmbin`` output (:mod:`nlm.ngram.external.assemble`).

The bytes are those :func:`.binary.write_binary` writes for the same model (tests
compare them). Every region of the data is filled in its own order (the last words,
the continuation starts and the float32 values of each order as its blocks arrive;
an order's probing table, the only part written out of order, is built in memory
and written when the order ends: 4 bytes per slot, about 5.7 bytes per n-gram of
the largest order), each region's crc32 kept as it goes and the crc32 of the whole
data region combined from them at the end. The file is written through
:func:`nlm.files.atomic_output` by the caller: nothing appears unless it completes.
"""
from __future__ import annotations

import zlib

import numpy as np
from numba import njit

from .backoff import M_OFF, query_layout
from .backoff_kernels import probe_insert
from .binary import PAGE, array_layout, header_bytes


@njit(cache=True, nogil=True)
def _child_starts(rows, g0, first_row, out):
    """``out[i]`` (the continuation start of context row ``first_row + i``) = the first
    n-gram row at or after ``g0`` whose context row is at least that; ``rows`` sorted.
    Returns how many entries were filled (up to the last row's context)."""
    i = first_row
    for j in range(len(rows)):
        r = rows[j]
        while i <= r:
            out[i - first_row] = g0 + j
            i += 1
    return i - first_row


@njit(cache=True, nogil=True)
def _insert(rows, words, V, g0, slots):
    """Insert n-grams (context row, last word) with local rows g0, g0 + 1, ... into the
    linear-probing table ``slots`` (0: empty; else local row + 1), as the in-memory
    builder does (:func:`nlm.ngram.backoff_kernels.probe_insert`)."""
    for j in range(len(rows)):
        probe_insert(slots, 0, len(slots), rows[j] * V + words[j], g0 + j + 1)


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The crc32 of A + B from crc32(A), crc32(B) and len(B) (zlib's crc32_combine)."""
    def times(mat, vec):
        s, i = 0, 0
        while vec:
            if vec & 1:
                s ^= mat[i]
            vec >>= 1
            i += 1
        return s

    def square(mat):
        return [times(mat, mat[n]) for n in range(32)]
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = square(odd)
    odd = square(even)
    while True:
        even = square(odd)
        if len2 & 1:
            crc1 = times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = square(even)
        if len2 & 1:
            crc1 = times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


class _Region:
    """A run of the data region written front to back: where the next bytes go, and
    the crc32 of those before."""

    def __init__(self, at: int):
        self.at, self.start, self.crc = at, at, 0

    def put(self, f, base: int, data: np.ndarray):
        b = memoryview(np.ascontiguousarray(data)).cast("B")
        if len(b):
            f.seek(base + self.at)
            f.write(b)
            self.crc = zlib.crc32(b, self.crc)
            self.at += len(b)


class BinaryWriter:
    """Writes a format-2 binary model to the seekable binary file ``f``: call
    :meth:`unigrams`, then for k = 2..N :meth:`block` for each block of order k's
    n-grams in table order, then :meth:`close`. ``model``: its header's kind, config
    and vocabulary JSON; ``sizes``: n-grams per order; ``counts``: the vocabulary's."""

    def __init__(self, f, model: dict, sizes: list[int], counts: np.ndarray):
        self.f, self.model, self.sizes = f, model, [int(n) for n in sizes]
        N, V = len(sizes), int(sizes[0])
        self.N, self.V = N, V
        off = np.zeros(N + 1, dtype=np.int64)
        np.cumsum(self.sizes, out=off[1:])
        self.off = off
        self.meta, n_ints, self.dtype = query_layout(off, N, V)
        self.layout, self.data_bytes = array_layout({
            "meta": (np.int64, self.meta.shape), "ints": (self.dtype, (n_ints,)),
            "vals": (np.float32, (int(off[N] + off[N - 1]),)),
            "vocab.counts": (np.int64, (V,))})
        self.counts = np.ascontiguousarray(counts, dtype=np.int64)
        self.base = self._start()
        self.size = self.item = None
        cst, sst = int(self.meta[3]), int(self.meta[4])
        ints, vals = self.layout["ints"]["offset"], self.layout["vals"]["offset"]
        isz = self.dtype.itemsize
        self.words = _Region(ints)
        self.child = _Region(ints + isz * int(self.meta[cst + 2])) if N > 1 else None
        self.lp = _Region(vals)
        self.bow = _Region(vals + 4 * int(off[N]))
        self.hash_crc = []
        self.slots = None

    def _start(self) -> int:
        """Where the data region starts: after the header, which is written last (its
        checksums are not known yet); the header's length varies with the digits of
        two checksums, which moves the start only if it crosses a page."""
        return len(header_bytes(self.model, False, self.layout, self.data_bytes, 4294967295))

    def unigrams(self, logprob: np.ndarray, logbow: np.ndarray | None):
        f, b = self.f, self.base
        f.seek(b)
        f.write(memoryview(self.meta.astype("<i8")).cast("B"))
        self.words.put(f, b, np.arange(self.V, dtype=self.dtype))
        self.lp.put(f, b, _f32(logprob))
        if self.N > 1:
            self.bow.put(f, b, _f32(logbow))

    def block(self, k: int, words: np.ndarray, logprob: np.ndarray, logbow, rows: np.ndarray):
        """The next ``len(words)`` n-grams of order k: their words (n, k), ln probabilities,
        ln backoff weights (None at the highest order) and context rows in table k-1."""
        if self.size != k:
            self._end_order()
            self.size, self.item = k, 0
            cst, sst = int(self.meta[3]), int(self.meta[4])
            self.next_row = 0
            self.slots = np.zeros(int(self.meta[sst + k + 1] - self.meta[sst + k]),
                                  dtype=self.dtype)
        f, b, n = self.f, self.base, len(words)
        last = np.ascontiguousarray(words[:, k - 1], dtype=np.int64)
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        self.words.put(f, b, last.astype(self.dtype))
        if n:
            out = np.empty(int(rows[-1]) - self.next_row + 1, dtype=self.dtype)
            used = _child_starts(rows, self.item, self.next_row, out)
            self.child.put(f, b, out[:used])
            self.next_row += used
            _insert(rows, last, self.V, self.item, self.slots)
        self.lp.put(f, b, _f32(logprob))
        if k < self.N:
            self.bow.put(f, b, _f32(logbow))
        self.item += n

    def _end_order(self):
        """The rest of the order's continuation starts, and its probing table."""
        k = self.size
        if k is None:
            return
        if self.item != self.sizes[k - 1]:
            raise RuntimeError(f"order {k}: {self.item} n-grams written, "
                               f"{self.sizes[k - 1]} announced")
        rest = self.sizes[k - 2] + 1 - self.next_row
        self.child.put(self.f, self.base, np.full(rest, self.item, dtype=self.dtype))
        sst = int(self.meta[4])
        at = self.layout["ints"]["offset"] + self.dtype.itemsize * int(self.meta[sst + k])
        self.f.seek(self.base + at)
        view = memoryview(self.slots).cast("B")
        self.f.write(view)
        self.hash_crc.append((at, len(view), zlib.crc32(view)))
        self.slots = None

    def close(self) -> int:
        """Finish the file (orders with no n-grams included); returns its size."""
        for k in range(2, self.N + 1):
            if self.size is None or self.size < k:
                self.block(k, np.zeros((0, k), np.int32), np.zeros(0), np.zeros(0),
                           np.zeros(0, np.int64))
        self._end_order()
        self.f.seek(self.base + self.layout["vocab.counts"]["offset"])
        self.f.write(memoryview(self.counts).cast("B"))
        crc = self._data_crc()
        head = header_bytes(self.model, True, self.layout, self.data_bytes, crc)
        if len(head) != self.base:
            self._move(len(head))
        self.f.seek(0)
        self.f.write(head)
        self.f.truncate(len(head) + self.data_bytes)
        return len(head) + self.data_bytes

    def _data_crc(self) -> int:
        """The data region's crc32 from its pieces' (zeros between them)."""
        pieces = [(0, 8 * len(self.meta), zlib.crc32(self.meta.astype("<i8").tobytes()))]
        for r in (self.words, self.child, self.lp, self.bow):
            if r is not None:
                pieces.append((r.start, r.at - r.start, r.crc))
        pieces += self.hash_crc
        counts = memoryview(self.counts).cast("B")
        pieces.append((self.layout["vocab.counts"]["offset"], len(counts), zlib.crc32(counts)))
        pieces.sort()
        crc, at = 0, 0
        for start, length, c in pieces:
            if start < at:
                raise RuntimeError("binary writer: overlapping regions")
            crc = crc32_combine(crc, zlib.crc32(bytes(start - at)), start - at)
            crc = crc32_combine(crc, c, length)
            at = start + length
        return crc32_combine(crc, zlib.crc32(bytes(self.data_bytes - at)),
                             self.data_bytes - at)

    def _move(self, start: int):
        """The data region moved to ``start`` (the header came out a page shorter)."""
        import os
        fd = os.open(f"/proc/self/fd/{self.f.fileno()}", os.O_RDWR)
        try:
            self.f.flush()
            os.ftruncate(fd, self.base + self.data_bytes)    # the padding at the end too
            step = 1 << 26
            for a in range(0, self.data_bytes, step):
                chunk = os.pread(fd, min(step, self.data_bytes - a), self.base + a)
                os.pwrite(fd, chunk, start + a)
        finally:
            os.close(fd)
        self.base = start


def _f32(x) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(x, dtype=np.float64).astype("<f4")


__all__ = ["BinaryWriter", "crc32_combine", "PAGE", "M_OFF"]
