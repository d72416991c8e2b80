"""The Python API for training: text file in, LanguageModel out.

``MODELS`` maps the names users type (``nlm train --model NAME``) to a
:class:`ModelSpec`: the function that fits the model and the options it
accepts. New model families add themselves here; the CLI reads it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .corpus import read_corpus, read_training_corpus
from .errors import OptionError
from .model import LanguageModel


@dataclass(frozen=True)
class ModelSpec:
    fit: Callable[..., LanguageModel]   # fit(corpus, vocab, **options)
    options: frozenset[str]             # option names ``fit`` accepts
    help: str
    wants_valid: bool = False           # fit also takes valid=Corpus | None
    wants_progress: bool = False        # fit also takes progress=bool


MODELS: dict[str, ModelSpec] = {}


def register_trainer(name: str, fit, options, help: str, wants_valid=False,
                     wants_progress=False):
    MODELS[name] = ModelSpec(fit, frozenset(options), help, wants_valid, wants_progress)


def _register_builtin():
    from .ngram.addk import AddKModel
    register_trainer("add-k", AddKModel.fit, {"order", "k"},
                     "add-k smoothing (k=1: Laplace), no backoff")
    from .ngram import methods as ng
    cutoffs = {"order", "prune", "prune_entropy"}
    register_trainer("mle", ng.fit_mle, cutoffs, "maximum likelihood n-grams (zeros for unseen)")
    register_trainer("witten-bell", ng.fit_witten_bell, cutoffs | {"mle_unigrams"},
                     "interpolated Witten-Bell")
    register_trainer("absolute", ng.fit_absolute, cutoffs | {"discount", "mle_unigrams"},
                     "interpolated absolute discounting")
    register_trainer("kn", ng.fit_kneser_ney, cutoffs | {"discount", "interpolate"},
                     "Kneser-Ney, one discount per order")
    register_trainer("mkn", ng.fit_modified_kneser_ney, cutoffs | {"discount", "interpolate"},
                     "modified Kneser-Ney as KenLM lmplz (the default n-gram model)")
    register_trainer("katz", ng.fit_katz, cutoffs, "Katz backoff with Good-Turing discounts")
    register_trainer("stupid", ng.fit_stupid_backoff, {"order", "prune"},
                     "stupid backoff (scores are not probabilities)")


_register_builtin()


def _register_mlp():
    from .neural.mlp import MODEL_OPTIONS, MLPModel
    from .neural.trainer import TRAINER_OPTIONS
    register_trainer("mlp", MLPModel.fit, MODEL_OPTIONS | TRAINER_OPTIONS,
                     "Bengio's feed-forward neural language model (MLP over n-1 embeddings)",
                     wants_valid=True, wants_progress=True)


_register_mlp()


def _register_rnn():
    from .neural.rnn import MODEL_OPTIONS, RNNModel
    from .neural.trainer import TRAINER_OPTIONS
    register_trainer("rnn", RNNModel.fit, MODEL_OPTIONS | TRAINER_OPTIONS,
                     "Elman recurrent network (Mikolov's RNNLM), truncated BPTT",
                     wants_valid=True, wants_progress=True)


_register_rnn()


def train(train_file, model: str = "add-k", *, tokenizer: str = "whitespace",
          lowercase: bool = False, min_count: int = 1, max_size: int | None = None,
          valid_file=None, progress: bool = False, **options) -> LanguageModel:
    """Train a model of kind ``model`` on a text file (one sentence per line).

    >>> lm = train("corpora/shakespeare/train.txt", "add-k", order=2, k=0.01)  # doctest: +SKIP
    """
    spec = MODELS.get(model)
    if spec is None:
        raise OptionError(f"unknown model {model!r}; choose from {', '.join(sorted(MODELS))}")
    unknown = set(options) - spec.options
    if unknown:
        names = ", ".join(sorted(unknown))
        raise OptionError(f"option(s) {names} do not apply to model {model!r}")
    vocab, corpus = read_training_corpus(train_file, tokenizer, lowercase, min_count, max_size,
                                         progress)
    extra = {}
    if spec.wants_valid:
        extra["valid"] = read_corpus(valid_file, vocab) if valid_file is not None else None
    if spec.wants_progress:
        extra["progress"] = progress
    return spec.fit(corpus, vocab, **options, **extra)
