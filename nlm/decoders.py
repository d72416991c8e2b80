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

from .errors import NlmError, OptionError
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
                 unk_score_offset: float = DEFAULT_UNK_OFFSET, score_boundary: bool = True,
                 unigrams=None):
        alpha, beta = _number("alpha", alpha), _number("beta", beta)
        unk_score_offset = _number("unk_score_offset", unk_score_offset)
        if not isinstance(score_boundary, (bool, np.bool_)):
            raise OptionError(f"lm_score_boundary must be True or False, got {score_boundary!r}")
        self.path = None
        if isinstance(model, (str, bytes, os.PathLike)):
            from .modelfile import load
            self.path = os.fsdecode(model)
            model = load(self.path)
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
        # pyctcdecode's unigram set: the words given that the model knows (default: the
        # model's vocabulary, as pyctcdecode reads it from an ARPA file's unigrams)
        index = vocab.index
        if unigrams is None:
            unigrams = [w for w in vocab.words if w != "<unk>"]
        elif isinstance(unigrams, (str, bytes)):
            raise OptionError("unigrams must be a collection of words, not one string")
        self.unigrams = {w for w in unigrams if index.get(w, UNK_ID) != UNK_ID}
        # backoff n-gram models: one lookup per token instead of a whole distribution
        self._lookup = getattr(model, "ngram_logprobs", None)

    # -- what pyctcdecode asks ------------------------------------------------------
    @property
    def order(self) -> int:
        return self._order

    def get_start_state(self):
        """After ``<s>`` with the boundary scored; else, as pyctcdecode, from no context
        (n-gram models; other models have only their initial state)."""
        from .ngram.base import NgramModel
        if not self.score_boundary and isinstance(self.model, NgramModel):
            return ((), 0)
        return (self.model.initial_state(), 0)

    def score_partial_token(self, partial_token: str) -> float:
        """0 for a prefix of a known word; else the unknown-word offset (scaled by the
        token's length beyond the average, as pyctcdecode does)."""
        if self._prefixes is None:
            self._prefixes = self._all_prefixes()
        token = partial_token.lower() if self.model.vocab.lowercase else partial_token
        if token in self._prefixes and self._prefixes:
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
        if not tokens or any(t == UNK_ID for t in ids) or (
                not self._char and self.unigrams and word not in self.unigrams):
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
        if self._char:
            words = [w for w in self.model.vocab.words if w not in ("<unk>", "<s>", "</s>")]
        else:
            words = self.unigrams
        out = {""} if words else set()
        for w in words:
            for i in range(1, len(w) + 1):
                out.add(w[:i])
        return out

    # -- pyctcdecode's optional methods ---------------------------------------------
    def reset_params(self, **params) -> None:
        for name in ("alpha", "beta", "unk_score_offset", "score_boundary"):
            if params.get(name) is not None:
                setattr(self, name, type(getattr(self, name))(params[name]))

    def save_to_dir(self, filepath: str) -> None:
        """pyctcdecode's layout: attrs.json, unigrams.txt and the model file (copied; a
        model given in memory is saved as model.npz). :func:`load_from_dir` reads it."""
        import json
        import shutil
        with open(os.path.join(filepath, "attrs.json"), "w") as f:
            json.dump({"alpha": self.alpha, "beta": self.beta,
                       "unk_score_offset": self.unk_score_offset,
                       "score_boundary": self.score_boundary}, f)
        with open(os.path.join(filepath, "unigrams.txt"), "w", encoding="utf-8") as f:
            f.writelines(w + "\n" for w in sorted(self.unigrams))
        if self.path is not None:
            shutil.copy2(self.path, os.path.join(filepath, os.path.basename(self.path)))
        else:
            from .modelfile import save
            save(self.model, os.path.join(filepath, "model.npz"))


def _number(name: str, value) -> float:
    """A finite real option value, or a one-line OptionError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(float(value)):
        raise OptionError(f"{name} must be a finite number, got {value!r}")
    return float(value)


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


def build_ctcdecoder(labels, kenlm_model_path=None, unigrams=None, alpha: float = DEFAULT_ALPHA,
                     beta: float = DEFAULT_BETA, unk_score_offset: float = DEFAULT_UNK_OFFSET,
                     lm_score_boundary: bool = True):
    """pyctcdecode's ``build_ctcdecoder``, same signature, with any nlm model:
    ``kenlm_model_path`` is a model file (any nlm kind, ARPA included) or a loaded
    LanguageModel, or None for no language model. ``unigrams`` defaults to the model's
    vocabulary (pyctcdecode reads it from an ARPA file's unigrams; for a binary file it
    has none and treats every partial word as unknown). A bad option or a model that
    cannot be read is an error, never a decoder without its language model."""
    _require_pyctcdecode()
    from pyctcdecode.alphabet import Alphabet
    from pyctcdecode.decoder import BeamSearchDecoderCTC
    lm = None if kenlm_model_path is None else pyctcdecode_language_model(
        kenlm_model_path, alpha=alpha, beta=beta, unk_score_offset=unk_score_offset,
        score_boundary=lm_score_boundary, unigrams=unigrams)
    return BeamSearchDecoderCTC(Alphabet.build_alphabet(list(labels)), lm)


def load_from_dir(filepath: str):
    """A decoder saved with ``save_to_dir`` (pyctcdecode's layout, any nlm model file)."""
    import json
    _require_pyctcdecode()
    from pyctcdecode.alphabet import Alphabet
    from pyctcdecode.decoder import BeamSearchDecoderCTC
    where = BeamSearchDecoderCTC.parse_directory_contents(filepath)
    with open(where["alphabet"], encoding="utf-8") as f:
        alphabet = Alphabet.loads(f.read())
    lm = None
    if where["language_model"] is not None:
        d = where["language_model"]
        with open(os.path.join(d, "attrs.json")) as f:
            attrs = json.load(f)
        with open(os.path.join(d, "unigrams.txt"), encoding="utf-8") as f:
            unigrams = f.read().splitlines()
        model = [n for n in os.listdir(d) if n not in ("attrs.json", "unigrams.txt")
                 and not n.startswith((".", "__"))]
        if len(model) != 1:
            raise NlmError(f"{d}: expected one model file beside attrs.json and unigrams.txt, "
                           f"found {sorted(model)}")
        lm = pyctcdecode_language_model(os.path.join(d, model[0]), unigrams=unigrams, **attrs)
    return BeamSearchDecoderCTC(alphabet, lm)


__all__ = ["CTCLanguageModel", "pyctcdecode_language_model", "build_ctcdecoder", "load_from_dir",
           "UNBOUNDED_ORDER"]
