"""Perplexity and friends for any LanguageModel, written once.

Conventions (SRILM/KenLM): every sentence's ``</s>`` is scored and counted;
``<s>`` is never scored. "Including OOVs" charges each unknown token the
model's ``<unk>`` probability; "excluding OOVs" drops those tokens from both
the log-probability sum and the token count, as KenLM's ``query`` reports.
A zero probability makes the perplexity infinite; it is reported, not raised.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .corpus import Corpus
from .errors import NlmError
from .model import LanguageModel

LN10 = math.log(10.0)


@dataclass
class Evaluation:
    tokens: int
    sentences: int
    oov: int
    logprob: float               # total natural-log probability, OOVs included
    logprob_excluding_oov: float
    zero_probability_tokens: int
    seconds: float
    token_logprobs: np.ndarray = field(repr=False)
    sentence_logprobs: np.ndarray = field(repr=False)
    #: how the text was scored: "per-sentence" (every sentence from the initial state)
    #: or "carried-state" (in file order, the state carried across sentences), with
    #: "+dynamic" when the model kept learning from the text
    protocol: str = "per-sentence"

    @property
    def oov_rate(self) -> float:
        return self.oov / self.tokens if self.tokens else 0.0

    @property
    def cross_entropy_nats(self) -> float:
        return -self.logprob / self.tokens

    @property
    def bits_per_token(self) -> float:
        return self.cross_entropy_nats / math.log(2.0)

    @property
    def perplexity(self) -> float:
        return _exp(self.cross_entropy_nats)

    @property
    def perplexity_excluding_oov(self) -> float:
        n = self.tokens - self.oov
        return _exp(-self.logprob_excluding_oov / n) if n else float("nan")

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self, per_sentence: bool = False) -> dict:
        d = {
            "protocol": self.protocol,
            "perplexity": self.perplexity,
            "perplexity_excluding_oov": self.perplexity_excluding_oov,
            "cross_entropy_nats": self.cross_entropy_nats,
            "bits_per_token": self.bits_per_token,
            "logprob_log10": self.logprob / LN10,
            "tokens": self.tokens,
            "sentences": self.sentences,
            "oov": self.oov,
            "oov_rate": self.oov_rate,
            "zero_probability_tokens": self.zero_probability_tokens,
            "tokens_per_second": self.tokens_per_second,
        }
        if per_sentence:
            d["sentence_logprobs"] = [float(x) for x in self.sentence_logprobs]
        # JSON has no infinity: an infinite perplexity is written as null.
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in d.items()}


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return float("inf")


def evaluate(model: LanguageModel, corpus: Corpus, dynamic_lr: float | None = None,
             carry_state: bool = False) -> Evaluation:
    """Score ``corpus``: every sentence from the model's initial state, or with
    ``carry_state`` the sentences in order with the state carried across their
    boundaries (models that do not carry state, such as n-grams, score the same either
    way); with ``dynamic_lr``, by dynamic evaluation (the model keeps learning from the
    text as it scores it, with that learning rate), which models offer through a
    ``dynamic_score_corpus(ids, offsets, lr, carry_state)`` method."""
    if not model.normalized:
        name = model.describe().get("method", model.kind)
        raise NlmError(f"{name} scores are not probabilities (the model is not normalized), "
                       "so perplexity is undefined; `nlm score` prints the scores")
    if corpus.tokens == 0:
        raise NlmError("nothing to evaluate: the text has no sentences")
    t0 = time.perf_counter()
    protocol = "carried-state" if carry_state else "per-sentence"
    if dynamic_lr is None and carry_state:
        lp = model.score_corpus_carried(corpus.ids, corpus.offsets)
    elif dynamic_lr is None:
        lp = model.score_corpus(corpus.ids, corpus.offsets)
    else:
        dynamic = getattr(model, "dynamic_score_corpus", None)
        if dynamic is None:
            raise NlmError(f"{model.kind} models do not support dynamic evaluation "
                           "(it needs a model that learns, such as rnn)")
        lp = dynamic(corpus.ids, corpus.offsets, dynamic_lr, carry_state=carry_state)
        protocol += "+dynamic"
    return summarize(corpus, lp, time.perf_counter() - t0, protocol)


def read_query_text(path, vocab) -> Corpus:
    """``path`` read as KenLM's ``query`` reads text, to reproduce its perplexities: every
    line is a sentence (a blank line is ``<s> </s>``), words are split at whitespace
    (the model's tokenizer and lower-casing are not applied), and a literal ``<unk>``
    counts as an OOV. nlm's default reading skips blank lines and counts ``<unk>`` as a
    word of the vocabulary."""
    from .errors import CorpusError
    from .vocab import EOS_ID, UNK_ID
    index = vocab.index
    ids, offsets = [], [0]
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                ids.extend(index.get(w, UNK_ID) for w in line.split())
                ids.append(EOS_ID)
                offsets.append(len(ids))
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise CorpusError(f"{path}: not valid UTF-8 text") from None
    except OSError as e:
        raise CorpusError(f"{path}: cannot read ({e.strerror or e})") from None
    arr = np.array(ids, dtype=np.int32)
    eos = np.zeros(len(arr), dtype=bool)
    eos[np.array(offsets[1:], dtype=np.int64) - 1] = True
    return Corpus(arr, np.array(offsets, dtype=np.int64), (arr == UNK_ID) & ~eos)


def summarize(corpus: Corpus, lp: np.ndarray, seconds: float = 0.0,
              protocol: str = "per-sentence") -> Evaluation:
    """The :class:`Evaluation` of per-token log-probabilities ``lp`` of ``corpus``
    (also for scores that are not probabilities, as ``nlm score`` prints them)."""
    finite = np.isfinite(lp)
    sentence_lp = np.add.reduceat(lp, corpus.offsets[:-1]) if corpus.sentences else lp[:0]
    return Evaluation(
        tokens=corpus.tokens,
        sentences=corpus.sentences,
        oov=int(corpus.oov.sum()),
        logprob=float(lp.sum()),
        logprob_excluding_oov=float(lp[~corpus.oov].sum()),
        zero_probability_tokens=int((~finite).sum()),
        seconds=seconds,
        token_logprobs=lp,
        sentence_logprobs=sentence_lp,
        protocol=protocol,
    )


def check_numbers(model_file, logprob: float) -> None:
    """Refuse a NaN result: the model's weights are damaged (or training diverged)."""
    if math.isnan(logprob):
        raise NlmError(f"{model_file}: the model gives NaN log-probabilities (its weights hold "
                       "NaN or inf: a damaged file, or training diverged); retrain it or use "
                       "an earlier checkpoint")
