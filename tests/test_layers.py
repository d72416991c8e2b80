"""The neural core's kernels against plain numpy references, in float64 and float32."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nlm.errors import OptionError
from nlm.neural import layers as L
from nlm.neural import softmax_kernels as SK
from nlm.neural.softmax import ClassSoftmax, FullSoftmax, frequency_classes, make_output_layer
from nlm.vocab import BOS_ID

DTYPES = [np.float64, np.float32]


def tol(dtype):
    return dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)


# -- embeddings ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_forward_backward(dtype):
    rng = np.random.default_rng(0)
    V, m, n, B = 11, 3, 4, 6
    E = rng.normal(size=(V, m)).astype(dtype)
    ctx = rng.integers(0, V, (B, n)).astype(np.int32)
    ctx[0] = [5, 5, 5, 5]  # repeated ids must accumulate
    out = np.zeros((B, 2 + n * m), dtype)
    L.embedding_forward(E, ctx, out, col0=2)
    np.testing.assert_array_equal(out[:, 2:], E[ctx].reshape(B, n * m))
    np.testing.assert_array_equal(out[:, :2], 0)

    dx = rng.normal(size=(B, n * m)).astype(dtype)
    dx2 = rng.normal(size=(B, n * m)).astype(dtype)
    dE = np.zeros((V, m), dtype)
    L.embedding_backward(dx, ctx, dE, dx2)
    ref = np.zeros((V, m))
    np.add.at(ref, ctx.reshape(-1), (dx + dx2).astype(np.float64).reshape(B * n, m))
    np.testing.assert_allclose(dE, ref, **tol(dtype))


def test_unique_ids_and_zero_rows():
    ids = np.array([[3, 1, 3], [7, 1, 0]], dtype=np.int32)
    seen = np.zeros(10, dtype=bool)
    rows = L.unique_ids(ids, seen, np.empty(6, np.int64))
    assert list(rows) == [3, 1, 7, 0]
    assert not seen.any()  # scratch restored
    A = np.ones((10, 2))
    L.zero_rows(A, rows)
    assert A[[0, 1, 3, 7]].sum() == 0 and A.sum() == 12


def test_context_windows():
    ids = np.array([4, 5, 2, 6, 2, 7, 8, 9, 2], dtype=np.int32)
    offsets = np.array([0, 3, 5, 9])
    w = L.context_windows(ids, offsets, 2, BOS_ID)
    expected = [[1, 1], [1, 4], [4, 5],           # sentence 1: 4 5 </s>
                [1, 1], [1, 6],                   # sentence 2: 6 </s>
                [1, 1], [1, 7], [7, 8], [8, 9]]   # sentence 3
    assert w.tolist() == expected


# -- activations -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu"])
def test_activation_forward_backward(name, dtype):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 7)).astype(dtype)
    bias = rng.normal(size=7).astype(dtype)
    pre = a.astype(np.float64) + bias
    f = {"tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
         "relu": lambda x: np.maximum(x, 0)}[name]
    fprime = {"tanh": lambda x: 1 - np.tanh(x) ** 2,
              "sigmoid": lambda x: f(x) * (1 - f(x)),
              "relu": lambda x: (x > 0).astype(np.float64)}[name]
    y = a.copy()
    code = L.activation_code(name)
    L.bias_activation_forward(y, bias, code)
    np.testing.assert_allclose(y, f(pre), **tol(dtype))
    dy = rng.normal(size=(5, 7)).astype(dtype)
    da = np.empty_like(dy)
    db = np.empty(7, dtype)
    L.activation_backward(dy, y, code, da, db)
    np.testing.assert_allclose(da, dy * fprime(pre), rtol=1e-10 if dtype == np.float64 else 1e-4,
                               atol=1e-12 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(db, da.astype(np.float64).sum(0), **tol(dtype))
    assert y.dtype == dtype and da.dtype == dtype


def test_unknown_activation():
    with pytest.raises(OptionError):
        L.activation_code("gelu")


def test_affine_forward_backward():
    rng = np.random.default_rng(2)
    x, W, c = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=5)
    y = np.empty((4, 5))
    L.affine_forward(x, W, c, y)
    np.testing.assert_allclose(y, x @ W + c)
    dy = rng.normal(size=(4, 5))
    dx, dW, dc = np.empty((4, 3)), np.empty((3, 5)), np.empty(5)
    L.affine_backward(dy, x, W, dx, dW, dc)
    np.testing.assert_allclose(dx, dy @ W.T)
    np.testing.assert_allclose(dW, x.T @ dy)
    np.testing.assert_allclose(dc, dy.sum(0))


# -- the vectorized exp ---------------------------------------------------------------------
def test_fast_exp_accuracy():
    from numba import njit

    @njit
    def apply(x, out):
        for i in range(x.size):
            out[i] = SK._exp(x[i])
    x64 = np.concatenate([np.linspace(-700, 0, 200_001), np.linspace(-5, 5, 10_001)])
    out64 = np.empty_like(x64)
    apply(x64, out64)
    ref = np.exp(x64)
    assert np.max(np.abs(out64 - ref) / ref) < 1e-15
    x32 = np.linspace(-87, 0, 200_001).astype(np.float32)
    out32 = np.empty_like(x32)
    apply(x32, out32)
    ref32 = np.exp(x32.astype(np.float64))
    assert np.max(np.abs(out32 - ref32) / ref32) < 4e-7
    # below the range: tiny but finite, never NaN
    apply(np.array([-np.inf, -1e30], np.float32), out32[:2])
    assert 0 <= out32[0] < 1e-37 and 0 <= out32[1] < 1e-37


def test_fast_tanh_and_sigmoid_accuracy():
    from numba import njit
    from nlm.neural.math_kernels import _tanh

    @njit
    def apply(x, out):
        for i in range(x.size):
            out[i] = _tanh(x[i])
    x = np.concatenate([np.linspace(-30, 30, 200_001), np.linspace(-1e-3, 1e-3, 2001),
                        [np.inf, -np.inf]]).astype(np.float32)
    out = np.empty_like(x)
    apply(x, out)
    ref = np.tanh(x.astype(np.float64))
    assert np.max(np.abs(out - ref) / np.maximum(np.abs(ref), 1e-30)) < 3e-7
    nan = np.array([np.nan], np.float32)
    apply(nan, nan)
    assert np.isnan(nan[0])                       # NaN is not hidden
    a = np.linspace(-100, 100, 4001).astype(np.float32).reshape(1, -1)
    y = a.copy()
    L.bias_activation_forward(y, np.zeros(a.shape[1], np.float32), L.activation_code("sigmoid"))
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-a.astype(np.float64))), rtol=1e-6, atol=1e-7)


# -- full softmax ------------------------------------------------------------------------------
def ref_log_softmax(x, mask=None):
    x = np.array(x, dtype=np.float64)
    if mask is not None:
        x[..., mask] = -np.inf
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask", [-1, BOS_ID])
def test_softmax_xent_grad_kernel(dtype, mask):
    rng = np.random.default_rng(3)
    B, V = 6, 13
    logits = (rng.normal(size=(B, V)) * 3).astype(dtype)
    bias = rng.normal(size=V).astype(dtype)
    targets = rng.integers(2, V, B).astype(np.int32)
    lp = ref_log_softmax(logits.astype(np.float64) + bias, None if mask < 0 else mask)
    p = np.exp(lp)
    onehot = np.eye(V)[targets]
    grad = logits.copy()
    loss = np.empty(B)
    dbias = np.full(V, 7.0, dtype)    # overwritten, not added to
    SK._softmax_xent_grad(grad, bias, targets, mask, 0.5, loss, dbias)
    np.testing.assert_allclose(loss, -lp[np.arange(B), targets], **tol(dtype))
    np.testing.assert_allclose(grad, 0.5 * (p - onehot), **tol(dtype))
    np.testing.assert_allclose(dbias, 0.5 * (p - onehot).sum(0), **tol(dtype))
    if mask >= 0:
        assert np.all(grad[:, mask] == 0)
    out = np.empty((B, V))
    SK._log_softmax_rows(logits, bias, mask, out)
    finite = np.isfinite(lp)
    np.testing.assert_allclose(out[finite], lp[finite], **tol(dtype))
    assert np.array_equal(np.isfinite(out), finite)
    tl = np.empty(B)
    SK._target_logprobs(logits.copy(), bias, targets, mask, tl)
    np.testing.assert_allclose(tl, lp[np.arange(B), targets], **tol(dtype))


def test_softmax_extreme_logits_stay_finite():
    logits = np.array([[1000.0, -1000.0, 0.0, 999.0]], np.float32)
    bias = np.zeros(4, np.float32)
    loss = np.empty(1)
    g = logits.copy()
    SK._softmax_xent_grad(g, bias, np.array([3], np.int32), -1, 1.0, loss, np.empty(4, np.float32))
    assert loss[0] == pytest.approx(1 + math.log1p(math.exp(-1)), rel=1e-5)  # -ln p(999)
    assert np.all(np.isfinite(g))


def test_full_softmax_layer():
    rng = np.random.default_rng(4)
    V, D, B = 9, 4, 5
    layer = FullSoftmax(V)
    params = {"W": rng.normal(size=(V, D)), "b": rng.normal(size=V)}
    grads = {k: np.empty_like(v) for k, v in params.items()}
    z = rng.normal(size=(B, D))
    t = np.array([2, 3, 4, 8, 0], np.int32)
    lp = ref_log_softmax(z @ params["W"].T + params["b"], BOS_ID)
    full = layer.full_logprobs(params, z)
    np.testing.assert_allclose(full[:, [0, 2, 3]], lp[:, [0, 2, 3]], rtol=1e-12)
    assert np.all(np.isneginf(full[:, BOS_ID]))
    np.testing.assert_allclose(layer.target_logprobs(params, z, t), lp[np.arange(B), t])
    dz = np.empty((B, D))
    loss = layer.loss_and_grad(params, grads, z, t, dz, 1.0)
    assert loss == pytest.approx(-lp[np.arange(B), t].sum(), rel=1e-12)
    G = np.exp(lp) - np.eye(V)[t]                       # dL/dlogits
    np.testing.assert_allclose(grads["W"], G.T @ z, atol=1e-12)
    np.testing.assert_allclose(grads["b"], G.sum(0), atol=1e-12)
    np.testing.assert_allclose(dz, G @ params["W"], atol=1e-12)


# -- class softmax -------------------------------------------------------------------------------
def test_frequency_classes():
    counts = np.array([50, 0, 80] + list(range(200, 0, -1)), dtype=np.int64)
    cs = frequency_classes(counts)
    V = len(counts)
    assert cs[0] == 0 and cs[-1] == V and np.all(np.diff(cs) > 0)
    assert abs(len(cs) - 1 - round(math.sqrt(V))) <= 2
    sizes = np.diff(cs)
    assert sizes[0] < sizes[-1]            # frequent words in small classes, rare in big ones
    mass = np.add.reduceat(counts, cs[:-1]) / counts.sum()
    assert mass.max() < 3.5 / (len(cs) - 1)  # roughly equal mass per class
    layer = ClassSoftmax(cs)
    assert layer.word_class[BOS_ID] == layer.word_class[BOS_ID + 1]   # <s> never alone
    # a single frequent word takes a class of its own
    cs2 = frequency_classes(np.array([1, 0, 1000, 1, 1, 1, 1, 1, 1]), n_classes=3)
    assert list(cs2) == [0, 3, 9] or list(cs2) == [0, 2, 3, 9]
    with pytest.raises(OptionError):
        frequency_classes(counts, n_classes=0)


def test_class_layer_rejects_bad_boundaries():
    with pytest.raises(OptionError):
        ClassSoftmax(np.array([0, 3, 3, 7]))
    with pytest.raises(OptionError):
        ClassSoftmax(np.array([0, 1, 2, 7]))     # <s> (id 1) alone in its class
    with pytest.raises(OptionError):
        make_output_layer("hierarchical", 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_class_softmax_layer(dtype):
    rng = np.random.default_rng(5)
    V, D, B = 14, 5, 12
    cs = np.array([0, 4, 7, 12, 14])
    layer = ClassSoftmax(cs)
    params = {"W": rng.normal(size=(V, D)), "b": rng.normal(size=V),
              "Wc": rng.normal(size=(4, D)), "bc": rng.normal(size=4)}
    params = {k: v.astype(dtype) for k, v in params.items()}
    z = rng.normal(size=(B, D)).astype(dtype)
    t = rng.integers(2, V, B).astype(np.int32)
    # reference: P(w) = P(class) P(w | class), <s> masked inside its class
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    z64 = z.astype(np.float64)
    clp = ref_log_softmax(z64 @ p64["Wc"].T + p64["bc"])
    wl = z64 @ p64["W"].T + p64["b"]
    ref = np.empty((B, V))
    for c in range(4):
        s, e = cs[c], cs[c + 1]
        seg = wl[:, s:e].copy()
        if s <= BOS_ID < e:
            seg[:, BOS_ID - s] = -np.inf
        ref[:, s:e] = clp[:, [c]] + ref_log_softmax(seg)
    full = layer.full_logprobs(params, z)
    fin = np.isfinite(ref)
    np.testing.assert_allclose(full[fin], ref[fin], **tol(dtype))
    assert np.all(np.isneginf(full[:, BOS_ID]))
    np.testing.assert_allclose(np.exp(full).sum(1), 1.0, rtol=1e-12 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(layer.target_logprobs(params, z, t), ref[np.arange(B), t], **tol(dtype))
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dz = np.empty_like(z)
    loss = layer.loss_and_grad(params, grads, z, t, dz, 1.0)
    assert loss == pytest.approx(-ref[np.arange(B), t].sum(), rel=1e-10 if dtype == np.float64 else 1e-5)
    # touched rows: exactly the words of the targets' classes; other rows stay zero
    rows = layer.touched_rows()["W"]
    expected = sorted({w for c in set(layer.word_class[t]) for w in range(cs[c], cs[c + 1])})
    assert sorted(rows.tolist()) == expected
    untouched = np.setdiff1d(np.arange(V), rows)
    assert np.all(grads["W"][untouched] == 0) and np.all(grads["b"][untouched] == 0)
    # a second call overwrites (does not accumulate into) the previous gradient
    before = {k: v.copy() for k, v in grads.items()}
    layer.loss_and_grad(params, grads, z, t, dz, 1.0)
    for k in grads:
        np.testing.assert_allclose(grads[k], before[k], **tol(dtype))
    # a batch of other classes: its gradient equals a fresh layer's (the rows the first
    # batch set and this one does not touch are zeroed, the others overwritten)
    t2 = np.where(layer.word_class[t] == layer.word_class[t[0]], 12, t).astype(np.int32)
    t2[:3] = 13
    assert set(layer.word_class[t]) != set(layer.word_class[t2])
    layer.loss_and_grad(params, grads, z, t2, dz, 1.0)
    fresh = {k: np.zeros_like(v) for k, v in params.items()}
    ClassSoftmax(cs).loss_and_grad(params, fresh, z, t2, np.empty_like(z), 1.0)
    for k in grads:
        np.testing.assert_array_equal(grads[k], fresh[k], err_msg=k)


def test_blas_matmul_small_products_leave_the_thread_count_alone():
    from nlm.neural import blas
    rng = np.random.default_rng(6)
    before = blas.blas_threads()
    for shape in [(4, 3, 5), (300, 200, 100)]:          # below and above blas.SMALL
        m, k, n = shape
        a, b = rng.normal(size=(m, k)), rng.normal(size=(k, n))
        out = np.empty((m, n))
        blas.matmul(a, b, out)
        np.testing.assert_allclose(out, a @ b, rtol=1e-12)
        assert blas.blas_threads() == before
