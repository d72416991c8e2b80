"""Forward and backward passes of the basic layers, written by hand.

Pure functions over numpy arrays: the caller owns every buffer (outputs are
passed in, so a training step allocates nothing), the loops run in the Numba
kernels of :mod:`nlm.neural.layer_kernels`, dense products go to BLAS through
:func:`nlm.neural.blas.matmul` (``np.matmul(..., out=...)``). Shapes: B examples, n context positions,
m embedding size, V vocabulary, h hidden units.

    embedding   x[b, j*m:(j+1)*m] = E[ctx[b, j]]         dE[w] = sum over uses of w of dx
    affine      y = x W + c                              dx = dy W^T, dW = x^T dy, dc = sum_b dy
    activation  y = f(a)                                 da = dy * f'(a)  (from y: tanh 1-y^2,
                                                          sigmoid y(1-y), ReLU [y>0])
"""
from __future__ import annotations

import numpy as np

from ..errors import OptionError
from ..vocab import BOS_ID
from . import layer_kernels as K
from .blas import matmul

ACTIVATIONS = {"tanh": K.TANH, "sigmoid": K.SIGMOID, "relu": K.RELU}
_NO_ROWS = {np.dtype(np.float32): np.zeros((0, 0), np.float32),
            np.dtype(np.float64): np.zeros((0, 0), np.float64)}


def activation_code(name: str) -> int:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise OptionError(f"unknown activation {name!r}; choose from "
                          f"{', '.join(ACTIVATIONS)}") from None


class Buffers:
    """Scratch arrays reused across calls, by name and dtype; at most two shapes are
    kept per name (a model alternates between full batches and a last partial one)."""

    def __init__(self):
        self._arrays: dict = {}

    def get(self, name: str, shape: tuple, dtype) -> np.ndarray:
        shapes = self._arrays.setdefault((name, np.dtype(dtype)), {})
        a = shapes.get(shape)
        if a is None:
            if len(shapes) >= 2:
                shapes.clear()
            a = shapes[shape] = np.empty(shape, dtype=dtype)
        return a


# -- embedding -------------------------------------------------------------------
def embedding_forward(E: np.ndarray, ctx: np.ndarray, out: np.ndarray, col0: int = 0) -> None:
    """Concatenated embeddings of the n ids of each row of ``ctx`` (B, n) into
    ``out[:, col0:col0 + n*m]``."""
    K._gather_embeddings(E, ctx, out, col0)


def embedding_backward(dx: np.ndarray, ctx: np.ndarray, dE: np.ndarray,
                       dx_extra: np.ndarray | None = None) -> None:
    """Accumulate ``dx`` (B, n*m) (plus ``dx_extra`` of the same shape) into the rows
    of ``dE`` named by ``ctx``. ``dE`` is added to, not overwritten."""
    extra = _NO_ROWS[dx.dtype] if dx_extra is None else dx_extra
    K._scatter_add_embeddings(dx, extra, ctx, dE)


def weighted_embeddings(E: np.ndarray, ctx: np.ndarray, weights: np.ndarray,
                        out: np.ndarray, col0: int) -> None:
    """out[:, col0:col0 + m] = sum_j weights[j] E[ctx[:, j]] (a weighted bag of the
    context's embeddings, e.g. the fixed-size ordinally-forgetting encoding)."""
    K._weighted_embeddings(E, ctx, weights, out, col0)


def weighted_embeddings_backward(dx: np.ndarray, dx_extra: np.ndarray | None, col0: int,
                                 ctx: np.ndarray, weights: np.ndarray, dE: np.ndarray) -> None:
    """dE[ctx[b, j]] += weights[j] (dx + dx_extra)[b, col0:col0 + m] (added to dE)."""
    extra = _NO_ROWS[dx.dtype] if dx_extra is None else dx_extra
    K._weighted_embeddings_backward(dx, extra, col0, ctx, weights, dE)


def unique_ids(ids: np.ndarray, seen: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The distinct ids in ``ids`` (a view of ``out``); ``seen`` is a (V,) False bool scratch."""
    k = K._unique_rows(ids, seen, out)
    return out[:k]


def zero_rows(A: np.ndarray, rows: np.ndarray) -> None:
    K._zero_rows(A.reshape(A.shape[0], -1), rows)


class EmbeddingGradient:
    """The embedding table's gradient dE over training steps, kept sparse.

    Each step: :meth:`begin` clears the rows the last step wrote and, when the output
    layer's word weights are the embedding table (weight tying, Press & Wolf 2017),
    puts the output layer's gradient ``gW`` there; :meth:`add` then adds the
    embedding lookups' gradient, so dE holds the sum of both uses of the shared
    matrix. :attr:`rows` are the rows that may be non-zero (None: any row), for the
    optimizers' sparse updates.
    """

    def __init__(self, V: int, D: int, dtype, tie: bool):
        self.tie = bool(tie)
        self.gW = np.zeros((V, D), dtype=dtype) if self.tie else None   # the output's dW
        self.rows: np.ndarray | None = np.zeros(0, dtype=np.int64)
        self._seen = np.zeros(V, dtype=np.bool_)
        self._buf = Buffers()

    def begin(self, dE: np.ndarray, out_rows: np.ndarray | None) -> None:
        """Clear the last step's rows of dE; with tying, copy in the output's gradient at
        ``out_rows``, the rows the output layer may have set (None: all rows)."""
        if self.tie and out_rows is None:
            np.copyto(dE, self.gW)
            return
        if self.rows is None:
            dE[...] = 0
        else:
            zero_rows(dE, self.rows)
        if self.tie:
            dE[out_rows] = self.gW[out_rows]

    def add(self, dE: np.ndarray, dx: np.ndarray, ids: np.ndarray,
            out_rows: np.ndarray | None, dx_extra: np.ndarray | None = None,
            touched: np.ndarray | None = None) -> None:
        """Add the lookups' gradient ``dx`` (B, n*m) at the rows ``ids`` (B, n) name.
        ``touched``: all the ids whose rows the caller's own additions to dE reach
        (a superset of ``ids``; default ``ids``)."""
        touched = ids if touched is None else touched
        scratch = self._buf.get("rows", (touched.size,), np.int64)
        looked_up = unique_ids(touched, self._seen, scratch)
        embedding_backward(dx, ids, dE, dx_extra)
        if not self.tie:
            self.rows = looked_up
        elif out_rows is None:
            self.rows = None
        else:
            self.rows = np.union1d(out_rows, looked_up)


def output_views(params: dict, grads: dict, emb_grad: EmbeddingGradient) -> tuple[dict, dict]:
    """(params, grads) as the output layer sees them: with tying, its word weights
    ``W`` are the embedding table ``E`` and their gradient goes to ``emb_grad.gW``."""
    if not emb_grad.tie:
        return params, grads
    return {**params, "W": params["E"]}, {**grads, "W": emb_grad.gW}


def touched_with_output(emb_grad: EmbeddingGradient, output) -> dict[str, np.ndarray]:
    """The rows each gradient may be non-zero in after a step (keys missing: dense)."""
    out = dict(output.touched_rows())
    if emb_grad.tie:
        out.pop("W", None)
    if emb_grad.rows is not None:
        out["E"] = emb_grad.rows
    return out


def output_rows(output) -> np.ndarray | None:
    """The rows of the word weights' gradient the output layer set in its last step."""
    return output.touched_rows().get("W")


# -- affine ----------------------------------------------------------------------
def affine_forward(x: np.ndarray, W: np.ndarray, c: np.ndarray, out: np.ndarray) -> None:
    """out = x W + c; x (B, i), W (i, o), c (o,), out (B, o)."""
    matmul(x, W, out=out)
    out += c


def affine_backward(dy: np.ndarray, x: np.ndarray, W: np.ndarray, dx: np.ndarray | None,
                    dW: np.ndarray, dc: np.ndarray | None) -> None:
    """dW = x^T dy; dc = sum_b dy; dx = dy W^T (skipped when ``dx`` is None)."""
    matmul(x.T, dy, out=dW)
    if dc is not None:
        np.sum(dy, axis=0, out=dc)
    if dx is not None:
        matmul(dy, W.T, out=dx)


# -- activations -----------------------------------------------------------------
def bias_activation_forward(a: np.ndarray, bias: np.ndarray, act: int) -> None:
    """In place: a = f(a + bias), f one of :data:`ACTIVATIONS` (by code)."""
    K._bias_activation_forward(a, bias, act)


def activation_backward(dy: np.ndarray, y: np.ndarray, act: int, da: np.ndarray,
                        dbias: np.ndarray) -> None:
    """da = dy * f'(a) computed from y = f(a); dbias = sum_b da (the bias gradient)."""
    K._activation_backward(dy, y, act, da, dbias)


# -- data --------------------------------------------------------------------------
def previous_tokens(ids: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, starts): the token read before predicting each token (``<s>`` at a
    sentence start, else the previous token) and whether it starts a sentence."""
    inputs = np.empty(len(ids), dtype=np.int32)
    starts = np.empty(len(ids), dtype=np.bool_)
    K._previous_tokens(np.ascontiguousarray(ids, dtype=np.int32),
                        np.ascontiguousarray(offsets, dtype=np.int64), BOS_ID, inputs, starts)
    return inputs, starts


def context_windows(ids: np.ndarray, offsets: np.ndarray, n: int, pad: int) -> np.ndarray:
    """(T, n) int32: for every token, the n ids before it in its sentence, left-padded
    with ``pad`` (``<s>``). Row t is the MLP's input when predicting ids[t]."""
    out = np.empty((len(ids), n), dtype=np.int32)
    K._context_windows(np.ascontiguousarray(ids, dtype=np.int32),
                       np.ascontiguousarray(offsets, dtype=np.int64), n, pad, out)
    return out
