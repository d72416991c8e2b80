"""The Python API for training: text file in, LanguageModel out.

The models a user can train are those in :data:`nlm.registry.MODELS`, each
registered beside its model; this module checks the options against the
model's declaration, reads the text and calls the model's fit function.
"""
from __future__ import annotations

import os

from .corpus import read_corpus, read_training_corpus
from .errors import NlmError, OptionError
from .files import check_distinct, check_writable
from .model import LanguageModel
from .registry import MODELS


def default_checkpoint(output) -> str:
    """Where a neural model trained into ``output`` keeps its checkpoint."""
    return os.path.splitext(os.fspath(output))[0] + ".ckpt.npz"


def train(train_file, model: str = "mkn", *, tokenizer: str = "whitespace",
          lowercase: bool = False, min_count: int = 1, max_size: int | None = None,
          valid_file=None, progress: bool = False, output=None,
          **options) -> LanguageModel:
    """Train a model of kind ``model`` on a text file (one sentence per line).

    ``options`` are the model's (see ``nlm.MODELS[model].defaults``). With
    ``output``, the model is also saved there (checked to be writable before
    training) and a neural model checkpoints to ``OUTPUT.ckpt.npz`` unless a
    ``checkpoint`` is given.

    >>> lm = train("corpora/shakespeare/train.txt", "add-k", order=2, k=0.01)  # doctest: +SKIP
    """
    spec = MODELS.get(model)
    if spec is None:
        raise OptionError(f"unknown model {model!r}; choose from {', '.join(sorted(MODELS))}")
    unknown = sorted(set(options) - spec.options)
    if unknown:
        names = ", ".join(f"--{n.replace('_', '-')}" for n in unknown)
        raise OptionError(f"{names} does not apply to --model {model}")
    if output is not None:
        check_writable(output)
        if "checkpoint" in spec.options and options.get("checkpoint") is None:
            # neural models: always checkpoint, so that Ctrl-C can save and --resume continue
            options["checkpoint"] = default_checkpoint(output)
    if valid_file is not None and os.fspath(valid_file) == "-" and os.fspath(train_file) == "-":
        raise OptionError("only one of the training and validation texts can be read from "
                          "standard input (-)")
    if valid_file is not None and os.fspath(valid_file) != "-" and not os.path.exists(valid_file):
        raise NlmError(f"{valid_file}: no such file")
    resume = bool(options.get("resume"))
    check_distinct(
        {"training text": train_file, "validation text": valid_file,
         "checkpoint to resume from": options.get("checkpoint") if resume else None},
        {"model file (-o)": output, "training log": options.get("train_log"),
         "checkpoint": None if resume else options.get("checkpoint")})
    vocab, corpus = read_training_corpus(train_file, tokenizer, lowercase, min_count, max_size,
                                         progress)
    extra = {}
    if spec.wants_valid:
        extra["valid"] = read_corpus(valid_file, vocab) if valid_file is not None else None
    if spec.wants_progress:
        extra["progress"] = progress
    lm = spec.fit(corpus, vocab, **options, **extra)
    if output is not None:
        from .modelfile import save
        save(lm, output)
    return lm


__all__ = ["train", "MODELS", "default_checkpoint"]
