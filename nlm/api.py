"""The Python API for training: text file in, LanguageModel out.

The models a user can train are those in :data:`nlm.registry.MODELS`, each
registered beside its model; this module checks the options against the
model's declaration, reads the text and calls the model's fit function.
"""
from __future__ import annotations

import os

from .corpus import describe_path, is_stream, read_corpus, read_training_corpus, read_vocab_file
from .errors import OptionError
from .files import check_distinct, check_writable, outputs_together
from .model import LanguageModel
from .progress import reporting, stage
from .registry import MODELS


def default_checkpoint(output) -> str:
    """Where a neural model trained into ``output`` keeps its checkpoint."""
    return os.path.splitext(os.fspath(output))[0] + ".ckpt.npz"


def _out_of_core(train_file, model, spec, options, memory, temp_dir, dask, arpa, output,
                 tokenizer, lowercase, min_count, max_size, progress, vocab_files):
    """The n-gram model estimated out of core or on Dask (:mod:`nlm.ngram.external`) when
    that is needed or asked for; None when the in-memory estimator runs."""
    if arpa is not None:
        check_writable(arpa)
        if model == "stupid":
            raise OptionError("stupid backoff scores are not probabilities; an ARPA file "
                              "would present them as probabilities")
    if "checkpoint" in spec.options:
        if memory is not None or temp_dir is not None or dask is not None or arpa is not None:
            raise OptionError("--memory, --temp-dir, --dask and --arpa apply to n-gram models")
        return None
    from .ngram.external.train import train_if_out_of_core
    with reporting(bool(progress)):
        return train_if_out_of_core(train_file, model, dict(options), memory=memory,
                                    temp_dir=temp_dir, dask=dask, output=output, arpa=arpa,
                                    tokenizer=tokenizer, lowercase=lowercase,
                                    min_count=min_count, max_size=max_size, progress=progress,
                                    vocab_files=bool(vocab_files))


#: Options that only some settings of another option use: (option, the other option,
#: the values it must have).
_ONLY_WITH = (("momentum", "optimizer", ("momentum", "nesterov")),
              ("init_scale", "init", ("uniform", "normal")))


def _check_applicable(model: str, spec, options: dict) -> None:
    """Refuse an option given for a setting that does not use it (it would be ignored)."""
    for name, other, values in _ONLY_WITH:
        if name in options and other in spec.defaults:
            setting = options.get(other, spec.defaults[other])
            if setting not in values:
                flag, oflag = "--" + name.replace("_", "-"), "--" + other.replace("_", "-")
                raise OptionError(f"{flag} applies to {oflag} {' or '.join(values)}, not to "
                                  f"{oflag} {setting} (--model {model}); it would be ignored")


def _check_checkpoint(options: dict) -> None:
    """A --checkpoint file, checked before training: its directory exists and is writable,
    and with --resume it is a checkpoint (not, say, the model file)."""
    path = options.get("checkpoint")
    if path is None:
        return
    check_writable(path)
    if options.get("resume") and os.path.isfile(path):
        from .neural.checkpoint import checkpoint_summary
        from .files import file_kind
        if file_kind(path) == "npz" and checkpoint_summary(path) is None:
            import zipfile
            try:
                with zipfile.ZipFile(path) as z:
                    model_file = "__nlm__.npy" in z.namelist()
            except (OSError, zipfile.BadZipFile, ValueError, EOFError):
                model_file = False
            if model_file:
                raise OptionError(f"{path}: an nlm model file, not an nlm checkpoint; resume "
                                  "from the checkpoint training wrote (OUTPUT.ckpt.npz, or "
                                  "the --checkpoint FILE given then)")


def train(train_file, model: str = "mkn", *, tokenizer: str = "whitespace",
          lowercase: bool = False, min_count: int = 1, max_size: int | None = None,
          valid_file=None, progress: bool = False, output=None,
          keep_checkpoint: bool = False, vocab_file=None, limit_vocab_file=None,
          memory=None, temp_dir=None, dask=None, arpa=None, **options) -> LanguageModel:
    """Train a model of kind ``model`` on a text file (one sentence per line).

    ``options`` are the model's (see ``nlm.MODELS[model].defaults``). With
    ``output``, the model is also saved there (checked to be writable before
    training) and a neural model checkpoints to ``OUTPUT.ckpt.npz`` unless a
    ``checkpoint`` is given. That default checkpoint is deleted once the model is saved,
    unless ``keep_checkpoint``; a checkpoint path the caller gave is always kept.

    N-gram models: ``memory`` ("4G") is a budget that chooses between in-memory and
    out-of-core estimation (:mod:`nlm.ngram.external`, spilling to ``temp_dir``);
    ``dask`` ("local", "local:2" or a scheduler address) estimates on a Dask cluster.
    ``vocab_file``: a closed vocabulary (other words become ``<unk>``);
    ``limit_vocab_file``: keep only the n-grams whose words it lists
    (:mod:`nlm.ngram.limit`).
    ``arpa`` also writes the model as an ARPA file.

    >>> lm = train("corpora/shakespeare/train.txt", "add-k", order=2, k=0.01)  # doctest: +SKIP
    """
    spec = MODELS.get(model)
    if spec is None:
        raise OptionError(f"unknown model {model!r}; choose from {', '.join(sorted(MODELS))}")
    unknown = sorted(set(options) - spec.options)
    if unknown:
        names = ", ".join(f"--{n.replace('_', '-')}" for n in unknown)
        raise OptionError(f"{names} does not apply to --model {model}")
    _check_applicable(model, spec, options)
    temporary_checkpoint = None
    if output is not None:
        check_writable(output)
        if "checkpoint" in spec.options and options.get("checkpoint") is None:
            # neural models: always checkpoint, so that Ctrl-C can save and --resume continue
            options["checkpoint"] = default_checkpoint(output)
            temporary_checkpoint = None if keep_checkpoint else options["checkpoint"]
    _check_checkpoint(options)
    if valid_file is not None and is_stream(valid_file):
        raise OptionError(f"{describe_path(valid_file)}: the validation text cannot be "
                          "standard input or a pipe: it is read more than once; give a file")
    resume = bool(options.get("resume"))
    check_distinct(
        {"training text": train_file, "validation text": valid_file,
         "checkpoint to resume from": options.get("checkpoint") if resume else None,
         "vocabulary file": vocab_file, "limit vocabulary file": limit_vocab_file},
        {"model file (-o)": output, "training log": options.get("train_log"),
         "checkpoint": None if resume else options.get("checkpoint"),
         "ARPA file (--arpa)": arpa})
    with outputs_together(output, arpa):      # the model and its ARPA file: both or neither
        lm = _out_of_core(train_file, model, spec, options, memory, temp_dir, dask, arpa,
                          output, tokenizer, lowercase, min_count, max_size, progress,
                          vocab_file or limit_vocab_file)
        if lm is None:
            lm = _in_memory(train_file, model, spec, options, tokenizer, lowercase, min_count,
                            max_size, valid_file, progress, output, vocab_file,
                            limit_vocab_file, arpa)
    if temporary_checkpoint is not None and os.path.exists(temporary_checkpoint):
        # the model is safe; its checkpoint (about 3x its size) was only for --resume
        try:
            os.unlink(temporary_checkpoint)
        except OSError:
            pass
    return lm


def _in_memory(train_file, model, spec, options, tokenizer, lowercase, min_count, max_size,
               valid_file, progress, output, vocab_file, limit_vocab_file, arpa):
    closed = limit = None
    if limit_vocab_file is not None and "checkpoint" in spec.options:
        raise OptionError(f"--limit-vocab-file applies to n-gram models, not to --model {model} "
                          "(--vocab gives any model a closed vocabulary)")
    if vocab_file is not None or limit_vocab_file is not None:
        if vocab_file is not None and (min_count != 1 or max_size is not None):
            raise OptionError("--vocab gives the vocabulary; --min-count and --max-size "
                              "do not apply with it")
        closed = read_vocab_file(vocab_file, lowercase) if vocab_file is not None else None
        limit = (read_vocab_file(limit_vocab_file, lowercase)
                 if limit_vocab_file is not None else None)
    vocab, corpus = read_training_corpus(train_file, tokenizer, lowercase, min_count, max_size,
                                         progress, closed=closed)
    # read before fitting, so that a bad validation file fails before training, not
    # after the model was written
    valid = read_corpus(valid_file, vocab) if valid_file is not None else None
    extra = {}
    if spec.wants_valid:
        extra["valid"] = valid
    if spec.wants_progress:
        extra["progress"] = progress
    with reporting(bool(progress)):
        lm = spec.fit(corpus, vocab, **options, **extra)
        if limit is not None:
            from .ngram.limit import limit_vocabulary
            lm = limit_vocabulary(lm, limit)
        if output is not None:
            from .modelfile import save
            with stage(f"writing {output}"):
                save(lm, output)
        if arpa is not None:
            from .ngram.arpa import write_arpa
            with stage(f"writing {arpa}"):
                write_arpa(lm, arpa)
    return lm


__all__ = ["train", "MODELS", "default_checkpoint"]
