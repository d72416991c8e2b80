"""The recurrent network language model: Mikolov's RNNLM and its gated successors
(:mod:`.cells`: an LSTM layer, the default, a GRU layer or the Elman layer, one or
more stacked), trained by hand-written truncated backpropagation through time.
With the Elman cell:

    x_t = E[w(t-1)]                               (B, m)   shared embedding E (V, m)
    h_t = f(x_t Wx + h_{t-1} Wh + bh)             (B, n)   f = tanh (or sigmoid)
    P(w(t) | w(..t-1)) = softmax layer(h_t)       full or class softmax (:mod:`.softmax`)

A sentence is read as ``<s> w1 ... wk`` and predicts ``w1 ... wk </s>``; the
state before its ``<s>`` is the zero vector, so the model's initial state is the
state after reading ``<s>`` from it (Elman: h = f(E[<s>] Wx + bh)) and ``<s>``
itself is never predicted (probability 0).

Training (:class:`RNNTask`) cuts the training text into B parallel streams
and walks them in chunks of ``bptt`` steps; the hidden state is carried from
chunk to chunk and reset at every sentence (``reset_sentences``, the default)
or carried across sentence boundaries as rnnlm does. One chunk is one minibatch: the
forward and backward recurrences are Numba kernels with the loop over time
inside (:mod:`.rnn_kernels`); the input projections, the output layer and the
weight gradients are single BLAS products over the whole chunk. Optional
dropout (Zaremba et al. 2014) masks the embeddings and the states fed to the
output layer, never the recurrence; its masks come from the seed and the step.

Scoring treats sentences independently, each from the initial state (as the
n-gram models do): :meth:`RNNNetwork.score` packs the sentences into parallel
streams and runs the same kernels. Training runs in float32; a saved model is
scored in float64, so the fast path equals the state machine to rounding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..corpus import Corpus
from ..errors import ModelFileError, OptionError
from ..model import register
from ..registry import Opt
from ..vocab import BOS_ID, Vocabulary
from . import rnn_kernels as RK
from .base import (NeuralModel, UnkDropout, check_positive, dropout_masks, register_neural,
                   same_output, unigram_biases)
from .blas import kernel_gemm, threads_for
from .cells import CELLS, make_cells
from .data_parallel import DataParallel, shards
from .init import initialize
from .kernel_blas import single_threaded
from .layers import (Buffers, EmbeddingGradient, activation_code, embedding_forward,
                     output_rows, output_views, previous_tokens, touched_with_output)
from .optim import make_optimizer
from .trainer import TrainingTask

RNN_ACTIVATIONS = ("tanh", "sigmoid")
SCORE_STREAMS = 64       # parallel streams when scoring
SCORE_CHUNK = 32         # steps per forward call when scoring
#: chunks of at least this many steps of more than one stream run their per-step products
#: with transposed copies of the recurrent weights (:meth:`.cells.Cell.transposes`), made
#: once per chunk (for one stream, h W as stored is as fast)
TRANSPOSE_MIN_STEPS = 8
#: ... and recurrent weights Wh of at least this many entries (OpenBLAS multiplies small
#: ones faster as stored)
TRANSPOSE_MIN_SIZE = 200_000



class ChunkRegularization:
    """AWD-LSTM's regularizers of one training chunk (Merity et al. 2017) that act inside
    the network (dropout masks, variational or not, are applied by the caller):

    - DropConnect on the recurrent weights (``weight_masks``: key -> mask of the weight's
      shape, entries 0 or 1/keep): the chunk runs with Wh * mask, and Wh's gradient is
      mask * the gradient at the masked weight;
    - activation regularization: ``ar`` x the mean square of the (dropped-out) states fed
      to the output layer;
    - temporal activation regularization: ``tar`` x the mean square of h_t - h_{t-1} of the
      top layer over the chunk's consecutive steps (pairs across a sentence reset left out,
      the mean still over all T - 1 pairs of every stream).
    """

    def __init__(self, weight_masks: dict | None = None, ar: float = 0.0, tar: float = 0.0):
        self.weight_masks = dict(weight_masks or {})
        self.ar, self.tar = float(ar), float(tar)

    def dropped_weights(self, params: dict) -> dict:
        if not self.weight_masks:
            return params
        return {**params, **{k: params[k] * m for k, m in self.weight_masks.items()}}

    def share(self, fraction: float) -> "ChunkRegularization":
        """The regularization of a worker holding ``fraction`` of the chunk's streams: the
        same weight masks, AR and TAR scaled so that the workers' penalties sum to the
        chunk's (each takes its mean over its own streams)."""
        return ChunkRegularization(self.weight_masks, self.ar * fraction, self.tar * fraction)

    def mask_gradients(self, grads: dict) -> None:
        for k, m in self.weight_masks.items():
            grads[k] *= m

    def activation_penalty(self, Z: np.ndarray, dZ: np.ndarray) -> float:
        """AR's value; adds its gradient to dZ (both (N, n), before the output mask)."""
        if self.ar == 0.0:
            return 0.0
        c = self.ar / Z.size
        dZ += (2.0 * c) * Z
        return float(c * np.vdot(Z, Z))

    def temporal_penalty(self, H: np.ndarray, dH: np.ndarray, resets: np.ndarray) -> float:
        """TAR's value; adds its gradient to dH (T, B, n)."""
        T, B, n = H.shape
        if self.tar == 0.0 or T < 2:
            return 0.0
        D = (H[1:] - H[:-1]) * ~resets[1:, :, None]
        c = self.tar / ((T - 1) * B * n)
        D2 = (2.0 * c) * D
        dH[1:] += D2
        dH[:-1] -= D2
        return float(c * np.vdot(D, D))


class RNNNetwork:
    """Parameters ``E`` and each layer's (:mod:`.cells`: ``Wx, Wh, bh`` for the first,
    ``Wx2, ...`` for the next), the output layer's ``W, b`` [``Wc, bc``], and the
    forward and backward passes over a chunk of T steps of B streams. With ``tie`` the
    output's word weights are ``E`` itself (no ``W``; needs hidden == emb) and E's
    gradient is the sum of both uses.

    A state is the concatenation of every layer's state (B, state_size), first layer
    first: h for Elman and GRU layers, [h c] for LSTM layers. The output layer reads
    the top layer's h."""

    def __init__(self, params: dict[str, np.ndarray], activation: str, output,
                 tie: bool = False, cell: str = "lstm", layers: int = 1):
        if activation not in RNN_ACTIVATIONS:
            raise OptionError(f"unknown RNN activation {activation!r}; choose from "
                              f"{', '.join(RNN_ACTIVATIONS)}")
        if cell != "elman" and activation != "tanh":
            raise OptionError(f"--activation applies to the Elman cell only (the {cell} "
                              f"has its own gates)")
        self.params = params
        self.V, self.m = params["E"].shape
        self.n = params["Wh"].shape[0]
        self.activation = activation
        self.act = activation_code(activation)
        self.cell, self.layers = cell, int(layers)
        self.cells = make_cells(cell, self.layers, self.m, self.n, self.act)
        self.state_size = sum(c.state_size for c in self.cells)
        self._state_at = np.cumsum([0] + [c.state_size for c in self.cells])
        self.output = output
        self.dtype = params["E"].dtype
        self.tie = bool(tie)
        if self.tie and self.n != self.m:
            raise OptionError(f"tied weights need --hidden equal to --emb (got hidden {self.n}, "
                              f"emb {self.m}); give --no-tie to untie them")
        self.grads = {k: np.zeros_like(v) for k, v in params.items()}
        self.decay_keys = frozenset(("E",) + tuple(k for c in self.cells for k in c.weight_keys)
                                    + tuple(k for k in output.weight_keys if k in params))
        self._buf = Buffers()
        self._emb_grad = EmbeddingGradient(self.V, self.n, self.dtype, self.tie)
        self.out_params, self._out_grads = output_views(params, self.grads, self._emb_grad)
        self._no_resets: dict = {}

    @staticmethod
    def param_shapes(V: int, emb: int, hidden: int, output, cell: str = "lstm",
                     layers: int = 1) -> dict[str, tuple]:
        """Every parameter's shape (with the output's ``W``, which tying removes)."""
        shapes = {"E": (V, emb)}
        for c in make_cells(cell, layers, emb, hidden, 0):
            shapes.update(c.param_shapes())
        return {**shapes, **output.param_shapes(hidden)}

    @staticmethod
    def init_params(rng: np.random.Generator, V: int, emb: int, hidden: int, output,
                    counts=None, init: str = "xavier", init_scale: float = 0.1,
                    dtype=np.float32, tie: bool = False, cell: str = "lstm",
                    layers: int = 1) -> dict[str, np.ndarray]:
        """New parameters: weights by ``init`` (xavier from each matrix's fan-in and
        fan-out, per gate, the embedding table counting as an m -> m map), biases zero
        (an LSTM's forget gates one) except the output biases, which start at the log
        unigram distribution of ``counts``. With ``tie`` there is no ``W`` (the output
        uses ``E``)."""
        p = {"E": initialize(rng, (V, emb), init, init_scale, emb, emb, dtype)}
        for c in make_cells(cell, layers, emb, hidden, 0):
            p.update(c.init_params(rng, init, init_scale, dtype))
        shapes = output.param_shapes(hidden)
        if not tie:
            p["W"] = initialize(rng, shapes["W"], init, init_scale, hidden, V, dtype)
        if "Wc" in shapes:
            p["Wc"] = initialize(rng, shapes["Wc"], init, init_scale, hidden, shapes["Wc"][0],
                                 dtype)
        p.update(unigram_biases(output, counts, V, dtype))
        return p

    # -- forward ---------------------------------------------------------------------
    def _resets(self, resets, T: int, B: int) -> np.ndarray:
        if resets is not None:
            return resets
        r = self._no_resets.get((T, B))
        if r is None:
            self._no_resets.clear()
            r = self._no_resets[(T, B)] = np.zeros((T, B), dtype=np.bool_)
        return r

    def _recurrence(self, kernel, B: int, work: int, *args):
        """Run a recurrence kernel, its per-step (B, n) x (n, k) products on numpy's BLAS
        (one thread while they are small, see :mod:`nlm.neural.blas`), or, where numpy's
        BLAS cannot be called from kernels, on SciPy's BLAS with one thread."""
        gemm = kernel_gemm(self.dtype)
        if gemm is None:
            return single_threaded(kernel, *args, None)
        with threads_for(B * work):
            return kernel(*args, gemm)

    def layer_state(self, state: np.ndarray, layer: int) -> np.ndarray:
        """Layer ``layer``'s part of a state (..., state_size)."""
        return state[..., self._state_at[layer]:self._state_at[layer + 1]]

    def transposes(self, params: dict | None = None,
                   min_size: int | None = None) -> dict[str, np.ndarray]:
        """The recurrent weights of every layer whose Wh has at least ``min_size``
        (default :data:`TRANSPOSE_MIN_SIZE`) entries, transposed
        (:meth:`.cells.Cell.transposes`), for :meth:`forward`'s ``packed``; valid while
        the weights do not change."""
        P_ = self.params if params is None else params
        size = TRANSPOSE_MIN_SIZE if min_size is None else min_size
        return {k: v for c in self.cells for k, v in c.transposes(P_, size).items()}

    def forward(self, inputs: np.ndarray, state: np.ndarray, resets=None, masks=None,
                params: dict | None = None, packed: dict | None = None):
        """The top layer's states over a chunk, and the state after it. inputs (T, B) int32
        (the tokens read), state (B, state_size) the state before the chunk, resets
        (T, B) bool or None, masks as for :meth:`loss_and_grads` (or None); ``params``:
        the weights to use (default the network's); ``packed``: :meth:`transposes` of
        them (made here when not given for chunks of :data:`TRANSPOSE_MIN_STEPS` steps or
        more and more than one stream; ``{}``: none). Returns (H (T, B, n), a reused
        buffer; the last state (B, state_size), a new array)."""
        T, B = inputs.shape
        P_ = self.params if params is None else params
        if packed is None and T >= TRANSPOSE_MIN_STEPS and B > 1:
            packed = self.transposes(P_)
        resets = self._resets(resets, T, B)
        X = self._buf.get("x", (T * B, self.m), self.dtype)                   # (T B, m)
        embedding_forward(P_["E"], inputs.reshape(T * B, 1), X, 0)
        if masks is not None:
            X *= masks[0]
        last = []
        for l, c in enumerate(self.cells):
            if l > 0:
                X = H.reshape(T * B, self.n)
                if masks is not None:
                    X = np.multiply(X, masks[1 + l], out=self._buf.get(f"x{l}", X.shape,
                                                                       self.dtype))
            H, s = c.forward(P_, X, self.layer_state(state, l), resets, self._recurrence,
                             packed)
            last.append(s)
        return H, (last[0] if len(last) == 1 else np.concatenate(last, axis=1))

    # -- training ----------------------------------------------------------------------
    def loss_and_grads(self, inputs: np.ndarray, targets: np.ndarray, state: np.ndarray,
                       resets: np.ndarray | None = None, scale: float | None = None,
                       masks: tuple[np.ndarray, ...] | None = None,
                       reg: "ChunkRegularization | None" = None
                       ) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """One truncated-BPTT chunk, min-char-rnn style: (summed cross-entropy in nats,
        grads, the last state (B, state_size), a new array). ``grads`` (the network's
        gradient buffers, overwritten by the next call) is the gradient of ``scale`` x
        the summed loss (default 1/(T B): the mean), with the state before the chunk
        held fixed; ``self.dh0`` gets the gradient with respect to ``state``.

        inputs, targets (T, B) int32 (time-major); state (B, state_size); resets (T, B)
        bool. ``masks`` = (x_mask (T B, m), h_mask (T B, n), then one (T B, n) mask per
        layer above the first): dropout (Zaremba et al. 2014, not on the recurrence):
        the embeddings are multiplied by x_mask, the top states fed to the output layer
        by h_mask and the states fed to layer l + 1 by mask 1 + l; carried states are
        not masked. ``reg``: DropConnect masks and the AR/TAR penalties
        (:class:`ChunkRegularization`); the gradient is then that of ``scale`` x the
        loss plus the penalty, whose value is left in ``self.penalty``.
        """
        T, B = inputs.shape
        n, m = self.n, self.m
        scale = 1.0 / (T * B) if scale is None else float(scale)
        G = self.grads
        P_ = self.params if reg is None else reg.dropped_weights(self.params)
        resets = self._resets(resets, T, B)
        H, last = self.forward(inputs, state, resets, masks, P_)
        h_mask = masks[1] if masks is not None else None
        Z = H.reshape(T * B, n)                                             # output's input
        if h_mask is not None:
            Z = np.multiply(Z, h_mask, out=self._buf.get("z", (T * B, n), self.dtype))
        dH = self._buf.get("dh", (T, B, n), self.dtype)
        loss = self.output.loss_and_grad(self.out_params, self._out_grads, Z,
                                         targets.reshape(T * B), dH.reshape(T * B, n), scale)
        self.penalty = 0.0 if reg is None else reg.activation_penalty(Z, dH.reshape(T * B, n))
        if h_mask is not None:
            dH.reshape(T * B, n)[...] *= h_mask
        if reg is not None:
            self.penalty += reg.temporal_penalty(H, dH, resets)
        dstate = np.empty((B, self.state_size), dtype=self.dtype)
        for l in range(self.layers - 1, -1, -1):
            dX, ds = self.cells[l].backward(P_, G, dH, resets, self._recurrence)
            self.layer_state(dstate, l)[...] = ds
            if l > 0:
                if masks is not None:
                    dX *= masks[1 + l]
                dH = self._buf.get("dh", (T, B, n), self.dtype)
                dH.reshape(T * B, n)[...] = dX
        if masks is not None:
            dX *= masks[0]
        flat = inputs.reshape(T * B, 1)
        out_rows = output_rows(self.output)
        self._emb_grad.begin(G["E"], out_rows)
        self._emb_grad.add(G["E"], dX, flat, out_rows)
        if reg is not None:
            reg.mask_gradients(G)
        self.dh0 = dstate
        return loss, G, last

    def touched_rows(self) -> dict[str, np.ndarray]:
        return touched_with_output(self._emb_grad, self.output)

    # -- the state machine --------------------------------------------------------------
    def step(self, state: np.ndarray, token: int) -> np.ndarray:
        """The state after reading ``token`` from ``state`` (state_size,): a new array."""
        x = self.params["E"][token]
        out = []
        for l, c in enumerate(self.cells):
            s = c.step(self.params, x, np.ascontiguousarray(self.layer_state(state, l)),
                       self._recurrence)
            out.append(s)
            x = s[:self.n]
        return out[0] if len(out) == 1 else np.concatenate(out)

    def top_hidden(self, state: np.ndarray) -> np.ndarray:
        """The top layer's h, the output layer's input, from a state (..., state_size)."""
        a = self._state_at[-2]
        return state[..., a:a + self.n]

    # -- scoring ---------------------------------------------------------------------------
    def score(self, ids: np.ndarray, offsets: np.ndarray, streams: int = SCORE_STREAMS,
              chunk: int = SCORE_CHUNK) -> np.ndarray:
        """(N,) float64 ln P of every token, each sentence from the initial state: the
        sentences are packed into parallel streams (longest first, each to the least
        loaded stream) and run through the recurrence ``chunk`` steps at a time."""
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        out = np.empty(len(ids), dtype=np.float64)
        if len(ids) == 0:
            return out
        pos, inputs, targets, resets = stream_layout(ids, offsets, streams)
        L, B = pos.shape
        h = np.zeros((B, self.state_size), dtype=self.dtype)
        rows = _output_rows(self.V)
        packed = self.transposes() if B > 1 else {}
        for a in range(0, L, chunk):
            T = min(chunk, L - a)
            H, h = self.forward(inputs[a:a + T], h, resets[a:a + T], packed=packed)
            H2 = H.reshape(T * B, self.n)
            p = pos[a:a + T].reshape(T * B)
            keep = np.flatnonzero(p >= 0)
            tg = targets[a:a + T].reshape(T * B)
            for r in range(0, len(keep), rows):
                sel = keep[r:r + rows]
                out[p[sel]] = self.output.target_logprobs(self.out_params, H2[sel], tg[sel])
        return out

    def score_stream(self, ids: np.ndarray, offsets: np.ndarray,
                     chunk: int = 8 * SCORE_CHUNK) -> np.ndarray:
        """(N,) float64 ln P of every token, the sentences read in order as one stream
        from the zero state, the state carried across sentence boundaries (each
        sentence's ``<s>`` is read, its ``</s>`` only predicted), as training reads
        its text without ``reset_sentences``."""
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        out = np.empty(len(ids), dtype=np.float64)
        inputs, _ = previous_tokens(ids, offsets)
        h = np.zeros((1, self.state_size), dtype=self.dtype)
        for a in range(0, len(ids), chunk):
            b = min(a + chunk, len(ids))
            H, h = self.forward(inputs[a:b].reshape(-1, 1), h)
            out[a:b] = self.output.target_logprobs(self.out_params, H.reshape(b - a, self.n),
                                                   ids[a:b])
        return out

    def replica(self) -> "RNNNetwork":
        """A network over the same parameter arrays, with buffers and gradients of its
        own (a worker of :class:`~nlm.neural.data_parallel.DataParallel`)."""
        return RNNNetwork(self.params, self.activation, same_output(self.output), self.tie,
                          self.cell, self.layers)

    def astype(self, dtype) -> "RNNNetwork":
        params = {k: np.array(v, dtype=dtype) for k, v in self.params.items()}
        return RNNNetwork(params, self.activation, same_output(self.output), self.tie,
                          self.cell, self.layers)


def score_sentences(parallel: DataParallel, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """:meth:`RNNNetwork.score` on the workers: the sentences cut into one run of about
    equal tokens per worker (each sentence is scored from the initial state, so the runs
    are independent)."""
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    if parallel.workers == 1 or n < 2:
        return parallel.nets[0].score(ids, offsets)
    k = parallel.workers
    cuts = np.searchsorted(offsets, [len(ids) * j // k for j in range(k)])
    cuts = np.unique(np.concatenate([[0], np.minimum(cuts, n), [n]]))
    out = np.empty(len(ids), dtype=np.float64)

    def run(net, part):
        a, b = part
        s, e = offsets[a], offsets[b]
        out[s:e] = net.score(ids[s:e], offsets[a:b + 1] - s)
    parallel.map(run, [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])])
    return out


def stream_rows(x: np.ndarray, T: int, B: int, lo: int, hi: int) -> np.ndarray:
    """Rows of streams lo .. hi of a time-major (T B, w) array (row t B + b), as a
    (T (hi - lo), w) array (a view when that is all of them)."""
    w = x.shape[1]
    return np.ascontiguousarray(x.reshape(T, B, w)[:, lo:hi]).reshape(T * (hi - lo), w)


def _output_rows(V: int) -> int:
    """Rows per output-layer call when scoring: about 8M logits at a time."""
    return int(min(4096, max(64, (1 << 23) // max(V, 1))))


def stream_layout(ids: np.ndarray, offsets: np.ndarray, streams: int):
    """Independent sentences packed into at most ``streams`` parallel streams.

    Returns time-major (L, B) arrays: pos (int64 corpus position, -1 for padding),
    inputs and targets (int32) and resets (bool, True where a sentence starts).
    """
    S = len(offsets) - 1
    lengths = np.diff(offsets).astype(np.int64)
    B = max(1, min(int(streams), S))
    order = np.argsort(-lengths, kind="stable").astype(np.int64)
    loads = np.zeros(B, dtype=np.int64)
    stream_of = np.empty(S, dtype=np.int64)
    start_of = np.empty(S, dtype=np.int64)
    RK._assign_streams(lengths, order, loads, stream_of, start_of)
    L = max(int(loads.max()), 1)
    pos = np.empty((L, B), dtype=np.int64)
    inputs = np.empty((L, B), dtype=np.int32)
    targets = np.empty((L, B), dtype=np.int32)
    resets = np.empty((L, B), dtype=np.bool_)
    RK._stream_layout(ids, offsets, BOS_ID, stream_of, start_of, pos, inputs, targets, resets)
    return pos, inputs, targets, resets


@dataclass(frozen=True)
class AWDSettings:
    """The AWD-LSTM regularizers of training (Merity et al. 2017), besides ``dropout``:
    ``variational`` (locked) dropout masks, one per stream for a whole chunk; embedding
    dropout (whole words of the table dropped per chunk, rate ``emb_dropout``);
    DropConnect on the recurrent weights (``weight_drop``); AR (``ar``) and TAR
    (``tar``), see :class:`ChunkRegularization`."""
    variational: bool = False
    emb_dropout: float = 0.0
    weight_drop: float = 0.0
    ar: float = 0.0
    tar: float = 0.0

    def check(self) -> None:
        for name in ("emb_dropout", "weight_drop"):
            v = getattr(self, name)
            if not (0.0 <= v < 1.0):
                raise OptionError(f"{name.replace('_', '-')} must be in [0, 1), got {v}")
        for name in ("ar", "tar"):
            v = getattr(self, name)
            if not (0.0 <= v < math.inf):
                raise OptionError(f"{name} must be a number >= 0, got {v}")


def word_keep_mask(epoch_seed: int, step: int, keep: float, V: int, dtype) -> np.ndarray:
    """(V,) embedding dropout: each word kept (1/keep) or dropped (0) for one chunk."""
    rng = np.random.default_rng((epoch_seed, step, 2))
    return ((rng.random(V, dtype=np.float32) < keep) * (1.0 / keep)).astype(dtype)


class RNNTask(TrainingTask):
    """Truncated BPTT over B parallel streams of the training text.

    The text (read as ``<s> w1 .. wk`` -> ``w1 .. wk </s>`` per sentence) is cut
    into B contiguous streams of L = N // B tokens (the last N mod B tokens are
    left out); step i runs steps [i k, (i+1) k) of every stream. The hidden state
    carries over from step to step and from epoch to epoch (it is part of the
    checkpoint), so an interrupted run resumes exactly.
    """

    def __init__(self, net: RNNNetwork, corpus: Corpus, valid: Corpus | None,
                 batch_size: int, bptt: int, reset_sentences: bool, config: dict,
                 dropout: float = 0.0, unk: UnkDropout | None = None,
                 awd: AWDSettings | None = None, workers: int | None = None):
        self.net = net
        self.keep = 1.0 - float(dropout)
        self.unk = unk
        self.awd = awd if awd is not None else AWDSettings()
        self._epoch_seed = 0
        self.bptt = int(bptt)
        self._config = config
        inputs, starts = previous_tokens(corpus.ids, corpus.offsets)
        B = max(1, min(int(batch_size), len(inputs)))
        L = len(inputs) // B
        if L < 1:
            raise OptionError("the training text is empty")

        self.B, self.L = B, L
        self._ids = np.ascontiguousarray(corpus.ids, dtype=np.int32)
        self._offsets = corpus.offsets
        self.inputs = self._time_major(inputs)
        self.targets = self._time_major(self._ids)
        self.resets = self._time_major(starts) if reset_sentences else None
        self.h = np.zeros((B, net.state_size), dtype=net.dtype)
        # one worker unless asked: split between two threads, the streams of a chunk trained
        # 0-8% slower (docs/neural.md, "Threads"): each worker's per-step products stream
        # the whole recurrent matrix, twice the memory traffic of one two-thread product
        self.parallel = DataParallel(net, 1 if workers is None else workers)
        self.params, self.grads = net.params, self.parallel.grads
        self.decay_keys = net.decay_keys
        self.valid = valid if valid is not None and valid.tokens > 0 else None
        self.has_valid = self.valid is not None

    def config(self) -> dict:
        return self._config

    def _time_major(self, a: np.ndarray) -> np.ndarray:
        """(N,) -> (L, B): column b is stream b."""
        B, L = self.B, self.L
        return np.ascontiguousarray(a[:B * L].reshape(B, L).T)

    def start_epoch(self, rng) -> int:
        # dropout masks of step i come from (this seed, i): a resumed epoch redraws them
        self._epoch_seed = int(rng.integers(2**63))
        if self.unk is not None and self.unk.active:   # this epoch's <unk> readings
            ids = self.unk.apply(self._ids, rng)
            self.inputs = self._time_major(previous_tokens(ids, self._offsets)[0])
            self.targets = self._time_major(ids)
        return -(-self.L // self.bptt)

    def _masks(self, i: int, T: int, inputs: np.ndarray):
        """Dropout masks of step i (entries 0 or 1/keep), or None without dropout: drawn
        per token, or with ``variational`` per stream and repeated at every step, the
        embeddings' mask times the embedding-dropout mask of the words read."""
        awd, net = self.awd, self.net
        if self.keep >= 1.0 and awd.emb_dropout == 0.0:
            return None
        widths = (net.m, net.n) + (net.n,) * (net.layers - 1)
        if self.keep >= 1.0:
            masks = tuple(np.ones((T * self.B, w), dtype=net.dtype) for w in widths)
        elif awd.variational:
            masks = tuple(np.tile(m, (T, 1)) for m in
                          dropout_masks(self._epoch_seed, i, self.keep, self.B, widths,
                                        net.dtype))
        else:
            masks = dropout_masks(self._epoch_seed, i, self.keep, T * self.B, widths,
                                  net.dtype)
        if awd.emb_dropout > 0.0:
            words = word_keep_mask(self._epoch_seed, i, 1.0 - awd.emb_dropout, net.V,
                                   net.dtype)
            np.multiply(masks[0], words[inputs.reshape(-1)][:, None], out=masks[0])
        return masks

    def _regularization(self, i: int) -> "ChunkRegularization | None":
        awd, net = self.awd, self.net
        if awd.weight_drop == 0.0 and awd.ar == 0.0 and awd.tar == 0.0:
            return None
        masks = {}
        if awd.weight_drop > 0.0:
            rng = np.random.default_rng((self._epoch_seed, i, 1))
            keep = 1.0 - awd.weight_drop
            for c in net.cells:
                u = rng.random(net.params[c.kh].shape, dtype=np.float32)
                masks[c.kh] = ((u < keep) * (1.0 / keep)).astype(net.dtype)
        return ChunkRegularization(masks, awd.ar, awd.tar)

    def epoch_tokens(self) -> int:
        return self.B * self.L

    def step(self, i: int) -> tuple[float, int]:
        """One chunk; with several workers each runs a share of the streams."""
        a, b = i * self.bptt, min((i + 1) * self.bptt, self.L)
        T, B = b - a, self.B
        masks, reg = self._masks(i, T, self.inputs[a:b]), self._regularization(i)
        scale = 1.0 / (T * B)

        def run(net, streams):
            lo, hi = streams

            def cols(x):
                return None if x is None else np.ascontiguousarray(x[a:b, lo:hi])
            m = None if masks is None else tuple(stream_rows(x, T, B, lo, hi) for x in masks)
            with np.errstate(over="ignore", invalid="ignore"):   # the trainer reports divergence
                loss, _, h = net.loss_and_grads(cols(self.inputs), cols(self.targets),
                                                self.h[lo:hi], cols(self.resets), scale, m,
                                                None if reg is None else reg.share((hi - lo) / B))
            return loss, h
        results = self.parallel.map(run, shards(B, self.parallel.workers))
        self.parallel.merge(len(results))
        self.h = results[0][1] if len(results) == 1 else np.concatenate([h for _, h in results])
        return float(sum(loss for loss, _ in results)), T * B

    def touched_rows(self):
        return self.parallel.touched_rows()

    def validation_loss(self):
        """Validation in the protocol the model is trained for: each sentence from the
        initial state with ``reset_sentences``, else the state carried across them."""
        if self.valid is None:
            return None
        if self.resets is not None:
            lp = score_sentences(self.parallel, self.valid.ids, self.valid.offsets)
        else:
            lp = self.net.score_stream(self.valid.ids, self.valid.offsets)
        return float(-lp.sum()), len(lp)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"hidden": self.h}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        h = arrays.get("hidden")
        if h is None or h.shape != self.h.shape:
            raise OptionError("the checkpoint's hidden state does not match the batch size")
        self.h = np.array(h, dtype=self.h.dtype)


@register("rnn")
class RNNModel(NeuralModel):
    """Recurrent network language model (LSTM, GRU or Elman cells, one or more layers);
    the state is every layer's state concatenated, a float64 vector."""

    label = "RNN"
    carries_state = True
    #: Adam on the mean loss of a chunk, with the gradient norm clipped (recurrent
    #: gradients can explode); up to 20 epochs (with validation text the reduce
    #: schedule ends training when it stops improving, usually sooner).
    TRAIN_DEFAULTS = {"optimizer": "adam", "clip_norm": 1.0, "epochs": 20}
    #: The learning rate when none is given, by optimizer (for the mean loss of a chunk).
    DEFAULT_LR = {"sgd": 1.0, "momentum": 0.25, "nesterov": 0.25, "adagrad": 0.1,
                  "rmsprop": 1e-3, "adam": 2e-3, "adamw": 2e-3, "asgd": 1.0}
    TRAINING_RECORD = ("batch_size", "bptt", "reset_sentences", "variational", "emb_dropout",
                       "weight_drop", "ar", "tar")
    HYPER = ("emb", "hidden", "cell", "layers", "bptt", "batch_size", "tie", "activation",
             "reset_sentences", "variational", "emb_dropout", "weight_drop", "ar", "tar")

    def __init__(self, vocab: Vocabulary, activation: str, params: dict[str, np.ndarray],
                 class_start: np.ndarray | None = None, training: dict | None = None,
                 tie: bool = False, cell: str = "lstm", layers: int = 1):
        self._h0: np.ndarray | None = None
        self._workers: DataParallel | None = None
        self.cell, self.layers = str(cell), int(layers)
        super().__init__(vocab, activation, params, class_start, training, tie)

    def _expected_shapes(self, output) -> dict[str, tuple]:
        p = self.params
        return RNNNetwork.param_shapes(len(self.vocab), p["E"].shape[1], p["Wh"].shape[0],
                                       output, self.cell, self.layers)

    def _build_network(self, params, output) -> RNNNetwork:
        return RNNNetwork(params, self.activation, output, self.tie, self.cell, self.layers)

    @property
    def hidden_size(self) -> int:
        """Units per layer."""
        return int(self.params["Wh"].shape[0])

    @property
    def state_size(self) -> int:
        """Numbers in a state: every layer's h (and an LSTM layer's c)."""
        return self._net32.state_size

    # -- the state machine -------------------------------------------------------------
    def initial_state(self) -> np.ndarray:
        if self._h0 is None:
            self._h0 = self._frozen(self.net.step(np.zeros(self.state_size), BOS_ID))
        return self._h0

    def advance(self, state: np.ndarray, token: int) -> np.ndarray:
        token = int(token)
        if not 0 <= token < self.vocab_size:
            raise OptionError(f"token id {token} is outside the vocabulary")
        return self._frozen(self.net.step(self._as_state(state), token))

    def next_logprobs(self, state) -> np.ndarray:
        z = np.ascontiguousarray(self.net.top_hidden(self._as_state(state))).reshape(1, -1)
        return self.net.output.full_logprobs(self.net.out_params, z)[0]

    def _as_state(self, state) -> np.ndarray:
        h = np.ascontiguousarray(state, dtype=np.float64)
        if h.shape != (self.state_size,):
            raise OptionError(f"an RNN state is a vector of {self.state_size} numbers, "
                              f"got shape {h.shape}")
        return h

    @staticmethod
    def _frozen(h: np.ndarray) -> np.ndarray:
        h.flags.writeable = False   # states are values: nobody may change one in place
        return h

    def score_corpus(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        return score_sentences(self._parallel(), ids, offsets)

    def _parallel(self) -> DataParallel:
        """The workers that score (replicas of :attr:`net`, made on first use)."""
        if self._workers is None or self._workers.nets[0] is not self.net:
            self._workers = DataParallel(self.net)
        return self._workers

    def score_corpus_carried(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        return self.net.score_stream(ids, offsets)

    def dynamic_score_corpus(self, ids: np.ndarray, offsets: np.ndarray, lr: float,
                             bptt: int | None = None, carry_state: bool = False
                             ) -> np.ndarray:
        """Dynamic evaluation (rnnlm ``-dynamic``): score the text in order while
        continuing to learn from it. The sentences are read as one stream (each from
        the initial state, as :meth:`score_corpus` does, or with ``carry_state`` the
        state carried across sentences) in chunks of ``bptt`` tokens
        (default: the training value); a chunk is scored with the weights learned so
        far, then the weights take one SGD step of rate ``lr`` on that chunk's summed
        loss (rnnlm's per-word rate). The model itself is not changed."""
        if not (lr >= 0) or not math.isfinite(lr):
            raise OptionError(f"the dynamic learning rate must be a number >= 0, got {lr}")
        bptt = int(bptt if bptt is not None else self.training.get("bptt") or 10)
        if bptt < 1:
            raise OptionError(f"bptt must be at least 1, got {bptt}")
        net = self._net32.astype(np.float64)
        opt = make_optimizer("sgd")
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        inputs, starts = previous_tokens(ids, offsets)
        if carry_state:
            starts[:] = False
        out = np.empty(len(ids), dtype=np.float64)
        h = np.zeros((1, net.state_size))
        for a in range(0, len(ids), bptt):
            b = min(a + bptt, len(ids))
            x = inputs[a:b].reshape(-1, 1)
            y = ids[a:b].reshape(-1, 1)
            r = starts[a:b].reshape(-1, 1)
            H, h_last = net.forward(x, h, r)
            out[a:b] = net.output.target_logprobs(net.out_params, H.reshape(b - a, net.n),
                                                  y.reshape(-1))
            if lr > 0:
                _, grads, h_last = net.loss_and_grads(x, y, h, r, scale=1.0)
                opt.step(net.params, grads, lr, net.touched_rows())
            h = h_last
        return out

    # -- persistence -------------------------------------------------------------------
    def config(self) -> dict:
        return {"emb": int(self.params["E"].shape[1]), "hidden": self.hidden_size,
                "cell": self.cell, "layers": self.layers, "tie": self.tie,
                "activation": self.activation, "softmax": self.softmax,
                "classes": self._classes(), "training": self.training}

    @classmethod
    def _from_config(cls, vocab, config, arrays, class_start):
        layers = config.get("layers", 1)
        if not isinstance(layers, int) or isinstance(layers, bool):
            raise ModelFileError(f"malformed layer count {layers!r}")
        return cls(vocab, str(config["activation"]), arrays, class_start,
                   config.get("training"), bool(config.get("tie", False)),
                   str(config.get("cell", "elman")), layers)

    # -- training ------------------------------------------------------------------------
    @classmethod
    def fit(cls, corpus: Corpus, vocab: Vocabulary, *, emb: int | None = None,
            hidden: int = 256, cell: str = "lstm", layers: int = 1, bptt: int = 35, batch_size: int = 32, tie: bool = True,
            softmax: str = "auto", classes: int | None = None, activation: str = "tanh",
            init: str = "xavier", init_scale: float = 0.1, reset_sentences: bool = True,
            dropout: float = 0.3, unk_dropout: float = 0.5, variational: bool = False,
            emb_dropout: float = 0.0, weight_drop: float = 0.0, ar: float = 0.0,
            tar: float = 0.0, valid: Corpus | None = None,
            callbacks=(), **train_options) -> "RNNModel":
        """Train on ``corpus`` (``valid`` picks the best epoch and drives the plateau
        schedule); ``train_options`` are the trainer's
        (:class:`~nlm.neural.trainer.TrainSettings`: epochs, optimizer, lr, clip_norm,
        lr_schedule, ...), with :attr:`TRAIN_DEFAULTS` and a learning rate from
        :attr:`DEFAULT_LR` when none is given."""
        args = dict(locals())
        return cls._fit(args.pop("corpus"), args.pop("vocab"), args)

    @classmethod
    def _complete(cls, hyper: dict) -> dict:
        return {**hyper, "emb": hyper["hidden"] if hyper["emb"] is None else hyper["emb"],
                "variational": bool(hyper["variational"]),
                **{k: float(hyper[k]) for k in ("emb_dropout", "weight_drop", "ar", "tar")}}

    @staticmethod
    def _awd(hyper: dict) -> AWDSettings:
        return AWDSettings(hyper["variational"], hyper["emb_dropout"], hyper["weight_drop"],
                           hyper["ar"], hyper["tar"])

    @classmethod
    def _check_hyper(cls, hyper: dict) -> None:
        check_positive(emb=hyper["emb"], hidden=hyper["hidden"], layers=hyper["layers"],
                       bptt=hyper["bptt"], batch_size=hyper["batch_size"])
        if hyper["activation"] not in RNN_ACTIVATIONS:
            raise OptionError(f"unknown RNN activation {hyper['activation']!r}; choose from "
                              f"{', '.join(RNN_ACTIVATIONS)}")
        if hyper["cell"] not in CELLS:
            raise OptionError(f"unknown recurrent cell {hyper['cell']!r}; choose from "
                              f"{', '.join(CELLS)}")
        if hyper["cell"] != "elman" and hyper["activation"] != "tanh":
            raise OptionError(f"--activation applies to the Elman cell only (the "
                              f"{hyper['cell']} has its own gates)")
        cls._awd(hyper).check()

    @classmethod
    def _init_network(cls, rng, vocab, output, hyper, init, init_scale) -> RNNNetwork:
        params = RNNNetwork.init_params(rng, len(vocab), hyper["emb"], hyper["hidden"], output,
                                        vocab.counts, init, init_scale, np.float32,
                                        hyper["tie"], hyper["cell"], hyper["layers"])
        return RNNNetwork(params, hyper["activation"], output, hyper["tie"], hyper["cell"],
                          hyper["layers"])

    @classmethod
    def _make_task(cls, net, corpus, valid, hyper, config, dropout, unk) -> RNNTask:
        return RNNTask(net, corpus, valid, hyper["batch_size"], hyper["bptt"],
                       hyper["reset_sentences"], config, dropout, unk, cls._awd(hyper))

    @classmethod
    def _from_trained(cls, vocab, hyper, params, class_start, training) -> "RNNModel":
        return cls(vocab, hyper["activation"], params, class_start, training, hyper["tie"],
                   hyper["cell"], hyper["layers"])


register_neural("rnn", RNNModel, "recurrent network: LSTM (the default), GRU or Elman "
                "(Mikolov's RNNLM), truncated BPTT",
                {"cell": Opt("rnn: the recurrent cell: lstm (with forget gates), gru (Cho et "
                             "al. 2014) or elman (tanh or sigmoid units; faster per epoch, "
                             "weaker).", choices=CELLS),
                 "layers": Opt("rnn: stacked recurrent layers (dropout between them)."),
                 "variational": Opt("rnn: variational (locked) dropout: one mask per stream "
                                    "for a whole chunk, the same at every step (Gal & "
                                    "Ghahramani 2016), instead of one per token.",
                                    flag="--variational/--no-variational"),
                 "emb_dropout": Opt("rnn: embedding dropout: drop whole words of the "
                                    "embedding table, a new draw per chunk; 0 = none."),
                 "weight_drop": Opt("rnn: DropConnect on the recurrent weights (every "
                                    "layer's Wh), a new mask per chunk; 0 = none."),
                 "ar": Opt("rnn: activation regularization: this times the mean square "
                           "of the top states fed to the output layer; 0 = none."),
                 "tar": Opt("rnn: temporal activation regularization: this times the mean "
                            "square of h_t - h_(t-1) of the top layer; 0 = none."),
                 "bptt": Opt("rnn: truncated-BPTT length (steps per update)."),
                 "reset_sentences": Opt("rnn: start every training sentence from the "
                                        "zero state (as `nlm evaluate` scores sentences), "
                                        "or carry the state across sentences (for "
                                        "`nlm evaluate --carry-state`).",
                                        flag="--reset-sentences/--carry-sentences")})
