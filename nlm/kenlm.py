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
from .ngram.binary_kernels import _sentence_probing
from .ngram.query_kernels import _sentence_full_scores
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
        """(ln p(wid | context), length of the n-gram matched): the context's words are
        read first, from no context (they are at most order - 1)."""
        lp, matched = self._ln_scores(list(context) + [wid], bos=False)
        return float(lp[-1]), int(matched[-1])

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
    def _ln_scores(self, ids: list[int], bos: bool) -> tuple[np.ndarray, np.ndarray]:
        """(ln probs, matched lengths) of the ids of one sentence, read after <s> or not."""
        T, N = len(ids), self._N
        lp = np.empty(T, dtype=np.float64)
        matched = np.empty(T, dtype=np.int64)
        if self._backoff:
            lm, V = self._lm, self._lm.vocab_size
            if lm._probing is not None:     # a binary file: one cache line per lookup
                starts, slots, slots_f, extends, _ = lm._probing
                _sentence_probing(np.array(ids, dtype=np.int64), bos, V, N, lm._lp[:V],
                                  lm._bow[:V], extends, starts, slots, slots_f, lp, matched)
            else:
                _sentence_full_scores(np.array(ids, dtype=np.int64), bos, V, N, lm._tab(),
                                      lp, matched)
            return lp, matched
        seq = ([BOS_ID] if bos and N > 1 else []) + list(ids)
        s = len(seq) - T
        for t in range(T):
            context = tuple(seq[max(0, s + t - N + 1):s + t])
            lp[t] = self._lm.next_logprobs(context)[ids[t]]
            matched[t] = len(context) + 1
        return lp, matched

    def _ids(self, sentence: str, eos: bool) -> list[int]:
        get = self._index.get
        ids = [get(w, UNK_ID) for w in sentence.split()]
        if eos:
            ids.append(EOS_ID)
        return ids

    def score(self, sentence: str, bos: bool = True, eos: bool = True) -> float:
        """log10 p(sentence [</s>] | [<s>]), as ``kenlm.Model.score``."""
        ids = self._ids(sentence, eos)
        if not ids:
            return 0.0
        return float(self._ln_scores(ids, bos)[0].sum()) * LOG10E

    def full_scores(self, sentence: str, bos: bool = True, eos: bool = True):
        """Yield (log10 prob, n-gram length, oov) for every word (and </s>)."""
        ids = self._ids(sentence, eos)
        if not ids:
            return
        lp, matched = self._ln_scores(ids, bos)
        n_words = len(ids) - eos
        for t, (p, m) in enumerate(zip((lp * LOG10E).tolist(), matched.tolist())):
            yield p, m, t < n_words and ids[t] == UNK_ID

    def perplexity(self, sentence: str) -> float:
        """10 ** (-log10 p(sentence </s> | <s>) / (words + 1))."""
        return 10.0 ** (-self.score(sentence) / (len(sentence.split()) + 1))


LanguageModel = Model

__all__ = ["Model", "LanguageModel", "State", "FullScoreReturn", "Config"]
