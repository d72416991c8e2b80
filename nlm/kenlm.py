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

As in ``kenlm``: numbers are log10; sentences (``str`` or UTF-8 ``bytes``) are split at
whitespace (the model's tokenizer is not applied, nor lower-casing); a word not in the
vocabulary is ``<unk>`` and flagged as an OOV; ``full_scores`` yields ``(log10 prob,
ngram_length, oov)``; ``perplexity`` counts the words and one ``</s>``; ``path`` is
the absolute path as ``bytes``; pickling a Model stores its path; a file that cannot
be read raises an ``OSError``. A :class:`State` is opaque and minimal as KenLM's: it
keeps the words of the longest stored n-gram ending at the last word that can still
be continued, so after ``</s>`` it is empty, and contexts that score every next word
alike compare (and hash) equal. ``ngram_length`` counts KenLM's "blank" n-grams (not
stored, but ending a stored longer one), and ``<s>`` read as a word gets its
unigram probability (KenLM answers the file's value; nlm stores 1 for ``<s>``).

pyctcdecode creates ``kenlm.State()`` objects itself, from the real ``kenlm`` module
when it is installed: a :class:`Model` accepts those as well (the context is kept in
the object's own words, as kenlm keeps it; its layout is checked once, and a
``kenlm`` build whose layout differs gets a clear error). Without ``kenlm`` installed,
``import nlm.kenlm`` registers this module as ``kenlm`` when nothing else provides it
(before pyctcdecode is imported), so pyctcdecode finds it.

Scores come from the same tables as nlm's own scoring, in float64 (KenLM's tables are
float32: the two agree to about 1e-6). This module only translates; the numbers come
from :class:`~nlm.ngram.backoff.BackoffModel` (other n-gram kinds, such as add-k, go
through the generic ``next_logprobs``).
"""
from __future__ import annotations

import math
import os
import sys
import warnings

from .errors import ModelFileError, NlmError
from .vocab import BOS_ID, EOS_ID, UNK_ID

LOG10E = 1.0 / math.log(10.0)
#: entries of a Model's cache of single-word queries before it is emptied
CACHE_SIZE = 1 << 20


class ModelLoadError(ModelFileError, OSError):
    """A model file nlm.kenlm cannot read: an OSError, as kenlm raises."""


def _text(data) -> str:
    """``str`` or UTF-8 ``bytes`` as ``str`` (kenlm's ``as_str``, the other way round)."""
    if isinstance(data, str):
        return data
    if isinstance(data, (bytes, bytearray)):
        return bytes(data).decode("utf-8")
    raise TypeError(f"Cannot convert {type(data)} to string")


class State:
    """An n-gram context, opaque as kenlm's: compared and hashed by the words it holds
    (KenLM's minimal context), written only by a :class:`Model`."""
    __slots__ = ("_w", "_o")

    def __init__(self):
        self._w: tuple = ()
        self._o = None     # the model that wrote it

    def __eq__(self, other):
        return isinstance(other, State) and self._w == other._w

    def __lt__(self, other):
        return (len(self._w), self._w) < (len(other._w), other._w)

    def __hash__(self):
        return hash(self._w)

    def __copy__(self):
        s = State()
        s._w, s._o = self._w, self._o
        return s

    def __deepcopy__(self, memo=None):
        return self.__copy__()

    def __repr__(self):
        return f"State(length={len(self._w)})"


class FullScoreReturn:
    """What :meth:`Model.BaseFullScore` returns, as kenlm's."""
    __slots__ = ("log_prob", "ngram_length", "oov")

    def __init__(self, log_prob: float, ngram_length: int, oov: bool):
        self.log_prob, self.ngram_length, self.oov = log_prob, ngram_length, oov

    def __repr__(self):
        return f"FullScoreReturn({self.log_prob!r}, {self.ngram_length!r}, {self.oov!r})"


class LoadMethod:
    """kenlm's names for how a binary file is loaded (nlm always maps it lazily)."""
    LAZY, POPULATE_OR_LAZY, POPULATE_OR_READ, READ, PARALLEL_READ = range(5)


class ARPALoadComplain:
    """kenlm's names for which ARPA problems are reported (nlm warns of a missing
    ``<unk>`` unless NONE)."""
    ALL, EXPENSIVE, NONE = range(3)


class Config:
    """``kenlm.Config``: the same fields and defaults. nlm has nothing to tune:
    binary files are memory-mapped lazily whatever ``load_method`` says."""

    def __init__(self):
        self.load_method = LoadMethod.POPULATE_OR_READ
        self.show_progress = True
        self.arpa_complain = ARPALoadComplain.ALL


class _ForeignStates:
    """Reading and writing the context of a real ``kenlm.State`` (pyctcdecode creates
    them): the C struct after the object header holds ``words`` (uint32, max order - 1),
    ``backoff`` (float32, as many) and ``length`` (uint8), as kenlm's State."""

    def __init__(self, cls):
        import ctypes
        self.cls = cls
        self.ct = ctypes
        self.head = object.__basicsize__
        body = cls.__basicsize__ - self.head
        # the largest order whose struct fits (the object's size is rounded up to 8)
        self.slots = max((m - 1 for m in range(2, 64) if (8 * (m - 1) + 1 + 3) // 4 * 4 <= body),
                         default=0)
        if not self._works():
            raise NlmError("this build of the kenlm module lays out kenlm.State differently "
                           "than nlm expects; use nlm.kenlm.State() with nlm.kenlm.Model")

    def _works(self) -> bool:
        if self.slots < 1:
            return False
        a, b, c = self.cls(), self.cls(), self.cls()
        if self.read(a) != ():
            return False
        self.write(a, (5, 7))
        self.write(b, (5, 7))
        self.write(c, (5, 8))
        return a == b and hash(a) == hash(b) and a != c and self.read(a) == (5, 7)

    def read(self, state) -> tuple:
        at = id(state) + self.head
        n = self.ct.c_uint8.from_address(at + 8 * self.slots).value
        if n > self.slots:
            raise ValueError("a kenlm.State holding a damaged context")
        return tuple((self.ct.c_uint32 * n).from_address(at)) if n else ()

    def write(self, state, words: tuple) -> None:
        if len(words) > self.slots:
            raise NlmError(f"a model of order {len(words) + 1} needs longer states than this "
                           f"kenlm build's (order {self.slots + 1}); use nlm.kenlm.State()")
        at = id(state) + self.head
        self.ct.memmove(at, (self.ct.c_uint32 * len(words))(*words), 4 * len(words))
        self.ct.memset(at + 4 * self.slots, 0, 4 * self.slots)
        self.ct.c_uint8.from_address(at + 8 * self.slots).value = len(words)


_FOREIGN: dict = {}


def _foreign(state) -> _ForeignStates:
    cls = type(state)
    if cls.__module__ != "kenlm" or cls.__name__ != "State":
        raise TypeError(f"expected an nlm.kenlm.State (or a kenlm.State), got {cls.__name__}")
    if cls not in _FOREIGN:
        _FOREIGN[cls] = _ForeignStates(cls)
    return _FOREIGN[cls]


def _open(path, config):
    from .modelfile import load
    from .ngram.base import NgramModel
    fspath = os.path.abspath(_text(os.fspath(path)))
    quiet = config is not None and config.arpa_complain == ARPALoadComplain.NONE
    try:
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore")
            lm = load(fspath)
    except ModelFileError as e:
        raise ModelLoadError(f"Cannot read model {_text(os.fspath(path))!r} ({e})") from None
    if not isinstance(lm, NgramModel):
        raise ModelLoadError(f"{fspath}: a {lm.kind} model; nlm.kenlm.Model serves n-gram "
                             "models (nlm.decoders takes any model)")
    return lm, fspath.encode("utf-8")


class Model:
    """``kenlm.Model`` over an nlm n-gram file (``.npz``, ``.nlmbin``, ``.arpa[.gz]``,
    as ``str``, ``bytes`` or path-like) or an already loaded n-gram model."""

    def __init__(self, path, config: Config | None = None):
        from .model import LanguageModel as NlmModel
        from .ngram.backoff import BackoffModel
        from .ngram.base import NgramModel
        if isinstance(path, NlmModel):
            if not isinstance(path, NgramModel):
                raise ModelLoadError(f"a {path.kind} model; nlm.kenlm.Model serves n-gram "
                                     "models (nlm.decoders takes any model)")
            lm, self.path = path, None
        else:
            lm, self.path = _open(path, config)
        self._lm = lm
        self._index = lm.vocab.index
        self._N = lm.order
        self._V = lm.vocab_size
        self._backoff = isinstance(lm, BackoffModel)
        pad = (0,) * max(self._N - 1, 1)
        self._pads = tuple(pad[L:] for L in range(len(pad) + 1))  # a context's padding
        # context + (word id,) -> (log10 prob, ngram_length, next context): plain tuples of
        # numbers, which the garbage collector stops tracking (a cache of objects would
        # make every collection walk it)
        self._cache: dict = {}
        self._blanks = None
        # the compiled per-word and per-sentence scorers, bound on first use: until then a
        # binary file's first sentences are scored without loading Numba (BackoffModel's
        # Python path), so a short script starts as fast as kenlm's
        self._stepper = self._scorer = None
        # the stepper once the model is known to have no blanks: BaseFullScore calls it itself
        self._fast = None
        if self._backoff:
            import numpy
            self._array = numpy.array
        self._bos_in_vocab = BOS_ID < self._V

    @property
    def order(self) -> int:
        return self._N

    def __contains__(self, word) -> bool:
        return self._index.get(_text(word), UNK_ID) != UNK_ID

    def __repr__(self):
        if self.path is None:
            return "<Model from an nlm model>"
        return f"<Model from {os.path.basename(self.path)!r}>"

    def __reduce__(self):
        if self.path is None:
            raise TypeError("a Model made from a model in memory has no file to pickle; "
                            "save the model and open the file")
        return (Model, (self.path,))

    # -- states ---------------------------------------------------------------
    def _read(self, state) -> tuple:
        if type(state) is State:
            if state._o is not self and state._w:
                if state._o is None:
                    raise ValueError("this State was not written by a Model")
                raise ValueError("this State was written by another Model; states belong "
                                 "to the model that wrote them")
            return state._w
        words = _foreign(state).read(state)
        if any(w >= self._V for w in words) or len(words) >= max(self._N, 2):
            raise ValueError("this kenlm.State was not written by this model")
        return words

    def _write(self, state, words: tuple) -> None:
        if type(state) is State:
            state._w, state._o = words, self
        else:
            _foreign(state).write(state, words)

    def BeginSentenceWrite(self, state) -> None:
        self._write(state, (BOS_ID,) if self._N > 1 else ())

    def NullContextWrite(self, state) -> None:
        self._write(state, ())

    # -- single words -----------------------------------------------------------
    def _step(self, context: tuple, wid: int) -> tuple:
        """(log10 P(wid | context), ngram_length, the next state's words)."""
        hit = self._cache.get(context + (wid,))
        return hit if hit is not None else self._new_step(context, wid)

    def _new_step(self, context: tuple, wid: int) -> tuple:
        N, L = self._N, len(context)
        if self._backoff:
            step = self._stepper
            if step is None:
                step = self._stepper = self._lm.context_stepper()
            lp, length, keep = step(context + self._pads[L], L, wid, 0.0)
            if length == 0:
                raise ValueError("a state or word outside this model's vocabulary")
            if self._blanks is None or self._blanks[0]:
                if self._has_blanks():
                    length, keep = self._with_blanks(context, wid, length, keep)
                else:
                    self._fast = step
        else:
            lp = float(self._lm.next_logprobs(context[-(N - 1):] if N > 1 else ())[wid])
            length, keep = min(L + 1, N), min(L + 1, N - 1)
        key = context + (wid,)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        hit = self._cache[key] = (lp * LOG10E, length, key[L + 1 - keep:] if keep else ())
        return hit

    def _has_blanks(self) -> bool:
        if self._blanks is None:
            blanks = self._lm.blank_ngrams()
            # what KenLM carries in a state besides what extends in nlm: the prefixes
            # of blanks (blanks themselves, or stored n-grams continued only by blanks)
            self._blanks = (blanks, {b[:-1] for b in blanks if len(b) > 2})
        return bool(self._blanks[0])

    def _with_blanks(self, context: tuple, wid: int, length: int, keep: int):
        """KenLM's (ngram_length, state length) where blanks count (see blank_ngrams)."""
        blanks, extend = self._blanks
        seq = context + (wid,)
        for j in range(len(seq), length, -1):
            if seq[len(seq) - j:] in blanks:
                length = j
                break
        for j in range(min(len(seq), self._N - 1), keep, -1):
            if seq[len(seq) - j:] in extend and j <= length:
                keep = j
                break
        return length, keep

    def BaseFullScore(self, in_state, word: str, out_state) -> FullScoreReturn:
        if not isinstance(word, str):
            raise TypeError(f"Argument 'word' has incorrect type (expected str, got "
                            f"{type(word).__name__})")
        if type(in_state) is State and (in_state._o is self or not in_state._w):
            context = in_state._w
        else:
            context = self._read(in_state)
        wid = self._index.get(word, UNK_ID)
        key = context + (wid,)   # a flat tuple of ints: the garbage collector untracks it
        cache = self._cache
        hit = cache.get(key)
        if hit is None:
            step = self._fast
            if step is None:
                hit = self._new_step(context, wid)
            else:   # _new_step's common case inlined (a Python call costs 0.1-0.2 us)
                L = len(context)
                lp, length, keep = step(context + self._pads[L], L, wid, 0.0)
                if length == 0:
                    raise ValueError("a state or word outside this model's vocabulary")
                hit = (lp * LOG10E, length, key[L + 1 - keep:] if keep else ())
                if len(cache) >= CACHE_SIZE:
                    cache.clear()
                cache[key] = hit
        if type(out_state) is State:
            out_state._w = hit[2]
            out_state._o = self
        else:
            self._write(out_state, hit[2])
        return FullScoreReturn(hit[0], hit[1], wid == UNK_ID)

    def BaseScore(self, in_state, word: str, out_state) -> float:
        return self.BaseFullScore(in_state, word, out_state).log_prob

    # -- sentences ------------------------------------------------------------------
    def _ids(self, sentence, eos: bool) -> list[int]:
        get = self._index.get
        ids = [get(w, UNK_ID) for w in _text(sentence).split()]
        if eos:
            ids.append(EOS_ID)
        return ids

    def _whole(self, ids: list[int]) -> bool:
        """Whether a sentence is scored in one kernel call (else word by word)."""
        return (self._backoff and BOS_ID not in ids
                and not (self._blanks is None and self._has_blanks() or self._blanks[0]))

    def _scores(self, ids: list[int], bos: bool) -> list[tuple[float, int]]:
        """(log10 prob, ngram_length) of each id of one sentence."""
        if self._whole(ids):
            lp, matched = self._sentence(ids, bos)
            return list(zip((lp * LOG10E).tolist(), matched.tolist()))
        context = (BOS_ID,) if bos and self._N > 1 else ()
        out = []
        for w in ids:
            lp, length, context = self._step(context, w)
            out.append((lp, length))
        return out

    def _sentence(self, ids: list[int], bos: bool):
        """(ln P, longest stored n-gram) of each id, in one compiled call once Numba is
        loaded; before, through BackoffModel.full_scores (Python for a few sentences)."""
        scorer = self._scorer
        if scorer is None:
            if "nlm.ngram.backoff_kernels" not in sys.modules:
                return self._lm.full_scores(self._array(ids, dtype="int64"), bool(bos))
            scorer = self._scorer = self._lm.sentence_scorer()
        return scorer(self._array(ids, dtype="int64"), bool(bos))

    def score(self, sentence, bos: bool = True, eos: bool = True) -> float:
        """log10 p(sentence [</s>] | [<s>]), as ``kenlm.Model.score``."""
        ids = self._ids(sentence, eos)
        if not ids:
            return 0.0
        if self._whole(ids):    # the numbers of _scores, summed alike
            lp = self._sentence(ids, bos)[0]
            return math.fsum((lp * LOG10E).tolist())
        return math.fsum(p for p, _ in self._scores(ids, bos))

    def full_scores(self, sentence, bos: bool = True, eos: bool = True):
        """Yield (log10 prob, n-gram length, oov) for every word (and </s>)."""
        ids = self._ids(sentence, eos)
        if not ids:
            return
        n_words = len(ids) - eos
        for t, (p, m) in enumerate(self._scores(ids, bos)):
            yield p, m, t < n_words and ids[t] == UNK_ID

    def perplexity(self, sentence) -> float:
        """10 ** (-log10 p(sentence </s> | <s>) / (words + 1))."""
        return 10.0 ** (-self.score(sentence) / (len(_text(sentence).split()) + 1))


class LanguageModel(Model):
    """kenlm's other name for :class:`Model`."""


def _register_as_kenlm() -> None:
    """Be ``import kenlm`` when no kenlm module is installed (see the module docstring)."""
    if "kenlm" in sys.modules:
        return
    from importlib.util import find_spec
    try:
        installed = find_spec("kenlm") is not None
    except (ImportError, ValueError):
        installed = False
    if not installed:
        sys.modules["kenlm"] = sys.modules[__name__]
        # pyctcdecode imported earlier found no kenlm: give it the name its import
        # would bind now
        pyctc = sys.modules.get("pyctcdecode.language_model")
        if pyctc is not None and not hasattr(pyctc, "kenlm"):
            pyctc.kenlm = sys.modules[__name__]


_register_as_kenlm()

__all__ = ["Model", "LanguageModel", "State", "FullScoreReturn", "Config", "LoadMethod",
           "ARPALoadComplain"]
