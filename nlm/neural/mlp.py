"""The neural probabilistic language model of Bengio et al. (2003): an MLP over
the embeddings of the previous n-1 words.

    x = [E[w(t-n+1)], ..., E[w(t-1)]]        (B, (n-1) m)   shared embedding E (V, m)
    a = tanh(x H + d)                        (B, h)
    u = a + f(LN(a) R1 + r1) * mask1 ...    --layers L: L - 1 residual blocks (pre-LN),
    a' = LN_f(u)                             then a final layer norm (Sun & Iyyer 2021)
    z = [a', x] with direct connections, else a'     (B, D)
    P(w(t) | w(t-n+1) ... w(t-1)) = softmax layer(z)   (full or class, :mod:`.softmax`)

With direct connections the output weights W (V, D) hold both Bengio's U
(columns :h) and his W (columns h:), so one matrix product computes
b + W x + U tanh(d + H x). Contexts at a sentence start are padded with
``<s>``; ``<s>`` itself is never predicted (probability 0).

:class:`MLPNetwork` is the numerical core (forward, backward, scoring in
float32 or float64); :class:`MLPModel` is the :class:`LanguageModel` (state =
the last n-1 ids); ``MLPModel.fit`` trains with the shared
:class:`~nlm.neural.trainer.Trainer`. Training runs in float32; scoring a saved
model runs in float64, so the fast path equals token-by-token scoring exactly
and distributions sum to 1 to rounding.
"""
from __future__ import annotations

import numpy as np

from ..corpus import Corpus
from ..errors import InputError, OptionError
from ..model import register
from ..registry import Opt
from ..vocab import BOS_ID, UNK_ID, Vocabulary
from .base import (NeuralModel, UnkDropout, check_positive, dropout_masks, register_neural,
                   same_output, unigram_biases)
from .blas import matmul
from .init import initialize
from .transformer_kernels import _layernorm_backward, _layernorm_forward, _residual_forward
from .layers import (Buffers, activation_backward, activation_code, bias_activation_forward,
                     EmbeddingGradient, context_windows, embedding_forward, output_rows,
                     output_views, previous_tokens, touched_with_output, weighted_embeddings,
                     weighted_embeddings_backward)
from .trainer import TrainingTask

SCORE_BATCH = 1024
#: the FOFE (``--fofe alpha``) encodes at most this many previous words (alpha^32 is
#: 1e-5 at the default alpha 0.7); the context before a sentence start is ``<s>``
FOFE_SPAN = 32
LN_EPS = 1e-5
_NO_MASK = {np.dtype(np.float32): np.zeros((0, 0), np.float32),
            np.dtype(np.float64): np.zeros((0, 0), np.float64)}


def block_shapes(hidden: int, layers: int) -> dict[str, tuple]:
    """The residual blocks' parameters (``layers`` - 1 blocks, keys ``name.l``, l >= 1)
    and the final layer norm's; none for one layer."""
    if layers <= 1:
        return {}
    out = {}
    for l in range(1, layers):
        out.update({f"ln_g.{l}": (hidden,), f"ln_b.{l}": (hidden,), f"R.{l}": (hidden, hidden),
                    f"r.{l}": (hidden,)})
    out.update({"lnf_g": (hidden,), "lnf_b": (hidden,)})
    return out


class ResidualBlocks:
    """The hidden layers after the first (``--layers``): pre-LN residual blocks

        u_l = u_(l-1) + f(LN_l(u_(l-1)) R_l + r_l) * mask_l      l = 1 .. L-1
        out = LN_f(u_(L-1))

    (dropout masks on each block's branch, or None), and their backward pass: the
    gradient of u_(l-1) is that of u_l (the identity path) plus the branch's through its
    layer norm. The layer norm and residual kernels are the Transformer's."""

    def __init__(self, params: dict, grads: dict, layers: int, act: int, dtype):
        self.P, self.G = params, grads
        self.count = int(layers) - 1
        self.act = act
        self.dtype = dtype
        self._buf = Buffers()
        self._saved: list = []

    def _get(self, name: str, shape: tuple) -> np.ndarray:
        return self._buf.get(name, shape, self.dtype)

    def _norm(self, x: np.ndarray, g: np.ndarray, b: np.ndarray, name: str, out=None):
        N = x.shape[0]
        y = self._get(name, x.shape) if out is None else out
        mean, rstd = self._get(name + ".mu", (N,)), self._get(name + ".r", (N,))
        _layernorm_forward(x, g, b, LN_EPS, y, mean, rstd)
        return y, mean, rstd

    def forward(self, u0: np.ndarray, masks, out: np.ndarray) -> None:
        """``out`` (B, h; may be a row-strided view) = the blocks applied to ``u0``."""
        P, u = self.P, u0
        self._saved = []
        for l in range(1, self.count + 1):
            y, mean, rstd = self._norm(u, P[f"ln_g.{l}"], P[f"ln_b.{l}"], f"y.{l}")
            p = self._get(f"p.{l}", u.shape)
            matmul(y, P[f"R.{l}"], out=p)
            bias_activation_forward(p, P[f"r.{l}"], self.act)
            nxt = self._get(f"u.{l}", u.shape)
            np.copyto(nxt, u)
            mask = masks[l - 1] if masks and masks[l - 1] is not None else _NO_MASK[self.dtype]
            _residual_forward(nxt, p, mask)
            self._saved.append((u, y, mean, rstd, p, mask))
            u = nxt
        _, mean, rstd = self._norm(u, P["lnf_g"], P["lnf_b"], "yf", out)
        self._last = (u, mean, rstd)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """The gradient of the blocks' input u0 (a reused buffer) from that of their
        output ``dout``; the blocks' parameter gradients are written."""
        P, G = self.P, self.G
        u, mean, rstd = self._last
        du = self._get("du", u.shape)
        du[...] = 0
        _layernorm_backward(dout, u, P["lnf_g"], mean, rstd, du, G["lnf_g"], G["lnf_b"])
        dp, dpre, dy = (self._get(n, u.shape) for n in ("dp", "dpre", "dy"))
        for l in range(self.count, 0, -1):
            u, y, mean, rstd, p, mask = self._saved[l - 1]
            np.copyto(dp, du)
            if mask.shape[0]:
                dp *= mask
            activation_backward(dp, p, self.act, dpre, G[f"r.{l}"])
            matmul(y.T, dpre, out=G[f"R.{l}"])
            matmul(dpre, P[f"R.{l}"].T, out=dy)
            _layernorm_backward(dy, u, P[f"ln_g.{l}"], mean, rstd, du, G[f"ln_g.{l}"],
                                G[f"ln_b.{l}"])
        return du


class MLPNetwork:
    """Parameters ``E, H, d`` (+ the output layer's ``W, b`` [``Wc, bc``]) and the
    hand-written forward and backward passes for a batch of contexts. With ``tie``
    the output's word weights are ``E`` itself (no ``W``; needs hidden == emb and no
    direct connections) and E's gradient is the sum of both uses."""

    def __init__(self, params: dict[str, np.ndarray], n_ctx: int, activation: str,
                 direct: bool, output, tie: bool = False, layers: int = 1,
                 fofe: float = 0.0):
        self.params = params
        self.layers = int(layers)
        self.tie = bool(tie)
        self.nw = int(n_ctx)                    # the window: embeddings concatenated
        self.fofe = float(fofe)
        # the context's columns: the window, or the FOFE's span when it is longer
        self.n = max(self.nw, FOFE_SPAN) if self.fofe > 0 else self.nw
        self.V, self.m = params["E"].shape
        self.h = params["H"].shape[1]
        self.xw = (self.nw + (self.fofe > 0)) * self.m     # the input x's width
        self.fofe_weights = (self.fofe ** np.arange(self.n - 1, -1, -1.0)).astype(
            params["E"].dtype) if self.fofe > 0 else None
        self.direct = bool(direct)
        self.D = self.h + (self.xw if self.direct else 0)
        self.activation = activation
        self.act = activation_code(activation)
        self.output = output
        self.dtype = params["E"].dtype
        if self.tie and (self.direct or self.D != self.m):
            raise OptionError("tied weights need --hidden equal to --emb and no --direct "
                              f"(the output layer's input has {self.D} units, the "
                              f"embeddings {self.m}); give --no-tie to untie them")
        self.grads = {k: np.zeros_like(v) for k, v in params.items()}
        self.decay_keys = frozenset(("E", "H") + tuple(k for k in output.weight_keys
                                                       if k in params)
                                    + tuple(f"R.{l}" for l in range(1, self.layers)))
        self._buf = Buffers()
        self.blocks = (ResidualBlocks(params, self.grads, self.layers, self.act, self.dtype)
                       if self.layers > 1 else None)
        self._emb_grad = EmbeddingGradient(self.V, self.D, self.dtype, self.tie)
        self.out_params, self._out_grads = output_views(params, self.grads, self._emb_grad)

    @staticmethod
    def init_params(rng: np.random.Generator, V: int, n_ctx: int, emb: int, hidden: int,
                    direct: bool, output, counts=None, init: str = "xavier",
                    init_scale: float = 0.1, dtype=np.float32,
                    tie: bool = False, layers: int = 1,
                    fofe: bool = False) -> dict[str, np.ndarray]:
        """New parameters: weights by ``init`` (xavier uses each matrix's fan-in and
        fan-out; the embedding table counts as an m -> m map), biases zero, except the
        output biases, which start at the log unigram distribution of ``counts``.
        With ``tie`` there is no ``W`` (the output uses ``E``). The residual blocks of
        ``layers`` > 1 are drawn last (so one layer draws what it always did), their
        R scaled by 1/sqrt(layers - 1), layer-norm gains 1. With ``fofe`` the input has
        one more embedding-sized block (the FOFE's)."""
        nm = (n_ctx + bool(fofe)) * emb
        D = hidden + (nm if direct else 0)
        p = {"E": initialize(rng, (V, emb), init, init_scale, emb, emb, dtype),
             "H": initialize(rng, (nm, hidden), init, init_scale, nm, hidden, dtype),
             "d": np.zeros(hidden, dtype=dtype)}
        shapes = output.param_shapes(D)
        if not tie:
            p["W"] = initialize(rng, shapes["W"], init, init_scale, D, V, dtype)
        if "Wc" in shapes:
            p["Wc"] = initialize(rng, shapes["Wc"], init, init_scale, D, shapes["Wc"][0], dtype)
        p.update(unigram_biases(output, counts, V, dtype))
        for k, shape in block_shapes(hidden, layers).items():
            if k.startswith("R."):
                w = initialize(rng, shape, init, init_scale, hidden, hidden, np.float64)
                p[k] = (w / np.sqrt(layers - 1)).astype(dtype)
            else:
                p[k] = (np.ones if k.startswith(("ln_g", "lnf_g")) else np.zeros)(shape, dtype)
        return p

    # -- forward -------------------------------------------------------------------
    def _hidden(self, ctx: np.ndarray, masks=None):
        """z (B, D), x (B, n m) and a (B, h) (views into z where they can be).

        ``masks`` = (x_mask (B, n m), a_mask (B, h), one (B, h) per residual block),
        dropout (entries 0 or 1/keep): x is the masked embeddings (what H and the direct
        connections see); the output sees its input (a, or the blocks' output) * a_mask
        in z, while ``a`` is returned unmasked (a buffer of its own) for the
        activation's backward pass."""
        B = len(ctx)
        P = self.params
        z = self._buf.get("z", (B, self.D), self.dtype)
        if self.direct:
            x = z[:, self.h:]
            self._inputs(ctx, z, self.h)
        else:
            x = self._buf.get("x", (B, self.xw), self.dtype)
            self._inputs(ctx, x, 0)
        x_mask, a_mask = masks[:2] if masks is not None else (None, None)
        if x_mask is not None:
            x *= x_mask
        a = z[:, :self.h] if self.blocks is None else self._buf.get("u0", (B, self.h),
                                                                      self.dtype)
        matmul(x, P["H"], out=a)
        bias_activation_forward(a, P["d"], self.act)
        if self.blocks is not None:
            self.blocks.forward(a, masks[2:] if masks is not None else None, z[:, :self.h])
            if a_mask is not None:
                z[:, :self.h] *= a_mask
        elif a_mask is not None:
            a_raw = self._buf.get("a", (B, self.h), self.dtype)
            np.copyto(a_raw, a)
            a *= a_mask                  # a is the view z[:, :h]: the output's input
            a = a_raw
        return z, x, a

    def _inputs(self, ctx: np.ndarray, out: np.ndarray, col0: int) -> None:
        """out[:, col0:col0 + xw] = the window's embeddings (the last nw columns of ctx),
        then, with FOFE, sum_j alpha^(n-1-j) E[ctx[:, j]]."""
        E = self.params["E"]
        embedding_forward(E, ctx[:, self.n - self.nw:], out, col0)
        if self.fofe_weights is not None:
            weighted_embeddings(E, ctx, self.fofe_weights, out, col0 + self.nw * self.m)

    def _inputs_backward(self, dx: np.ndarray, direct, ctx: np.ndarray, out_rows) -> None:
        """E's gradient from that of the inputs (``dx``, plus ``direct`` unless None)."""
        G = self.grads
        self._emb_grad.begin(G["E"], out_rows)
        window = ctx[:, self.n - self.nw:]
        self._emb_grad.add(G["E"], dx, window, out_rows, direct, touched=ctx)
        if self.fofe_weights is not None:
            weighted_embeddings_backward(dx, direct, self.nw * self.m, ctx,
                                         self.fofe_weights, G["E"])

    # -- training --------------------------------------------------------------------
    def loss_and_grads(self, ctx: np.ndarray, targets: np.ndarray,
                       scale: float | None = None, masks=None
                       ) -> tuple[float, dict[str, np.ndarray]]:
        """(summed cross-entropy in nats of the batch, grads): ``grads`` (the network's
        gradient buffers, overwritten by the next call) is the gradient of ``scale`` x
        that sum (default scale 1/B: the mean). ``masks``: dropout, as in
        :meth:`_hidden` (fixed masks: the gradient is that of the masked network)."""
        B = len(ctx)
        scale = 1.0 / B if scale is None else float(scale)
        P, G = self.params, self.grads
        x_mask, a_mask = masks[:2] if masks is not None else (None, None)
        z, x, a = self._hidden(ctx, masks)
        dz = self._buf.get("dz", (B, self.D), self.dtype)
        loss = self.output.loss_and_grad(self.out_params, self._out_grads, z, targets, dz,
                                         scale)
        h = self.h
        if a_mask is not None:
            dz[:, :h] *= a_mask
        da = self._buf.get("da", (B, h), self.dtype)
        du = dz[:, :h] if self.blocks is None else self.blocks.backward(dz[:, :h])
        activation_backward(du, a, self.act, da, G["d"])
        matmul(x.T, da, out=G["H"])                      # (n m, h)
        dx = self._buf.get("dx", (B, self.xw), self.dtype)
        matmul(da, P["H"].T, out=dx)                     # (B, n m)
        direct = dz[:, h:] if self.direct else None
        if x_mask is not None:
            if direct is not None:
                dx += direct
                direct = None
            dx *= x_mask
        self._inputs_backward(dx, direct, ctx, output_rows(self.output))
        return loss, G

    def touched_rows(self) -> dict[str, np.ndarray]:
        return touched_with_output(self._emb_grad, self.output)

    # -- scoring ---------------------------------------------------------------------
    def target_logprobs(self, ctx: np.ndarray, targets: np.ndarray,
                        batch: int = SCORE_BATCH) -> np.ndarray:
        """(N,) float64 ln P(targets[i] | ctx[i])."""
        out = np.empty(len(ctx), dtype=np.float64)
        for a in range(0, len(ctx), batch):
            c = np.ascontiguousarray(ctx[a:a + batch])
            z, _, _ = self._hidden(c)
            out[a:a + len(c)] = self.output.target_logprobs(
                self.out_params, z, np.ascontiguousarray(targets[a:a + batch]))
        return out

    def full_logprobs(self, ctx: np.ndarray) -> np.ndarray:
        """(B, V) float64 log-distributions of the next word."""
        z, _, _ = self._hidden(np.ascontiguousarray(ctx, dtype=np.int32))
        return self.output.full_logprobs(self.out_params, z)

    def astype(self, dtype) -> "MLPNetwork":
        params = {k: v.astype(dtype) for k, v in self.params.items()}
        return MLPNetwork(params, self.nw, self.activation, self.direct,
                          same_output(self.output), self.tie, self.layers, self.fofe)


def stream_windows(ids: np.ndarray, offsets: np.ndarray, n: int) -> np.ndarray:
    """(T, n) int32: for every token, the n ids read before it when the sentences are
    read in order as one stream (each sentence's ``<s>`` read, its ``</s>`` only
    predicted), left-padded with ``<s>`` at the start of the text. Where
    :func:`~nlm.neural.layers.context_windows` pads each sentence, these windows reach
    into the previous sentence."""
    inputs, _ = previous_tokens(ids, offsets)
    stream = np.concatenate([np.full(n - 1, BOS_ID, dtype=np.int32), inputs])
    return np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(stream, n))


def drop_context_words(ctx: np.ndarray, rate: float, epoch_seed: int, step: int) -> np.ndarray:
    """A copy of the context windows ``ctx`` (B, n) with each id read as ``<unk>`` with
    probability ``rate`` (drawn from the seed and the step): context word dropout, which
    teaches the network to predict from part of its context, as an n-gram model backs off."""
    rng = np.random.default_rng((epoch_seed, step, 3))
    return np.where(rng.random(ctx.shape, dtype=np.float32) < rate, np.int32(UNK_ID), ctx)


class MLPTask(TrainingTask):
    """Minibatches of (context, next word) pairs drawn without replacement each epoch."""

    def __init__(self, net: MLPNetwork, corpus: Corpus, valid: Corpus | None,
                 batch_size: int, config: dict, dropout: float = 0.0,
                 unk: UnkDropout | None = None, word_dropout: float = 0.0):
        self.net = net
        self.keep = 1.0 - float(dropout)
        self.word_dropout = float(word_dropout)
        self.unk = unk
        self._epoch_seed = 0
        self.params, self.grads = net.params, net.grads
        self.decay_keys = net.decay_keys
        self.batch = int(batch_size)
        self._config = config
        self._ids = np.ascontiguousarray(corpus.ids, dtype=np.int32)
        self._offsets = corpus.offsets
        self.windows = context_windows(self._ids, corpus.offsets, net.n, BOS_ID)
        self.targets = self._ids
        self.has_valid = valid is not None and valid.tokens > 0
        if self.has_valid:
            self.valid_windows = context_windows(valid.ids, valid.offsets, net.n, BOS_ID)
            self.valid_targets = np.ascontiguousarray(valid.ids, dtype=np.int32)
        self.perm = np.arange(len(self.targets))

    def config(self) -> dict:
        return self._config

    def start_epoch(self, rng) -> int:
        self.perm = rng.permutation(len(self.targets))
        if self.keep < 1.0 or self.word_dropout > 0.0:
            # dropout masks of step i come from (this seed, i): a resumed epoch redraws them
            self._epoch_seed = int(rng.integers(2**63))
        if self.unk is not None and self.unk.active:   # this epoch's <unk> readings
            self.targets = self.unk.apply(self._ids, rng)
            self.windows = context_windows(self.targets, self._offsets, self.net.n, BOS_ID)
        return -(-len(self.targets) // self.batch)

    def _masks(self, i: int, B: int):
        """Dropout masks of step i (entries 0 or 1/keep), or None without dropout."""
        if self.keep >= 1.0:
            return None
        return dropout_masks(self._epoch_seed, i, self.keep, B,
                             (self.net.xw,) + (self.net.h,) * self.net.layers,
                             self.net.dtype)

    def epoch_tokens(self) -> int:
        return len(self.targets)

    def step(self, i: int) -> tuple[float, int]:
        idx = self.perm[i * self.batch:(i + 1) * self.batch]
        ctx = self.windows[idx]
        if self.word_dropout > 0.0:
            ctx = drop_context_words(ctx, self.word_dropout, self._epoch_seed, i)
        loss, _ = self.net.loss_and_grads(ctx, self.targets[idx],
                                          masks=self._masks(i, len(idx)))
        return loss, len(idx)

    def touched_rows(self):
        return self.net.touched_rows()

    def validation_loss(self):
        if not self.has_valid:
            return None
        lp = self.net.target_logprobs(self.valid_windows, self.valid_targets)
        return float(-lp.sum()), len(lp)


@register("mlp")
class MLPModel(NeuralModel):
    """Bengio's MLP language model; the state is the tuple of the last n-1 ids."""

    label = "MLP"
    carries_state = True
    #: AdaGrad's per-weight rates suit the many rarely-seen embedding and output rows;
    #: its update is a no-op for a zero gradient, so only the rows a minibatch touches
    #: are updated.
    TRAIN_DEFAULTS = {"optimizer": "adagrad", "lr": 0.1, "epochs": 20}
    HYPER = ("order", "emb", "hidden", "layers", "fofe", "direct", "tie", "activation",
             "batch_size", "word_dropout")
    TRAINING_RECORD = ("batch_size", "word_dropout")

    def __init__(self, vocab: Vocabulary, order: int, activation: str, direct: bool,
                 params: dict[str, np.ndarray], class_start: np.ndarray | None = None,
                 training: dict | None = None, tie: bool = False, layers: int = 1,
                 fofe: float = 0.0):
        self.order = int(order)
        self.direct = bool(direct)
        self.layers = int(layers)
        self.fofe = float(fofe)
        #: the context the state keeps: the window, or the FOFE's span
        self.n_ctx = max(self.order - 1, FOFE_SPAN) if self.fofe > 0 else self.order - 1
        super().__init__(vocab, activation, params, class_start, training, tie)

    def _expected_shapes(self, output) -> dict[str, tuple]:
        V, p = len(self.vocab), self.params
        m = p["E"].shape[1]
        nm, h = p["H"].shape
        D = h + (nm if self.direct else 0)
        return {"E": (V, m), "H": ((self.order - 1 + (self.fofe > 0)) * m, h), "d": (h,),
                **output.param_shapes(D), **block_shapes(h, self.layers)}

    def _build_network(self, params, output) -> MLPNetwork:
        return MLPNetwork(params, self.order - 1, self.activation, self.direct, output,
                          self.tie, self.layers, self.fofe)

    # -- the state machine -----------------------------------------------------------
    def initial_state(self) -> tuple:
        return (BOS_ID,) * self.n_ctx

    def advance(self, state: tuple, token: int) -> tuple:
        return (tuple(state) + (int(token),))[1:]

    def next_logprobs(self, state) -> np.ndarray:
        ctx = np.array([state], dtype=np.int32).reshape(1, self.n_ctx)
        self._check_ids(ctx)
        return self.net.full_logprobs(ctx)[0]

    def score_corpus(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        offsets = np.asarray(offsets, dtype=np.int64)
        if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(ids) \
                or np.any(np.diff(offsets) < 0):
            raise InputError("offsets must run from 0 to len(ids), non-decreasing")
        self._check_ids(ids)
        windows = context_windows(ids, offsets, self.n_ctx, BOS_ID)
        return self.net.target_logprobs(windows, ids)

    def score_corpus_carried(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        self._check_ids(ids)
        return self.net.target_logprobs(stream_windows(ids, offsets, self.n_ctx), ids)

    def _check_ids(self, ids: np.ndarray) -> None:
        # the kernels index the embedding table without bounds checks
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.vocab)):
            raise InputError(f"token ids must be in [0, {len(self.vocab)})")

    # -- persistence -------------------------------------------------------------------
    def config(self) -> dict:
        return {"order": self.order, "emb": int(self.params["E"].shape[1]),
                "hidden": int(self.params["H"].shape[1]), "layers": self.layers,
                "fofe": self.fofe,
                "direct": self.direct,
                "tie": self.tie, "activation": self.activation, "softmax": self.softmax,
                "classes": self._classes(), "training": self.training}

    @classmethod
    def _from_config(cls, vocab, config, arrays, class_start):
        return cls(vocab, int(config["order"]), str(config["activation"]),
                   bool(config["direct"]), arrays, class_start, config.get("training"),
                   bool(config.get("tie", False)), int(config.get("layers", 1)),
                   float(config.get("fofe", 0.0)))

    # -- training ------------------------------------------------------------------------
    @classmethod
    def fit(cls, corpus: Corpus, vocab: Vocabulary, *, order: int = 5, emb: int = 128,
            hidden: int = 256, layers: int = 1, fofe: float = 0.0, direct: bool = False,
            tie: bool = False,
            softmax: str = "auto",
            classes: int | None = None, activation: str = "tanh", init: str = "xavier",
            init_scale: float = 0.1, batch_size: int = 128, dropout: float = 0.5,
            unk_dropout: float = 0.5, word_dropout: float = 0.0, valid: Corpus | None = None,
            callbacks=(),
            **train_options) -> "MLPModel":
        """Train on ``corpus`` (``valid`` picks the best epoch); ``train_options`` are the
        trainer's (:class:`~nlm.neural.trainer.TrainSettings`: epochs, optimizer, lr, ...),
        with :attr:`TRAIN_DEFAULTS`."""
        args = dict(locals())
        return cls._fit(args.pop("corpus"), args.pop("vocab"), args)

    @classmethod
    def _check_hyper(cls, hyper: dict) -> None:
        check_positive(order=hyper["order"], emb=hyper["emb"], hidden=hyper["hidden"],
                       layers=hyper["layers"], batch_size=hyper["batch_size"])
        if hyper["layers"] > 16:
            raise OptionError(f"layers must be at most 16, got {hyper['layers']}")
        if hyper["order"] < 2:
            raise OptionError(f"an MLP needs order >= 2 (at least one context word), got "
                              f"{hyper['order']}")
        if hyper["order"] > 64:
            raise OptionError(f"order must be at most 64, got {hyper['order']}")
        activation_code(hyper["activation"])
        if not (0.0 <= hyper["fofe"] < 1.0):
            raise OptionError(f"fofe must be in [0, 1), got {hyper['fofe']}")
        if not (0.0 <= hyper["word_dropout"] < 1.0):
            raise OptionError(f"word-dropout must be in [0, 1), got {hyper['word_dropout']}")

    @classmethod
    def _init_network(cls, rng, vocab, output, hyper, init, init_scale) -> MLPNetwork:
        n_ctx = hyper["order"] - 1
        params = MLPNetwork.init_params(rng, len(vocab), n_ctx, hyper["emb"], hyper["hidden"],
                                        hyper["direct"], output, vocab.counts, init,
                                        init_scale, np.float32, hyper["tie"], hyper["layers"],
                                        hyper["fofe"] > 0)
        return MLPNetwork(params, n_ctx, hyper["activation"], hyper["direct"], output,
                          hyper["tie"], hyper["layers"], hyper["fofe"])

    @classmethod
    def _make_task(cls, net, corpus, valid, hyper, config, dropout, unk) -> "MLPTask":
        return MLPTask(net, corpus, valid, hyper["batch_size"], config, dropout, unk,
                       hyper["word_dropout"])

    @classmethod
    def _from_trained(cls, vocab, hyper, params, class_start, training) -> "MLPModel":
        return cls(vocab, hyper["order"], hyper["activation"], hyper["direct"], params,
                   class_start, training, hyper["tie"], hyper["layers"], hyper["fofe"])


register_neural("mlp", MLPModel,
                "Bengio's feed-forward neural language model (MLP over n-1 embeddings)",
                {"order": Opt("N-gram order (context words + 1)."),
                 "layers": Opt("rnn: stacked recurrent layers (dropout between them); mlp: "
                               "hidden layers, each after the first a residual block with "
                               "layer norm (Sun & Iyyer 2021); transformer: blocks."),
                 "fofe": Opt("mlp: alpha; adds to the input the fixed-size ordinally-"
                             "forgetting encoding of the last 32 words, sum_k alpha^k "
                             "E[w(t-1-k)] (Zhang et al. 2015); 0 = none."),
                 "direct": Opt("mlp: direct connections from the context embeddings to the "
                               "output (Bengio et al. 2003)."),
                 "word_dropout": Opt("mlp: context word dropout: each context word of a "
                                     "training example read as <unk> with this probability, "
                                     "so the network learns to predict from part of its "
                                     "context; 0 = none.")})
