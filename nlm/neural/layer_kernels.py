"""Numba kernels for the layers of the neural models (no Python objects, no checks).

Each kernel takes C-contiguous arrays of one float dtype (float32 for
training, float64 for gradient checks and exact scoring; Numba compiles one
version per signature) and writes into preallocated outputs. Validation,
buffer management and the choice of kernel live in :mod:`nlm.neural.layers`.

Activation codes (``act``): 0 = tanh, 1 = sigmoid, 2 = ReLU.
"""
from __future__ import annotations

from numba import njit

from .math_kernels import FASTMATH, _activate, _activation_grad

TANH, SIGMOID, RELU = 0, 1, 2


# -- embeddings ---------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _gather_embeddings(E, ctx, out, col0):
    """out[b, col0 + j*m : col0 + (j+1)*m] = E[ctx[b, j]]  for every b, j.

    E (V, m); ctx (B, n) int32; out (B, >= col0 + n*m), may be a row-strided view.
    """
    B, n = ctx.shape
    m = E.shape[1]
    for b in range(B):
        for j in range(n):
            w = ctx[b, j]
            base = col0 + j * m
            for k in range(m):
                out[b, base + k] = E[w, k]


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _scatter_add_embeddings(dx, dx2, ctx, dE):
    """dE[ctx[b, j]] += dx[b, j*m:(j+1)*m] (+ dx2[b, same], when dx2 has rows).

    The embedding gradient: a word used at several positions or in several
    examples accumulates every contribution. ``dx2`` carries the gradient
    from direct connections (an empty (0, 0) array when there are none).
    """
    B, n = ctx.shape
    m = dE.shape[1]
    two = dx2.shape[0] > 0
    for b in range(B):
        for j in range(n):
            w = ctx[b, j]
            base = j * m
            if two:
                for k in range(m):
                    dE[w, k] += dx[b, base + k] + dx2[b, base + k]
            else:
                for k in range(m):
                    dE[w, k] += dx[b, base + k]


@njit(cache=True, nogil=True)
def _unique_rows(ids, seen, out):
    """Distinct values of ``ids`` (in first-seen order) into ``out``; returns how many.

    ``seen`` is a (V,) bool scratch array, all False on entry and on exit.
    """
    k = 0
    flat = ids.reshape(-1)
    for i in range(flat.size):
        w = flat[i]
        if not seen[w]:
            seen[w] = True
            out[k] = w
            k += 1
    for i in range(k):
        seen[out[i]] = False
    return k


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _zero_rows(A, rows):
    """A[rows] = 0 for a 2-D A (rows may repeat)."""
    ncol = A.shape[1]
    for i in range(rows.size):
        r = rows[i]
        for k in range(ncol):
            A[r, k] = 0


# -- activations --------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _bias_activation_forward(a, bias, act):
    """In place: a[b, :] = f(a[b, :] + bias). a is (B, h), possibly a row-strided view."""
    B, h = a.shape
    for b in range(B):
        for k in range(h):
            a[b, k] = _activate(a[b, k] + bias[k], act)


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _activation_backward(dy, y, act, da, dbias):
    """da = dy * f'(a), written from the layer output y = f(a); dbias = sum_b da.

    f' in terms of y: tanh 1 - y^2; sigmoid y (1 - y); ReLU [y > 0].
    dy and y (B, h) may be row-strided views; da (B, h) contiguous; dbias (h,).
    """
    B, h = dy.shape
    zero = da.dtype.type(0)
    for k in range(h):
        dbias[k] = zero
    for b in range(B):
        for k in range(h):
            g = dy[b, k] * _activation_grad(y[b, k], act)
            da[b, k] = g
            dbias[k] += g


# -- the text read as a stream ---------------------------------------------------
@njit(cache=True, nogil=True)
def _previous_tokens(ids, offsets, bos, inputs, starts):
    """inputs[t] = the token read before predicting ids[t]: ``bos`` at a sentence
    start, else ids[t-1]; starts[t] = whether t starts a sentence."""
    S = offsets.size - 1
    for s in range(S):
        a = offsets[s]
        b = offsets[s + 1]
        for t in range(a, b):
            if t == a:
                inputs[t] = bos
                starts[t] = True
            else:
                inputs[t] = ids[t - 1]
                starts[t] = False


# -- context windows ----------------------------------------------------------
@njit(cache=True, nogil=True)
def _context_windows(ids, offsets, n, pad, out):
    """out[t] = the n ids before token t within its sentence, left-padded with ``pad``.

    ids (T,) int32, offsets (S+1,) int64; out (T, n) int32.
    """
    S = offsets.size - 1
    for s in range(S):
        a = offsets[s]
        b = offsets[s + 1]
        for t in range(a, b):
            for j in range(n):
                src = t - n + j
                out[t, j] = ids[src] if src >= a else pad


# -- a weighted bag of the context's embeddings (FOFE) ---------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _weighted_embeddings(E, ctx, weights, out, col0):
    """out[b, col0 : col0 + m] = sum_j weights[j] E[ctx[b, j]]: the fixed-size
    ordinally-forgetting encoding of the context (Zhang et al. 2015) when weights[j] =
    alpha^(n-1-j). E (V, m); ctx (B, n) int32; weights (n,); out (B, >= col0 + m)."""
    B, n = ctx.shape
    m = E.shape[1]
    zero = out.dtype.type(0)
    for b in range(B):
        for k in range(m):
            out[b, col0 + k] = zero
        for j in range(n):
            w = weights[j]
            r = ctx[b, j]
            for k in range(m):
                out[b, col0 + k] += w * E[r, k]


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _weighted_embeddings_backward(dx, dx2, col0, ctx, weights, dE):
    """dE[ctx[b, j]] += weights[j] (dx[b, col0 : col0 + m] + dx2[b, same], when dx2 has
    rows): the gradient of :func:`_weighted_embeddings`, added to dE."""
    B, n = ctx.shape
    m = dE.shape[1]
    two = dx2.shape[0] > 0
    for b in range(B):
        for j in range(n):
            w = weights[j]
            r = ctx[b, j]
            if two:
                for k in range(m):
                    dE[r, k] += w * (dx[b, col0 + k] + dx2[b, col0 + k])
            else:
                for k in range(m):
                    dE[r, k] += w * dx[b, col0 + k]
