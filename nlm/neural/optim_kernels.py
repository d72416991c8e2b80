"""Numba kernels of the optimizer updates (fused: one pass over each parameter).

Each update reads the raw gradient g, forms the effective gradient
    g' = s g + l2 w + l1 sign(w)
(s: the clipping scale; l2, l1: the penalties, zero for biases) and updates w
and the optimizer's state in place. ``*_dense`` kernels take flat 1-D views;
``*_rows`` kernels take 2-D views and update only the listed rows (used when
the other rows' gradients are zero and the update is exactly a no-op there).
The loops are serial: on this project's 2-core machines BLAS already uses both
cores for the matrix products, and a second thread pool contending with it
costs far more than these memory-bound passes gain.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .math_kernels import FASTMATH


@njit(inline="always")
def _effective(g, w, s, l2, l1):
    out = s * g
    if l2 != 0:
        out += l2 * w
    if l1 != 0:
        out += l1 * np.sign(w)
    return out


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _sgd_dense(w, g, lr, s, l2, l1):
    t = w.dtype.type
    lr_, s_, l2_, l1_ = t(lr), t(s), t(l2), t(l1)
    for i in range(w.size):
        w[i] -= lr_ * _effective(g[i], w[i], s_, l2_, l1_)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _sgd_rows(w, g, rows, lr, s, l2, l1):
    t = w.dtype.type
    lr_, s_, l2_, l1_ = t(lr), t(s), t(l2), t(l1)
    n = w.shape[1]
    for r in range(rows.size):
        i = rows[r]
        for k in range(n):
            w[i, k] -= lr_ * _effective(g[i, k], w[i, k], s_, l2_, l1_)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _momentum_dense(w, g, buf, lr, s, l2, l1, mu, nesterov):
    """buf = mu buf + g';  w -= lr (g' + mu buf) if nesterov else lr buf."""
    t = w.dtype.type
    lr_, s_, l2_, l1_, mu_ = t(lr), t(s), t(l2), t(l1), t(mu)
    for i in range(w.size):
        gi = _effective(g[i], w[i], s_, l2_, l1_)
        b = mu_ * buf[i] + gi
        buf[i] = b
        if nesterov:
            w[i] -= lr_ * (gi + mu_ * b)
        else:
            w[i] -= lr_ * b


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _adagrad_dense(w, g, acc, lr, s, l2, l1, eps):
    """acc += g'^2;  w -= lr g' / (sqrt(acc) + eps)."""
    t = w.dtype.type
    lr_, s_, l2_, l1_, eps_ = t(lr), t(s), t(l2), t(l1), t(eps)
    for i in range(w.size):
        gi = _effective(g[i], w[i], s_, l2_, l1_)
        a = acc[i] + gi * gi
        acc[i] = a
        w[i] -= lr_ * gi / (np.sqrt(a) + eps_)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _adagrad_rows(w, g, acc, rows, lr, s, l2, l1, eps):
    t = w.dtype.type
    lr_, s_, l2_, l1_, eps_ = t(lr), t(s), t(l2), t(l1), t(eps)
    n = w.shape[1]
    for r in range(rows.size):
        i = rows[r]
        for k in range(n):
            gi = _effective(g[i, k], w[i, k], s_, l2_, l1_)
            a = acc[i, k] + gi * gi
            acc[i, k] = a
            w[i, k] -= lr_ * gi / (np.sqrt(a) + eps_)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _rmsprop_dense(w, g, acc, lr, s, l2, l1, rho, eps):
    """acc = rho acc + (1 - rho) g'^2;  w -= lr g' / (sqrt(acc) + eps)."""
    t = w.dtype.type
    lr_, s_, l2_, l1_, rho_, eps_ = t(lr), t(s), t(l2), t(l1), t(rho), t(eps)
    one = t(1)
    for i in range(w.size):
        gi = _effective(g[i], w[i], s_, l2_, l1_)
        a = rho_ * acc[i] + (one - rho_) * gi * gi
        acc[i] = a
        w[i] -= lr_ * gi / (np.sqrt(a) + eps_)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _adam_dense(w, g, m, v, lr, s, l2, l1, beta1, beta2, c1, c2, eps):
    """m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2;  w -= lr (c1 m) / (sqrt(c2 v) + eps),
    with the bias corrections c1 = 1/(1 - b1^t), c2 = 1/(1 - b2^t)."""
    t = w.dtype.type
    lr_, s_, l2_, l1_, eps_ = t(lr), t(s), t(l2), t(l1), t(eps)
    b1, b2, c1_, c2_ = t(beta1), t(beta2), t(c1), t(c2)
    one = t(1)
    for i in range(w.size):
        gi = _effective(g[i], w[i], s_, l2_, l1_)
        mi = b1 * m[i] + (one - b1) * gi
        vi = b2 * v[i] + (one - b2) * gi * gi
        m[i] = mi
        v[i] = vi
        w[i] -= lr_ * (c1_ * mi) / (np.sqrt(c2_ * vi) + eps_)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _adamw_dense(w, g, m, v, lr, s, wd, l1, beta1, beta2, c1, c2, eps):
    """AdamW (Loshchilov & Hutter 2019): w -= lr wd w (decoupled weight decay, not part
    of the moments), then Adam's step on g' = s g + l1 sign(w)."""
    t = w.dtype.type
    lr_, s_, l1_, eps_ = t(lr), t(s), t(l1), t(eps)
    shrink = t(1.0 - lr * wd)
    b1, b2, c1_, c2_ = t(beta1), t(beta2), t(c1), t(c2)
    one, zero = t(1), t(0)
    for i in range(w.size):
        gi = _effective(g[i], w[i], s_, zero, l1_)
        w[i] *= shrink
        mi = b1 * m[i] + (one - b1) * gi
        vi = b2 * v[i] + (one - b2) * gi * gi
        m[i] = mi
        v[i] = vi
        w[i] -= lr_ * (c1_ * mi) / (np.sqrt(c2_ * vi) + eps_)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _sum_squares(a):
    """sum(a**2) of a flat array, accumulated in float64 (serial: reproducible)."""
    s = 0.0
    for i in range(a.size):
        x = float(a[i])
        s += x * x
    return s


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _sum_squares_rows(a, rows):
    s = 0.0
    n = a.shape[1]
    for r in range(rows.size):
        i = rows[r]
        for k in range(n):
            x = float(a[i, k])
            s += x * x
    return s


@njit(cache=True, error_model="numpy")
def _all_finite(a):
    for i in range(a.size):
        if not math.isfinite(a[i]):
            return False
    return True
