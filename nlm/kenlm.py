"""A drop-in for the PyPI ``kenlm`` module's query API, over nlm's n-gram files.

Decoders (pyctcdecode, torchaudio, ESPnet, NeMo) and rescoring scripts call
``kenlm.Model``; this module answers the same calls from any nlm n-gram file
(``.npz``, memory-mapped ``.nlmbin``, ARPA text)::

    import nlm.kenlm as kenlm
    model = kenlm.Model("kn5.nlmbin")
    model.score("this is a sentence", bos=True, eos=True)   # log10 p(... </s> | <s>)
    state, out = kenlm.State(), kenlm.State()
    model.BeginSentenceWrite(state)
    model.BaseScore(state, "this", out)                       # log10 p(this | <s>)

As in ``kenlm``: numbers are log10; sentences are split at whitespace (the
model's tokenizer is not applied; lower-casing is not either); a word not in the
vocabulary is ``<unk>`` (id 0) and flagged as an OOV; ``full_scores`` yields
``(log10 prob, length of the n-gram matched, oov)``; ``perplexity`` counts the
words and one ``</s>``. A :class:`State` holds the context as the words of the
longest stored n-gram that ended in the last word (at most order - 1), which is
all that later probabilities depend on, so equal contexts give equal states.
Scores come from the same tables and kernels as nlm's own scoring, in float64
(KenLM's tables are float32, so the two agree to about 1e-6).

This module only translates; the numbers come from
:class:`~nlm.ngram.backoff.BackoffModel` (other n-gram kinds, such as add-k, go
through the generic ``next_logprobs``).
"""
from __future__ import annotations

import math
import os

import numpy as np

from .errors import ModelFileError
from .model import LanguageModel as _NlmModel
from .ngram.base import NgramModel
from .ngram.backoff import BackoffModel
from .vocab import BOS_ID, EOS_ID, UNK_ID

LOG10E = 1.0 / math.log(10.0)


class State:
    """An n-gram context: the word ids of the longest stored n-gram ending at the last
    word read (most recent last). Compared and hashed by value, like kenlm's."""
    __slots__ = ("words",)

    def __init__(self):
        self.words: tuple = ()

    def __eq__(self, other):
        return isinstance(other, State) and self.words == other.words

    def __lt__(self, other):
        return self.words < other.words

    def __hash__(self):
        return hash(self.words)

    def __copy__(self):
        s = State()
        s.words = self.words
        return s

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __repr__(self):
        return f"State({self.words!r})"


class FullScoreReturn:
    """What :meth:`Model.BaseFullScore` returns, as kenlm's."""
    __slots__ = ("log_prob", "ngram_length", "oov")

    def __init__(self, log_prob: float, ngram_length: int, oov: bool):
        self.log_prob, self.ngram_length, self.oov = log_prob, ngram_length, oov

    def __repr__(self):
        return (f"FullScoreReturn(log_prob={self.log_prob}, ngram_length={self.ngram_length}, "
                f"oov={self.oov})")


class Config:
    """Accepted for compatibility with ``kenlm.Config``; nlm has nothing to configure
    (binary files are always memory-mapped, lazily)."""

    def __init__(self):
        self.load_method = None
        self.arpa_complain = None


class Model:
    """``kenlm.Model`` over an nlm n-gram file (``.npz``, ``.nlmbin``, ``.arpa[.gz]``) or
    an already loaded n-gram model."""

    def __init__(self, path, config: Config | None = None):
        from .modelfile import load
        if isinstance(path, _NlmModel):
            lm, self.path = path, None
        else:
            self.path = os.path.abspath(os.fspath(path))
            lm = load(path)
        if not isinstance(lm, NgramModel):
            raise ModelFileError(f"{self.path or 'model'}: a {lm.kind} model; nlm.kenlm.Model "
                                 "serves n-gram models (nlm.decoders takes any model)")
        self._lm = lm
        self._index = lm.vocab.index
        self._N = lm.order
        self._backoff = isinstance(lm, BackoffModel)

    @property
    def order(self) -> int:
        return self._N

    def __contains__(self, word: str) -> bool:
        return self._index.get(word, UNK_ID) != UNK_ID

    def __repr__(self):
        return f"<nlm.kenlm.Model from {self.path!r}>" if self.path else "<nlm.kenlm.Model>"

    # -- states ---------------------------------------------------------------
    def BeginSentenceWrite(self, state: State) -> None:
        state.words = (BOS_ID,) if self._N > 1 else ()

    def NullContextWrite(self, state: State) -> None:
        state.words = ()

    # -- single words -----------------------------------------------------------
    def _full(self, context: tuple, wid: int) -> tuple[float, int]:
        """(ln p(wid | context), length of the n-gram matched)."""
        if self._backoff:
            gram = np.array([context + (wid,)], dtype=np.int64)
            lp, matched = self._lm_full(gram, np.array([gram.shape[1]], dtype=np.int64))
            return float(lp[0]), int(matched[0])
        return (float(self._lm.next_logprobs(tuple(context))[wid]),
                min(len(context) + 1, self._N))

    def _lm_full(self, grams, lengths):
        from .ngram.query_kernels import _full_scores
        out = np.empty(len(grams), dtype=np.float64)
        matched = np.empty(len(grams), dtype=np.int64)
        _full_scores(grams, lengths, self._lm.vocab_size, self._N, self._lm._tab(), out, matched)
        return out, matched

    def _next_state(self, context: tuple, wid: int, matched: int) -> tuple:
        keep = min(matched, self._N - 1)
        return (context + (wid,))[len(context) + 1 - keep:] if keep else ()

    def BaseFullScore(self, in_state: State, word: str, out_state: State) -> FullScoreReturn:
        wid = self._index.get(word, UNK_ID)
        lp, matched = self._full(in_state.words, wid)
        out_state.words = self._next_state(in_state.words, wid, matched)
        return FullScoreReturn(lp * LOG10E, matched, wid == UNK_ID)

    def BaseScore(self, in_state: State, word: str, out_state: State) -> float:
        return self.BaseFullScore(in_state, word, out_state).log_prob

    # -- sentences ------------------------------------------------------------------
    def _sentence(self, sentence: str, bos: bool, eos: bool):
        """(log10 probs, matched lengths, oov flags) of every word (and </s>)."""
        words = sentence.split()
        ids = [self._index.get(w, UNK_ID) for w in words]
        oov = [i == UNK_ID for i in ids]
        if eos:
            ids.append(EOS_ID)
            oov.append(False)
        if not ids:
            return np.zeros(0), np.zeros(0, dtype=np.int64), oov
        start = [BOS_ID] if bos and self._N > 1 else []
        seq = np.array(start + ids, dtype=np.int64)
        T, s, N = len(ids), len(start), self._N
        grams = np.zeros((T, N), dtype=np.int64)
        lengths = np.empty(T, dtype=np.int64)
        for t in range(T):
            a = max(0, s + t - N + 1)
            n = s + t + 1 - a
            grams[t, :n] = seq[a:s + t + 1]
            lengths[t] = n
        if self._backoff:
            lp, matched = self._lm_full(grams, lengths)
        else:
            lp = np.array([self._lm.next_logprobs(tuple(grams[t, :lengths[t] - 1]))[ids[t]]
                           for t in range(T)])
            matched = lengths.copy()
        return lp * LOG10E, matched, oov

    def score(self, sentence: str, bos: bool = True, eos: bool = True) -> float:
        """log10 p(sentence [</s>] | [<s>]), as ``kenlm.Model.score``."""
        lp, _, _ = self._sentence(sentence, bos, eos)
        return float(math.fsum(lp.tolist())) if len(lp) else 0.0

    def full_scores(self, sentence: str, bos: bool = True, eos: bool = True):
        """Yield (log10 prob, n-gram length, oov) for every word (and </s>)."""
        lp, matched, oov = self._sentence(sentence, bos, eos)
        for p, m, o in zip(lp.tolist(), matched.tolist(), oov):
            yield p, m, o

    def perplexity(self, sentence: str) -> float:
        """10 ** (-log10 p(sentence </s> | <s>) / (words + 1))."""
        return 10.0 ** (-self.score(sentence) / (len(sentence.split()) + 1))


LanguageModel = Model

__all__ = ["Model", "LanguageModel", "State", "FullScoreReturn", "Config"]
