"""Numba kernels of the Elman RNN: the recurrence forward and backward through time,
and the layout of a corpus into parallel streams.

No Python objects, no validation: :mod:`nlm.neural.rnn` owns the buffers, the
dtypes and the checks. Arrays are time-major, (T, B, n) for T steps of B
parallel streams of n hidden units, so the rows of one step are contiguous
and each step's recurrent product is one BLAS call (``np.dot`` inside Numba)
while the loop over time stays in the kernel:

    forward   p_t = 0 if reset[t, b] else h_{t-1}      (h_{-1} = h0, the carried state)
              h_t = f(x_t Wx + p_t Wh + bh)
    backward  walking t = T-1 .. 0 with dh_next (dL/dh_t from step t+1, zero at t = T-1):
              da_t = (dL/dh_t|output + dh_next) * f'(h_t)
              dh_next = da_t Wh^T, zeroed on the rows where reset[t, b]

The input products x_t Wx of every step are one BLAS call made by the caller
before the forward kernel, and dWx, dWh are one BLAS call each after the
backward kernel (from the cached p_t and da_t): only the recurrence, which
must run step by step, is here. Activations and their derivatives come from
:mod:`nlm.neural.math_kernels` (codes 0 tanh, 1 sigmoid).

The numeric kernels use ``error_model="numpy"``: with Python's error model every
float division (the fast tanh and sigmoid divide) checks for a zero divisor,
which stops LLVM from vectorizing the activation loop (see the README's
"Measured design choices").
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .blas import CBLAS_NO_TRANS, CBLAS_ROW_MAJOR, CBLAS_TRANS
from .math_kernels import FASTMATH, _activate, _activation_grad


@njit(cache=True, nogil=True)
def _product(gemm, A, W, C, transpose_w):
    """C = A W, or A W^T with ``transpose_w``; A, W, C C-contiguous 2-D arrays of one
    float dtype. Through ``gemm`` (numpy's BLAS, :func:`nlm.neural.blas.kernel_gemm`)
    when given, else ``np.dot`` (SciPy's BLAS); the branch is resolved at compile time."""
    if gemm is None:
        if transpose_w:
            np.dot(A, W.T, C)
        else:
            np.dot(A, W, C)
    else:
        gemm(np.int32(CBLAS_ROW_MAJOR), np.int32(CBLAS_NO_TRANS),
             np.int32(CBLAS_TRANS if transpose_w else CBLAS_NO_TRANS),
             A.shape[0], C.shape[1], A.shape[1], C.dtype.type(1), A.ctypes.data, A.shape[1],
             W.ctypes.data, W.shape[1], C.dtype.type(0), C.ctypes.data, C.shape[1])


@njit(cache=True, nogil=True)
def _previous(Hs, h0, resets, t, out):
    """out (B, n) := the state step t starts from: zero where stream b resets at t, h0
    at t = 0, else Hs[t - 1] (Hs (T, B, n) the states of the steps so far)."""
    B, n = out.shape
    zero = out.dtype.type(0)
    for b in range(B):
        if resets[t, b]:
            for k in range(n):
                out[b, k] = zero
        elif t == 0:
            for k in range(n):
                out[b, k] = h0[b, k]
        else:
            for k in range(n):
                out[b, k] = Hs[t - 1, b, k]


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _rnn_forward(H, Wh, wt, bh, h0, resets, act, P, tmp, gemm):
    """The recurrence over T steps, in place.

    H (T, B, n): on entry x_t Wx for every step (the input projections), on
    exit the hidden states h_t. Wh (n, n) (with ``wt`` its transpose, which
    OpenBLAS multiplies faster), bh (n,), h0 (B, n) the state before
    step 0; resets (T, B) bool: start stream b afresh (from the zero state) at
    step t. P (T, B, n) gets p_t, the previous state each step used (cached for
    the backward pass); tmp (B, n) is scratch; gemm: see :func:`_product`.
    """
    T, B, n = H.shape
    for t in range(T):
        Pt = P[t]
        _previous(H, h0, resets, t, Pt)
        _product(gemm, Pt, Wh, tmp, wt)                       # (B, n) BLAS
        Ht = H[t]
        for b in range(B):
            for k in range(n):
                Ht[b, k] = _activate(Ht[b, k] + tmp[b, k] + bh[k], act)


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _rnn_backward(dH, H, Wh, resets, act, dbh, dh, gemm):
    """Backpropagation through the T steps of :func:`_rnn_forward`, in place.

    dH (T, B, n): on entry dL/dh_t from the output layer, on exit da_t, the
    gradient at the pre-activations (from which the caller gets dWh = P^T da,
    dWx = X^T da and dX = da Wx^T with BLAS). dbh (n,) gets sum_t,b da_t.
    dh (B, n) gets dL/dh0, the gradient with respect to the carried state.
    f' from the outputs: tanh 1 - h^2, sigmoid h (1 - h).
    """
    T, B, n = dH.shape
    zero = dH.dtype.type(0)
    for k in range(n):
        dbh[k] = zero
    for b in range(B):
        for k in range(n):
            dh[b, k] = zero
    for t in range(T - 1, -1, -1):
        G = dH[t]
        Ht = H[t]
        for b in range(B):
            for k in range(n):
                g = (G[b, k] + dh[b, k]) * _activation_grad(Ht[b, k], act)
                G[b, k] = g
                dbh[k] += g
        _product(gemm, G, Wh, dh, True)                       # (B, n) BLAS
        for b in range(B):
            if resets[t, b]:
                for k in range(n):
                    dh[b, k] = zero


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _rnn_step(x, h, Wx, Wh, bh, act, out):
    """One step for one stream: out = f(x Wx + h Wh + bh); x (m,), h (n,), out (n,).

    The state machine's ``advance``: plain loops in the same order for every
    call, so a state never depends on what else is computed alongside.
    """
    m = x.shape[0]
    n = h.shape[0]
    for k in range(n):
        out[k] = bh[k]
    for i in range(m):
        xi = x[i]
        for k in range(n):
            out[k] += xi * Wx[i, k]
    for i in range(n):
        hi = h[i]
        for k in range(n):
            out[k] += hi * Wh[i, k]
    for k in range(n):
        out[k] = _activate(out[k], act)


# -- corpus layouts --------------------------------------------------------------
@njit(cache=True, nogil=True)
def _assign_streams(lengths, order, loads, stream_of, start_of):
    """Longest-first assignment of sentences to the least loaded of B streams.

    lengths (S,) tokens per sentence; order (S,) sentence indices, longest
    first; loads (B,) zeros on entry, on exit each stream's length.
    stream_of[s], start_of[s]: the stream of sentence s and its first step there.
    """
    B = loads.size
    for i in range(order.size):
        s = order[i]
        best = 0
        for b in range(1, B):
            if loads[b] < loads[best]:
                best = b
        stream_of[s] = best
        start_of[s] = loads[best]
        loads[best] += lengths[s]


@njit(cache=True, nogil=True)
def _stream_layout(ids, offsets, bos, stream_of, start_of, pos, inputs, targets, resets):
    """Fill (L, B) time-major stream arrays from an assignment of sentences.

    pos[t, b] = the corpus position predicted at step t of stream b, or -1 for
    padding (which reads ``bos`` from the zero state and predicts id 0, to be
    ignored). Each sentence starts with a reset and reads ``bos`` first.
    """
    L, B = pos.shape
    for t in range(L):
        for b in range(B):
            pos[t, b] = -1
            inputs[t, b] = bos
            targets[t, b] = 0
            resets[t, b] = True
    S = offsets.size - 1
    for s in range(S):
        a = offsets[s]
        b = stream_of[s]
        p = start_of[s]
        for j in range(offsets[s + 1] - a):
            pos[p + j, b] = a + j
            targets[p + j, b] = ids[a + j]
            if j == 0:
                inputs[p + j, b] = bos
                resets[p + j, b] = True
            else:
                inputs[p + j, b] = ids[a + j - 1]
                resets[p + j, b] = False
