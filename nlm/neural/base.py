"""What the neural language models (MLP, RNN) share around their networks.

A neural model keeps float32 parameters (as trained), an output layer (full or
class softmax) and a float64 copy of its network built on first use for
scoring. Its model file holds the parameters plus the output layer's own arrays
(the class boundaries of a class softmax); the subclass says how to build its
network and which parameter shapes it expects.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ModelFileError, OptionError
from ..model import LanguageModel
from ..vocab import BOS_ID, Vocabulary
from .softmax import ClassSoftmax, FullSoftmax


def same_output(output):
    """A fresh output layer of the same kind and classes (for a network copy)."""
    if isinstance(output, ClassSoftmax):
        return ClassSoftmax(output.class_start, output.mask)
    return FullSoftmax(output.V, output.mask)


def unigram_biases(output, counts, V, dtype) -> dict[str, np.ndarray]:
    """Output biases giving the (add-one smoothed) unigram distribution."""
    c = np.ones(V) if counts is None else np.asarray(counts, dtype=np.float64) + 1.0
    c[BOS_ID] = 1.0
    logp = np.log(c)
    if isinstance(output, ClassSoftmax):
        cs = output.class_start
        mass = np.add.reduceat(c, cs[:-1])
        bc = np.log(mass) - math.log(mass.sum())
        b = logp - np.log(mass)[output.word_class]
        return {"b": b.astype(dtype), "bc": bc.astype(dtype)}
    return {"b": (logp - math.log(c.sum())).astype(dtype)}


def dropout_masks(epoch_seed: int, step: int, keep: float, rows: int, widths, dtype):
    """Inverted-dropout masks (entries 0 or 1/keep), one (rows, width) array per width,
    drawn from (epoch_seed, step) alone: a resumed epoch redraws the same masks."""
    rng = np.random.default_rng((epoch_seed, step))
    masks = []
    for width in widths:
        u = rng.random((rows, width), dtype=np.float32)
        masks.append(((u < keep) * (1.0 / keep)).astype(dtype))
    return tuple(masks)


def check_positive(**values) -> None:
    """Each option a whole number >= 1, or an OptionError naming it as on the command line."""
    for name, v in values.items():
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise OptionError(f"{name.replace('_', '-')} must be a whole number >= 1, got {v!r}")


class NeuralModel(LanguageModel):
    """Base of the MLP and RNN models: parameters, output layer, float64 scoring copy,
    model-file arrays. Subclasses set their own attributes, then call this __init__,
    and define ``_expected_shapes``, ``_build_network`` and ``_from_config``."""

    #: how error messages name the model
    label = "neural"

    def __init__(self, vocab: Vocabulary, activation: str, params: dict[str, np.ndarray],
                 class_start: np.ndarray | None, training: dict | None):
        super().__init__(vocab)
        self.activation = activation
        self.training = training or {}
        output = (ClassSoftmax(class_start) if class_start is not None
                  else FullSoftmax(len(vocab)))
        self.softmax = output.kind
        self.params = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()}
        self._check_shapes(output)
        self._net32 = self._build_network(self.params, output)
        self._net64 = None

    # -- subclass hooks ------------------------------------------------------------
    def _expected_shapes(self, output) -> dict[str, tuple]:   # pragma: no cover - abstract
        raise NotImplementedError

    def _build_network(self, params, output):                 # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _from_config(cls, vocab, config, arrays, class_start):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------
    def _check_shapes(self, output) -> None:
        p = self.params
        try:
            expected = self._expected_shapes(output)
        except (KeyError, ValueError, IndexError):
            raise ModelFileError(f"missing or malformed {self.label} weights") from None
        if set(p) != set(expected):
            raise ModelFileError(f"parameters {sorted(p)} do not match an {self.label} with "
                                 f"{self.softmax} softmax")
        for k, shape in expected.items():
            if p[k].shape != tuple(shape):
                raise ModelFileError(f"parameter {k} has shape {p[k].shape}, expected {shape}")

    @property
    def history(self) -> list[dict]:
        """Per-epoch training records (loss, perplexities, lr, words/s), saved with the model."""
        return self.training.get("history", [])

    @property
    def net(self):
        """The float64 network used for scoring (built on first use)."""
        if self._net64 is None:
            self._net64 = self._net32.astype(np.float64)
        return self._net64

    def _classes(self) -> int | None:
        return int(self._net32.output.C) if self.softmax == "class" else None

    def arrays(self) -> dict[str, np.ndarray]:
        out = dict(self.params)
        out.update(self._net32.output.arrays())
        return out

    @classmethod
    def from_saved(cls, vocab, config, arrays):
        arrays = dict(arrays)
        class_start = arrays.pop("class_start", None)
        if (config.get("softmax") == "class") != (class_start is not None):
            raise ModelFileError("class softmax without class boundaries (or the reverse)")
        try:
            return cls._from_config(vocab, config, arrays, class_start)
        except (OptionError, KeyError, ValueError, TypeError) as e:
            raise ModelFileError(f"malformed {cls.label} model: {e}") from None

    def describe(self) -> dict:
        d = {"parameters": int(sum(v.size for v in self.params.values()))}
        if self.softmax == "class":
            d["classes"] = self._classes()
        return d
