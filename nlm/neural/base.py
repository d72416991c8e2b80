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

from ..corpus import Corpus
from ..errors import ModelFileError, OptionError, check_seed
from ..model import LanguageModel
from ..registry import Opt, register_trainer
from ..vocab import BOS_ID, EOS_ID, UNK_ID, Vocabulary
from .init import check_init
from .softmax import ClassSoftmax, FullSoftmax, make_output_layer, resolve_softmax
from .trainer import (TRAINER_OPTION_HELP, TRAINER_TYPES, Trainer, TrainSettings,
                      split_settings)


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


class UnkDropout:
    """Read rare training words as ``<unk>`` now and then, so that ``<unk>`` is trained.

    Each occurrence of a word seen c times in training is read as ``<unk>`` with
    probability a / (a + c) (word dropout, Kiperwasser & Goldberg 2016), redrawn every
    epoch: a word seen once with a = 0.5 is ``<unk>`` a third of the time, a word seen
    100 times 0.5% of the time. Without it a neural model never sees ``<unk>`` (the
    training text has no unknown words) and gives unknown words almost no probability,
    where the n-gram models give them the mass of their uniform interpolation. The
    vocabulary is not changed, so the model still predicts every training word.
    """

    def __init__(self, counts: np.ndarray, alpha: float):
        self.alpha = float(alpha)
        c = np.asarray(counts, dtype=np.float64)
        p = self.alpha / (self.alpha + np.maximum(c, 1.0)) if self.alpha > 0 else np.zeros_like(c)
        p[[UNK_ID, BOS_ID, EOS_ID]] = 0.0
        self.prob = p.astype(np.float32)

    @property
    def active(self) -> bool:
        return self.alpha > 0

    def apply(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A copy of ``ids`` with the drawn occurrences replaced by ``<unk>``."""
        out = np.array(ids, dtype=np.int32)
        hit = rng.random(len(out), dtype=np.float32) < self.prob[out]
        out[hit] = UNK_ID
        return out


def check_positive(**values) -> None:
    """Each option a whole number >= 1, or an OptionError naming it as on the command line."""
    for name, v in values.items():
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise OptionError(f"{name.replace('_', '-')} must be a whole number >= 1, got {v!r}")


#: yes/no hyper-parameters, stored as booleans whatever the caller passed
_FLAGS = frozenset({"direct", "tie", "reset_sentences"})

#: Options every neural model takes besides its network's shape (help for ``nlm train``).
NEURAL_OPTIONS = {
    "emb": Opt("Neural: embedding size.", none_means="--hidden"),
    "hidden": Opt("Neural: hidden units."),
    "softmax": Opt("Neural: full softmax, or class-factorized (frequency classes; much "
                   "faster for large vocabularies); auto: class above 5000 words.",
                   choices=("auto", "full", "class")),
    "classes": Opt("Neural, --softmax class: number of classes.", none_means="sqrt(V)"),
    "activation": Opt("Neural: hidden activation (rnn: tanh or sigmoid).",
                      choices=("tanh", "sigmoid", "relu")),
    "init": Opt("Neural: weight initialization.", choices=("uniform", "normal", "xavier")),
    "init_scale": Opt("Neural: range (uniform) or deviation (normal) of the initial weights."),
    "batch_size": Opt("Neural: examples per minibatch (rnn: parallel streams)."),
    "tie": Opt("Neural: tie the output layer's word weights to the embedding table (Press & "
               "Wolf 2017; needs --hidden equal to --emb, and no --direct).",
               flag="--tie/--no-tie"),
    "dropout": Opt("Neural: dropout rate on the embeddings, between stacked recurrent "
                   "layers and on the hidden units fed to the output layer (not on the "
                   "recurrence); 0 = none."),
    "unk_dropout": Opt("Neural: a; each training occurrence of a word seen c times is read "
                       "as <unk> with probability a/(a+c), redrawn every epoch, so that "
                       "<unk> (unknown words) gets a trained probability; 0 = never."),
    **TRAINER_OPTION_HELP,
}


class NeuralModel(LanguageModel):
    """Base of the MLP and RNN models: parameters, output layer, float64 scoring copy,
    model-file arrays, and the training template :meth:`_fit`. Subclasses set their
    own attributes, then call this __init__, and define ``_expected_shapes``,
    ``_build_network`` and ``_from_config``; for training, ``_check_hyper``,
    ``_init_network``, ``_make_task`` and ``_from_trained``."""

    #: how error messages name the model
    label = "neural"
    #: trainer settings that suit this network (the caller's values win)
    TRAIN_DEFAULTS: dict = {}
    #: the learning rate when none is given, by optimizer (None: TRAIN_DEFAULTS' or the
    #: trainer's)
    DEFAULT_LR: dict | None = None
    #: keys of the network's hyper-parameters also kept in the saved training record
    TRAINING_RECORD: tuple[str, ...] = ("batch_size",)
    #: the fit arguments that are the network's own hyper-parameters
    HYPER: tuple[str, ...] = ()

    def __init__(self, vocab: Vocabulary, activation: str, params: dict[str, np.ndarray],
                 class_start: np.ndarray | None, training: dict | None, tie: bool = False):
        super().__init__(vocab)
        self.activation = activation
        self.tie = bool(tie)     # the output's word weights are the embedding table
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
        if self.tie:
            expected.pop("W")
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

    # -- training: one template, hooks per network ---------------------------------------
    @classmethod
    def _check_hyper(cls, hyper: dict) -> None:          # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _init_network(cls, rng, vocab: Vocabulary, output, hyper: dict, init: str,
                      init_scale: float):                 # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _make_task(cls, net, corpus: Corpus, valid: Corpus | None, hyper: dict,
                   config: dict, dropout: float, unk: UnkDropout):  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def _from_trained(cls, vocab: Vocabulary, hyper: dict, params: dict, class_start,
                      training: dict):                    # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def train_settings(cls, options: dict) -> TrainSettings:
        """The trainer's settings: ``options`` over :attr:`TRAIN_DEFAULTS`, with the
        learning rate from :attr:`DEFAULT_LR` when none is given."""
        options = {**cls.TRAIN_DEFAULTS, **options}
        if options.get("lr") is None:
            options.pop("lr", None)
            if cls.DEFAULT_LR is not None:
                options["lr"] = cls.DEFAULT_LR.get(options.get("optimizer",
                                                               TrainSettings.optimizer), 1.0)
        settings, rest = split_settings(options)
        check_seed(settings.seed)
        if rest:
            raise OptionError(f"unknown option(s) for the {cls.label}: "
                              f"{', '.join(sorted(rest))}")
        return settings

    @classmethod
    def _hyper(cls, options: dict) -> dict:
        """The network's own hyper-parameters (the keys in :attr:`HYPER`) from the rest
        of its fit arguments; :meth:`_complete` fills in defaults that depend on other
        options."""
        options = {k: v for k, v in options.items() if k != "cls"}
        unknown = set(options) - set(cls.HYPER)
        if unknown:   # pragma: no cover - a fit argument the template does not know
            raise TypeError(f"unhandled {cls.label} options {sorted(unknown)}")
        h = {k: bool(options[k]) if k in _FLAGS else options[k] for k in cls.HYPER}
        return cls._complete(h)

    @classmethod
    def _complete(cls, hyper: dict) -> dict:
        return hyper

    @classmethod
    def _fit(cls, corpus: Corpus, vocab: Vocabulary, args: dict):
        """Check the options, build the network, train it with the shared
        :class:`~nlm.neural.trainer.Trainer` and return the model with the best
        validation weights. ``args`` are the fit function's arguments: the options every
        neural model shares, ``valid``, ``callbacks``, ``train_options`` (the trainer's)
        and the network's own hyper-parameters (:meth:`_hyper`)."""
        args = dict(args)
        valid, callbacks = args.pop("valid"), args.pop("callbacks")
        train_options = args.pop("train_options")
        softmax, classes = args.pop("softmax"), args.pop("classes")
        init, init_scale = args.pop("init"), args.pop("init_scale")
        dropout, unk_dropout = float(args.pop("dropout")), float(args.pop("unk_dropout"))
        hyper = cls._hyper(args)
        settings = cls.train_settings(train_options)
        cls._check_hyper(hyper)
        softmax = resolve_softmax(softmax, len(vocab))
        if classes is not None and softmax != "class":
            raise OptionError("--classes applies to --softmax class only")
        if not (0.0 <= dropout < 1.0):
            raise OptionError(f"dropout must be in [0, 1), got {dropout}")
        if not (0.0 <= unk_dropout < math.inf):
            raise OptionError(f"unk-dropout must be a number >= 0, got {unk_dropout}")
        check_init(init, init_scale)
        if corpus.tokens == 0:
            raise OptionError("the training text is empty")
        V = len(vocab)
        output = make_output_layer(softmax, V, counts=vocab.counts, classes=classes)
        init_rng = np.random.default_rng(np.random.SeedSequence(settings.seed).spawn(2)[0])
        net = cls._init_network(init_rng, vocab, output, hyper, init, init_scale)
        config = {"kind": cls.kind, "vocab_size": V, **hyper, "softmax": softmax,
                  "classes": getattr(output, "C", None), "init": init,
                  "init_scale": init_scale, "dropout": dropout, "unk_dropout": unk_dropout,
                  "seed": settings.seed}
        task = cls._make_task(net, corpus, valid, hyper, config, dropout,
                              UnkDropout(vocab.counts, unk_dropout))
        result = Trainer(task, settings, callbacks=callbacks).run()
        training = {"epochs": len(result.history), "stop": result.stop_reason,
                    "best_valid_ppl": result.best_valid_ppl,
                    "optimizer": settings.optimizer, "lr": settings.lr,
                    "clip_norm": settings.clip_norm,
                    **{k: hyper[k] for k in cls.TRAINING_RECORD}, "dropout": dropout,
                    "unk_dropout": unk_dropout,
                    "seed": settings.seed, "seconds": round(result.seconds, 3),
                    "history": result.history}
        return cls._from_trained(vocab, hyper, result.params,
                                 getattr(output, "class_start", None), training)


def register_neural(name: str, cls: type[NeuralModel], help: str,
                    option_help: dict[str, Opt]) -> None:
    """Register ``cls.fit`` as ``nlm train --model NAME``: the network's options from
    its signature, the trainer's settings with the model's defaults."""
    trainer_defaults = {k: getattr(TrainSettings, k) for k in TRAINER_TYPES}
    trainer_defaults.update(cls.TRAIN_DEFAULTS)
    if cls.DEFAULT_LR is not None:
        trainer_defaults["lr"] = None
    register_trainer(name, cls.fit, help, family="neural",
                     option_help={**NEURAL_OPTIONS, **option_help},
                     trainer_defaults=trainer_defaults, trainer_types=TRAINER_TYPES)
