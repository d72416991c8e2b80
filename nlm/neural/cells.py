"""Recurrent layers: the Elman cell, the LSTM and the GRU, each as one object that
owns its parameter names and shapes, its initialization, and its forward and
backward passes over a chunk of T steps of B parallel streams.

A cell reads X (T B, k) (the embeddings, or the layer below), and its recurrent
state; it writes H (T, B, n), the states it passes up. The input products of all
T steps are one BLAS call, the recurrence is a Numba kernel with the loop over
time inside (:mod:`.rnn_kernels`, :mod:`.gated_kernels`), and the weight
gradients are BLAS calls over the whole chunk. A layer's state is a vector of
``state_size`` numbers: h for the Elman cell and the GRU, [h c] for the LSTM.

Parameter names carry the layer: ``Wx, Wh, bh`` (and the GRU's ``Wn``) for the
first layer (the Elman network's names since format 1), ``Wx2, Wh2, bh2`` for
the second, and so on.
"""
from __future__ import annotations

import numpy as np

from ..errors import OptionError
from . import gated_kernels as GK
from . import rnn_kernels as RK
from .init import initialize
from .layers import Buffers

CELLS = ("elman", "gru", "lstm")


def layer_suffix(layer: int) -> str:
    return "" if layer == 0 else str(layer + 1)


class Cell:
    """One recurrent layer (abstract): ``gates`` blocks of n columns in Wx."""

    name = "cell"
    gates = 1
    #: columns of Wh, in blocks of n
    recurrent_gates = 1

    def __init__(self, layer: int, in_size: int, n: int, act: int = 0):
        s = layer_suffix(layer)
        self.layer, self.in_size, self.n, self.act = layer, in_size, n, act
        self.kx, self.kh, self.kb = "Wx" + s, "Wh" + s, "bh" + s
        self._buf = Buffers()
        self._cache = None

    # -- parameters -----------------------------------------------------------------
    @property
    def state_size(self) -> int:
        return self.n

    def param_shapes(self) -> dict[str, tuple]:
        n = self.n
        return {self.kx: (self.in_size, self.gates * n), self.kh: (n, self.recurrent_gates * n),
                self.kb: (self.gates * n,)}

    @property
    def weight_keys(self) -> tuple[str, ...]:
        return tuple(k for k in self.param_shapes() if k != self.kb)

    def init_params(self, rng, init: str, init_scale: float, dtype) -> dict[str, np.ndarray]:
        """Each gate's block of Wx and Wh by ``init`` with the block's own fan-in and
        fan-out; biases zero."""
        m, n = self.in_size, self.n
        return {self.kx: initialize(rng, (m, self.gates * n), init, init_scale, m, n, dtype),
                self.kh: initialize(rng, (n, self.recurrent_gates * n), init, init_scale, n, n,
                                    dtype),
                self.kb: np.zeros(self.gates * n, dtype=dtype)}

    def _input_products(self, params, X: np.ndarray, T: int, B: int, dtype) -> np.ndarray:
        A = self._buf.get("a", (T, B, self.gates * self.n), dtype)
        np.matmul(X, params[self.kx], out=A.reshape(T * B, self.gates * self.n))
        return A

    def _input_gradient(self, params, grads, X: np.ndarray, dA2: np.ndarray) -> np.ndarray:
        """dWx = X^T dA and the gradient at the input, dA Wx^T (T B, in)."""
        np.matmul(X.T, dA2, out=grads[self.kx])
        dX = self._buf.get("dx", (dA2.shape[0], self.in_size), dA2.dtype)
        np.matmul(dA2, params[self.kx].T, out=dX)
        return dX

    @property
    def recurrent_keys(self) -> tuple[str, ...]:
        """The weights of the per-step products h_{t-1} W."""
        return (self.kh,)

    def transposes(self, params, min_size: int = 0) -> dict[str, np.ndarray]:
        """C-contiguous transposes of the recurrent weights, or none when Wh has fewer
        than ``min_size`` entries: the per-step products then run as h (W^T)^T, which
        OpenBLAS computes faster than h W for large weights (1.1-2.3x at one thread for
        B 20-64 and Wh of 512 x 512 to 650 x 2600) and slower for small ones (0.6x at
        200 x 200)."""
        if params[self.kh].size < min_size:
            return {}
        return {k: np.ascontiguousarray(params[k].T) for k in self.recurrent_keys}

    @staticmethod
    def recurrent_weight(params, packed, key):
        """(the weight for the per-step products, whether it is transposed)."""
        if packed is not None and key in packed:
            return packed[key], True
        return params[key], False

    @property
    def work(self) -> int:
        """Multiply-adds of one stream's recurrent products per step."""
        return self.n * self.n * self.recurrent_gates

    def step(self, params, x: np.ndarray, state: np.ndarray, run) -> np.ndarray:
        """The state after reading x (in,) from ``state`` (state_size,): a new array.
        One step of one stream through the same kernels as a chunk."""
        resets = np.zeros((1, 1), dtype=np.bool_)
        _, last = self.forward(params, x.reshape(1, -1), state.reshape(1, -1), resets, run)
        return last[0].copy()


class ElmanCell(Cell):
    """h_t = f(x_t Wx + h_{t-1} Wh + bh), f = tanh or the sigmoid."""

    name = "elman"

    def forward(self, params, X, state0, resets, run, packed=None):
        T, B = resets.shape
        H = self._input_products(params, X, T, B, X.dtype)
        P = self._buf.get("p", (T, B, self.n), X.dtype)
        tmp = self._buf.get("tmp", (B, self.n), X.dtype)
        Wh, wt = self.recurrent_weight(params, packed, self.kh)
        run(RK._rnn_forward, B, self.work, H, Wh, wt, params[self.kb],
            np.ascontiguousarray(state0), resets, self.act, P, tmp)
        self._cache = (X, H, P)
        return H, H[T - 1].copy()

    def backward(self, params, grads, dH, resets, run):
        """dH (T, B, n), overwritten; returns (dX (T B, in), dL/dstate0 (B, n))."""
        X, H, P = self._cache
        T, B, n = dH.shape
        dh0 = self._buf.get("dh0", (B, n), dH.dtype)
        run(RK._rnn_backward, B, self.work, dH, H, params[self.kh], resets, self.act,
            grads[self.kb], dh0)                                        # dH := da
        dA = dH.reshape(T * B, n)
        np.matmul(P.reshape(T * B, n).T, dA, out=grads[self.kh])
        return self._input_gradient(params, grads, X, dA), dh0

    def step(self, params, x, state, run):
        """Plain loops in the same order for every call (:func:`.rnn_kernels._rnn_step`)."""
        out = np.empty(self.n, dtype=state.dtype)
        RK._rnn_step(x, state, params[self.kx], params[self.kh], params[self.kb], self.act, out)
        return out

    @property
    def cache(self):
        """(X, H, P) of the last forward pass: inputs, states, previous states used."""
        return self._cache


class LSTMCell(Cell):
    """The LSTM (gates [i f o g], state [h c]); the forget gate's bias starts at 1."""

    name = "lstm"
    gates = 4
    recurrent_gates = 4

    @property
    def state_size(self) -> int:
        return 2 * self.n

    def init_params(self, rng, init, init_scale, dtype):
        p = super().init_params(rng, init, init_scale, dtype)
        p[self.kb][self.n:2 * self.n] = 1.0      # remember by default (Gers et al. 2000)
        return p

    def forward(self, params, X, state0, resets, run, packed=None):
        T, B = resets.shape
        n, dt = self.n, X.dtype
        A = self._input_products(params, X, T, B, dt)
        Hs, Cs, Hp, Cp = (self._buf.get(k, (T, B, n), dt) for k in ("h", "c", "hp", "cp"))
        tmp = self._buf.get("tmp", (B, 4 * n), dt)
        h0 = np.ascontiguousarray(state0[:, :n])
        c0 = np.ascontiguousarray(state0[:, n:])
        Wh, wt = self.recurrent_weight(params, packed, self.kh)
        run(GK._lstm_forward, B, self.work, A, Hs, Cs, Hp, Cp, h0, c0, Wh, wt,
            params[self.kb], resets, tmp)
        self._cache = (X, A, Cs, Hp, Cp)
        return Hs, np.concatenate([Hs[T - 1], Cs[T - 1]], axis=1)

    def backward(self, params, grads, dH, resets, run):
        X, A, Cs, Hp, Cp = self._cache
        T, B, n = dH.shape
        dA = self._buf.get("da", (T, B, 4 * n), dH.dtype)
        dh = np.empty((B, n), dtype=dH.dtype)
        dc = np.empty((B, n), dtype=dH.dtype)
        run(GK._lstm_backward, B, self.work, dH, A, Cs, Cp, params[self.kh], resets, dA,
            grads[self.kb], dh, dc)
        dA2 = dA.reshape(T * B, 4 * n)
        np.matmul(Hp.reshape(T * B, n).T, dA2, out=grads[self.kh])
        return self._input_gradient(params, grads, X, dA2), np.concatenate([dh, dc], axis=1)


class GRUCell(Cell):
    """The GRU of Cho et al. 2014 (gates [r z n]; r applies to h_{t-1} before Wn)."""

    name = "gru"
    gates = 3
    recurrent_gates = 2

    def __init__(self, layer, in_size, n, act=0):
        super().__init__(layer, in_size, n, act)
        self.kn = "Wn" + layer_suffix(layer)

    def param_shapes(self):
        return {**super().param_shapes(), self.kn: (self.n, self.n)}

    def init_params(self, rng, init, init_scale, dtype):
        p = super().init_params(rng, init, init_scale, dtype)
        p[self.kn] = initialize(rng, (self.n, self.n), init, init_scale, self.n, self.n, dtype)
        return p

    @property
    def work(self) -> int:
        return 3 * self.n * self.n

    @property
    def recurrent_keys(self) -> tuple[str, ...]:
        return (self.kh, self.kn)

    def forward(self, params, X, state0, resets, run, packed=None):
        T, B = resets.shape
        n, dt = self.n, X.dtype
        A = self._input_products(params, X, T, B, dt)
        Hs, Hp, Q = (self._buf.get(k, (T, B, n), dt) for k in ("h", "hp", "q"))
        tmp2 = self._buf.get("tmp2", (B, 2 * n), dt)
        tmp1 = self._buf.get("tmp1", (B, n), dt)
        Wh, wt = self.recurrent_weight(params, packed, self.kh)
        Wn = self.recurrent_weight(params, packed, self.kn)[0]
        run(GK._gru_forward, B, self.work, A, Hs, Hp, Q, np.ascontiguousarray(state0),
            Wh, Wn, wt, params[self.kb], resets, tmp2, tmp1)
        self._cache = (X, A, Hp, Q)
        return Hs, Hs[T - 1].copy()

    def backward(self, params, grads, dH, resets, run):
        X, A, Hp, Q = self._cache
        T, B, n = dH.shape
        dt = dH.dtype
        dA = self._buf.get("da", (T, B, 3 * n), dt)
        dh = np.empty((B, n), dtype=dt)
        scratch = [self._buf.get(k, (B, n), dt) for k in ("dn", "dq")]
        drz = self._buf.get("drz", (B, 2 * n), dt)
        dprev = self._buf.get("dprev", (B, n), dt)
        run(GK._gru_backward, B, self.work, dH, A, Hp, params[self.kh], params[self.kn],
            resets, dA, grads[self.kb], dh, scratch[0], scratch[1], drz, dprev)
        dA2 = dA.reshape(T * B, 3 * n)
        np.matmul(Hp.reshape(T * B, n).T, dA2[:, :2 * n], out=grads[self.kh])
        np.matmul(Q.reshape(T * B, n).T, dA2[:, 2 * n:], out=grads[self.kn])
        return self._input_gradient(params, grads, X, dA2), dh


_CELL_TYPES = {"elman": ElmanCell, "lstm": LSTMCell, "gru": GRUCell}


def make_cells(cell: str, layers: int, emb: int, hidden: int, act: int) -> list[Cell]:
    """The layers of a network: the first reads the embeddings (emb), the others the
    layer below (hidden)."""
    if cell not in _CELL_TYPES:
        raise OptionError(f"unknown recurrent cell {cell!r}; choose from {', '.join(CELLS)}")
    if not isinstance(layers, (int, np.integer)) or isinstance(layers, bool) or layers < 1:
        raise OptionError(f"layers must be a whole number >= 1, got {layers!r}")
    return [_CELL_TYPES[cell](l, emb if l == 0 else hidden, hidden, act)
            for l in range(int(layers))]
