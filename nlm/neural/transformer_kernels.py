"""Numba kernels of the Transformer (:mod:`nlm.neural.transformer`): forward and
backward pairs of plain functions over C-contiguous arrays of one float dtype
(float32 for training, float64 for checks and scoring), writing into
preallocated outputs, no checks. The dense products (the projections, the
feed-forward layers, the attention scores and their weighted sums) are BLAS
calls made by the caller; what is here is everything between them.

Shapes: N = B T rows (batch x positions), C channels, F = 4 C feed-forward
units, BH = B x heads attention maps of T x T.

    embedding   x[b, t] = E[idx[b, t]] + P[t]                       (B, T, C)
    layer norm  y = g * (x - mu) * r + b,  r = 1 / sqrt(var + eps)   per row of (N, C)
                dx = r (dxh - mean(dxh) - xh mean(dxh xh)),  xh = (x - mu) r,  dxh = dy g
                dg = sum_rows dy xh,  db = sum_rows dy
    GELU        y = x/2 (1 + tanh(k (x + 0.044715 x^3))),  k = sqrt(2/pi)   (GPT-2's)
                y' = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 0.044715 x^2)
    attention   P[t, s] = softmax_s(scale S[t, s]) over s <= t, 0 for s > t   (BH, T, T)
                dS[t, s] = scale P[t, s] (dP[t, s] - sum_s' P[t, s'] dP[t, s'])
    residual    x += a * mask   (mask: dropout of the branch; da = dx * mask)
"""
from __future__ import annotations

import math

from numba import njit

from .math_kernels import FASTMATH, _exp, _maxnum, _tanh

GELU_K = math.sqrt(2.0 / math.pi)
GELU_C = 0.044715


# -- embedding --------------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _embed_forward(E, P, idx, out):
    """out[b*T + t] = E[idx[b, t]] + P[t];  E (V, C), P (Tmax, C), idx (B, T), out (B T, C)."""
    B, T = idx.shape
    C = E.shape[1]
    for b in range(B):
        for t in range(T):
            w = idx[b, t]
            r = b * T + t
            for c in range(C):
                out[r, c] = E[w, c] + P[t, c]


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _position_backward(dx, B, T, dP):
    """dP[t] = sum_b dx[b*T + t] for t < T; rows of dP at and after T are zeroed."""
    C = dP.shape[1]
    dP[:] = 0
    for b in range(B):
        for t in range(T):
            r = b * T + t
            for c in range(C):
                dP[t, c] += dx[r, c]


# -- layer norm ---------------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _layernorm_forward(x, g, b, eps, out, mean, rstd):
    """out = g (x - mu) r + b per row; mean (N,) and rstd (N,) kept for the backward pass.
    Statistics are accumulated in float64."""
    N, C = x.shape
    t = x.dtype.type
    for i in range(N):
        s = 0.0
        for c in range(C):
            s += x[i, c]
        mu = s / C
        s2 = 0.0
        for c in range(C):
            d = x[i, c] - mu
            s2 += d * d
        r = 1.0 / math.sqrt(s2 / C + eps)
        mu_, r_ = t(mu), t(r)
        mean[i] = mu_
        rstd[i] = r_
        for c in range(C):
            out[i, c] = (x[i, c] - mu_) * r_ * g[c] + b[c]


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _layernorm_backward(dy, x, g, mean, rstd, dx, dg, db):
    """dx += the gradient through the layer norm (added: x is the residual stream, which
    has other uses); dg, db are overwritten."""
    N, C = x.shape
    t = x.dtype.type
    dg[:] = 0
    db[:] = 0
    for i in range(N):
        mu, r = mean[i], rstd[i]
        s1 = 0.0      # sum dxh
        s2 = 0.0      # sum dxh xh
        for c in range(C):
            xh = (x[i, c] - mu) * r
            dxh = dy[i, c] * g[c]
            s1 += dxh
            s2 += dxh * xh
            dg[c] += dy[i, c] * xh
            db[c] += dy[i, c]
        m1, m2 = t(s1 / C), t(s2 / C)
        for c in range(C):
            xh = (x[i, c] - mu) * r
            dx[i, c] += r * (dy[i, c] * g[c] - m1 - xh * m2)


# -- GELU -----------------------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _bias_gelu_forward(u, bias, out):
    """In place u += bias (kept: the backward pass reads it); out = GELU(u)."""
    N, F = u.shape
    t = u.dtype.type
    k, c3, half, one = t(GELU_K), t(GELU_C), t(0.5), t(1.0)
    for i in range(N):
        for j in range(F):
            v = u[i, j] + bias[j]
            u[i, j] = v
            out[i, j] = half * v * (one + _tanh(k * (v + c3 * v * v * v)))


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _gelu_backward(dy, u, du):
    """du = dy * GELU'(u). du must not be dy (aliasing keeps the loop from vectorizing,
    6x slower), and the bias gradient, sum_rows du, is left to the caller for the
    same reason."""
    N, F = u.shape
    t = u.dtype.type
    k, c3, half, one, three = t(GELU_K), t(GELU_C), t(0.5), t(1.0), t(3.0)
    for i in range(N):
        for j in range(F):
            v = u[i, j]
            th = _tanh(k * (v + c3 * v * v * v))
            d = half * (one + th) + half * v * (one - th * th) * k * (one + three * c3 * v * v)
            du[i, j] = dy[i, j] * d


# -- causal attention softmax -------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _causal_softmax_forward(S, scale):
    """In place over S (BH, T, T) of raw scores q.k: row t becomes softmax over s <= t
    of scale * S[t, s], and 0 for s > t (the causal mask)."""
    BH, T, _ = S.shape
    t_ = S.dtype.type
    sc, zero, one = t_(scale), t_(0), t_(1)
    for i in range(BH):
        for t in range(T):
            m = S[i, t, 0] * sc
            for s in range(1, t + 1):
                m = _maxnum(m, S[i, t, s] * sc)
            tot = zero
            for s in range(t + 1):
                e = _exp(S[i, t, s] * sc - m)
                S[i, t, s] = e
                tot += e
            inv = one / tot
            for s in range(t + 1):
                S[i, t, s] *= inv
            for s in range(t + 1, T):
                S[i, t, s] = zero


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _causal_softmax_backward(P, dP, scale):
    """In place over dP (BH, T, T): dS[t, s] = scale P (dP - sum_s' P dP) for s <= t,
    0 above the diagonal (the gradient with respect to the raw scores q.k)."""
    BH, T, _ = P.shape
    t_ = P.dtype.type
    sc, zero = t_(scale), t_(0)
    for i in range(BH):
        for t in range(T):
            dot = zero
            for s in range(t + 1):
                dot += P[i, t, s] * dP[i, t, s]
            for s in range(t + 1):
                dP[i, t, s] = sc * P[i, t, s] * (dP[i, t, s] - dot)
            for s in range(t + 1, T):
                dP[i, t, s] = zero


# -- residual ---------------------------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _residual_forward(x, a, mask):
    """x += a * mask (mask: (N, C) dropout of the branch, or (0, 0) for none)."""
    N, C = x.shape
    if mask.shape[0] == 0:
        for i in range(N):
            for c in range(C):
                x[i, c] += a[i, c]
    else:
        for i in range(N):
            for c in range(C):
                x[i, c] += a[i, c] * mask[i, c]
