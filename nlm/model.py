"""The one contract every language model in nlm honours.

A model is a state machine over token ids: ``initial_state()`` is the
begin-of-sentence state, ``next_logprobs(state)`` is the normalized next-token
distribution (natural log, float64, over the whole vocabulary), and
``advance(state, token)`` returns the state after reading ``token``. An n-gram
state is the last n-1 ids; an RNN state is its hidden vector. ``score_corpus``
is the vectorized fast path; its default runs the state machine, and models
override it with something faster that must give the same numbers.

The sampler, the evaluator and mixtures are written once against this class.
This module knows nothing about any particular model.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Sequence

import numpy as np

from .vocab import BOS, BOS_ID, EOS_ID, Vocabulary

# kind name (as stored in model files) -> class
MODEL_KINDS: dict[str, type["LanguageModel"]] = {}


def register(kind: str):
    """Class decorator: make a model class loadable from files by its kind name."""
    def deco(cls):
        cls.kind = kind
        MODEL_KINDS[kind] = cls
        return cls
    return deco


class LanguageModel(ABC):
    kind: ClassVar[str] = ""
    #: False only for models whose scores are not probabilities (stupid backoff).
    normalized: ClassVar[bool] = True
    #: True for models whose state can run on from one sentence into the next (an RNN's
    #: hidden vector, an MLP's window); the others start every sentence afresh.
    carries_state: ClassVar[bool] = False

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab

    # -- the state machine -------------------------------------------------
    @abstractmethod
    def initial_state(self) -> Any:
        """The state at the start of a sentence (after ``<s>``)."""

    @abstractmethod
    def next_logprobs(self, state) -> np.ndarray:
        """(V,) float64 natural-log probabilities of the next token."""

    @abstractmethod
    def advance(self, state, token: int) -> Any:
        """The state after reading ``token``; ``state`` itself is not changed."""

    # -- derived, written once ---------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def state_after(self, context_ids: Sequence[int]) -> Any:
        state = self.initial_state()
        for t in context_ids:
            state = self.advance(state, int(t))
        return state

    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        """ln P(word | <s> context...). ``context`` is the sentence so far; a leading
        ``<s>`` in it is accepted and ignored."""
        if isinstance(context, str):   # text: tokenized as the model's training text was
            context = self.vocab.tokenize(context)
        context = list(context)
        if context and context[0] == BOS:
            context = context[1:]
        state = self.state_after([self.vocab.id(w) for w in context])
        return float(self.next_logprobs(state)[self.vocab.id(word)])

    def score_sentence(self, ids: Sequence[int]) -> np.ndarray:
        """Log-probabilities of each token of ``ids`` (which should end with ``</s>``)."""
        out = np.empty(len(ids), dtype=np.float64)
        state = self.initial_state()
        for j, t in enumerate(ids):
            t = int(t)
            out[j] = self.next_logprobs(state)[t]
            state = self.advance(state, t)
        return out

    def score_corpus(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(T,) log-probabilities of every token of a corpus (see :class:`nlm.corpus.Corpus`).
        Each sentence starts from the initial state."""
        out = np.empty(len(ids), dtype=np.float64)
        for s in range(len(offsets) - 1):
            a, b = offsets[s], offsets[s + 1]
            out[a:b] = self.score_sentence(ids[a:b])
        return out

    def next_sentence_state(self, state) -> Any:
        """The state at the start of the next sentence, given ``state``, the one in which
        this sentence's ``</s>`` was predicted. A model that carries state reads ``<s>``
        from there (as its training text is read: ``</s>`` is predicted, never read);
        the others start afresh."""
        return self.advance(state, BOS_ID) if self.carries_state else self.initial_state()

    def score_corpus_carried(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(T,) log-probabilities of every token, the sentences read in order with the
        state carried across their boundaries (:meth:`next_sentence_state`). Equal to
        :meth:`score_corpus` for models that do not carry state; models that do
        override it with something faster that gives the same numbers."""
        if not self.carries_state:
            return self.score_corpus(ids, offsets)
        out = np.empty(len(ids), dtype=np.float64)
        state = self.initial_state()
        for s in range(len(offsets) - 1):
            a, b = int(offsets[s]), int(offsets[s + 1])
            if s > 0:
                state = self.next_sentence_state(state)
            for j in range(a, b):
                t = int(ids[j])
                out[j] = self.next_logprobs(state)[t]
                if j < b - 1:
                    state = self.advance(state, t)
        return out

    # -- persistence -------------------------------------------------------
    @abstractmethod
    def config(self) -> dict:
        """JSON-serializable hyper-parameters; enough with ``arrays()`` to rebuild the model."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """The model's parameters as named numpy arrays (no object arrays)."""

    @classmethod
    @abstractmethod
    def from_saved(cls, vocab: Vocabulary, config: dict, arrays: dict[str, np.ndarray]):
        """Rebuild from ``config()`` and ``arrays()``; raise ``ModelFileError`` on bad content."""

    def describe(self) -> dict:
        """Figures for ``nlm info`` beyond the config (sizes, counts)."""
        return {}


__all__ = ["LanguageModel", "register", "MODEL_KINDS", "BOS_ID", "EOS_ID"]
