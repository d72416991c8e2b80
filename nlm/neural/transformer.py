"""A decoder-only Transformer language model (GPT) with pre-layer-norm blocks,
trained by hand-written backpropagation.

    x_0 = E[w(t-1)] + P[t]                                       (B, T, C)
    for each of the L blocks:
        x = x + attn(ln1(x))       causal multi-head self-attention, H heads of C/H
        x = x + mlp(ln2(x))        GELU(x W1 + b1) W2 + b2, 4C hidden units
    z = lnf(x)                                                   (B T, C)
    P(w(t) | w(t-T)..w(t-1)) = softmax layer(z)     full or class (:mod:`.softmax`)

    attn(h) = concat_heads(softmax(q k^T / sqrt(C/H) + causal mask) v) Wo + bo,
              [q k v] = h Wqkv + bqkv

The output layer's word weights are the embedding table E by default (tying).
Dropout (inverted, masks from the seed and the step): on the embeddings and on
each residual branch (``dropout``) and on the attention weights
(``attention_dropout``).

A sentence is read as ``<s> w1 ... wk`` and predicts ``w1 ... wk </s>``, as by
the RNN. Training (:class:`TransformerTask`) reads the text as one stream cut
into windows of ``context`` tokens (from a random offset every epoch, in a
random order), B windows per step, every position predicted.

The state of the model (:class:`WindowState`) is the window of tokens read,
at most ``context`` of them: when a token would overflow it, the window keeps
its last ceil(T/2) tokens (positions start again at 0), so every prediction
sees between T/2 and T tokens once the text is longer than the window. That
is the sliding window of ``--carry-state``; a fast path (:func:`window_plan`)
scores the same windows in batches, and the sampler's state carries a key/value
cache, so generating a token costs one position, not the whole window.

:class:`TransformerNetwork` is the numerical core (forward, backward, the
key/value-cached step); its kernels are in :mod:`.transformer_kernels`.
"""
from __future__ import annotations

import numpy as np

from ..corpus import Corpus
from ..errors import InputError, ModelFileError, OptionError
from ..model import register
from ..registry import Opt
from ..vocab import BOS_ID, Vocabulary
from . import transformer_kernels as TK
from .base import (NeuralModel, UnkDropout, check_positive, register_neural, same_output,
                   unigram_biases)
from .blas import matmul, threads_for
from .data_parallel import DataParallel, shards
from .init import initialize
from .layers import (EmbeddingGradient, output_rows, output_views, previous_tokens,
                     touched_with_output)
from .trainer import TrainingTask

LN_EPS = 1e-5
SCORE_TOKENS = 4096          # positions per forward call when scoring
_NO_MASK = {np.dtype(np.float32): np.zeros((0, 0), np.float32),
            np.dtype(np.float64): np.zeros((0, 0), np.float64)}
#: per-block parameters: name -> shape as a function of C
_BLOCK = ("ln1_g", "ln1_b", "Wqkv", "bqkv", "Wo", "bo", "ln2_g", "ln2_b", "W1", "b1", "W2",
          "b2")


class Activations:
    """Scratch arrays by name, one shape each: a new shape (the last, partial batch of an
    epoch; a validation window) replaces the old array instead of joining it, so the
    activations kept for the backward pass, by far the largest arrays of a step, are
    held once."""

    def __init__(self):
        self.arrays: dict = {}

    def get(self, name: str, shape: tuple, dtype) -> np.ndarray:
        a = self.arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            self.arrays[name] = None          # free the old one before allocating
            a = self.arrays[name] = np.empty(shape, dtype=dtype)
        return a


def block_key(name: str, layer: int) -> str:
    """The parameter key of block ``layer``'s ``name`` (``Wqkv.0``)."""
    return f"{name}.{layer}"


def block_shapes(C: int) -> dict[str, tuple]:
    F = 4 * C
    return {"ln1_g": (C,), "ln1_b": (C,), "Wqkv": (C, 3 * C), "bqkv": (3 * C,),
            "Wo": (C, C), "bo": (C,), "ln2_g": (C,), "ln2_b": (C,), "W1": (C, F), "b1": (F,),
            "W2": (F, C), "b2": (C,)}



# -- causal attention products over blocks ---------------------------------------------------
# The attention maps are (B H, T, T) with zeros above the diagonal. Cut into row blocks of
# ATTENTION_BLOCK positions, query block [r0, r1) needs keys [0, r1) only: the products below
# compute the lower block triangle (for T = 4 blocks, 10 of the 16 blocks of the full
# product), each a batched BLAS product over the B H maps on one thread (the maps are small:
# threads cost more in synchronization than they gain, measured in docs/transformer.md).
# Entries of the map above the block diagonal are left as they are; the softmax kernels
# read only s <= t and write zeros above the diagonal.
ATTENTION_BLOCK = 64


def attention_blocks(T: int) -> list[tuple[int, int]]:
    """Row blocks [r0, r1) of the causal products for windows of T positions."""
    b = ATTENTION_BLOCK
    return [(r0, min(T, r0 + b)) for r0 in range(0, T, b)]


def head_view(flat: np.ndarray, col0: int, C: int, B: int, T: int, H: int) -> np.ndarray:
    """The columns col0 .. col0 + C of ``flat`` (B T, >= C) as H heads, a (B, H, T, C/H)
    view (no copy): head h is columns col0 + h C/H .. col0 + (h+1) C/H. BLAS takes its
    (T, C/H) matrices as they are (rows a stride apart), which is faster than copying
    the heads out and back (measured in docs/transformer.md)."""
    return flat[:, col0:col0 + C].reshape(B, T, H, C // H).transpose(0, 2, 1, 3)


def causal_scores(q: np.ndarray, k: np.ndarray, out: np.ndarray) -> None:
    """out[..., t, s] = q[..., t, :] . k[..., s, :] for s in t's block or before (q, k
    (..., T, d), out (..., T, T)): S = q k^T (forward), dA = dy v^T (backward)."""
    T = q.shape[-2]
    with threads_for(0):
        for r0, r1 in attention_blocks(T):
            np.matmul(q[..., r0:r1, :], k[..., :r1, :].swapaxes(-1, -2),
                      out=out[..., r0:r1, :r1])


def causal_weighted_sum(A: np.ndarray, v: np.ndarray, out: np.ndarray) -> None:
    """out = A v for A (..., T, T) zero above the diagonal, v (..., T, d): y = A v
    (forward), dq = dS k (backward)."""
    T = A.shape[-1]
    with threads_for(0):
        for r0, r1 in attention_blocks(T):
            np.matmul(A[..., r0:r1, :r1], v[..., :r1, :], out=out[..., r0:r1, :])


def causal_key_sum(A: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    """out = A^T g for A (..., T, T) zero above the diagonal, g (..., T, d), by key
    blocks (key block [c0, c1) gets rows c0 and after): dv = A^T dy, dk = dS^T q."""
    T = A.shape[-1]
    with threads_for(0):
        for c0, c1 in attention_blocks(T):
            np.matmul(A[..., c0:, c0:c1].swapaxes(-1, -2), g[..., c0:, :],
                      out=out[..., c0:c1, :])


class TransformerNetwork:
    """Parameters ``E`` (V, C), ``P`` (T, C), each block's (:data:`_BLOCK`, keys
    ``name.l``), ``lnf_g, lnf_b`` and the output layer's ``W, b`` [``Wc, bc``] (no
    ``W`` when tied); the forward and backward passes over a batch of windows
    (B, T'), T' <= T, and the cached one-token step."""

    def __init__(self, params: dict[str, np.ndarray], layers: int, heads: int, output,
                 tie: bool = True):
        self.params = params
        self.L, self.H = int(layers), int(heads)
        self.V, self.C = params["E"].shape
        self.T = params["P"].shape[0]
        if self.C % self.H:
            raise OptionError(f"--dim ({self.C}) must be a multiple of --heads ({self.H})")
        self.hs = self.C // self.H
        self.scale = 1.0 / np.sqrt(self.hs)
        self.output = output
        self.tie = bool(tie)
        self.dtype = params["E"].dtype
        self.grads = {k: np.zeros_like(v) for k, v in params.items()}
        self.decay_keys = frozenset(
            [block_key(n, l) for l in range(self.L) for n in ("Wqkv", "Wo", "W1", "W2")]
            + [k for k in output.weight_keys if k in params])
        self._buf = Activations()
        self._acts: list[dict] = []
        self._emb_grad = EmbeddingGradient(self.V, self.C, self.dtype, self.tie)
        self.out_params, self._out_grads = output_views(params, self.grads, self._emb_grad)

    @staticmethod
    def param_shapes(V: int, C: int, T: int, layers: int, output) -> dict[str, tuple]:
        """Every parameter's shape (with the output's ``W``, which tying removes)."""
        shapes = {"E": (V, C), "P": (T, C)}
        for l in range(layers):
            shapes.update({block_key(n, l): s for n, s in block_shapes(C).items()})
        shapes.update({"lnf_g": (C,), "lnf_b": (C,)})
        return {**shapes, **output.param_shapes(C)}

    @staticmethod
    def init_params(rng: np.random.Generator, V: int, C: int, T: int, layers: int, output,
                    counts=None, init: str = "normal", init_scale: float = 0.02,
                    dtype=np.float32, tie: bool = True) -> dict[str, np.ndarray]:
        """New parameters, drawn in key order: matrices by ``init`` (GPT-2's normal(0,
        0.02) by default; xavier from fan-in and fan-out), the residual projections Wo
        and W2 scaled by 1/sqrt(2 L) (each block adds two branches to the stream);
        layer-norm gains 1, biases 0, except the output biases, which start at the
        log unigram distribution of ``counts``."""
        shapes = TransformerNetwork.param_shapes(V, C, T, layers, output)
        p = {}
        for k, shape in shapes.items():
            name = k.split(".")[0]
            if (k == "W" and tie) or k in ("b", "bc"):
                continue
            if name.endswith("_g"):
                p[k] = np.ones(shape, dtype=dtype)
            elif len(shape) == 1:
                p[k] = np.zeros(shape, dtype=dtype)
            else:
                fan_in, fan_out = (shape[1], shape[1]) if k in ("E", "P", "W", "Wc") else shape
                w = initialize(rng, shape, init, init_scale, fan_in, fan_out, np.float64)
                if name in ("Wo", "W2"):
                    w /= np.sqrt(2.0 * layers)
                p[k] = w.astype(dtype)
        p.update(unigram_biases(output, counts, V, dtype))
        return p

    # -- forward -----------------------------------------------------------------------
    def _get(self, name: str, shape: tuple) -> np.ndarray:
        return self._buf.get(name, shape, self.dtype)

    def _layernorm(self, x, key: str, name: str):
        """(y, mean, rstd) of the layer norm with gain ``key_g``... (keys ``{key}_g``)."""
        N = x.shape[0]
        y = self._get(name, x.shape)
        mean, rstd = self._get(name + ".mu", (N,)), self._get(name + ".r", (N,))
        g, b = self._ln_params(key)
        TK._layernorm_forward(x, g, b, LN_EPS, y, mean, rstd)
        return y, mean, rstd

    def _ln_params(self, key: str):
        p = self.params
        if "." in key:
            name, l = key.split(".")
            return p[f"{name}_g.{l}"], p[f"{name}_b.{l}"]
        return p[f"{key}_g"], p[f"{key}_b"]

    def forward(self, idx: np.ndarray, masks=None) -> np.ndarray:
        """z (B T', C), the final layer norm's output (a reused buffer), for windows idx
        (B, T') int32 of token ids read, T' <= T. ``masks`` = (embedding (B T', C),
        one (attention (B H, T', T') or None, branch 1 (B T', C), branch 2 (B T', C))
        per block), dropout (entries 0 or 1/keep), or None. The activations are kept
        for :meth:`backward`."""
        B, T = idx.shape
        N, C = B * T, self.C
        P = self.params
        x = self._get("x.0", (N, C))
        TK._embed_forward(P["E"], P["P"], idx, x)
        if masks is not None and masks[0] is not None:
            x *= masks[0]
        self._acts = []
        for l in range(self.L):
            block_masks = masks[1][l] if masks is not None else (None, None, None)
            x = self._block_forward(l, x, B, T, block_masks)
        z, mu, r = self._layernorm(x, "lnf", "z")
        self._final = (x, mu, r)
        return z

    def _block_forward(self, l: int, x, B: int, T: int, masks):
        """The stream after block l: x + attn(ln1(x)), then + mlp(ln2(.)) (a new buffer)."""
        P, C, H = self.params, self.C, self.H
        N = B * T
        key = lambda n: block_key(n, l)   # noqa: E731
        a = {"x": x, "B": B, "T": T, "masks": masks}
        h1, a["mu1"], a["r1"] = self._layernorm(x, f"ln1.{l}", f"h1.{l}")
        qkv = self._get(f"qkv.{l}", (N, 3 * C))                          # (N, 3C)
        matmul(h1, P[key("Wqkv")], out=qkv)
        qkv += P[key("bqkv")]
        q, k, v = (head_view(qkv, i * C, C, B, T, H) for i in range(3))      # (B, H, T, hs)
        att = self._get(f"att.{l}", (B * H, T, T))                       # (BH, T, T)
        causal_scores(q, k, att.reshape(B, H, T, T))
        TK._causal_softmax_forward(att, self.scale)
        att_d = att
        if masks[0] is not None:   # one scratch for every block: backward recomputes it
            att_d = np.multiply(att, masks[0], out=self._get("attd", att.shape))
        y = self._get(f"y.{l}", (N, C))
        causal_weighted_sum(att_d.reshape(B, H, T, T), v, head_view(y, 0, C, B, T, H))
        proj = self._get(f"proj.{l}", (N, C))
        matmul(y, P[key("Wo")], out=proj)
        proj += P[key("bo")]
        mid = self._get(f"mid.{l}", (N, C))
        np.copyto(mid, x)
        TK._residual_forward(mid, proj, self._mask(masks[1]))
        h2, a["mu2"], a["r2"] = self._layernorm(mid, f"ln2.{l}", f"h2.{l}")
        u = self._get(f"u.{l}", (N, 4 * C))                               # (N, 4C)
        matmul(h2, P[key("W1")], out=u)
        g = self._get(f"g.{l}", (N, 4 * C))
        TK._bias_gelu_forward(u, P[key("b1")], g)
        m = self._get(f"m.{l}", (N, C))
        matmul(g, P[key("W2")], out=m)
        m += P[key("b2")]
        out = self._get(f"x.{l + 1}", (N, C))
        np.copyto(out, mid)
        TK._residual_forward(out, m, self._mask(masks[2]))
        a.update(h1=h1, q=q, k=k, v=v, att=att, y=y, mid=mid, h2=h2, u=u, g=g)
        self._acts.append(a)
        return out

    def forget(self) -> None:
        """Drop the references the last forward pass kept for the backward pass to
        arrays it does not own (the dropout masks)."""
        self._acts = []

    def _mask(self, mask):
        return _NO_MASK[self.dtype] if mask is None else mask

    # -- training ------------------------------------------------------------------------
    def loss_and_grads(self, idx: np.ndarray, targets: np.ndarray, scale: float | None = None,
                       masks=None) -> tuple[float, dict[str, np.ndarray]]:
        """(summed cross-entropy in nats of the batch, grads): ``grads`` (the network's
        buffers, overwritten by the next call) is the gradient of ``scale`` x that sum
        (default 1/(B T'): the mean). idx, targets (B, T') int32; masks as for
        :meth:`forward` (fixed masks: the gradient is that of the masked network)."""
        B, T = idx.shape
        N = B * T
        scale = 1.0 / N if scale is None else float(scale)
        z = self.forward(idx, masks)
        dz = self._get("dz", (N, self.C))
        loss = self.output.loss_and_grad(self.out_params, self._out_grads, z,
                                         np.ascontiguousarray(targets.reshape(N)), dz, scale)
        self.backward(idx, dz, masks)
        return loss, self.grads

    def backward(self, idx: np.ndarray, dz: np.ndarray, masks=None) -> None:
        """Every parameter's gradient (except the output layer's, set by its own
        backward pass) from dz (N, C), the gradient at the final layer norm's output."""
        B, T = idx.shape
        N = B * T
        G = self.grads
        x, mu, r = self._final
        dx = self._get("dx", (N, self.C))                                # d stream
        dx[...] = 0
        TK._layernorm_backward(dz, x, self.params["lnf_g"], mu, r, dx, G["lnf_g"],
                               G["lnf_b"])
        for l in range(self.L - 1, -1, -1):
            self._block_backward(l, dx)
        if masks is not None and masks[0] is not None:
            dx *= masks[0]
        TK._position_backward(dx, B, T, G["P"])
        out_rows = output_rows(self.output)
        self._emb_grad.begin(G["E"], out_rows)
        self._emb_grad.add(G["E"], dx, idx.reshape(N, 1), out_rows)

    def _block_backward(self, l: int, dx: np.ndarray) -> None:
        """dx (N, C): on entry d loss / d (block l's output), on exit d / d (its input);
        sets block l's parameter gradients."""
        a = self._acts[l]
        P, G, C, H = self.params, self.grads, self.C, self.H
        B, T = a["B"], a["T"]
        N = B * T
        key = lambda n: block_key(n, l)   # noqa: E731
        masks = a["masks"]
        # -- feed-forward branch: out = mid + (GELU(h2 W1 + b1) W2 + b2) * mask2
        dm = dx if masks[2] is None else np.multiply(dx, masks[2], out=self._get("dm", (N, C)))
        matmul(a["g"].T, dm, out=G[key("W2")])
        np.sum(dm, axis=0, out=G[key("b2")])
        dg = self._get("dg", (N, 4 * C))
        matmul(dm, P[key("W2")].T, out=dg)                                 # d GELU output
        du = self._get("du", (N, 4 * C))
        TK._gelu_backward(dg, a["u"], du)                                  # d GELU input
        np.sum(du, axis=0, out=G[key("b1")])
        matmul(a["h2"].T, du, out=G[key("W1")])
        dh = self._get("dh", (N, C))
        matmul(du, P[key("W1")].T, out=dh)
        TK._layernorm_backward(dh, a["mid"], P[key("ln2_g")], a["mu2"], a["r2"], dx,
                               G[key("ln2_g")], G[key("ln2_b")])           # dx: d mid
        # -- attention branch: mid = x + (y Wo + bo) * mask1
        da = dx if masks[1] is None else np.multiply(dx, masks[1], out=self._get("dm", (N, C)))
        matmul(a["y"].T, da, out=G[key("Wo")])
        np.sum(da, axis=0, out=G[key("bo")])
        dy = self._get("dy", (N, C))
        matmul(da, P[key("Wo")].T, out=dy)
        dyh = head_view(dy, 0, C, B, T, H)                                    # (B, H, T, hs)
        datt = self._get("datt", (B * H, T, T))
        datt4 = datt.reshape(B, H, T, T)
        dqkv = self._get("dqkv", (N, 3 * C))
        dq, dk, dv = (head_view(dqkv, i * C, C, B, T, H) for i in range(3))
        att_d = a["att"]
        if masks[0] is not None:
            att_d = np.multiply(att_d, masks[0], out=self._get("attd", att_d.shape))
        causal_scores(dyh, a["v"], datt4)                                  # d att_d
        causal_key_sum(att_d.reshape(B, H, T, T), dyh, dv)
        if masks[0] is not None:
            datt *= masks[0]                                               # d att
        TK._causal_softmax_backward(a["att"], datt, self.scale)           # d (q k^T)
        causal_weighted_sum(datt4, a["k"], dq)
        causal_key_sum(datt4, a["q"], dk)
        matmul(a["h1"].T, dqkv, out=G[key("Wqkv")])
        np.sum(dqkv, axis=0, out=G[key("bqkv")])
        matmul(dqkv, P[key("Wqkv")].T, out=dh)
        TK._layernorm_backward(dh, a["x"], P[key("ln1_g")], a["mu1"], a["r1"], dx,
                               G[key("ln1_g")], G[key("ln1_b")])           # dx: d x

    def touched_rows(self) -> dict[str, np.ndarray]:
        return touched_with_output(self._emb_grad, self.output)

    # -- scoring ----------------------------------------------------------------------------
    def score_windows(self, inputs: np.ndarray, targets: np.ndarray, starts: np.ndarray,
                      lengths: np.ndarray, first: np.ndarray, out: np.ndarray,
                      tokens: int = SCORE_TOKENS) -> None:
        """For each window w (inputs[starts[w] : starts[w] + lengths[w]], read from
        position 0), ln P of targets at the window's positions first[w] and after, into
        ``out`` at the same indices. Windows of equal length run as one batch of about
        ``tokens`` positions."""
        order = np.argsort(-lengths, kind="stable")
        i = 0
        while i < len(order):
            Tw = int(lengths[order[i]])
            rows = max(1, tokens // Tw)
            sel = order[i:i + rows]
            sel = sel[lengths[sel] == Tw]
            i += len(sel)
            pos = starts[sel, None] + np.arange(Tw)                        # (R, Tw)
            z = self.forward(np.ascontiguousarray(inputs[pos]))
            keep = (np.arange(Tw)[None, :] >= first[sel, None]).reshape(-1)
            flat = pos.reshape(-1)[keep]
            out[flat] = self.output.target_logprobs(self.out_params,
                                                    np.ascontiguousarray(z[keep]),
                                                    np.ascontiguousarray(targets[flat]))

    # -- the cached step ---------------------------------------------------------------------
    def step(self, cache: "KVCache", n: int, token: int) -> np.ndarray:
        """Read ``token`` at position n, given the keys and values of positions < n in
        ``cache`` (whose rows n are written): the final layer norm's output (C,) there."""
        P, C, H, hs = self.params, self.C, self.H, self.hs
        x = (P["E"][token] + P["P"][n]).reshape(1, C)
        for l in range(self.L):
            key = lambda name: block_key(name, l)   # noqa: E731
            h, _, _ = self._layernorm(x, f"ln1.{l}", "s.h")
            qkv = h @ P[key("Wqkv")] + P[key("bqkv")]                    # (1, 3C)
            cache.K[l, n] = qkv[0, C:2 * C]
            cache.V[l, n] = qkv[0, 2 * C:]
            K, V = cache.K[l, :n + 1], cache.V[l, :n + 1]                # (n+1, C)
            y = np.empty((1, C), dtype=self.dtype)
            for hd in range(H):
                cols = slice(hd * hs, (hd + 1) * hs)
                s = (K[:, cols] @ qkv[0, cols]) * self.scale             # (n+1,)
                w = np.exp(s - s.max())
                y[0, cols] = (w / w.sum()) @ V[:, cols]
            x = x + (y @ P[key("Wo")] + P[key("bo")])
            h, _, _ = self._layernorm(x, f"ln2.{l}", "s.h")
            u = h @ P[key("W1")]
            g = np.empty_like(u)
            TK._bias_gelu_forward(u, P[key("b1")], g)
            x = x + (g @ P[key("W2")] + P[key("b2")])
        z, _, _ = self._layernorm(np.ascontiguousarray(x), "lnf", "s.z")
        return z[0].copy()

    def replica(self) -> "TransformerNetwork":
        """A network over the same parameter arrays, with buffers and gradients of its
        own (a worker of :class:`~nlm.neural.data_parallel.DataParallel`)."""
        return TransformerNetwork(self.params, self.L, self.H, same_output(self.output),
                                  self.tie)

    def astype(self, dtype) -> "TransformerNetwork":
        params = {k: v.astype(dtype) for k, v in self.params.items()}
        return TransformerNetwork(params, self.L, self.H, same_output(self.output), self.tie)


class KVCache:
    """Keys and values (L, T, C) of the positions a window has read; ``filled`` rows
    are valid. States share a cache while they extend one another (a sampler's chain):
    a state of n tokens appends in place when the cache holds exactly its n rows, and
    copies otherwise, so no state ever sees rows written by another branch."""

    def __init__(self, L: int, T: int, C: int, dtype):
        self.K = np.empty((L, T, C), dtype=dtype)
        self.V = np.empty((L, T, C), dtype=dtype)
        self.filled = 0

    def branch(self, n: int) -> "KVCache":
        """A cache whose first n rows are these (this one, if nobody wrote past them)."""
        if self.filled == n:
            return self
        other = KVCache(*self.K.shape, self.K.dtype)
        other.K[:, :n] = self.K[:, :n]
        other.V[:, :n] = self.V[:, :n]
        other.filled = n
        return other


class WindowState:
    """A Transformer's state: the tokens in its window (at most T), the key/value cache
    of those positions and the final layer norm's output z at the last one."""
    __slots__ = ("tokens", "cache", "z")

    def __init__(self, tokens: tuple, cache: KVCache, z: np.ndarray):
        self.tokens, self.cache, self.z = tokens, cache, z

    def __len__(self):
        return len(self.tokens)

    def __iter__(self):
        return iter(self.tokens)


def window_keep(T: int) -> int:
    """Tokens a full window keeps when the next one would overflow it: ceil(T/2)."""
    return T - T // 2


def window_plan(seg_starts: np.ndarray, seg_ends: np.ndarray, T: int):
    """(starts, lengths, first) of the windows that score every position of the segments
    [seg_starts[i], seg_ends[i]) of a stream exactly as the state machine does: the
    first window of a segment starts at its start and scores all its positions; each
    next one starts ``T + 1 - keep`` later and scores from its position keep - 1."""
    keep = window_keep(T)
    stride = T + 1 - keep
    starts, lengths, first = [], [], []
    for a, b in zip(seg_starts.tolist(), seg_ends.tolist()):
        if b <= a:
            continue
        s, f = a, 0
        while True:
            starts.append(s)
            lengths.append(min(T, b - s))
            first.append(f)
            if s + T >= b:
                break
            s, f = s + stride, keep - 1
    return (np.array(starts, dtype=np.int64), np.array(lengths, dtype=np.int64),
            np.array(first, dtype=np.int64))


class TransformerTask(TrainingTask):
    """Windows of ``context`` tokens of the training text read as one stream.

    Every epoch the stream (``<s> w1 .. wk`` -> ``w1 .. wk </s>`` per sentence) is cut
    into n = (N - o) // T windows from a random offset o < T (the last tokens left
    out), which are visited in a random order, B per step. Both come from the
    trainer's generator in ``start_epoch``, and the dropout masks of step i from
    (the epoch's seed, i), so an interrupted epoch resumes exactly.
    """

    def __init__(self, net: TransformerNetwork, corpus: Corpus, valid: Corpus | None,
                 batch_size: int, config: dict, dropout: float = 0.0,
                 attention_dropout: float = 0.0, unk: UnkDropout | None = None,
                 workers: int | None = None):
        self.net = net
        self.parallel = DataParallel(net, workers)
        self.keep = 1.0 - float(dropout)
        self.att_keep = 1.0 - float(attention_dropout)
        self.unk = unk
        self._epoch_seed = 0
        self.params, self.grads = net.params, self.parallel.grads
        self.decay_keys = net.decay_keys
        self.B = int(batch_size)
        self._config = config
        self._ids = np.ascontiguousarray(corpus.ids, dtype=np.int32)
        self._offsets = corpus.offsets
        self.inputs = previous_tokens(self._ids, self._offsets)[0]
        self.targets = self._ids
        N = len(self._ids)
        if N == 0:
            raise OptionError("the training text is empty")
        self.T = min(net.T, N)
        self.starts = np.zeros(1, dtype=np.int64)
        self.valid = valid if valid is not None and valid.tokens > 0 else None
        self.has_valid = self.valid is not None

    def config(self) -> dict:
        return self._config

    def start_epoch(self, rng) -> int:
        N, T = len(self._ids), self.T
        offset = int(rng.integers(0, N - T + 1)) % T
        n = (N - offset) // T
        self.starts = offset + T * rng.permutation(n).astype(np.int64)
        self._epoch_seed = int(rng.integers(2**63))
        if self.unk is not None and self.unk.active:   # this epoch's <unk> readings
            self.targets = self.unk.apply(self._ids, rng)
            self.inputs = previous_tokens(self.targets, self._offsets)[0]
        return -(-n // self.B)

    def epoch_tokens(self) -> int:
        return len(self.starts) * self.T

    def masks(self, i: int, B: int):
        """Dropout masks of step i (entries 0 or 1/keep), or None without dropout."""
        if self.keep >= 1.0 and self.att_keep >= 1.0:
            return None
        return draw_masks(self._epoch_seed, i, self.net, B, self.T, self.keep, self.att_keep)

    def step(self, i: int) -> tuple[float, int]:
        for net in self.parallel.nets:
            net.forget()       # the last step's masks go before this step's are drawn
        s = self.starts[i * self.B:(i + 1) * self.B]
        pos = s[:, None] + np.arange(self.T)                                    # (B, T)
        idx, tg = self.inputs[pos], self.targets[pos]
        masks = self.masks(i, len(s))
        scale = 1.0 / pos.size               # every shard's share of the batch's mean

        def run(net, rows):
            a, b = rows
            return net.loss_and_grads(np.ascontiguousarray(idx[a:b]),
                                      np.ascontiguousarray(tg[a:b]), scale,
                                      shard_masks(masks, a, b, self.T, net.H))[0]
        parts = shards(len(s), self.parallel.workers)
        losses = self.parallel.map(run, parts)
        self.parallel.merge(len(parts))
        return float(sum(losses)), pos.size

    def touched_rows(self):
        return self.parallel.touched_rows()

    def validation_loss(self):
        """Each sentence from the initial state, as ``nlm evaluate`` scores."""
        if self.valid is None:
            return None
        lp = score_sentences(self.parallel, self.valid.ids, self.valid.offsets)
        return float(-lp.sum()), len(lp)


def draw_masks(seed: int, step: int, net: TransformerNetwork, B: int, T: int, keep: float,
               att_keep: float):
    """Inverted-dropout masks of a step, drawn from (seed, step) alone, in the layout of
    :meth:`TransformerNetwork.forward`: the embeddings', then per block the attention
    weights' (None without attention dropout) and the two branches'."""
    rng = np.random.default_rng((seed, step))
    N, C, dt = B * T, net.C, net.dtype

    def mask(shape, k):
        if k >= 1.0:
            return None
        m = np.less(rng.random(shape, dtype=np.float32), k).astype(dt)
        m *= 1.0 / k
        return m
    emb = mask((N, C), keep)
    blocks = []
    for _ in range(net.L):
        att = mask((B * net.H, T, T), att_keep)
        blocks.append((att, mask((N, C), keep), mask((N, C), keep)))
    return emb, blocks


def shard_masks(masks, a: int, b: int, T: int, H: int):
    """The dropout masks of windows a .. b of a batch (rows a T .. b T of the (B T, C)
    masks, a H .. b H of the (B H, T, T) attention masks), or None."""
    if masks is None:
        return None

    def rows(m, per):
        return None if m is None else m[a * per:b * per]
    emb, blocks = masks
    return rows(emb, T), [(rows(att, H), rows(m1, T), rows(m2, T)) for att, m1, m2 in blocks]


def score_stream(parallel: DataParallel, inputs: np.ndarray, targets: np.ndarray,
                 seg_starts: np.ndarray, seg_ends: np.ndarray) -> np.ndarray:
    """(N,) float64 ln P(targets) for the stream ``inputs``, each segment read from an
    empty window (as the state machine does)."""
    out = np.empty(len(targets), dtype=np.float64)
    if len(targets):
        starts, lengths, first = window_plan(seg_starts, seg_ends, parallel.nets[0].T)
        score_windows(parallel, inputs, targets, starts, lengths, first, out)
    return out


def score_windows(parallel: DataParallel, inputs: np.ndarray, targets: np.ndarray,
                  starts: np.ndarray, lengths: np.ndarray, first: np.ndarray,
                  out: np.ndarray) -> None:
    """:meth:`TransformerNetwork.score_windows` on the workers: the windows are dealt to
    them longest first, in turn, so that each gets a like share of the work, in batches
    of 1/k of :data:`SCORE_TOKENS` positions each (the k workers' attention maps
    together take the cache one worker's would: with whole batches each, scoring at
    nanoGPT's shape was 15% slower than on one worker)."""
    order = np.argsort(-lengths, kind="stable")
    k = min(parallel.workers, len(order))
    parts = [order[j::k] for j in range(k)]
    tokens = max(1, SCORE_TOKENS // k)
    parallel.map(lambda net, w: net.score_windows(inputs, targets, starts[w], lengths[w],
                                                  first[w], out, tokens), parts)


def score_sentences(parallel: DataParallel, ids: np.ndarray, offsets: np.ndarray):
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    offsets = np.asarray(offsets, dtype=np.int64)
    inputs = previous_tokens(ids, offsets)[0]
    return score_stream(parallel, inputs, ids, offsets[:-1], offsets[1:])


@register("transformer")
class TransformerModel(NeuralModel):
    """Decoder-only pre-layer-norm Transformer; the state is a :class:`WindowState`."""

    label = "Transformer"
    carries_state = True
    #: AdamW (decoupled weight decay on the matrices only: not on biases, layer norms or
    #: embeddings), linear warm-up then cosine decay, the gradient norm clipped; reasons
    #: and measurements in docs/transformer.md
    TRAIN_DEFAULTS = {"optimizer": "adamw", "clip_norm": 1.0, "epochs": 10,
                      "lr_schedule": "cosine", "warmup": 100, "weight_decay": 0.1}
    DEFAULT_LR = {"sgd": 0.1, "momentum": 0.03, "nesterov": 0.03, "adagrad": 0.01,
                  "rmsprop": 3e-4, "adam": 1e-3, "adamw": 1e-3}
    TRAINING_RECORD = ("batch_size", "attention_dropout")
    HYPER = ("layers", "heads", "dim", "context", "batch_size", "tie", "attention_dropout")

    def __init__(self, vocab: Vocabulary, layers: int, heads: int,
                 params: dict[str, np.ndarray], class_start: np.ndarray | None = None,
                 training: dict | None = None, tie: bool = True):
        self.layers, self.heads = int(layers), int(heads)
        self._s0: WindowState | None = None
        self._workers: DataParallel | None = None
        super().__init__(vocab, "gelu", params, class_start, training, tie)

    @property
    def context(self) -> int:
        return int(self.params["P"].shape[0])

    def _expected_shapes(self, output) -> dict[str, tuple]:
        C = self.params["E"].shape[1]
        return TransformerNetwork.param_shapes(len(self.vocab), C, self.context, self.layers,
                                               output)

    def _build_network(self, params, output) -> TransformerNetwork:
        return TransformerNetwork(params, self.layers, self.heads, output, self.tie)

    # -- the state machine ------------------------------------------------------------
    def initial_state(self) -> WindowState:
        if self._s0 is None:
            self._s0 = self._read((), None, BOS_ID)
        return self._s0

    def advance(self, state: WindowState, token: int) -> WindowState:
        token = int(token)
        if not 0 <= token < self.vocab_size:
            raise OptionError(f"token id {token} is outside the vocabulary")
        if not isinstance(state, WindowState):
            raise OptionError("a Transformer state is a WindowState (from initial_state "
                              "or advance)")
        if len(state) < self.context:
            return self._read(state.tokens, state.cache, token)
        kept = state.tokens[len(state) + 1 - window_keep(self.context):]
        s = self._read((), None, kept[0])
        for t in kept[1:]:
            s = self._read(s.tokens, s.cache, t)
        return self._read(s.tokens, s.cache, token)

    def _read(self, tokens: tuple, cache: KVCache | None, token: int) -> WindowState:
        net = self.net
        n = len(tokens)
        cache = KVCache(net.L, net.T, net.C, net.dtype) if cache is None else cache.branch(n)
        z = net.step(cache, n, token)
        cache.filled = n + 1
        z.flags.writeable = False
        return WindowState(tokens + (token,), cache, z)

    def next_logprobs(self, state: WindowState) -> np.ndarray:
        if not isinstance(state, WindowState):
            raise OptionError("a Transformer state is a WindowState (from initial_state "
                              "or advance)")
        return self.net.output.full_logprobs(self.net.out_params, state.z.reshape(1, -1))[0]

    def score_corpus(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        offsets = np.asarray(offsets, dtype=np.int64)
        self._check(ids, offsets)
        return score_sentences(self._parallel(), ids, offsets)

    def score_corpus_carried(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        offsets = np.asarray(offsets, dtype=np.int64)
        self._check(ids, offsets)
        inputs = previous_tokens(ids, offsets)[0]
        return score_stream(self._parallel(), inputs, ids, np.zeros(1, np.int64),
                            np.array([len(ids)], np.int64))

    def _parallel(self) -> DataParallel:
        """The workers that score (replicas of :attr:`net`, made on first use)."""
        if self._workers is None or self._workers.nets[0] is not self.net:
            self._workers = DataParallel(self.net)
        return self._workers

    def _check(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(ids) \
                or np.any(np.diff(offsets) < 0):
            raise InputError("offsets must run from 0 to len(ids), non-decreasing")
        # the kernels index the embedding table without bounds checks
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.vocab)):
            raise InputError(f"token ids must be in [0, {len(self.vocab)})")

    # -- persistence -----------------------------------------------------------------------
    def config(self) -> dict:
        return {"layers": self.layers, "heads": self.heads,
                "dim": int(self.params["E"].shape[1]), "context": self.context,
                "tie": self.tie, "softmax": self.softmax, "classes": self._classes(),
                "training": self.training}

    @classmethod
    def _from_config(cls, vocab, config, arrays, class_start):
        for k in ("layers", "heads"):
            if not isinstance(config.get(k), int) or isinstance(config[k], bool) \
                    or config[k] < 1:
                raise ModelFileError(f"malformed {k} {config.get(k)!r}")
        return cls(vocab, config["layers"], config["heads"], arrays, class_start,
                   config.get("training"), bool(config.get("tie", True)))

    def describe(self) -> dict:
        return {**super().describe(), "layers": self.layers, "heads": self.heads,
                "context": self.context}

    # -- training ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, corpus: Corpus, vocab: Vocabulary, *, layers: int = 2, heads: int = 4,
            dim: int = 128, context: int = 64, batch_size: int = 32, tie: bool = True,
            softmax: str = "auto", classes: int | None = None, init: str = "normal",
            init_scale: float = 0.02, dropout: float = 0.1, attention_dropout: float = 0.1,
            unk_dropout: float = 0.5, valid: Corpus | None = None, callbacks=(),
            **train_options) -> "TransformerModel":
        """Train on ``corpus`` (``valid`` picks the best epoch); ``train_options`` are the
        trainer's (:class:`~nlm.neural.trainer.TrainSettings`), with
        :attr:`TRAIN_DEFAULTS`."""
        args = dict(locals())
        return cls._fit(args.pop("corpus"), args.pop("vocab"), args)

    @classmethod
    def _check_hyper(cls, hyper: dict) -> None:
        check_positive(layers=hyper["layers"], heads=hyper["heads"], dim=hyper["dim"],
                       context=hyper["context"], batch_size=hyper["batch_size"])
        if hyper["dim"] % hyper["heads"]:
            raise OptionError(f"--dim ({hyper['dim']}) must be a multiple of --heads "
                              f"({hyper['heads']})")
        if not (0.0 <= hyper["attention_dropout"] < 1.0):
            raise OptionError(f"attention-dropout must be in [0, 1), got "
                              f"{hyper['attention_dropout']}")

    @classmethod
    def _init_network(cls, rng, vocab, output, hyper, init, init_scale) -> TransformerNetwork:
        params = TransformerNetwork.init_params(rng, len(vocab), hyper["dim"], hyper["context"],
                                                hyper["layers"], output, vocab.counts, init,
                                                init_scale, np.float32, hyper["tie"])
        return TransformerNetwork(params, hyper["layers"], hyper["heads"], output, hyper["tie"])

    @classmethod
    def _make_task(cls, net, corpus, valid, hyper, config, dropout, unk) -> TransformerTask:
        return TransformerTask(net, corpus, valid, hyper["batch_size"], config, dropout,
                               hyper["attention_dropout"], unk)

    @classmethod
    def _from_trained(cls, vocab, hyper, params, class_start, training) -> "TransformerModel":
        return cls(vocab, hyper["layers"], hyper["heads"], params, class_start, training,
                   hyper["tie"])


_OPTIONS = {
    "layers": Opt("rnn: stacked recurrent layers (dropout between them); transformer: "
                  "blocks."),
    "heads": Opt("transformer: attention heads (--dim must be a multiple)."),
    "dim": Opt("transformer: width of the embeddings and of the residual stream."),
    "context": Opt("transformer: the window of tokens attended to (the block size); "
                   "position embeddings are learned for this many positions."),
    "attention_dropout": Opt("transformer: dropout rate on the attention weights."),
}
register_neural("transformer", TransformerModel,
                "decoder-only Transformer (GPT): pre-layer-norm blocks of causal multi-head "
                "attention and GELU feed-forward layers", _OPTIONS)
register_neural("gpt", TransformerModel, "the same as --model transformer", _OPTIONS)
