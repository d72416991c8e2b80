"""The Python API for training: text file in, LanguageModel out.

The models a user can train are those in :data:`nlm.registry.MODELS`, each
registered beside its model; this module checks the options against the
model's declaration, reads the text and calls the model's fit function.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .corpus import describe_path, is_stream, read_corpus, read_training_corpus, read_vocab_file
from .errors import OptionError
from .files import check_distinct, check_writable, outputs_together
from .model import LanguageModel
from .ngram.estimate.methods import check_arpa_output
from .ngram.external.budget import ScaleOptions
from .options import OptionBundle, flag
from .progress import reporting, stage
from .registry import MODELS
from .vocab import TextOptions


def default_checkpoint(output) -> str:
    """Where a neural model trained into ``output`` keeps its checkpoint."""
    return os.path.splitext(os.fspath(output))[0] + ".ckpt.npz"


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
    if not options.get("resume") and os.path.isfile(path) and _is_model_file(path):
        raise OptionError(f"{path}: an nlm model file; --checkpoint would overwrite it with "
                          "a training checkpoint: give another file")
    if options.get("resume") and os.path.isfile(path):
        from .neural.checkpoint import checkpoint_summary
        if checkpoint_summary(path) is None and _is_model_file(path):
            raise OptionError(f"{path}: an nlm model file, not an nlm checkpoint; resume from "
                              "the checkpoint training wrote (OUTPUT.ckpt.npz, or the "
                              "--checkpoint FILE given then)")


@dataclass(frozen=True)
class Outputs(OptionBundle):
    """Where a trained model goes (``nlm train``'s output flags)."""
    output: str | None = flag("-o", "--output",
                              help="Model file to write (.npz). Required, except for n-gram "
                              "models given --binary or --arpa.")
    arpa: str | None = flag("--arpa", help="N-gram models: also write the model as an ARPA "
                            "file (.arpa or .arpa.gz), streamed.")
    binary: str | None = flag("--binary", help="Backoff n-gram models: also write the model "
                              "as a memory-mapped binary file (.nlmbin, as nlm build-binary; "
                              "out of core: straight from the estimator).")
    keep_checkpoint: bool = flag(
        "--keep-checkpoint", default=False, is_flag=True,
        help="Neural: keep the checkpoint OUTPUT.ckpt.npz after a successful run (it is "
        "deleted once the model is saved; a --checkpoint FILE is always kept). [default: no]")


def _is_model_file(path) -> bool:
    import zipfile
    from .files import file_kind
    if file_kind(path) != "npz":
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return "__nlm__.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return False


def train(train_file, model: str = "mkn", *, valid_file=None, progress: bool = False,
          text: TextOptions | None = None, outputs: Outputs | None = None,
          scale: ScaleOptions | None = None, **options) -> LanguageModel:
    """Train a model of kind ``model`` on a text file (one sentence per line).

    ``options`` are the model's (see ``nlm.MODELS[model].defaults``). The options of
    the three bundles may be given as bundles or flat, by their field names:
    :class:`~nlm.vocab.TextOptions` (``tokenizer``, ``lowercase``, ``min_count``,
    ``max_size``; ``vocab_file``: a closed vocabulary, other words become ``<unk>``;
    ``limit_vocab_file``: keep only the n-grams whose words it lists,
    :mod:`nlm.ngram.limit`), :class:`Outputs` and
    :class:`~nlm.ngram.external.budget.ScaleOptions`.

    With ``output``, the model is also saved there (checked to be writable before
    training) and a neural model checkpoints to ``OUTPUT.ckpt.npz`` unless a
    ``checkpoint`` is given. That default checkpoint is deleted once the model is saved,
    unless ``keep_checkpoint``; a checkpoint path the caller gave is always kept.
    ``arpa`` also writes an n-gram model as an ARPA file.

    N-gram models: ``memory`` ("4G") is a budget that chooses between in-memory and
    out-of-core estimation (:mod:`nlm.ngram.external`, spilling to ``temp_dir``);
    ``dask`` ("local", "local:2" or a scheduler address) estimates on a Dask cluster.

    >>> lm = train("corpora/shakespeare/train.txt", "add-k", order=2, k=0.01)  # doctest: +SKIP
    """
    text = TextOptions.take(options, text)
    outputs = Outputs.take(options, outputs)
    scale = ScaleOptions.take(options, scale)
    spec = _spec(model, options)
    temporary_checkpoint = _check_request(spec, options, text, outputs, scale, train_file,
                                          valid_file)
    # the model file, its ARPA and its binary: all or none
    with outputs_together(outputs.output, outputs.arpa, outputs.binary):
        lm = None
        if spec.family == "ngram":
            lm = _out_of_core(train_file, spec, options, text, outputs, scale, progress)
        if lm is None:
            lm = _in_memory(train_file, spec, options, text, outputs, valid_file, progress)
    if temporary_checkpoint is not None and os.path.exists(temporary_checkpoint):
        # the model is safe; its checkpoint (about 3x its size) was only for --resume
        try:
            os.unlink(temporary_checkpoint)
        except OSError:
            pass
    return lm


def _spec(model: str, options: dict):
    """The registered model, with ``options`` checked against its declaration."""
    spec = MODELS.get(model)
    if spec is None:
        raise OptionError(f"unknown model {model!r}; choose from {', '.join(sorted(MODELS))}")
    unknown = sorted(set(options) - spec.options)
    if unknown:
        names = ", ".join(f"--{n.replace('_', '-')}" for n in unknown)
        raise OptionError(f"{names} does not apply to --model {model}")
    _check_applicable(model, spec, options)
    return spec


def _check_request(spec, options, text, outputs, scale, train_file, valid_file):
    """Everything checked before any work (outputs writable and distinct from the
    inputs, options that apply); returns the default checkpoint to delete afterwards."""
    temporary_checkpoint = None
    if spec.family == "neural":
        if scale.given() or outputs.arpa is not None or outputs.binary is not None:
            raise OptionError("--memory, --temp-dir, --dask, --arpa and --binary apply to "
                              "n-gram models")
        if text.limit_vocab_file is not None:
            raise OptionError(f"--limit-vocab-file applies to n-gram models, not to --model "
                              f"{spec.name} (--vocab gives any model a closed vocabulary)")
    if outputs.output is not None:
        check_writable(outputs.output)
        if spec.family == "neural" and options.get("checkpoint") is None:
            # neural models: always checkpoint, so that Ctrl-C can save and --resume continue
            options["checkpoint"] = default_checkpoint(outputs.output)
            temporary_checkpoint = None if outputs.keep_checkpoint else options["checkpoint"]
    _check_checkpoint(options)
    if valid_file is not None and is_stream(valid_file):
        raise OptionError(f"{describe_path(valid_file)}: the validation text cannot be "
                          "standard input or a pipe: it is read more than once; give a file")
    if text.vocab_file is not None and (text.min_count != 1 or text.max_size is not None):
        raise OptionError("--vocab gives the vocabulary; --min-count and --max-size "
                          "do not apply with it")
    resume = bool(options.get("resume"))
    check_distinct(
        {"training text": train_file, "validation text": valid_file,
         "checkpoint to resume from": options.get("checkpoint") if resume else None,
         "vocabulary file": text.vocab_file, "limit vocabulary file": text.limit_vocab_file},
        {"model file (-o)": outputs.output, "training log": options.get("train_log"),
         "checkpoint": None if resume else options.get("checkpoint"),
         "ARPA file (--arpa)": outputs.arpa, "binary model (--binary)": outputs.binary})
    return temporary_checkpoint


def _out_of_core(train_file, spec, options, text, outputs, scale, progress):
    """The n-gram model estimated out of core or on Dask (:mod:`nlm.ngram.external`) when
    that is needed or asked for; None when the in-memory estimator runs."""
    if outputs.arpa is not None:
        check_writable(outputs.arpa)
        check_arpa_output(spec.name)
    if outputs.binary is not None:
        check_writable(outputs.binary)
    from .ngram.external.train import train_if_out_of_core
    with reporting(bool(progress)):
        return train_if_out_of_core(train_file, spec.name, dict(options), text, scale,
                                    outputs.output, outputs.arpa, progress,
                                    binary=outputs.binary)


def _in_memory(train_file, spec, options, text, outputs, valid_file, progress):
    closed = read_vocab_file(text.vocab_file, text.lowercase) if text.vocab_file else None
    limit = (read_vocab_file(text.limit_vocab_file, text.lowercase)
             if text.limit_vocab_file is not None else None)
    vocab, corpus = read_training_corpus(train_file, text.tokenizer, text.lowercase,
                                         text.min_count, text.max_size, progress, closed=closed)
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
        if outputs.output is not None:
            from .modelfile import save
            with stage(f"writing {outputs.output}"):
                save(lm, outputs.output)
        if outputs.arpa is not None:
            from .ngram.arpa import write_arpa
            with stage(f"writing {outputs.arpa}"):
                write_arpa(lm, outputs.arpa)
        if outputs.binary is not None:
            from .ngram.binary import write_binary
            with stage(f"writing {outputs.binary}"):
                write_binary(lm, outputs.binary)
    return lm


__all__ = ["train", "MODELS", "default_checkpoint", "Outputs", "TextOptions", "ScaleOptions"]
