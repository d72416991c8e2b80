"""Any nlm LanguageModel as the language model of a CTC beam search (pyctcdecode).

pyctcdecode's beam search asks its language model four things: its ``order``,
a start state, the score of a whole word given a state (returning the new
state), and a score for a partial word (is it a prefix of a known word?).
:class:`CTCLanguageModel` answers them from nlm's state machine, so n-gram
(``.npz``, ``.nlmbin``, ARPA), MLP, RNN and mixture models all drive the same
search::

    from nlm.decoders import build_ctcdecoder
    decoder = build_ctcdecoder(labels, "kn5.nlmbin", alpha=0.5, beta=1.0)
    text = decoder.decode(logits)          # logits: (frames, len(labels)) log-probs

Scores follow pyctcdecode's own ``LanguageModel`` (natural logs throughout):

    score(word) = alpha * (ln P(word | state) + unk) + beta
    unk         = unk_score_offset * ln 10 for a word outside the vocabulary, else 0
    last word   : + alpha * ln P(</s> | state after it), when score_boundary

(``unk_score_offset`` is in log10 units, as pyctcdecode's.) A decoder word is
tokenized as the model's text was (lower-cased if the model was; a character
model reads the word's characters, with a space token between words). For
backoff n-gram models a word costs one table lookup; other models compute their
next-token distribution. pyctcdecode merges beams whose last ``order - 1`` words
agree; for models whose state reaches back further (RNN, MLP, mixtures holding
one) ``order`` is reported as :data:`UNBOUNDED_ORDER`, so no beams are merged.

pyctcdecode is an optional dependency (``pip install "nlm[decoders]"``); this
module imports it only when a decoder is built.
"""
from __future__ import annotations

import math
import os

import numpy as np

from .errors import NlmError
from .model import LanguageModel
from .vocab import EOS_ID, UNK_ID

LN10 = math.log(10.0)
#: ``order`` reported for models whose state is not a fixed number of words.
UNBOUNDED_ORDER = 1 << 20
#: pyctcdecode's defaults (its constants module), repeated so that nothing needs it here
DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_UNK_OFFSET = 0.5, 1.5, -10.0
AVG_TOKEN_LEN = 6


def _model_order(model: LanguageModel) -> int:
    from .mixture import MixtureModel
    from .ngram.base import NgramModel
    if isinstance(model, NgramModel):
        return model.order
    if isinstance(model, MixtureModel):
        orders = [_model_order(c) for c in model.components]
        return max(orders)
    return UNBOUNDED_ORDER


class CTCLanguageModel:
    """pyctcdecode's language-model interface over an nlm model (see the module
    docstring). ``model`` is a LanguageModel or a model file path. A state is
    ``(model state, words read)``."""

    def __init__(self, model, alpha: float = DEFAULT_ALPHA, beta: float = DEFAULT_BETA,
                 unk_score_offset: float = DEFAULT_UNK_OFFSET, score_boundary: bool = True):
        if isinstance(model, (str, os.PathLike)):
            from .modelfile import load
            model = load(model)
        if not isinstance(model, LanguageModel):
            raise NlmError(f"expected an nlm LanguageModel or a model file, got {type(model)}")
        if not model.normalized:
            raise NlmError(f"{model.kind} scores are not probabilities; a decoder would "
                           "weigh them as such")
        self.model = model
        self.alpha, self.beta = float(alpha), float(beta)
        self.unk_score_offset = float(unk_score_offset)
        self.score_boundary = bool(score_boundary)
        self._order = _model_order(model)
        vocab = model.vocab
        self._char = vocab.tokenizer == "char"
        if vocab.tokenizer == "word":
            from .corpus import make_tokenizer
            self._split = make_tokenizer("word", vocab.lowercase)
        else:
            self._split = (lambda w: list(w.lower() if vocab.lowercase else w)) if self._char \
                else (lambda w: [w.lower() if vocab.lowercase else w])
        self._prefixes: set[str] | None = None
        # backoff n-gram models: one lookup per token instead of a whole distribution
        self._lookup = getattr(model, "ngram_logprobs", None)

    # -- what pyctcdecode asks ------------------------------------------------------
    @property
    def order(self) -> int:
        return self._order

    def get_start_state(self):
        return (self.model.initial_state(), 0)

    def score_partial_token(self, partial_token: str) -> float:
        """0 for a prefix of a known word; else the unknown-word offset (scaled by the
        token's length beyond the average, as pyctcdecode does)."""
        if self._prefixes is None:
            self._prefixes = self._all_prefixes()
        token = partial_token.lower() if self.model.vocab.lowercase else partial_token
        if token in self._prefixes:
            return 0.0
        unk = self.unk_score_offset
        if len(partial_token) > AVG_TOKEN_LEN:
            unk *= len(partial_token) / AVG_TOKEN_LEN
        return unk

    def score(self, prev_state, word: str, is_last_word: bool = False):
        """(alpha * (ln P(word | prev_state) + unk) + beta [+ alpha ln P(</s>)], new state)."""
        state, n = prev_state
        tokens = self._split(word)
        if self._char and n > 0:
            tokens = [" "] + tokens
        vocab = self.model.vocab
        ids = [vocab.index.get(t, UNK_ID) for t in tokens]
        logp = 0.0
        for t in ids:
            logp += self._logprob(state, t)
            state = self.model.advance(state, t)
        if not tokens or any(t == UNK_ID for t in ids):
            logp += self.unk_score_offset * LN10
        if is_last_word and self.score_boundary:
            logp += self._logprob(state, EOS_ID)
        return self.alpha * logp + self.beta, (state, n + 1)

    def _logprob(self, state, token: int) -> float:
        if self._lookup is not None:
            gram = np.array([tuple(state) + (token,)], dtype=np.int64)
            return float(self._lookup(gram)[0])
        return float(self.model.next_logprobs(state)[token])

    def _all_prefixes(self) -> set[str]:
        from .vocab import SPECIALS
        out = {""}
        for w in self.model.vocab.words:
            if w in SPECIALS:
                continue
            for i in range(1, len(w) + 1):
                out.add(w[:i])
        return out

    # -- pyctcdecode's optional methods ---------------------------------------------
    def reset_params(self, **params) -> None:
        for name in ("alpha", "beta", "unk_score_offset", "score_boundary"):
            if params.get(name) is not None:
                setattr(self, name, type(getattr(self, name))(params[name]))

    def save_to_dir(self, filepath: str) -> None:
        raise NlmError("save the nlm model file itself; build the decoder from it again")


_ADAPTER_CLASS = None


def _require_pyctcdecode():
    try:
        import pyctcdecode  # noqa: F401
        from pyctcdecode.language_model import AbstractLanguageModel
    except ImportError:
        raise NlmError("pyctcdecode is not installed; pip install \"nlm[decoders]\"") from None
    return AbstractLanguageModel


def pyctcdecode_language_model(model, **options) -> CTCLanguageModel:
    """A pyctcdecode ``AbstractLanguageModel`` over ``model`` (a LanguageModel or a model
    file); ``options`` as :class:`CTCLanguageModel`'s (alpha, beta, unk_score_offset,
    score_boundary)."""
    global _ADAPTER_CLASS
    if _ADAPTER_CLASS is None:
        base = _require_pyctcdecode()
        _ADAPTER_CLASS = type(base)("NlmPyctcdecodeLanguageModel", (CTCLanguageModel, base),
                                    {"__doc__": CTCLanguageModel.__doc__})
    return _ADAPTER_CLASS(model, **options)


def build_ctcdecoder(labels, model=None, **options):
    """pyctcdecode's ``BeamSearchDecoderCTC`` over ``labels`` (the CTC output symbols; ""
    is the blank, " " the word separator) with ``model`` (a LanguageModel, a model file,
    or None for no language model) as its language model."""
    _require_pyctcdecode()
    from pyctcdecode.alphabet import Alphabet
    from pyctcdecode.decoder import BeamSearchDecoderCTC
    lm = None if model is None else pyctcdecode_language_model(model, **options)
    return BeamSearchDecoderCTC(Alphabet.build_alphabet(list(labels)), lm)


__all__ = ["CTCLanguageModel", "pyctcdecode_language_model", "build_ctcdecoder",
           "UNBOUNDED_ORDER"]
