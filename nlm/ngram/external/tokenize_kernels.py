"""Numba kernels of the block reader (:mod:`.read`): blocks of whole lines of UTF-8 text
split at whitespace (exactly the characters ``str.split()`` splits at) into provisional
ids, in order of first appearance, by a word table that lives across blocks.

The table (:class:`WordTable`) is an open-addressing hash table of int32 word ids (a
power-of-two number of slots, at most half of them used) over a byte arena that holds
every word followed by ``b"\\n"``: the arena up to its last byte is the words, one a
line, in id order. The kernels stop where a table, arena or word array is full; the
wrapper grows it and calls again from there.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_NEWLINE = 10

#: the state array of :func:`tokenize_block`: position in the block, ids written, words
#: in the table, arena bytes used, whether the line so far has a word, lines ended, and
#: the arena bytes needed (when the kernel stopped for growth)
STATE_SIZE = 7


@njit(cache=True, nogil=True, inline="always")
def space_length(data, i, n):
    """The length in bytes of the whitespace character starting at ``data[i]`` (one of
    those ``str.split()`` splits at), 0 when it is none."""
    b = data[i]
    if b < 0x80:
        if b == 32 or 9 <= b <= 13 or 28 <= b <= 31:
            return 1
        return 0
    if b == 0xC2:                                   # U+0085, U+00A0
        if i + 1 >= n:
            return 0
        c = data[i + 1]         # (one read: "i + 1 < n and (data[i + 1] == ...)" made
        if c == 0x85 or c == 0xA0:      # Numba's code of the whole function 6x slower)
            return 2
        return 0
    if b < 0xE1 or b > 0xE3 or i + 2 >= n:
        return 0
    c = data[i + 1]
    d = data[i + 2]
    if b == 0xE1:                                   # U+1680
        return 3 if c == 0x9A and d == 0x80 else 0
    if b == 0xE3:                                   # U+3000
        return 3 if c == 0x80 and d == 0x80 else 0
    if c == 0x80:       # U+2000..U+200A, U+2028, U+2029, U+202F
        if 0x80 <= d <= 0x8A or d == 0xA8 or d == 0xA9 or d == 0xAF:
            return 3
        return 0
    return 3 if c == 0x81 and d == 0x9F else 0      # U+205F


@njit(cache=True, nogil=True, inline="always")
def _same_word(arena, start, data, i, length):
    for t in range(length):
        if arena[start + t] != data[i + t]:
            return False
    return True


@njit(cache=True, nogil=True)
def tokenize_block(data, out, table, hashes, arena, starts, counts, state):
    """The ids of the words of ``data`` (uint8, whole lines of valid UTF-8) into ``out``
    (int32, at least ``len(data) + 1``), -1 ending each line that has a word (the last
    one also without its ``\\n``); new words get the next ids. ``table`` (int32, -1 where
    empty) holds ids, ``hashes`` (uint64), ``starts`` (int64, one more) and ``counts``
    (int64, zero beyond the words so far) are per id, word ``w`` is ``arena[starts[w]:starts[w + 1] - 1]``. ``state``:
    see :data:`STATE_SIZE`. Returns 0 when done, 1 when it stopped before a new word for
    which the table (or the word arrays: half its size) or the arena (``state[6]``
    bytes needed) must grow; called again it goes on from there."""
    n = len(data)
    i, k, nw, used, has, ends = state[0], state[1], state[2], state[3], state[4], state[5]
    mask = len(table) - 1
    umask = np.uint64(mask)
    while i < n:
        if data[i] == _NEWLINE:
            if has:
                out[k] = -1
                k += 1
                ends += 1
                has = 0
            i += 1
            continue
        s = space_length(data, i, n)
        if s:
            i += s
            continue
        j = i
        h = _FNV_OFFSET
        while j < n and space_length(data, j, n) == 0:      # (a line end is a space)
            h = (h ^ np.uint64(data[j])) * _FNV_PRIME
            j += 1
        h ^= h >> np.uint64(29)
        length = j - i
        slot = np.int64(h & umask)
        w = table[slot]
        while w >= 0:
            a = starts[w]
            if (hashes[w] == h and starts[w + 1] - a - 1 == length
                    and _same_word(arena, a, data, i, length)):
                break
            slot = (slot + 1) & mask
            w = table[slot]
        if w < 0:
            if 2 * (nw + 1) > len(table) or nw + 1 > len(counts) or \
                    used + length + 1 > len(arena):
                state[0], state[1], state[2], state[3], state[4], state[5] = \
                    i, k, nw, used, has, ends
                state[6] = used + length + 1
                return 1
            w = nw
            nw += 1
            arena[used:used + length] = data[i:j]
            arena[used + length] = _NEWLINE
            used += length + 1
            starts[nw] = used
            hashes[w] = h
            table[slot] = w
        counts[w] += 1
        out[k] = w
        k += 1
        has = 1
        i = j
    if has:                                         # the last line, without its line end
        out[k] = -1
        k += 1
        ends += 1
        has = 0
    state[0], state[1], state[2], state[3], state[4], state[5] = i, k, nw, used, has, ends
    return 0


@njit(cache=True, nogil=True)
def rehash(table, hashes, nw):
    """``table`` (empty, -1 everywhere) filled with the ids [0, nw) by their hashes."""
    mask = len(table) - 1
    umask = np.uint64(mask)
    for w in range(nw):
        slot = np.int64(hashes[w] & umask)
        while table[slot] >= 0:
            slot = (slot + 1) & mask
        table[slot] = w


class WordTable:
    """Provisional ids of whitespace-separated words, in order of first appearance, across
    blocks; id 0 is the line-end mark ``"\\x00"`` (as the first word of the dictionary the
    block reader used before; blocks never hold it)."""

    def __init__(self, slots: int = 1 << 12, arena_bytes: int = 1 << 16):
        if slots < 4 or slots & (slots - 1):
            raise ValueError(f"slots must be a power of two >= 4, got {slots}")
        self.table = np.full(slots, -1, dtype=np.int32)
        self.hashes = np.zeros(slots // 2, dtype=np.uint64)
        self.starts = np.zeros(slots // 2 + 1, dtype=np.int64)
        self.counts = np.zeros(slots // 2, dtype=np.int64)
        self.arena = np.zeros(max(arena_bytes, 2), dtype=np.uint8)
        self.state = np.zeros(STATE_SIZE, dtype=np.int64)
        self._out = np.zeros(0, dtype=np.int32)
        self.ids(b"\x00")                  # word 0, as a one-word line
        self.counts[0] = 0                 # the line-end mark is no word

    def __len__(self) -> int:
        return int(self.state[2])

    def ids(self, data: bytes) -> tuple[np.ndarray, int]:
        """(the ids of the words of ``data``: whole lines of valid UTF-8, -1 ending each
        line with a word, the number of such lines); their counts are added."""
        block = np.frombuffer(data, dtype=np.uint8)
        if len(self._out) < len(block) + 1:
            self._out = np.empty(len(block) + 1, dtype=np.int32)
        st = self.state
        st[0] = st[1] = st[4] = st[5] = 0
        while tokenize_block(block, self._out, self.table, self.hashes, self.arena,
                             self.starts, self.counts, st):
            self._grow(int(st[6]))
        return self._out[:st[1]].copy(), int(st[5])

    def _grow(self, arena_needed: int) -> None:
        nw = len(self)
        if arena_needed > len(self.arena):
            self.arena = _grown(self.arena, max(arena_needed, 2 * len(self.arena)))
        if 2 * (nw + 1) > len(self.table):
            slots = 2 * len(self.table)
            self.table = np.full(slots, -1, dtype=np.int32)
            self.hashes = _grown(self.hashes, slots // 2)
            self.starts = _grown(self.starts, slots // 2 + 1)
            self.counts = _grown(self.counts, slots // 2)
            rehash(self.table, self.hashes, nw)

    def counts_array(self) -> np.ndarray:
        """The occurrences of each id (a copy; 0 for the line-end mark)."""
        return self.counts[:len(self)].copy()

    def words_bytes(self) -> bytes:
        """The words in id order, one a line (UTF-8, no line end after the last)."""
        return self.arena[:int(self.state[3]) - 1].tobytes()

    def words(self) -> dict[str, int]:
        """Every word -> its id."""
        words = self.words_bytes().decode("utf-8").split("\n")
        return dict(zip(words, range(len(words))))


def _grown(a: np.ndarray, size: int) -> np.ndarray:
    b = np.zeros(size, dtype=a.dtype)
    b[:len(a)] = a
    return b
