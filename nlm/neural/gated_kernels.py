"""Numba kernels of the gated recurrent cells (LSTM and GRU): the recurrence
forward and backward through time, with the loop over time inside the kernel.

Same conventions as :mod:`nlm.neural.rnn_kernels`: arrays are time-major,
(T, B, k) for T steps of B parallel streams; the input products x_t Wx of all
steps are one BLAS call made by the caller before the forward kernel, and the
weight gradients are BLAS calls made after the backward kernel from what the
kernels cache. Inside, each step makes its recurrent product with one BLAS
call (:func:`nlm.neural.rnn_kernels._product`) and then a fused loop computes
every gate of every unit. ``resets[t, b]`` starts stream b afresh at step t:
its previous state is zero, and no gradient flows back through it.

LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000),
gate columns in the order [i f o g], n units each::

    a_t = x_t Wx + h_{t-1} Wh + b                  (B, 4n): one product, 4n columns
    i = s(a_i)  f = s(a_f)  o = s(a_o)  g = tanh(a_g)          s: the logistic sigmoid
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

    backward, with dh = dL/dh_t (from above and from step t+1), dc_next = dL/dc_t
    from step t+1:
    dc   = dh * o * (1 - tanh(c_t)^2) + dc_next
    da_i = dc * g * i (1 - i)           da_f = dc * c_{t-1} * f (1 - f)
    da_o = dh * tanh(c_t) * o (1 - o)   da_g = dc * i * (1 - g^2)
    dL/dc_{t-1} = dc * f                dL/dh_{t-1} = da Wh^T   (one product)

GRU (Cho et al. 2014: the reset gate applies to h_{t-1} before its product),
gate columns [r z n]::

    r = s(x Wx_r + h_{t-1} Wh_r + b_r)    z = s(x Wx_z + h_{t-1} Wh_z + b_z)
                                          (one product with Wh = [Wh_r Wh_z], 2n columns)
    q = r * h_{t-1}
    n = tanh(x Wx_n + q Wn + b_n)         (a second product: q depends on r)
    h_t = z * h_{t-1} + (1 - z) * n

    backward, with dh = dL/dh_t:
    da_n = dh * (1 - z) * (1 - n^2)       dq = da_n Wn^T
    da_z = dh * (h_{t-1} - n) * z (1 - z) da_r = dq * h_{t-1} * r (1 - r)
    dL/dh_{t-1} = dh * z + dq * r + [da_r da_z] Wh^T

The numeric kernels use ``error_model="numpy"`` and the shared float32 tanh
and sigmoid of :mod:`nlm.neural.math_kernels` (see :mod:`.rnn_kernels`).
"""
from __future__ import annotations

from numba import njit

from .math_kernels import FASTMATH, _sigmoid, _tanh
from .rnn_kernels import _previous, _product



@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _lstm_forward(A, Hs, Cs, Hp, Cp, h0, c0, Wh, wt, bias, resets, tmp, gemm):
    """The LSTM over T steps. A (T, B, 4n): on entry x_t Wx, on exit the gate
    activations [i f o g]. Hs, Cs (T, B, n) get h_t and c_t; Hp, Cp (T, B, n) the
    previous h and c each step used (for the backward pass). h0, c0 (B, n): the state
    before step 0. Wh (n, 4n), or with ``wt`` its transpose (4n, n) (see
    :func:`nlm.neural.rnn_kernels._product`: OpenBLAS runs h Wh faster that way);
    bias (4n,); tmp (B, 4n) scratch."""
    T, B, n4 = A.shape
    n = n4 // 4
    for t in range(T):
        _previous(Hs, h0, resets, t, Hp[t])
        _previous(Cs, c0, resets, t, Cp[t])
        _product(gemm, Hp[t], Wh, tmp, wt)                    # (B, 4n) BLAS
        At, Ht, Ct, Cpt = A[t], Hs[t], Cs[t], Cp[t]
        for b in range(B):
            a, r = At[b], tmp[b]
            # contiguous passes (they vectorize): the three sigmoid gates, then g
            for j in range(3 * n):
                a[j] = _sigmoid(a[j] + r[j] + bias[j])
            for j in range(3 * n, 4 * n):
                a[j] = _tanh(a[j] + r[j] + bias[j])
            c, cp, h = Ct[b], Cpt[b], Ht[b]
            for k in range(n):                                # c = f c_prev + i g
                c[k] = a[n + k] * cp[k] + a[k] * a[3 * n + k]
            for k in range(n):                                # h = o tanh(c)
                h[k] = a[2 * n + k] * _tanh(c[k])


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _lstm_backward(dH, A, Cs, Cp, Wh, resets, dA, dbias, dh, dc, gemm):
    """Backpropagation through :func:`_lstm_forward`. dH (T, B, n): dL/dh_t from the
    layer above; dA (T, B, 4n) gets the gradient at the gate pre-activations (the
    caller makes dWx, dWh and the input gradient from it with BLAS); dbias (4n,) their
    sum; dh, dc (B, n) get dL/dh0 and dL/dc0."""
    T, B, n = dH.shape
    zero = dH.dtype.type(0)
    one = dH.dtype.type(1)
    dbias[:] = zero
    dh[:] = zero
    dc[:] = zero
    for t in range(T - 1, -1, -1):
        for b in range(B):
            a, d = A[t, b], dA[t, b]
            c, cp, dh_up, dhb, dcb = Cs[t, b], Cp[t, b], dH[t, b], dh[b], dc[b]
            for k in range(n):
                i, f, o, g = a[k], a[n + k], a[2 * n + k], a[3 * n + k]
                tc = _tanh(c[k])
                gh = dh_up[k] + dhb[k]                         # dL/dh_t
                gc = gh * o * (one - tc * tc) + dcb[k]         # dL/dc_t
                d[k] = gc * g * i * (one - i)                  # da_i
                d[n + k] = gc * cp[k] * f * (one - f)          # da_f
                d[2 * n + k] = gh * tc * o * (one - o)         # da_o
                d[3 * n + k] = gc * i * (one - g * g)          # da_g
                dcb[k] = gc * f                                # dL/dc_{t-1}
            for j in range(4 * n):
                dbias[j] += d[j]
        _product(gemm, dA[t], Wh, dh, True)                    # dL/dh_{t-1} (B, n) BLAS
        for b in range(B):
            if resets[t, b]:
                for k in range(n):
                    dh[b, k] = zero
                    dc[b, k] = zero


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _gru_forward(A, Hs, Hp, Q, h0, Wh, Wn, wt, bias, resets, tmp2, tmp1, gemm):
    """The GRU over T steps. A (T, B, 3n): on entry x_t Wx, on exit the gate
    activations [r z n]. Hs (T, B, n) gets h_t; Hp (T, B, n) the previous state each
    step used; Q (T, B, n) the reset previous state r * h_{t-1} (the input of Wn).
    Wh (n, 2n), Wn (n, n) (with ``wt`` their transposes), bias (3n,); tmp2 (B, 2n),
    tmp1 (B, n) scratch."""
    T, B, n3 = A.shape
    n = n3 // 3
    one = A.dtype.type(1)
    for t in range(T):
        _previous(Hs, h0, resets, t, Hp[t])
        _product(gemm, Hp[t], Wh, tmp2, wt)                   # (B, 2n) BLAS
        At, Hpt, Qt, Ht = A[t], Hp[t], Q[t], Hs[t]
        for b in range(B):
            for k in range(n):
                r = _sigmoid(At[b, k] + tmp2[b, k] + bias[k])
                z = _sigmoid(At[b, n + k] + tmp2[b, n + k] + bias[n + k])
                At[b, k] = r
                At[b, n + k] = z
                Qt[b, k] = r * Hpt[b, k]
        _product(gemm, Qt, Wn, tmp1, wt)                      # (B, n) BLAS
        for b in range(B):
            for k in range(n):
                c = _tanh(At[b, 2 * n + k] + tmp1[b, k] + bias[2 * n + k])
                At[b, 2 * n + k] = c
                z = At[b, n + k]
                Ht[b, k] = z * Hpt[b, k] + (one - z) * c


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _gru_backward(dH, A, Hp, Wh, Wn, resets, dA, dbias, dh, dn, dq, drz, dprev, gemm):
    """Backpropagation through :func:`_gru_forward`. dH (T, B, n): dL/dh_t from the
    layer above; dA (T, B, 3n) gets the gradient at the pre-activations [r z n]; dbias
    (3n,) their sum; dh (B, n) gets dL/dh0. dn, dq, dprev (B, n) and drz (B, 2n) are
    scratch (contiguous copies for the per-step products)."""
    T, B, n = dH.shape
    zero = dH.dtype.type(0)
    one = dH.dtype.type(1)
    for j in range(3 * n):
        dbias[j] = zero
    for b in range(B):
        for k in range(n):
            dh[b, k] = zero
    for t in range(T - 1, -1, -1):
        At, dAt, Hpt, dHt = A[t], dA[t], Hp[t], dH[t]
        for b in range(B):
            for k in range(n):
                z = At[b, n + k]
                c = At[b, 2 * n + k]
                gh = dHt[b, k] + dh[b, k]                      # dL/dh_t
                dan = gh * (one - z) * (one - c * c)
                daz = gh * (Hpt[b, k] - c) * z * (one - z)
                dn[b, k] = dan
                dAt[b, 2 * n + k] = dan
                dAt[b, n + k] = daz
                drz[b, n + k] = daz
                dh[b, k] = gh * z                              # through h_t = z h_{t-1} + ..
        _product(gemm, dn, Wn, dq, True)                       # dL/dq (B, n) BLAS
        for b in range(B):
            for k in range(n):
                r = At[b, k]
                dar = dq[b, k] * Hpt[b, k] * r * (one - r)
                dAt[b, k] = dar
                drz[b, k] = dar
                dh[b, k] += dq[b, k] * r                       # through q = r h_{t-1}
                dbias[k] += dar
                dbias[n + k] += dAt[b, n + k]
                dbias[2 * n + k] += dAt[b, 2 * n + k]
        _product(gemm, drz, Wh, dprev, True)                   # through the gates (B, n) BLAS
        for b in range(B):
            if resets[t, b]:
                for k in range(n):
                    dh[b, k] = zero
            else:
                for k in range(n):
                    dh[b, k] += dprev[b, k]
