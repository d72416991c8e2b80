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
from numba import njit

from .math_kernels import FASTMATH, _exp, _maxnum


@njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def _add_bias_max(row, bias, mask):
    """row += bias in place; row[mask] = -inf; returns max(row)."""
    ninf = row.dtype.type(-np.inf)
    for v in range(row.size):
        row[v] += bias[v]
    if mask >= 0:
        row[mask] = ninf
    m = ninf
    for v in range(row.size):
        m = _maxnum(m, row[v])
    return m


@njit(inline="always", fastmath=FASTMATH, error_model="numpy")
def _sum_exp(row, m):
    """sum_v exp(row[v] - m), accumulated in row's dtype, without writing row."""
    s = row.dtype.type(0)
    for v in range(row.size):
        s += _exp(row[v] - m)
    return s


# -- full softmax ---------------------------------------------------------------
@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _softmax_xent_grad(logits, bias, targets, mask, scale, loss, dbias):
    """Softmax cross-entropy and its gradient, in place, one row per example.

    On entry logits[b] = z_b W^T (without bias); on exit
        logits[b, v] = scale * (p_b(v) - [v == targets[b]]),   p_b = softmax(logits[b] + bias)
    loss[b] = -ln p_b(targets[b]) (float64), and dbias = sum_b logits[b] (the bias
    gradient, summed while each row is in cache). The masked word gets p = 0, gradient 0.
    """
    B, V = logits.shape
    for v in range(V):
        dbias[v] = 0
    for b in range(B):
        row = logits[b]
        t = targets[b]
        m = _add_bias_max(row, bias, mask)
        xt = float(row[t]) - float(m)          # ln p(t) = x_t - m - ln s
        s = row.dtype.type(0)
        for v in range(V):
            e = _exp(row[v] - m)
            row[v] = e
            s += e
        loss[b] = math.log(float(s)) - xt
        k = row.dtype.type(scale / float(s))
        for v in range(V):
            row[v] *= k
        row[t] -= row.dtype.type(scale)
        if mask >= 0:
            row[mask] = 0
        for v in range(V):
            dbias[v] += row[v]


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _log_softmax_rows(logits, bias, mask, out):
    """out[b] = log softmax(logits[b] + bias) in float64; out[b, mask] = -inf."""
    B, V = logits.shape
    for b in range(B):
        o = out[b]
        for v in range(V):
            o[v] = logits[b, v]
        m = _add_bias_max(o, bias, mask)
        lse = m + math.log(_sum_exp(o, m))
        for v in range(V):
            o[v] -= lse
        if mask >= 0:
            o[mask] = -np.inf


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _target_logprobs(logits, bias, targets, mask, out):
    """out[b] = ln softmax(logits[b] + bias)[targets[b]] (float64). Overwrites logits."""
    B, V = logits.shape
    for b in range(B):
        row = logits[b]
        m = _add_bias_max(row, bias, mask)
        t = targets[b]
        out[b] = float(row[t]) - float(m) - math.log(float(_sum_exp(row, m)))


# -- class-factorized softmax ---------------------------------------------------
@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _class_rows(group_class, n_groups, class_start, rows):
    """The word rows of the classes in ``group_class[:n_groups]`` into ``rows``; returns how many."""
    k = 0
    for g in range(n_groups):
        c = group_class[g]
        for w in range(class_start[c], class_start[c + 1]):
            rows[k] = w
            k += 1
    return k


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _class_word_xent_grad(z, targets, class_start, W, bias, mask, scale,
                          order, group_start, group_class, n_groups, dz, dW, dbias, loss):
    """The within-class half of the class softmax, forward and backward.

    For example i of class c (words s..e-1): x_j = W[j] . z[i] + bias[j],
    q = softmax(x over the class), loss[i] += -ln q(t_i), and with
    g_j = scale * (q_j - [j == t_i]):  dz[i] += sum_j g_j W[j];  dW[j] = sum over the
    class's examples of g_j z[i];  dbias[j] = sum of g_j. Examples are visited class by
    class (``order``), so a class's block of W stays in cache while its examples are
    processed. The rows of dW and dbias of every class in the batch are overwritten;
    the caller zeroes the rows of classes not in the batch that were set before.
    """
    D = z.shape[1]
    for g in range(n_groups):
        c = group_class[g]
        s = class_start[c]
        e = class_start[c + 1]
        n = e - s
        x = np.empty(n, dtype=W.dtype)
        has_mask = s <= mask < e
        for p in range(group_start[g], group_start[g + 1]):
            i = order[p]
            t = targets[i] - s
            zi = z[i]
            for j in range(n):
                wj = W[s + j]
                acc = W.dtype.type(0)
                for k in range(D):
                    acc += wj[k] * zi[k]
                x[j] = acc
            m = _add_bias_max(x, bias[s:e], mask - s if has_mask else -1)
            xt = float(x[t]) - float(m)
            tot = x.dtype.type(0)
            for j in range(n):
                ex = _exp(x[j] - m)
                x[j] = ex
                tot += ex
            loss[i] += math.log(float(tot)) - xt
            kk = x.dtype.type(scale / float(tot))
            for j in range(n):
                x[j] *= kk
            x[t] -= x.dtype.type(scale)
            if has_mask:
                x[mask - s] = 0
            dzi = dz[i]
            if p == group_start[g]:
                # the class's first example writes its rows of dW, dbias (so they need
                # no zeroing beforehand); the others add to them
                for j in range(n):
                    gj = x[j]
                    wj = W[s + j]
                    dwj = dW[s + j]
                    for k in range(D):
                        dzi[k] += gj * wj[k]
                        dwj[k] = gj * zi[k]
                    dbias[s + j] = gj
            else:
                for j in range(n):
                    gj = x[j]
                    wj = W[s + j]
                    dwj = dW[s + j]
                    for k in range(D):
                        dzi[k] += gj * wj[k]
                        dwj[k] += gj * zi[k]
                    dbias[s + j] += gj


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _class_word_logprobs(z, targets, word_class, class_start, W, bias, mask, out):
    """out[i] = ln P(t_i | class(t_i), z_i) (float64)."""
    B, D = z.shape
    for i in range(B):
        t = targets[i]
        c = word_class[t]
        s = class_start[c]
        e = class_start[c + 1]
        zi = z[i]
        x = np.empty(e - s, dtype=W.dtype)
        for j in range(s, e):
            acc = W.dtype.type(0)
            wj = W[j]
            for k in range(D):
                acc += wj[k] * zi[k]
            x[j - s] = acc
        m = _add_bias_max(x, bias[s:e], mask - s if s <= mask < e else -1)
        out[i] = float(x[t - s]) - float(m) - math.log(float(_sum_exp(x, m)))


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _class_full_logprobs(word_logits, bias, class_logprobs, class_start, mask, out):
    """Whole distributions: out[b, w] = ln P(c(w) | b) + ln P(w | c(w), b), float64.

    word_logits (B, V) are z W^T without bias; class_logprobs (B, C) float64.
    """
    B, V = word_logits.shape
    C = class_start.size - 1
    for b in range(B):
        o = out[b]
        for v in range(V):
            o[v] = word_logits[b, v]
        for c in range(C):
            s = class_start[c]
            e = class_start[c + 1]
            seg = o[s:e]
            m = _add_bias_max(seg, bias[s:e], mask - s if s <= mask < e else -1)
            shift = class_logprobs[b, c] - m - math.log(_sum_exp(seg, m))
            for j in range(e - s):
                seg[j] += shift
        if mask >= 0:
            o[mask] = -np.inf
