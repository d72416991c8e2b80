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
