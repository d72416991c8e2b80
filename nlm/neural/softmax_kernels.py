"""Numba kernels for the output layers: fused log-softmax + cross-entropy gradient,
and the per-class blocks of the class-factorized softmax.

No Python objects, no validation: :mod:`nlm.neural.softmax` owns the buffers
and checks. Every kernel works for float32 (training) and float64 (gradient
checks, exact scoring); losses and log-probabilities are returned in float64.

``mask`` is a word id whose probability is forced to exactly 0 (``<s>``,
which is context only and never predicted), or -1 for none.

Class softmax layout: classes are contiguous id ranges, class c holding the
words ``class_start[c] <= w < class_start[c + 1]``; ``word_class[w]`` is the
class of word w. The word-output weights ``W`` are (V, D), one row per word,
so a class's block is a contiguous run of rows.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic, overload
from llvmlite import ir

from .layer_kernels import FASTMATH


# -- a vectorizable exp for float32 -------------------------------------------
# Numba's np.exp calls libm one element at a time; the softmax of a 33k-word
# vocabulary is dominated by it. For float32 we reduce x = n ln2 + r
# (|r| <= ln2/2), evaluate a degree-7 polynomial for e^r and build 2^n from its
# bits; relative error < 4e-7 (float32 rounding is 6e-8). Inputs below -87
# (including -inf) give about 1e-38, not 0: callers that need an exact 0 (the
# masked word) write it themselves. float64 keeps the exact np.exp.
@intrinsic
def _int32_bits_as_float32(typingctx, x):
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return sig, codegen


@njit(inline="always", fastmath=FASTMATH)
def _fast_exp32(x):
    x = max(x, np.float32(-87.0))
    n = np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))
    r = x - n * np.float32(0.693145751953125) - n * np.float32(1.428606765330187e-06)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * r * r + r + np.float32(1.0)
    return p * _int32_bits_as_float32((np.int32(n) + np.int32(127)) << np.int32(23))


def _exp(x):  # pragma: no cover - replaced by the overload inside kernels
    return np.exp(x)


@overload(_exp, inline="always")
def _exp_overload(x):
    if x == types.float32:
        return lambda x: _fast_exp32(x)
    return lambda x: np.exp(x)


# -- full softmax ---------------------------------------------------------------
@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _softmax_xent_grad(logits, bias, targets, mask, scale, loss):
    """Softmax cross-entropy and its gradient, in place, one row per example.

    On entry logits[b] = z_b W^T (without bias); on exit
        logits[b, v] = scale * (p_b(v) - [v == targets[b]]),   p_b = softmax(logits[b] + bias)
    and loss[b] = -ln p_b(targets[b]) (float64). The masked word gets p = 0 and gradient 0.
    """
    B, V = logits.shape
    for b in prange(B):
        row = logits[b]
        t = targets[b]
        m = -np.inf
        for v in range(V):
            x = row[v] + bias[v]
            row[v] = x
            m = max(m, x)
        if mask >= 0:
            row[mask] = -np.inf
            m = -np.inf
            for v in range(V):
                m = max(m, row[v])
        xt = float(row[t]) - m        # ln p(t) = x_t - m - ln s
        s = row.dtype.type(0)
        for v in range(V):
            e = _exp(row[v] - m)
            row[v] = e
            s += e
        loss[b] = math.log(float(s)) - xt
        k = row.dtype.type(scale / float(s))
        for v in range(V):
            row[v] = row[v] * k
        row[t] -= row.dtype.type(scale)
        if mask >= 0:
            row[mask] = 0


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _log_softmax_rows(logits, bias, mask, out):
    """out[b] = log softmax(logits[b] + bias) in float64; out[b, mask] = -inf."""
    B, V = logits.shape
    for b in prange(B):
        o = out[b]
        m = -np.inf
        for v in range(V):
            x = float(logits[b, v]) + float(bias[v])
            o[v] = x
            if v != mask:
                m = max(m, x)
        s = 0.0
        for v in range(V):
            if v != mask:
                s += np.exp(o[v] - m)
        lse = m + math.log(s)
        for v in range(V):
            o[v] -= lse
        if mask >= 0:
            o[mask] = -np.inf


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _target_logprobs(logits, bias, targets, mask, out):
    """out[b] = ln softmax(logits[b] + bias)[targets[b]] (float64), without writing rows.

    The sum of exponentials is accumulated in float64 whatever the input dtype.
    """
    B, V = logits.shape
    for b in prange(B):
        m = -np.inf
        for v in range(V):
            if v != mask:
                m = max(m, float(logits[b, v]) + float(bias[v]))
        s = 0.0
        for v in range(V):
            if v != mask:
                s += np.exp(float(logits[b, v]) + float(bias[v]) - m)
        t = targets[b]
        if t == mask:
            out[b] = -np.inf
        else:
            out[b] = float(logits[b, t]) + float(bias[t]) - m - math.log(s)


# -- class-factorized softmax ---------------------------------------------------
@njit(cache=True)
def _group_by_class(targets, word_class, n_classes, count, order, group_start, group_class):
    """Counting sort of the examples by the class of their target.

    order (B,) gets the example indices grouped by class; group g holds
    order[group_start[g]:group_start[g+1]], all of class group_class[g].
    ``count`` is (n_classes + 1,) scratch. Returns the number of groups.
    """
    for c in range(n_classes + 1):
        count[c] = 0
    B = targets.size
    for i in range(B):
        count[word_class[targets[i]] + 1] += 1
    for c in range(n_classes):
        count[c + 1] += count[c]
    g = 0
    for c in range(n_classes):
        if count[c + 1] > count[c]:
            group_start[g] = count[c]
            group_class[g] = c
            g += 1
    group_start[g] = B
    for i in range(B):
        c = word_class[targets[i]]
        order[count[c]] = i
        count[c] += 1
    return g


@njit(cache=True)
def _class_rows(group_class, n_groups, class_start, rows):
    """The word rows of the classes in ``group_class[:n_groups]`` into ``rows``; returns how many."""
    k = 0
    for g in range(n_groups):
        c = group_class[g]
        for w in range(class_start[c], class_start[c + 1]):
            rows[k] = w
            k += 1
    return k


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _class_word_xent_grad(z, targets, class_start, W, bias, mask, scale,
                          order, group_start, group_class, n_groups, dz, dW, dbias, loss):
    """The within-class half of the class softmax, forward and backward.

    For example i of class c (words s..e-1): x_j = W[j] . z[i] + bias[j],
    q = softmax(x over the class), loss[i] += -ln q(t_i), and with
    g_j = scale * (q_j - [j == t_i]):  dz[i] += sum_j g_j W[j];  dW[j] += g_j z[i];
    dbias[j] += g_j. Groups (one class each) run in parallel: each writes its
    own rows of dW and its own examples' rows of dz, so no two threads share memory.
    """
    D = z.shape[1]
    for g in prange(n_groups):
        c = group_class[g]
        s = class_start[c]
        e = class_start[c + 1]
        n = e - s
        x = np.empty(n, dtype=W.dtype)
        for p in range(group_start[g], group_start[g + 1]):
            i = order[p]
            t = targets[i]
            zi = z[i]
            m = -np.inf
            for j in range(n):
                wj = W[s + j]
                acc = bias[s + j]
                for k in range(D):
                    acc += wj[k] * zi[k]
                x[j] = acc
                if s + j != mask:
                    m = max(m, acc)
            if s <= mask < e:
                x[mask - s] = -np.inf
            xt = float(x[t - s]) - m
            tot = x.dtype.type(0)
            for j in range(n):
                ex = _exp(x[j] - m)
                x[j] = ex
                tot += ex
            loss[i] += math.log(float(tot)) - xt
            kk = x.dtype.type(scale / float(tot))
            for j in range(n):
                x[j] *= kk
            x[t - s] -= x.dtype.type(scale)
            if s <= mask < e:
                x[mask - s] = 0
            dzi = dz[i]
            for j in range(n):
                gj = x[j]
                wj = W[s + j]
                dwj = dW[s + j]
                for k in range(D):
                    dzi[k] += gj * wj[k]
                    dwj[k] += gj * zi[k]
                dbias[s + j] += gj


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _class_word_logprobs(z, targets, word_class, class_start, W, bias, mask, out):
    """out[i] = ln P(t_i | class(t_i), z_i), float64 accumulation of the exponentials."""
    B, D = z.shape
    for i in prange(B):
        t = targets[i]
        c = word_class[t]
        s = class_start[c]
        e = class_start[c + 1]
        zi = z[i]
        x = np.empty(e - s, dtype=np.float64)
        m = -np.inf
        for j in range(s, e):
            acc = bias[j]
            wj = W[j]
            for k in range(D):
                acc += wj[k] * zi[k]
            x[j - s] = acc
            if j != mask:
                m = max(m, float(acc))
        tot = 0.0
        for j in range(s, e):
            if j != mask:
                tot += np.exp(x[j - s] - m)
        out[i] = -np.inf if t == mask else x[t - s] - m - math.log(tot)


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _class_full_logprobs(word_logits, bias, class_logprobs, class_start, mask, out):
    """Whole distributions: out[b, w] = ln P(c(w) | b) + ln P(w | c(w), b), float64.

    word_logits (B, V) are z W^T without bias; class_logprobs (B, C) float64.
    """
    B, V = word_logits.shape
    C = class_start.size - 1
    for b in prange(B):
        o = out[b]
        for c in range(C):
            s = class_start[c]
            e = class_start[c + 1]
            m = -np.inf
            for w in range(s, e):
                x = float(word_logits[b, w]) + float(bias[w])
                o[w] = x
                if w != mask:
                    m = max(m, x)
            tot = 0.0
            for w in range(s, e):
                if w != mask:
                    tot += np.exp(o[w] - m)
            shift = class_logprobs[b, c] - m - math.log(tot)
            for w in range(s, e):
                o[w] += shift
        if mask >= 0:
            o[mask] = -np.inf
