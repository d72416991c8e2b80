"""The ``nlm`` command line: a thin click layer over the library.

Library errors (:class:`nlm.errors.NlmError`) become one-line click errors
here and nowhere else.
"""
from __future__ import annotations

import sys

from .errors import interrupted_hook

sys.excepthook = interrupted_hook    # Ctrl-C while the modules import: one line

import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import functools  # noqa: E402
import io
import json
import math
import os
import time
import warnings

import click
import numpy as np

from .version import __version__
from .corpus import Corpus, read_corpus, tokenize_text
from .errors import ModelOutputError, NlmError, OptionError, Terminated, raise_terminated
from .evaluate import LN10, check_numbers, evaluate as evaluate_model, summarize
from .files import check_distinct, check_writable, outputs_together
from .modelfile import load, save
from .registry import MODELS
from .sample import generate as generate_samples
from .ngram.external.budget import ScaleOptions
from .vocab import TOKENIZERS, TextOptions


def user_errors(fn):
    """Turn library errors, Ctrl-C, SIGTERM, SIGHUP and failed writes to standard output
    into one-line messages and a non-zero exit."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        # warnings (a discount that could not be estimated, contexts missing from an ARPA
        # file) are one line each, "warning: ...", without Python's source line
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for quiet in (ResourceWarning, DeprecationWarning, PendingDeprecationWarning):
                warnings.simplefilter("ignore", quiet)   # for developers, not users
            try:
                return _run(fn, *args, **kwargs)
            finally:
                for w in caught:
                    click.echo(f"warning: {w.message}", err=True)
    return wrapper


def _run(fn, *args, **kwargs):
    if sys.stdout is None and (fn.__name__ in _PRINTING or
                               (fn.__name__ == "compare" and kwargs.get("output") is None)):
        raise click.ClickException("standard output is closed: this command prints its "
                                   "results there (redirect it to a file or /dev/null)")
    signals = _exit_on_signals()
    try:
        result = fn(*args, **kwargs)
        _flush_stdout()
        return result
    except NlmError as e:
        raise click.ClickException(str(e)) from None
    except MemoryError:
        raise click.ClickException(_memory_advice(kwargs)) from None
    except BrokenPipeError:
        _quiet_stdout()
        sys.stderr.close()
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        sys.exit(128 + 2)
    except Terminated as e:
        click.echo(f"Error: stopped by {e.name}", err=True)
        sys.exit(e.code)
    finally:
        _restore_signals(signals)


#: Commands whose result is what they print (not a file they write).
_PRINTING = {"evaluate", "score", "generate", "info", "vocab_command"}


def _exit_on_signals() -> dict:
    """SIGTERM and SIGHUP raise :class:`Terminated` while a command runs (main thread only:
    CliRunner in a thread keeps its handlers); returns the previous handlers."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):   # not ignored (nohup)
            previous[sig] = signal.signal(sig, raise_terminated)
    return previous


def _restore_signals(previous: dict) -> None:
    import signal
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def echo(message="", nl: bool = True) -> None:
    """A line of a command's output on standard output; a failed write (disk full,
    closed stdout) is a one-line NlmError, not a traceback."""
    if sys.stdout is None:     # closed (>&-): the commands that print results refused it
        return
    with _stdout_errors():
        click.echo(message, nl=nl)


def _flush_stdout() -> None:
    if sys.stdout is None:
        return
    with _stdout_errors():
        sys.stdout.flush()


@contextlib.contextmanager
def _stdout_errors():
    """A failed write to standard output as one NlmError line (a broken pipe passes: the
    reader went away, which is not an error of ours)."""
    try:
        yield
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as e:
        _quiet_stdout()
        raise NlmError(f"standard output: cannot write ({getattr(e, 'strerror', None) or e})"
                       ) from None


def _quiet_stdout() -> None:
    """After a failed write to standard output: point file descriptor 1 at /dev/null so
    that Python's flush at exit does not fail a second time with a traceback."""
    try:
        if sys.stdout is not None and sys.stdout.fileno() == 1:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.close(null)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def _memory_advice(options: dict) -> str:
    """What to make smaller when a command ran out of memory, after what it was asked."""
    neural = [f"--{k}" for k in ("hidden", "emb", "batch_size", "bptt", "context")
              if options.get(k) is not None]
    if neural or options.get("model_name") in ("mlp", "rnn"):
        return ("out of memory; try a smaller network (" + ", ".join(
            [n.replace("_", "-") for n in neural] or ["--hidden", "--emb"])
            + ") or vocabulary (--max-size / --min-count)")
    return ("out of memory; try a smaller order, vocabulary (--max-size / --min-count) or "
            "corpus, or --memory to estimate out of core")


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.4f}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nlm")
def main():
    """nlm: train, evaluate and sample classic language models.

    \b
    Example:
      nlm train corpora/shakespeare/train.txt --model mkn --order 3 -o lm.npz
      nlm evaluate lm.npz corpora/shakespeare/test.txt
      nlm generate lm.npz -n 3 --seed 1
    """


def _positive_int(name):
    def check(ctx, param, value):
        if value is not None and value < 1:
            raise click.BadParameter(f"must be at least 1, got {value}")
        return value
    return check


#: validators a bundle field names in its metadata (``check``)
_CHECKS = {"positive": _positive_int}


def bundle_options(bundle):
    """The click options of an option bundle (:mod:`nlm.options`), from its fields."""
    def apply(fn):
        for f in reversed(dataclasses.fields(bundle)):
            meta = dict(f.metadata)
            decls, help_text = meta.pop("flags"), meta.pop("help")
            check = meta.pop("check", None)
            if check is not None:
                meta["callback"] = _CHECKS[check](decls[-1].lstrip("-"))
            choices = meta.pop("choices", None)
            if choices is not None:
                meta["type"] = click.Choice(list(choices))
            if meta.get("required"):
                fn = click.option(*decls, f.name, help=help_text, **meta)(fn)
            else:
                fn = click.option(*decls, f.name, default=f.default, help=help_text, **meta)(fn)
        return fn
    return apply


def _bundle(*options):
    """Several click options as one decorator (an option set shared by models)."""
    def apply(fn):
        for opt in reversed(options):
            fn = opt(fn)
        return fn
    return apply


def _default_text(name: str) -> str:
    """'[default: ...]' for a model option: its default in every model that takes it
    (from the registry), grouped when models differ."""
    by_value: dict[str, list[str]] = {}
    for model, spec in MODELS.items():
        if name not in spec.defaults:
            continue
        value = spec.defaults[name]
        opt = spec.option_help.get(name)
        if value is None:
            text = opt.none_means if opt is not None and opt.none_means else "none"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = str(value)
        by_value.setdefault(text, []).append(model)
    if len(by_value) == 1:
        return f"[default: {next(iter(by_value))}]"
    return "[default: " + "; ".join(f"{', '.join(models)}: {text}"
                                    for text, models in by_value.items()) + "]"


def model_options(fn):
    """The options of every registered model as click options of ``nlm train``, built
    from the registry (one flag per option name, default None so that a model keeps
    its own default unless the user gives one)."""
    seen: dict[str, tuple] = {}
    for spec in MODELS.values():
        for name in spec.defaults:
            if name not in seen:
                seen[name] = (spec.option_help.get(name), spec.types[name])
    for name in sorted(seen, reverse=True):
        opt, kind = seen[name]
        help_text = (opt.help if opt is not None else "") + " " + _default_text(name)
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            if opt is not None and opt.flag:     # --yes/--no: None unless given
                fn = click.option(opt.flag, name, default=None, help=help_text)(fn)
            else:                                # --flag: True if given, else None
                fn = click.option(flag, name, is_flag=True, flag_value=True, default=None,
                                  help=help_text)(fn)
            continue
        ptype = click.Choice(list(opt.choices)) if opt is not None and opt.choices else kind
        fn = click.option(flag, name, type=ptype, default=None, help=help_text)(fn)
    return fn


class OptionsOnUse(click.Command):
    """A command whose parameters are made by ``params_of()`` the first time anything
    reads them (parsing its arguments, its --help), not when the module is imported:
    ``nlm train``'s come from the registry of models, which imports every model module
    (and Numba), a cost no other command should pay."""

    def __init__(self, *args, params_of, **kwargs):
        self._params_of = params_of
        super().__init__(*args, **kwargs)

    @property
    def params(self):
        if self._params_of is not None:
            make, self._params_of = self._params_of, None
            self._params = make() + self._params
        return self._params

    @params.setter
    def params(self, value):
        self._params = value


def _train_params() -> list:
    """The arguments and options of ``nlm train``, in the order of its help."""
    from .api import Outputs

    @click.argument("train_file")
    @click.option("--model", "model_name", type=click.Choice(sorted(MODELS)), default="mkn",
                  show_default=True, help="Model kind (mkn: modified Kneser-Ney, order 3 "
                  "unless --order is given).")
    @click.option("--valid", "valid_file", default=None,
                  help="Held-out text; its perplexity is printed after training.")
    @bundle_options(TextOptions)
    @bundle_options(Outputs)
    @bundle_options(ScaleOptions)
    @model_options
    @click.option("-q", "--quiet", is_flag=True, help="No progress output.")
    def declared():
        pass
    return list(reversed(declared.__click_params__))


@main.command(cls=OptionsOnUse, params_of=_train_params)
@user_errors
def train(train_file, model_name, valid_file, quiet, **flags):
    """Train a language model on TRAIN_FILE (UTF-8, one sentence per line).

    \b
    Example:
      nlm train corpora/shakespeare/train.txt --model add-k --order 2 --k 0.01 \\
          --valid corpora/shakespeare/valid.txt -o shakespeare.npz
    """
    from .api import Outputs, train as train_model
    text, outputs = TextOptions.take(flags), Outputs.take(flags)
    scale = ScaleOptions.take(flags)
    # Model options are declared with default None (flags: None unless given); only
    # those the user gave are passed on, and the library checks that they apply.
    options = {name: value for name, value in flags.items() if value is not None}
    output = outputs.output or outputs.binary or outputs.arpa
    if output is None:
        raise click.UsageError("Missing option '-o' / '--output' (n-gram models: or "
                               "--binary / --arpa).")
    t0 = time.perf_counter()
    model = train_model(train_file, model_name, valid_file=valid_file, progress=not quiet,
                        text=text, outputs=outputs, scale=scale, **options)
    seconds = time.perf_counter() - t0
    echo(f"trained {model.describe().get('method', model.kind)} model in {seconds:.2f} s: vocabulary {len(model.vocab)}"
               f"{_describe_short(model)} -> {output}")
    if valid_file is not None and not model.normalized:
        echo("no valid perplexity: the model's scores are not probabilities")
    elif valid_file is not None:
        ev = evaluate_model(model, read_corpus(valid_file, model.vocab))
        echo(f"valid perplexity {_fmt(ev.perplexity)} "
                   f"(excluding OOVs {_fmt(ev.perplexity_excluding_oov)}), "
                   f"{ev.tokens} tokens, {ev.oov} OOVs")


def _describe_short(model) -> str:
    d = model.describe()
    if "ngrams" in d:
        return ", n-grams " + "/".join(str(x) for x in d["ngrams"])
    if "parameters" in d:
        return f", {d['parameters']} parameters"
    return ""


_text_options = _bundle(
    click.option("--tokenizer", type=click.Choice(TOKENIZERS), default=None,
                 help="ARPA files: how to tokenize text for this model. [default: what the "
                 "file records (nlm writes it), else whitespace]"),
    click.option("--lower/--no-lower", "lower", default=None,
                 help="ARPA files: lower-case text for this model. [default: what the file "
                 "records, else no]"))


def _load_reading(model_file, tokenizer, lower):
    """Load a model; for an ARPA file, --tokenizer/--lower override how text is read."""
    if tokenizer is None and lower is None:
        return load(model_file)
    from .files import file_kind
    if file_kind(model_file) not in ("arpa", "arpa-gzip"):
        raise OptionError(f"{model_file}: --tokenizer and --lower apply to ARPA files; an nlm "
                          "model file records how its text was tokenized")
    from .ngram.arpa import read_arpa
    return read_arpa(model_file, tokenizer=tokenizer, lowercase=lower)


@main.command()
@click.argument("model_file")
@click.argument("text_file")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--per-sentence", is_flag=True,
              help="Also give each sentence: its number, token count (</s> included), "
              "log-probability (nats), perplexity and text, tab-separated.")
@click.option("--carry-state", is_flag=True,
              help="Score the sentences in file order with the model's state carried across "
              "sentence boundaries (rnn: the hidden vector; mlp: context words from the "
              "previous sentence), as rnnlm and PyTorch's word_language_model do. Default: "
              "every sentence from the initial state, as n-gram models always are.")
@click.option("--dynamic", is_flag=True,
              help="Dynamic evaluation (rnnlm -dynamic): keep learning from the text while "
              "scoring it, each part scored before the model learns from it (rnn).")
@click.option("--dynamic-lr", type=float, default=0.001, show_default=True,
              help="--dynamic: SGD learning rate per token (about 0.001 suits the rnn "
              "trained by default).")
@click.option("--kenlm-compatible", is_flag=True,
              help="Read TEXT_FILE as KenLM's query does (every line a sentence, a blank one "
                   "too; split at whitespace; a literal <unk> is an OOV): query's perplexity.")
@_text_options
@user_errors
def evaluate(model_file, text_file, as_json, per_sentence, carry_state, dynamic, dynamic_lr,
             kenlm_compatible, tokenizer, lower):
    """Perplexity of MODEL_FILE on TEXT_FILE (one sentence per line).

    Every sentence's </s> is scored and counted; <s> is not. OOVs are scored
    with the model's <unk> probability; the perplexity excluding OOVs drops them.

    \b
    Example:
      nlm evaluate shakespeare.npz corpora/shakespeare/test.txt --json
    """
    model = _load_reading(model_file, tokenizer, lower)
    texts = None
    if kenlm_compatible:
        from .evaluate import read_query_text
        corpus = read_query_text(text_file, model.vocab)
        if per_sentence:   # every line is a sentence
            texts = _query_lines(text_file)
    elif per_sentence:     # the text read once (a pipe can be read only once)
        texts, corpus = _lines_and_corpus(text_file, model.vocab)
    else:
        corpus = read_corpus(text_file, model.vocab)
    ev = evaluate_model(model, corpus, dynamic_lr=dynamic_lr if dynamic else None,
                        carry_state=carry_state)
    check_numbers(model_file, ev.logprob)
    if as_json:
        d = ev.to_dict(per_sentence=per_sentence)
        if per_sentence:
            d["sentences_detail"] = [
                {"text": text, "tokens": n, "logprob": _finite(lp), "perplexity": _finite(ppl)}
                for text, n, lp, ppl in _per_sentence(texts, corpus, ev)]
        echo(json.dumps(d))
        return
    echo(f"sentences {ev.sentences}  tokens {ev.tokens}  "
               f"OOVs {ev.oov} ({100 * ev.oov_rate:.2f}%)")
    echo(f"log-probability {ev.logprob:.4f} nats ({ev.logprob / LN10:.4f} log10)")
    echo(f"cross-entropy {_fmt(ev.cross_entropy_nats)} nats/token "
               f"({_fmt(ev.bits_per_token)} bits)")
    echo(f"perplexity {_fmt(ev.perplexity)}  "
               f"(excluding OOVs {_fmt(ev.perplexity_excluding_oov)})")
    if ev.protocol != "per-sentence":
        echo(f"protocol {ev.protocol}")
    if ev.zero_probability_tokens:
        echo(f"{ev.zero_probability_tokens} tokens have probability 0")
    if per_sentence:
        for i, (text, n, lp, ppl) in enumerate(_per_sentence(texts, corpus, ev), 1):
            echo(f"sentence {i}\t{n} tokens\t{lp:.4f}\tppl {_fmt(ppl)}\t{text}")


def _finite(x: float):
    return x if math.isfinite(x) else None


def _query_lines(text_file) -> list[str]:
    """Every line of a text read a second time (--kenlm-compatible --per-sentence)."""
    from .corpus import is_stream
    if is_stream(text_file):
        raise OptionError(f"{text_file}: --kenlm-compatible --per-sentence reads the text "
                          "twice; give a file, not a pipe")
    with open(text_file, encoding="utf-8") as f:
        return [line.strip() for line in f]


def _lines_and_corpus(text_file, vocab):
    """(the kept lines, the corpus) of a text read once: what read_corpus reads, with the
    line of each sentence."""
    from .corpus import describe_path, iter_lines
    from .errors import CorpusError
    texts, sentences = [], []
    for line in iter_lines(text_file):
        words = tokenize_text(line, vocab)
        if words:
            texts.append(line.strip())
            sentences.append(words)
    if not sentences:
        raise CorpusError(f"{describe_path(text_file)}: empty corpus (no non-blank lines)")
    return texts, Corpus.from_sentences(sentences, vocab)


def _per_sentence(texts, corpus, ev):
    """(text, tokens, log-probability, perplexity) of each sentence of the evaluation; the
    text is the line the sentence was read from."""
    lengths = np.diff(corpus.offsets)
    for text, n, lp in zip(texts, lengths.tolist(), ev.sentence_logprobs.tolist()):
        yield text, n, lp, (math.exp(-lp / n) if -lp / n < 700 else math.inf)


@main.command()
@click.argument("model_file")
@click.argument("sentences", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sentence.")
@click.option("--log10", "log10", is_flag=True,
              help="Log-probabilities in base 10 (as ARPA files and KenLM's query). "
              "[default: natural log]")
@_text_options
@user_errors
def score(model_file, sentences, as_json, log10, tokenizer, lower):
    """Per-token log-probabilities (natural log) of SENTENCES, or of stdin lines.

    Every stdin line gets one output line, in order: a blank line is the empty
    sentence, scored as its </s> alone.

    \b
    Example:
      nlm score shakespeare.npz "to be or not to be"
      echo "what light through yonder window breaks" | nlm score shakespeare.npz
    """
    model = _load_reading(model_file, tokenizer, lower)
    if not sentences:
        sentences = _stdin_lines()   # blank lines too: output line i is input line i
    vocab = model.vocab
    for text in sentences:
        words = tokenize_text(text, vocab)
        corpus = Corpus.from_sentences([words], vocab)
        lps = model.score_corpus(corpus.ids, corpus.offsets)
        check_numbers(model_file, float(np.sum(lps)))
        tokens = words + ["</s>"]
        ev = summarize(corpus, lps)
        total, ppl = ev.logprob, ev.perplexity
        if log10:
            lps, total = lps / LN10, total / LN10
        if as_json:
            echo(json.dumps({
                "sentence": text, "tokens": tokens,
                "logprobs": [x if math.isfinite(x) else None for x in map(float, lps)],
                "oov": [bool(x) for x in corpus.oov],
                "total": total if math.isfinite(total) else None,
                "perplexity": ppl if math.isfinite(ppl) else None,
                "base": "10" if log10 else "e"}))
            continue
        cells = [f"{w}{'(OOV)' if o else ''} {lp:.4f}" for w, lp, o in zip(tokens, lps, corpus.oov)]
        echo("\t".join(cells) + f"\ttotal {total:.4f}\tppl {_fmt(ppl)}")


def _stdin_lines():
    """Every line of standard input (blank ones too), decompressed when its first bytes
    say it is gzip, bzip2 or xz data."""
    import lzma
    import zlib
    from .corpus import open_text
    if sys.stdin is None:
        raise NlmError("standard input is closed: give the sentences as arguments, or pipe "
                       "text in")
    f, _, compression = open_text("-")
    try:
        data = f.read()
    except (EOFError, OSError, ValueError, zlib.error, lzma.LZMAError) as e:
        raise NlmError(f"standard input: corrupt or truncated {compression or 'input'} "
                       f"({e})".splitlines()[0]) from None
    try:
        data = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NlmError("standard input is not valid UTF-8") from None
    return data.splitlines()


@main.command()
@click.argument("model_file")
@click.option("-n", "n", type=int, default=1, show_default=True, help="Number of samples.")
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same text).")
@click.option("--prompt", default=None, help="Text that every sample continues.")
@click.option("--temperature", type=float, default=1.0, show_default=True,
              help="Below 1 sharper, above 1 flatter; 0 is greedy.")
@click.option("--top-k", type=int, default=None, help="Sample only from the K likeliest tokens.")
@click.option("--top-p", type=float, default=None,
              help="Sample only from the smallest set of tokens with mass P (nucleus).")
@click.option("--max-tokens", type=int, default=50, show_default=True,
              help="Stop a sample after this many tokens if </s> has not come.")
@_text_options
@user_errors
def generate(model_file, n, seed, prompt, temperature, top_k, top_p, max_tokens, tokenizer,
             lower):
    """Sample sentences from MODEL_FILE.

    \b
    Example:
      nlm generate shakespeare.npz -n 3 --seed 1 --prompt "my lord" --top-p 0.9
    """
    from .sample import check_sampling_options
    check_sampling_options(temperature, top_k, top_p, max_tokens, n)
    model = _load_reading(model_file, tokenizer, lower)
    prompt_words = tokenize_text(prompt, model.vocab) if prompt else None
    try:
        samples = generate_samples(model, n=n, max_tokens=max_tokens, seed=seed,
                                   prompt=prompt_words, temperature=temperature,
                                   top_k=top_k, top_p=top_p)
    except ModelOutputError as e:
        raise NlmError(f"{model_file}: {e}") from None
    for words in samples:
        echo(model.vocab.detokenize(words))


@main.command()
@click.argument("model_file")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@user_errors
def info(model_file, as_json):
    """Describe a model file: kind, hyper-parameters, vocabulary, sizes.

    \b
    Example:
      nlm info shakespeare.npz
    """
    from .neural.checkpoint import checkpoint_summary
    ck = checkpoint_summary(model_file) if os.path.isfile(model_file) else None
    if ck is not None:
        if as_json:
            echo(json.dumps(ck))
            return
        echo(f"file: {model_file}")
        echo(f"kind: training checkpoint of an {ck['model']} model")
        echo(f"progress: {ck['epochs']} epoch(s) done"
                   + (f" and {ck['step']} steps of the next" if ck["step"] else "")
                   + f", {ck['updates']} updates, {ck['words']} words"
                   + (" (training finished)" if ck["finished"] else ""))
        if ck["best_valid_ppl"] is not None:
            echo(f"best valid ppl: {ck['best_valid_ppl']:.4f}")
        echo(f"config: {_settings(ck['config'])}")
        echo("continue with: nlm train TEXT (the same options) --resume "
                   f"--checkpoint {model_file}")
        return
    model = load(model_file)
    d = {"file": model_file, "kind": model.kind, "config": model.config(),
         "vocabulary": len(model.vocab), "tokenizer": model.vocab.tokenizer,
         "lowercase": model.vocab.lowercase, "normalized": model.normalized}
    d.update(model.describe())
    if as_json:
        echo(json.dumps(d))
        return
    for key, value in d.items():
        if key == "config" and isinstance(value, dict):
            training = value.get("training")
            echo(f"config: {_settings({k: v for k, v in value.items() if k != 'training'})}")
            if isinstance(training, dict):
                echo("training: " + _settings({k: v for k, v in training.items()
                                                     if k != "history"}))
                for line in _history_lines(training.get("history") or []):
                    echo(line)
            continue
        if isinstance(value, dict):
            value = _settings(value)
        echo(f"{key}: {value}")


@main.command("vocab")
@click.argument("model_file")
@click.option("--counts", is_flag=True, help="Also print each word's training count "
              "(tab-separated; ARPA files have none: 0).")
@user_errors
def vocab_command(model_file, counts):
    """Print the vocabulary of MODEL_FILE, one word per line in id order (<unk>, <s>,
    </s> first). The output is a vocabulary file for nlm train --vocab or
    --limit-vocab-file.

    \b
    Example:
      nlm vocab shakespeare.npz > vocab.txt
    """
    model = load(model_file)
    words = model.vocab.words
    if counts:
        lines = [f"{w}\t{c}" for w, c in zip(words, model.vocab.counts.tolist())]
    else:
        lines = words
    for a in range(0, len(lines), 1 << 14):
        echo("\n".join(lines[a:a + (1 << 14)]))


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list) and len(v) > 6:
        return f"[{len(v)} values]"
    return str(v)


def _settings(d: dict) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in d.items())


def _history_lines(history: list, keep: int = 3) -> list[str]:
    """A training history in a few lines: the first and last epochs (all when few) and
    the best validation perplexity; ``nlm info --json`` gives every record."""
    if not history:
        return []

    def line(h):
        parts = [f"  epoch {h.get('epoch')}:"]
        for key, label in (("train_ppl", "train ppl"), ("valid_ppl", "valid ppl")):
            if isinstance(h.get(key), (int, float)):
                parts.append(f"{label} {h[key]:.2f}")
        if isinstance(h.get("lr"), (int, float)):
            parts.append(f"lr {h['lr']:.4g}")
        if isinstance(h.get("words_per_second"), (int, float)):
            parts.append(f"{h['words_per_second']:.0f} words/s")
        return " ".join(parts[:1]) + " " + ", ".join(parts[1:])

    shown = history if len(history) <= 2 * keep else history[:keep] + [None] + history[-keep:]
    out = [f"history: {len(history)} epoch(s)"]
    out += ["  ..." if h is None else line(h) for h in shown]
    valid = [h for h in history if isinstance(h.get("valid_ppl"), (int, float))]
    if valid:
        best = min(valid, key=lambda h: h["valid_ppl"])
        out.append(f"  best valid ppl {best['valid_ppl']:.2f} at epoch {best.get('epoch')}")
    return out


@main.command("export-arpa")
@click.argument("model_file")
@click.argument("output")
@user_errors
def export_arpa(model_file, output):
    """Write MODEL_FILE (a backoff or interpolated n-gram model) as an ARPA file.

    OUTPUT ending in .gz is gzipped. The file holds log10 probabilities and
    backoff weights, readable by KenLM, SRILM and nlm itself (evaluate, score,
    generate and info accept .arpa and .arpa.gz files).

    \b
    Example:
      nlm export-arpa kn5.npz kn5.arpa.gz
      nlm evaluate kn5.arpa.gz corpora/shakespeare/test.txt
    """
    from .ngram.arpa import export_model_file
    check_distinct({"model file": model_file}, {"ARPA output": output})
    check_writable(output)
    model = export_model_file(model_file, output)   # streamed: never more memory than the model
    echo(f"wrote {model.order}-gram ARPA model{_describe_short(model)} -> {output}")


@main.command("build-binary")
@click.argument("model_file")
@click.argument("output")
@_text_options
@user_errors
def build_binary(model_file, output, tokenizer, lower):
    """Write MODEL_FILE (an n-gram .npz, .arpa or .arpa.gz) as a memory-mapped binary
    model, which loads without reading its tables (name it *.nlmbin).

    Every command, nlm.load and nlm.kenlm.Model accept the binary file; a
    query reads only the pages it touches.

    \b
    Example:
      nlm build-binary kn5.arpa.gz kn5.nlmbin
      nlm evaluate kn5.nlmbin corpora/shakespeare/test.txt
    """
    from .ngram.binary import write_binary
    check_distinct({"model file": model_file}, {"binary output": output})
    check_writable(output)
    model = _load_reading(model_file, tokenizer, lower)
    t0 = time.perf_counter()
    size = write_binary(model, output)
    echo(f"wrote {model.order}-gram binary model{_describe_short(model)}, "
               f"{size / 2**20:.1f} MiB in {time.perf_counter() - t0:.1f} s -> {output}")


# -- mixtures, comparisons, training curves --------------------------------------


def _parse_weights(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers such as 0.7,0.3, got {text!r}",
                                 param_hint="--weights") from None


@main.command()
@click.argument("model_files", nargs=-1, required=True)
@click.option("--valid", "valid_file", default=None,
              help="Held-out text: the weights are tuned on it by EM, and each model's "
              "perplexity on it is printed.")
@click.option("--weights", default=None,
              help="Fixed comma-separated weights instead of EM, e.g. 0.7,0.3 "
              "(normalized to sum to 1).")
@click.option("--tol", type=float, default=1e-6, show_default=True,
              help="EM stops when no weight moves by more than this in one iteration, or "
              "the log-likelihood improves by less than a tenth of this (relative).")
@click.option("-o", "--output", default=None, help="Mixture file to write (.npz).")
@click.option("--write-arpa", "write_arpa_file", default=None,
              help="Also (or instead) merge the n-gram models into one backoff model over the "
              "union of their n-grams, written as ARPA (.gz: gzipped), as SRILM's -mix-lm "
              "-lambda -write-lm. Exact for n-grams in the union; backed-off words approximate "
              "the mixture (with --valid, the perplexity difference is printed).")
@user_errors
def mix(model_files, valid_file, weights, tol, output, write_arpa_file):
    """Interpolate MODEL_FILES linearly, with weights tuned on --valid by EM.

    The models must share a vocabulary (same training text and tokenizer
    options). The mixture file is small: it refers to the model files by
    paths relative to itself, so keep them together when moving them.

    \b
    Example:
      nlm mix --valid valid.txt kn5.npz mlp.npz -o kn5+mlp.npz
      nlm mix --weights 0.6,0.4 kn5.npz rnn.npz -o kn5+rnn.npz
      nlm mix --valid valid.txt kn5.npz wb3.arpa --write-arpa merged.arpa.gz
    """
    from .mixture import MixtureModel, combine_logprobs
    if len(model_files) < 2:
        raise click.UsageError("give at least two model files to mix")
    if output is None and write_arpa_file is None:
        raise click.UsageError("give -o FILE (a mixture file), --write-arpa FILE, or both")
    if valid_file is None and weights is None:
        raise click.UsageError("give --valid FILE to tune the weights on, or fixed --weights")
    if not (tol > 0):
        raise click.BadParameter(f"must be positive, got {tol}", param_hint="--tol")
    fixed = _parse_weights(weights) if weights is not None else None
    check_distinct({**{f"model {p}": p for p in model_files}, "validation text": valid_file},
                   {"mixture file (-o)": output, "merged ARPA file": write_arpa_file})
    for out in (output, write_arpa_file):
        if out is not None:
            check_writable(out)
    mixture = MixtureModel.from_files(model_files, fixed)
    valid_ppl = []
    if valid_file is not None:
        corpus = read_corpus(valid_file, mixture.vocab)
        L = mixture.component_logprobs(corpus.ids, corpus.offsets)   # (K, T)
        for name, row in zip(model_files, L):
            check_numbers(name, float(np.sum(row)))
        if fixed is None:
            mixture, result = mixture.tune(corpus.ids, corpus.offsets, component_logprobs=L,
                                           tol=tol)
            state = "converged" if result.converged else "stopped before converging"
            skipped = f", {result.skipped} tokens no model can predict" if result.skipped else ""
            echo(f"EM {state} after {result.iterations} iterations on {valid_file} "
                       f"({result.tokens} tokens{skipped})")
            if result.best_single is not None:
                echo(f"no mixture beats {model_files[result.best_single]} alone on "
                           f"{valid_file}: it gets weight 1")
        mixed = combine_logprobs(L, mixture.weights)
        valid_ppl = [_ppl(row) for row in L] + [_ppl(mixed)]
    merged = None
    with outputs_together(output, write_arpa_file):     # both files or neither
        if write_arpa_file is not None:
            from .ngram.arpa import write_arpa
            from .ngram.merge import merge_backoff
            merged = merge_backoff(mixture.components, mixture.weights)
            write_arpa(merged, write_arpa_file)
        if output is not None:
            save(mixture, output)
    names = list(model_files) + ["mixture"]
    width = max(len(n) for n in names)
    echo(f"{'model'.ljust(width)}  {'weight':>8}" + ("  valid ppl" if valid_ppl else ""))
    for i, name in enumerate(names):
        weight = f"{mixture.weights[i]:8.4f}" if i < len(model_files) else " " * 8
        ppl = f"  {_fmt(valid_ppl[i]):>9}" if valid_ppl else ""
        echo(f"{name.ljust(width)}  {weight}{ppl}")
    if merged is not None:
        line = f"merged into one {merged.order}-gram model{_describe_short(merged)}"
        if valid_file is not None:
            static = _ppl(merged.score_corpus(corpus.ids, corpus.offsets))
            line += (f"; valid ppl {_fmt(static)} (the mixture's {_fmt(valid_ppl[-1])}, "
                     f"{100 * (static / valid_ppl[-1] - 1):+.3f}%)")
        echo(f"{line} -> {write_arpa_file}")
    if output is not None:
        echo(f"-> {output}")


def _ppl(logprobs: np.ndarray) -> float:
    mean = float(np.mean(logprobs))
    return math.exp(-mean) if -mean < 700 else float("inf")


@main.command()
@click.argument("test_file")
@click.argument("model_files", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]),
              default="text", show_default=True, help="Table format.")
@click.option("-o", "--output", default=None, help="Write the table to this file instead of "
              "printing it.")
@user_errors
def compare(test_file, model_files, fmt, output):
    """Evaluate MODEL_FILES on TEST_FILE side by side: perplexity (with and without
    OOVs), cross-entropy, OOV rate and scoring speed.

    Each model reads the text with its own vocabulary; compare perplexities
    only between models with the same vocabulary (see the OOV rate).

    \b
    Example:
      nlm compare test.txt kn5.npz mlp.npz kn5+mlp.npz --format markdown -o results.md
    """
    from .compare import compare_models, format_rows
    from .modelfile import atomic_output
    if output is not None:
        check_distinct({**{f"model {p}": p for p in model_files}, "test text": test_file},
                       {"table (-o)": output})
        check_writable(output)
    from .corpus import is_stream
    if is_stream(test_file):
        raise NlmError(f"{'standard input' if test_file == '-' else test_file}: the test text "
                       "cannot be standard input or a pipe here: it is read once per model; "
                       "give a file")
    if not os.path.exists(test_file):
        raise NlmError(f"{test_file}: no such file")
    text = format_rows(compare_models(model_files, test_file), fmt, test_file=test_file)
    if output is None:
        echo(text, nl=False)
        return
    with atomic_output(output) as f:
        f.write(text.encode("utf-8"))
    click.echo(f"-> {output}", err=True)


@main.command()
@click.argument("logs", nargs=-1, required=True)
@click.option("-o", "--output", required=True,
              help="Image to write; the format follows the suffix (.png, .svg, .pdf).")
@click.option("--title", default=None, help="Title above the plot.")
@user_errors
def plot(logs, output, title):
    """Draw training curves from LOGS: train and valid perplexity against words seen.

    A log is the JSON Lines file a neural model writes while training (one
    JSON object per line with "words" and train/valid perplexity or loss;
    see nlm.plot). Several logs are drawn on the same axes. Needs matplotlib:
    pip install "nlm[plot]".

    \b
    Example:
      nlm plot mlp-train.jsonl -o curves.png
    """
    from .plot import plot_curves, read_training_log, require_matplotlib
    require_matplotlib()   # say how to install it before reading anything
    check_distinct({f"log {p}": p for p in logs}, {"image (-o)": output})
    curves = [read_training_log(path) for path in logs]
    plot_curves(curves, output, title=title)
    echo(f"-> {output}")


if __name__ == "__main__":  # pragma: no cover
    main()
