"""Output layers of the neural language models: a full softmax and a class-factorized one.

Both turn a batch of feature vectors z (B, D) (the MLP's hidden layer plus
direct connections, or an RNN's hidden state) into word probabilities, and
share one interface, so a model picks either with one option:

- ``loss_and_grad(params, grads, z, targets, dz, scale)``: the summed
  cross-entropy -sum_b ln P(targets[b] | z[b]); sets the layer's gradients
  (scaled by ``scale``, e.g. 1/B for a mean) in ``grads`` and writes dL/dz to ``dz``;
- ``target_logprobs(params, z, targets)`` (B,) and ``full_logprobs(params, z)``
  (B, V), both float64, for scoring;
- ``touched_rows()``: which rows of which gradient may be non-zero after the
  last ``loss_and_grad`` (the others are exactly zero), so that optimizers
  whose update is exact under sparsity can skip the rest.

Full softmax, parameters W (V, D), b (V,):
    P(w | z) = exp(W[w].z + b[w]) / sum_v exp(W[v].z + b[v])

Class softmax (Goodman 2001; Mikolov et al. 2011), C classes of words,
parameters W (V, D), b (V,) for words and Wc (C, D), bc (C,) for classes:
    P(w | z) = P(c(w) | z) P(w | c(w), z)
    P(c | z) = softmax_c(Wc z + bc),   P(w | c, z) = softmax over the words of c of (W z + b)
It is exact and normalized; training costs O(C + |c(w)|) per word instead of
O(V). Classes are frequency bins: contiguous id ranges (ids are frequency
ordered) of about equal square-root frequency mass (Mikolov's rnnlm).

The masked word (``<s>``: context only, never predicted) gets probability 0.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import OptionError
from ..vocab import BOS_ID
from . import softmax_kernels as SK
from .blas import matmul
from .layers import Buffers


class FullSoftmax:
    kind = "full"

    def __init__(self, vocab_size: int, mask: int = BOS_ID):
        self.V = int(vocab_size)
        self.mask = int(mask)
        self._buf = Buffers()

    def param_shapes(self, D: int) -> dict[str, tuple]:
        return {"W": (self.V, D), "b": (self.V,)}

    weight_keys = ("W",)

    def config(self) -> dict:
        return {"softmax": "full"}

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    # -- training ------------------------------------------------------------
    def loss_and_grad(self, params, grads, z, targets, dz, scale: float) -> float:
        W, b = params["W"], params["b"]
        B = z.shape[0]
        logits = self._buf.get("logits", (B, self.V), z.dtype)        # (B, V)
        matmul(z, W.T, out=logits)
        loss = self._buf.get("loss", (B,), np.float64)
        SK._softmax_xent_grad(logits, b, targets, self.mask, float(scale), loss, grads["b"])
        # logits now hold dL/dlogits (B, V)
        matmul(logits.T, z, out=grads["W"])                       # (V, D)
        matmul(logits, W, out=dz)                                 # (B, D)
        return float(loss.sum())

    def touched_rows(self) -> dict[str, np.ndarray]:
        return {}

    # -- scoring -------------------------------------------------------------
    def target_logprobs(self, params, z, targets) -> np.ndarray:
        B = z.shape[0]
        logits = self._buf.get("logits", (B, self.V), z.dtype)
        matmul(z, params["W"].T, out=logits)
        out = np.empty(B, dtype=np.float64)
        SK._target_logprobs(logits, params["b"], targets, self.mask, out)
        return out

    def full_logprobs(self, params, z) -> np.ndarray:
        B = z.shape[0]
        logits = self._buf.get("logits", (B, self.V), z.dtype)
        matmul(z, params["W"].T, out=logits)
        out = np.empty((B, self.V), dtype=np.float64)
        SK._log_softmax_rows(logits, params["b"], self.mask, out)
        return out


def frequency_classes(counts: np.ndarray, n_classes: int | None = None,
                      power: float = 0.5) -> np.ndarray:
    """Class boundaries (C+1,) int64 for the class softmax: contiguous id ranges
    each holding about 1/C of sum(counts**power). power 0.5 (the default, as
    rnnlm's default) bins by square-root frequency; power 1 (rnnlm -old-classes)
    by frequency. On WikiText-2 with 182 classes a token's class has 55 words on
    average with power 0.5 and 183 with power 1, so training is about 3x cheaper.

    ``n_classes`` defaults to round(sqrt(V)); fewer classes come out when single
    words carry more than 1/C of the mass. Zero-count words (``<s>``) join the class
    of the word after them, so no class consists only of ``<s>``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    V = len(counts)
    if n_classes is None:
        n_classes = max(1, int(round(math.sqrt(V))))
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise OptionError(f"the number of classes must be at least 1, got {n_classes!r}")
    n_classes = min(int(n_classes), V)
    mass = np.power(np.maximum(counts, 0.0), power)
    mass[counts <= 0] = 0.0
    total = mass.sum()
    if total <= 0:
        mass = np.ones(V)
        total = float(V)
    before = np.concatenate([[0.0], np.cumsum(mass)[:-1]])       # mass before each word
    cls = np.minimum((before / total * n_classes).astype(np.int64), n_classes - 1)
    starts = np.flatnonzero(np.diff(cls, prepend=-1))            # first word of each class
    # a zero-mass word at the end of a class moves with the next word: a class must
    # have a word that can be predicted (this only matters for <s>)
    class_start = np.append(starts, V).astype(np.int64)
    return _merge_mask_only_classes(class_start, BOS_ID)


def _merge_mask_only_classes(class_start: np.ndarray, mask: int) -> np.ndarray:
    keep = []
    C = len(class_start) - 1
    for c in range(C):
        s, e = class_start[c], class_start[c + 1]
        if e - s == 1 and s == mask and C > 1:
            continue  # drop this boundary: <s> joins the previous (or next) class
        keep.append(c)
    starts = [int(class_start[c]) for c in keep]
    starts[0] = 0
    return np.array(starts + [int(class_start[-1])], dtype=np.int64)


class ClassSoftmax:
    kind = "class"

    def __init__(self, class_start: np.ndarray, mask: int = BOS_ID):
        cs = np.ascontiguousarray(class_start, dtype=np.int64)
        if cs.ndim != 1 or len(cs) < 2 or cs[0] != 0 or np.any(np.diff(cs) <= 0):
            raise OptionError("class boundaries must start at 0 and increase")
        self.class_start = cs
        self.V = int(cs[-1])
        self.C = len(cs) - 1
        self.mask = int(mask)
        self.word_class = np.repeat(np.arange(self.C, dtype=np.int32), np.diff(cs))
        if 0 <= self.mask < self.V:
            c = self.word_class[self.mask]
            if cs[c + 1] - cs[c] == 1:
                raise OptionError("the masked word cannot be alone in its class")
        self._buf = Buffers()
        self._count = np.empty(self.C + 1, dtype=np.int64)
        self._rows = np.zeros(0, dtype=np.int64)  # word rows touched by the last step
        self._present = np.zeros(self.C, dtype=np.bool_)   # the last step's classes

    @classmethod
    def from_counts(cls, counts, n_classes=None, power=0.5, mask=BOS_ID):
        return cls(frequency_classes(counts, n_classes, power), mask)

    def param_shapes(self, D: int) -> dict[str, tuple]:
        return {"W": (self.V, D), "b": (self.V,), "Wc": (self.C, D), "bc": (self.C,)}

    weight_keys = ("W", "Wc")

    def config(self) -> dict:
        return {"softmax": "class", "classes": self.C}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"class_start": self.class_start}

    # -- training ------------------------------------------------------------
    def loss_and_grad(self, params, grads, z, targets, dz, scale: float) -> float:
        B = z.shape[0]
        dt = z.dtype
        # class part: a small full softmax over C classes (BLAS + fused kernel)
        ctarget = self.word_class[targets]
        clogits = self._buf.get("clogits", (B, self.C), dt)               # (B, C)
        matmul(z, params["Wc"].T, out=clogits)
        loss = self._buf.get("loss", (B,), np.float64)
        SK._softmax_xent_grad(clogits, params["bc"], ctarget, -1, float(scale), loss,
                              grads["bc"])
        matmul(clogits.T, z, out=grads["Wc"])
        matmul(clogits, params["Wc"], out=dz)
        # word part: one block of rows of W per class present in the batch
        gW, gb = grads["W"], grads["b"]
        order = self._buf.get("order", (B,), np.int64)
        gstart = self._buf.get("gstart", (B + 1,), np.int64)
        gclass = self._buf.get("gclass", (B,), np.int64)
        G = SK._group_by_class(targets, self.word_class, self.C, self._count, order,
                               gstart, gclass)
        self._zero_stale_rows(gW, gb, gclass[:G])   # the kernel overwrites the others
        SK._class_word_xent_grad(z, targets, self.class_start, params["W"], params["b"],
                                 self.mask, float(scale), order, gstart, gclass, G,
                                 dz, gW, gb, loss)
        rows = self._buf.get("rows", (self.V,), np.int64)
        k = SK._class_rows(gclass, G, self.class_start, rows)
        self._rows = rows[:k]
        return float(loss.sum())

    def _zero_stale_rows(self, gW, gb, classes) -> None:
        """Zero the gradient rows of the classes the previous step set and this one
        does not (the kernel overwrites the rows of this step's classes)."""
        now = np.zeros(self.C, dtype=np.bool_)
        now[classes] = True
        cs = self.class_start
        for c in np.flatnonzero(self._present & ~now):
            gW[cs[c]:cs[c + 1]] = 0
            gb[cs[c]:cs[c + 1]] = 0
        self._present = now

    def touched_rows(self) -> dict[str, np.ndarray]:
        return {"W": self._rows, "b": self._rows}

    # -- scoring -------------------------------------------------------------
    def target_logprobs(self, params, z, targets) -> np.ndarray:
        B = z.shape[0]
        ctarget = self.word_class[targets]
        clogits = self._buf.get("clogits", (B, self.C), z.dtype)
        matmul(z, params["Wc"].T, out=clogits)
        out = np.empty(B, dtype=np.float64)
        SK._target_logprobs(clogits, params["bc"], ctarget, -1, out)
        word = np.empty(B, dtype=np.float64)
        SK._class_word_logprobs(z, targets, self.word_class, self.class_start, params["W"],
                                params["b"], self.mask, word)
        out += word
        return out

    def full_logprobs(self, params, z) -> np.ndarray:
        B = z.shape[0]
        clogits = self._buf.get("clogits", (B, self.C), z.dtype)
        matmul(z, params["Wc"].T, out=clogits)
        clp = np.empty((B, self.C), dtype=np.float64)
        SK._log_softmax_rows(clogits, params["bc"], -1, clp)
        logits = self._buf.get("logits", (B, self.V), z.dtype)
        matmul(z, params["W"].T, out=logits)
        out = np.empty((B, self.V), dtype=np.float64)
        SK._class_full_logprobs(logits, params["b"], clp, self.class_start, self.mask, out)
        return out


#: ``--softmax auto`` picks the class softmax above this many words: there the full
#: softmax's O(V) output layer is nearly all of a step's work (at V = 5000 and 256
#: hidden units, 95% of its multiply-adds), and the class softmax's O(sqrt V) is several
#: times faster for a small loss in perplexity.
AUTO_CLASS_VOCAB = 5000


def resolve_softmax(softmax: str, vocab_size: int) -> str:
    """``auto`` -> ``class`` for vocabularies above :data:`AUTO_CLASS_VOCAB`, else ``full``."""
    if softmax == "auto":
        return "class" if vocab_size > AUTO_CLASS_VOCAB else "full"
    return softmax


def make_output_layer(softmax: str, vocab_size: int, counts=None, classes=None,
                      class_start=None, mask: int = BOS_ID):
    """An output layer by name: ``full``, ``class`` (classes from ``counts``, or the
    saved ``class_start``) or ``auto`` (:func:`resolve_softmax`)."""
    softmax = resolve_softmax(softmax, vocab_size)
    if softmax == "full":
        return FullSoftmax(vocab_size, mask)
    if softmax == "class":
        if class_start is None:
            class_start = frequency_classes(counts, classes)
        layer = ClassSoftmax(class_start, mask)
        if layer.V != vocab_size:
            raise OptionError("class boundaries do not cover the vocabulary")
        return layer
    raise OptionError(f"unknown softmax {softmax!r}; choose from auto, full, class")
