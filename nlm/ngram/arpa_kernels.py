"""Numba kernels that write ARPA text (:func:`nlm.ngram.arpa.write_arpa` and the
out-of-core pipeline): a block of n-grams at a time into a byte buffer, so that
writing a model never holds more than one block of text.

Numbers are log10 values with at most 10 decimals (trailing zeros dropped): the
absolute error is at most 5e-11, far below what any reader keeps (KenLM stores
float32). Kernels trust their inputs.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

LN10 = math.log(10.0)
DECIMALS = 10
_SCALE = 10 ** DECIMALS


#: "0000" .. "9999": four digits at a time
_DIGITS4 = np.array([[48 + (i // 1000) % 10, 48 + (i // 100) % 10, 48 + (i // 10) % 10,
                      48 + i % 10] for i in range(10000)], dtype=np.uint8)


@njit(cache=True, nogil=True)
def _put4(x, out, pos):
    out[pos] = _DIGITS4[x, 0]
    out[pos + 1] = _DIGITS4[x, 1]
    out[pos + 2] = _DIGITS4[x, 2]
    out[pos + 3] = _DIGITS4[x, 3]


@njit(cache=True, nogil=True)
def _put_log10(x, out, pos):
    """Write the natural log ``x`` as a log10 number with at most 10 decimals, trailing
    zeros dropped (-inf is written -99, ARPA's zero)."""
    if x == -np.inf:
        out[pos] = 45  # '-'
        out[pos + 1] = 57
        out[pos + 2] = 57
        return pos + 3
    v = x / LN10
    neg = v < 0.0
    s = np.int64(math.floor(abs(v) * _SCALE + 0.5))
    if s == 0:
        out[pos] = 48
        return pos + 1
    if neg:
        out[pos] = 45
        pos += 1
    ip = s // _SCALE
    fp = s - ip * _SCALE
    # the integer part: usually one or two digits
    nd = 1
    t = ip // 10
    while t > 0:
        nd += 1
        t //= 10
    for d in range(nd - 1, -1, -1):
        out[pos + d] = 48 + ip % 10
        ip //= 10
    pos += nd
    if fp > 0:
        out[pos] = 46  # '.'
        hi = fp // 100000000          # 2 digits, then 4 and 4
        mid = (fp // 10000) % 10000
        lo = fp % 10000
        out[pos + 1] = 48 + hi // 10
        out[pos + 2] = 48 + hi % 10
        _put4(mid, out, pos + 3)
        _put4(lo, out, pos + 7)
        pos += 11
        while out[pos - 1] == 48:     # trailing zeros (fp > 0: a non-zero digit stops it)
            pos -= 1
    return pos


@njit(cache=True, nogil=True)
def _arpa_lines(words, logprob, logbow, with_bow, text, text_off, out):
    """ARPA lines ``log10 p<TAB>w1 .. wk[<TAB>log10 bow]`` for rows of ``words`` (n, k)
    into the byte buffer ``out``; returns the bytes written. ``text[text_off[w]:
    text_off[w + 1]]`` is word w in UTF-8."""
    n, k = words.shape
    pos = 0
    for i in range(n):
        pos = _put_log10(logprob[i], out, pos)
        out[pos] = 9
        pos += 1
        for c in range(k):
            if c:
                out[pos] = 32
                pos += 1
            w = words[i, c]
            for b in range(text_off[w], text_off[w + 1]):
                out[pos] = text[b]
                pos += 1
        if with_bow:
            out[pos] = 9
            pos += 1
            pos = _put_log10(logbow[i], out, pos)
        out[pos] = 10
        pos += 1
    return pos


# -- reading: the n-gram sections of an ARPA file in one pass over its bytes --------------
#: exact powers of ten (every one up to 1e22 is a double exactly)
_POW10 = np.array([10.0 ** i for i in range(23)])
_FNV = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
SPACE, TAB, CR, NL, BACKSLASH = 32, 9, 13, 10, 92


@njit(cache=True)
def _parse_number(buf, a, b):
    """The decimal number buf[a:b] as Python's float() reads it, or (0, False) where this
    cannot promise the same double (more than 15 digits, large exponents, inf, nan)."""
    i, neg = a, False
    if i < b and (buf[i] == 45 or buf[i] == 43):
        neg = buf[i] == 45
        i += 1
    m, digits, frac, seen = np.int64(0), 0, 0, False
    while i < b and 48 <= buf[i] <= 57:
        if m or buf[i] != 48:
            digits += 1
        m = m * 10 + (buf[i] - 48)
        i += 1
        seen = True
    if i < b and buf[i] == 46:
        i += 1
        while i < b and 48 <= buf[i] <= 57:
            if m or buf[i] != 48:
                digits += 1
            m = m * 10 + (buf[i] - 48)
            frac += 1
            i += 1
            seen = True
    e = 0
    if i < b and (buf[i] == 101 or buf[i] == 69):
        i += 1
        eneg = False
        if i < b and (buf[i] == 45 or buf[i] == 43):
            eneg = buf[i] == 45
            i += 1
        if i == b:
            return 0.0, False
        while i < b and 48 <= buf[i] <= 57 and e < 1000:
            e = e * 10 + (buf[i] - 48)
            i += 1
        if eneg:
            e = -e
    if i != b or not seen or digits > 15:
        return 0.0, False
    e -= frac
    if e < -22 or e > 22:
        if m != 0:
            return 0.0, False
        e = 0
    v = m / _POW10[-e] if e < 0 else m * _POW10[e]
    return (-v if neg else v), True


@njit(cache=True)
def _word_hash(buf, a, b):
    h = _FNV
    for i in range(a, b):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return h


@njit(cache=True)
def _find_word(buf, a, b, table, starts, lens):
    """(slot, id) of the word buf[a:b] in the open-addressing ``table`` (-1: empty)."""
    mask = len(table) - 1
    s = np.int64(_word_hash(buf, a, b) & np.uint64(mask))
    n = b - a
    while True:
        w = table[s]
        if w < 0:
            return s, -1
        if lens[w] == n:
            same = True
            st = starts[w]
            for j in range(n):
                if buf[st + j] != buf[a + j]:
                    same = False
                    break
            if same:
                return s, w
        s = (s + 1) & mask


@njit(cache=True)
def _line_fields(buf, pos, end, fa, fb):
    """Split the line at buf[pos:] at spaces and tabs into fa/fb (field starts and ends).
    Returns (number of fields, the position after the line's newline, ok); not ok for a
    line with other ASCII control characters or more fields than fit."""
    n, i = 0, pos
    while i < end and buf[i] != NL:
        c = buf[i]
        if c == SPACE or c == TAB or c == CR:
            i += 1
            continue
        j = i
        while j < end:
            c = buf[j]
            if c == SPACE or c == TAB or c == CR or c == NL:
                break
            if c < 32 or c == 127:
                return 0, j, False
            j += 1
        if n == len(fa):
            return n, j, False
        fa[n], fb[n] = i, j
        n += 1
        i = j
    return n, i + 1, True


_END = np.frombuffer(b"\\end\\", dtype=np.uint8).copy()
_GRAMS = np.frombuffer(b"-grams:", dtype=np.uint8).copy()


@njit(cache=True)
def _is_section(buf, a, b, k):
    """Whether buf[a:b] is the line ``\\k-grams:``."""
    if buf[a] != BACKSLASH:
        return False
    i, v = a + 1, 0
    while i < b and 48 <= buf[i] <= 57:
        v = v * 10 + (buf[i] - 48)
        i += 1
    if v != k or i == a + 1 or b - i != len(_GRAMS):
        return False
    for j in range(len(_GRAMS)):
        if buf[i + j] != _GRAMS[j]:
            return False
    return True


#: log10 values at or below this are ARPA's zero
LOG10_ZERO = -99.0


@njit(cache=True)
def _ln(x):
    """The natural log of the log10 value x (-inf at or below ARPA's zero)."""
    return -np.inf if x <= LOG10_ZERO else x * LN10


@njit(cache=True)
def _parse_sections(buf, pos, N, declared, starts, lens, table, n_words, ids, prob, bow,
                    where, goff, lineno):
    """Read the n-gram sections of an ARPA file from buf[pos:] (just after the line
    ``\\1-grams:``, which is line ``lineno``) up to ``\\end\\``: word ids of order k at
    ids[goff[k-1]:goff[k]] (k per n-gram), natural logs in prob/bow (0 for a missing
    backoff weight, -inf for log10 -99 and below), line numbers in ``where``. Unigrams enter
    the word table (``n_words`` words already there: the specials). Returns the number
    of words, or -1 for anything unusual: the caller then reads the file line by line,
    which names the problem."""
    end = len(buf)
    fa = np.empty(N + 3, dtype=np.int64)
    fb = np.empty(N + 3, dtype=np.int64)
    seen_special = np.zeros(n_words, dtype=np.bool_)
    g = 0          # entries so far, all orders
    for k in range(1, N + 1):
        if k > 1:  # the section header "\k-grams:" (the last section ended at it)
            n, pos, ok = _line_fields(buf, pos, end, fa, fb)
            lineno += 1
            if not ok or n != 1 or not _is_section(buf, fa[0], fb[0], k):
                return -1
        count = 0
        while True:
            if pos >= end:
                return -1
            n, nxt, ok = _line_fields(buf, pos, end, fa, fb)
            if not ok:
                return -1
            if n and buf[fa[0]] == BACKSLASH:
                break          # the next section's header (or \end\): not consumed
            lineno += 1
            pos = nxt
            if n == 0:
                continue
            if not (n == k + 1 or (n == k + 2 and k < N)) or count == declared[k - 1]:
                return -1
            p, ok = _parse_number(buf, fa[0], fb[0])
            if not ok or not p <= 0.0:
                return -1
            b = 0.0
            if n == k + 2:
                b, ok = _parse_number(buf, fa[k + 1], fb[k + 1])
                if not ok:
                    return -1
            row = goff[k - 1] + count * k
            for j in range(k):
                s, w = _find_word(buf, fa[j + 1], fb[j + 1], table, starts, lens)
                if k == 1:
                    if w < 0:
                        w = n_words
                        starts[w], lens[w] = fa[1], fb[1] - fa[1]
                        table[s] = w
                        n_words += 1
                    elif w < len(seen_special) and not seen_special[w]:
                        seen_special[w] = True
                    else:
                        return -1    # a unigram listed twice
                elif w < 0:
                    return -1        # a word not in the unigram section
                ids[row + j] = w
            prob[g], bow[g], where[g] = _ln(p), _ln(b), lineno
            g += 1
            count += 1
        if count != declared[k - 1]:
            return -1
    # \end\
    n, nxt, ok = _line_fields(buf, pos, end, fa, fb)
    if not ok or n != 1 or fb[0] - fa[0] != 5:
        return -1
    for j in range(5):
        if buf[fa[0] + j] != _END[j]:
            return -1
    return n_words


# -- finding n-gram keys: a hash of a sorted key table, built once per order -----------
_KEY_MULT = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True)
def _key_table(keys, bits):
    """An open-addressing table (2^bits slots) of the rows of ``keys`` (distinct, >= 0)."""
    table = np.full(1 << bits, -1, dtype=np.int64)
    shift = np.uint64(64 - bits)
    mask = (1 << bits) - 1
    for i in range(len(keys)):
        h = np.int64((np.uint64(keys[i]) * _KEY_MULT) >> shift)
        while table[h] >= 0:
            h = (h + 1) & mask
        table[h] = i
    return table


@njit(cache=True)
def _key_rows(want, keys, table, bits, out):
    """out[i] = the row of want[i] in ``keys`` (through ``table``), or -1."""
    shift = np.uint64(64 - bits)
    mask = (1 << bits) - 1
    for i in range(len(want)):
        h = np.int64((np.uint64(want[i]) * _KEY_MULT) >> shift)
        while True:
            r = table[h]
            if r < 0 or keys[r] == want[i]:
                out[i] = r
                break
            h = (h + 1) & mask


@njit(cache=True)
def _group_order(rows, n_rows, order):
    """order = the indices of ``rows`` (each in [0, n_rows)) grouped by row, in file
    order within a row: a counting sort. lmplz lists n-grams by their last word first,
    so within a context the words already increase and this sorts the keys."""
    start = np.zeros(n_rows + 1, dtype=np.int64)
    for i in range(len(rows)):
        start[rows[i] + 1] += 1
    for r in range(n_rows):
        start[r + 1] += start[r]
    for i in range(len(rows)):
        r = rows[i]
        order[start[r]] = i
        start[r] += 1


@njit(cache=True)
def _increasing(a):
    """Whether a[i] < a[i + 1] throughout."""
    for i in range(len(a) - 1):
        if a[i] >= a[i + 1]:
            return False
    return True
