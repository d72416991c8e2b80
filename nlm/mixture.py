"""Linear interpolation of language models that share a vocabulary, with EM-tuned weights.

    P(w | h) = sum_i lambda_i P_i(w | h_i),    lambda_i >= 0,  sum_i lambda_i = 1

Each component keeps its own state h_i (an n-gram context, an RNN hidden
vector, ...); the mixture's state is the tuple of the components' states, so
any models behind :class:`~nlm.model.LanguageModel` mix, including mixtures.
Everything is computed in the log domain (``logaddexp``), so a component that
gives a token probability 0 (``-inf``) is harmless as long as another does not.
Components must have the same words, tokenizer and case folding; their ids may
be ordered differently (an ARPA file lists its words in its own order): the
mixture uses its first component's ids and translates for the others.

The weights are tuned on held-out text by expectation-maximisation, as SRILM's
``compute-best-mix`` does: with l_i(t) the log-probability component i gives
held-out token t, repeat

    post_i(t) = lambda_i exp(l_i(t)) / sum_j lambda_j exp(l_j(t))   (E step)
    lambda_i  = mean_t post_i(t)                                    (M step)

until no weight moves by more than a tolerance. Each iteration can only raise
the held-out likelihood, which is concave in the weights, so EM climbs to the
best mixture; only the (K, T) matrix of component log-probabilities is needed,
computed once.

A saved mixture is a small model file (kind ``mixture``): the shared
vocabulary, the weights and the paths of the component model files, relative
to the mixture file. Loading checks that every component exists and still has
the mixture's vocabulary. This module knows nothing about any particular model.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import ModelFileError, NlmError, OptionError
from .modelfile import FileFormat, register_format
from .model import LanguageModel, register
from .combine import check_weights, combine_logprobs, id_map, vocabulary_difference  # noqa: F401


# -- EM weight tuning ------------------------------------------------------------


@dataclass
class EMResult:
    weights: np.ndarray          # (K,) tuned weights, summing to 1
    iterations: int
    converged: bool              # False when max_iter was reached first
    loglik: list[float] = field(repr=False)  # total log-likelihood (nats) before
    #                                          the first iteration and after each one
    tokens: int = 0              # tokens the weights were tuned on
    skipped: int = 0             # tokens every component gives probability 0
    best_single: int | None = None   # set when EM's mixture was no better than this
    #                                  component alone: the weights are then 1 for it, 0 else
    final_loglik: float = 0.0    # total log-likelihood of the returned weights


def em_weights(logprobs, init=None, tol: float = 1e-6, max_iter: int = 10_000,
               loglik_tol: float | None = None) -> EMResult:
    """Mixture weights maximizing sum_t ln sum_i w_i exp(logprobs[i, t]), by EM.

    ``logprobs`` is (K, T): the log-probability each component gives each
    held-out token. Stops when no weight changes by more than ``tol`` in one
    iteration, or when the total log-likelihood is provably within ``loglik_tol``
    (relative; default ``tol / 10``) of its maximum: near a weight that tends to 0, EM
    creeps for hundreds of iterations that change nothing that matters. The bound: the
    log-likelihood f is concave with gradient T g, g_i = mean_t p_i(t) / p_mix(t), and
    sum_i w_i g_i = 1, so f(w*) <= f(w) + T (max_i g_i - 1). Tokens that
    every component gives probability 0 are left out (no weights can help them); their
    number is reported as ``skipped``.

    The result is never worse on this text than the best single component: if EM's
    weights are (it stopped on the way to a corner of the simplex), that component's
    weights (1 for it, 0 for the others) are returned, with ``best_single`` set.
    """
    L = np.asarray(logprobs, dtype=np.float64)
    if L.ndim != 2 or L.shape[0] < 1:
        raise OptionError("EM needs a (components, tokens) matrix of log-probabilities")
    if np.isnan(L).any() or (L == np.inf).any():
        raise OptionError("EM got NaN or +inf log-probabilities")
    if not (tol > 0) or max_iter < 1:
        raise OptionError("EM needs tol > 0 and max_iter >= 1")
    loglik_tol = tol / 10 if loglik_tol is None else loglik_tol
    if not (loglik_tol >= 0):
        raise OptionError("EM needs loglik_tol >= 0")
    K = L.shape[0]
    w = check_weights(init, K)
    if (w <= 0).any():
        raise OptionError("EM's initial weights must all be positive (a zero weight stays zero)")
    top = L.max(axis=0)                     # (T,) best component per token
    usable = np.isfinite(top)
    L, top = L[:, usable], top[usable]
    n = L.shape[1]
    if n == 0:
        raise OptionError("no held-out token has a non-zero probability under any component")
    # Posteriors do not change when a token's probabilities are all scaled by the
    # same factor, so work with R = exp(L - max_i L) in [0, 1]: no underflow for
    # the best component, and each iteration is one (K,T) matvec instead of logs.
    R = np.exp(L - top)                     # (K, T)
    base = math.fsum(top)
    mix = w @ R                             # (T,) mixture probability / exp(top)
    history = [base + float(np.log(mix).sum())]
    converged, it = False, 0
    for it in range(1, max_iter + 1):
        g = (R @ (1.0 / mix)) / n           # (K,) gradient / T; the mean posterior is w g
        if it > 1 and n * (float(g.max()) - 1.0) <= loglik_tol * abs(history[-1]):
            converged, it = True, it - 1    # within loglik_tol of the optimum already
            break
        new = w * g
        new /= new.sum()                    # only rounding moves it off 1
        change = float(np.abs(new - w).max())
        w = new
        mix = w @ R
        history.append(base + float(np.log(mix).sum()))
        if change < tol:
            converged = True
            break
    # each component alone: its log-likelihood on the usable tokens (-inf if it gives
    # one of them probability 0)
    single = [math.fsum(row) if np.isfinite(row).all() else -math.inf for row in L]
    best = int(np.argmax(single))
    if K > 1 and single[best] > history[-1]:
        w = np.zeros(K)
        w[best] = 1.0
        return EMResult(weights=w, iterations=it, converged=converged, loglik=history,
                        tokens=n, skipped=int((~usable).sum()), best_single=best,
                        final_loglik=single[best])
    return EMResult(weights=w, iterations=it, converged=converged, loglik=history,
                    tokens=n, skipped=int((~usable).sum()), final_loglik=history[-1])


# -- the model --------------------------------------------------------------------

# Real paths of mixture files being loaded right now, to stop a file that
# (through other mixtures) refers to itself from recursing forever.
_LOADING: set[str] = set()


@register("mixture")
class MixtureModel(LanguageModel):
    def __init__(self, components: Sequence[LanguageModel], weights=None,
                 paths: Sequence[str | None] | None = None):
        """``components`` share one vocabulary; ``weights`` default to uniform and are
        normalized to sum to 1. ``paths`` are the files the components were loaded
        from (needed only to save the mixture)."""
        components = list(components)
        if not components:
            raise OptionError("a mixture needs at least one component model")
        paths = list(paths) if paths is not None else [None] * len(components)
        if len(paths) != len(components):
            raise OptionError("one path per component, or none")
        self.paths = [os.path.abspath(p) if p is not None else None for p in paths]
        self.components = components
        self._maps = []  # per component: mixture id -> component id, None if the same
        for i, c in enumerate(components):
            if not isinstance(c, LanguageModel):
                raise OptionError(f"component {self._label(i)} is not a LanguageModel")
            if not c.normalized:
                raise OptionError(f"component {self._label(i)}: {c.kind} scores are not "
                                  "probabilities, so they cannot be mixed")
            reason = vocabulary_difference(components[0].vocab, c.vocab)
            if reason is not None:
                raise OptionError(f"component {self._label(i)} has a different vocabulary "
                                  f"from {self._label(0)} ({reason}); mixed models must be "
                                  "trained with the same vocabulary and tokenizer settings")
            self._maps.append(id_map(components[0].vocab, c.vocab))
        super().__init__(components[0].vocab)
        self.weights = check_weights(weights, len(components))
        self.carries_state = any(c.carries_state for c in components)

    def _label(self, i: int) -> str:
        p = self.paths[i]
        return p if p is not None else f"#{i + 1} ({self.components[i].kind})"

    @classmethod
    def from_files(cls, paths: Sequence, weights=None) -> "MixtureModel":
        """Load each model file and mix them (a missing or foreign file: ModelFileError)."""
        from .modelfile import load
        paths = [os.fspath(p) for p in paths]
        return cls([load(p) for p in paths], weights, paths=paths)

    def with_weights(self, weights) -> "MixtureModel":
        return MixtureModel(self.components, weights, paths=self.paths)

    # -- the state machine ----------------------------------------------------
    # Components with weight 0 are never consulted: their state is None. Token
    # ids are the mixture's (its first component's); a component whose ids are
    # ordered differently gets translated ids, and its distribution is gathered
    # back into the mixture's order.
    def initial_state(self) -> tuple:
        return tuple(c.initial_state() if w > 0 else None
                     for c, w in zip(self.components, self.weights))

    def advance(self, state, token: int) -> tuple:
        return tuple(None if s is None else
                     c.advance(s, token if m is None else int(m[token]))
                     for c, s, m in zip(self.components, state, self._maps))

    def next_logprobs(self, state) -> np.ndarray:
        rows = (None if s is None else
                c.next_logprobs(s) if m is None else c.next_logprobs(s)[m]
                for c, s, m in zip(self.components, state, self._maps))
        return combine_logprobs(rows, self.weights)

    def next_sentence_state(self, state) -> tuple:
        return tuple(None if s is None else c.next_sentence_state(s)
                     for c, s in zip(self.components, state))

    # -- scoring ------------------------------------------------------------------
    def component_scores(self, i: int, ids: np.ndarray, offsets: np.ndarray,
                         carried: bool = False) -> np.ndarray:
        """(T,) log-probabilities component ``i`` gives each token (``ids`` are the
        mixture's), per sentence or with ``carried`` state."""
        m = self._maps[i]
        if m is not None:
            ids = m[ids].astype(np.int32)
        c = self.components[i]
        return c.score_corpus_carried(ids, offsets) if carried else c.score_corpus(ids, offsets)

    def component_logprobs(self, ids: np.ndarray, offsets: np.ndarray,
                           carried: bool = False) -> np.ndarray:
        """(K, T) log-probabilities each component gives each token (its fast path)."""
        return np.stack([self.component_scores(i, ids, offsets, carried)
                         for i in range(len(self.components))])

    def score_corpus(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        rows = (self.component_scores(i, ids, offsets) if w > 0 else None
                for i, w in enumerate(self.weights))
        return combine_logprobs(rows, self.weights)

    def score_corpus_carried(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        rows = (self.component_scores(i, ids, offsets, carried=True) if w > 0 else None
                for i, w in enumerate(self.weights))
        return combine_logprobs(rows, self.weights)

    def tune(self, ids: np.ndarray, offsets: np.ndarray, component_logprobs=None,
             **em_options):
        """(mixture with EM-tuned weights, EMResult) for held-out text ``ids``/``offsets``.
        EM starts from the current weights, or from uniform ones if any is zero (EM
        never moves a zero weight). ``component_logprobs``: the (K, T)
        :meth:`component_logprobs` of that text, when the caller has them already."""
        init = self.weights if (self.weights > 0).all() else None
        L = (self.component_logprobs(ids, offsets) if component_logprobs is None
             else component_logprobs)
        result = em_weights(L, init=init, **em_options)
        return self.with_weights(result.weights), result

    # -- persistence (the file format is registered below) ------------------------
    def config(self) -> dict:
        return {"components": list(self.paths), "weights": [float(w) for w in self.weights]}

    def arrays(self) -> dict:
        return {}

    @classmethod
    def from_saved(cls, vocab, config, arrays):
        """A mixture from a config whose component paths are absolute or relative to the
        working directory (files use :func:`_load_mixture`)."""
        return _load_mixture(vocab, config, arrays, None)

    def describe(self) -> dict:
        return {"components": [f"{self._label(i)} ({c.kind}, weight {w:.6g})"
                               for i, (c, w) in enumerate(zip(self.components, self.weights))]}


def _mixture_config(mixture: MixtureModel, path: str) -> dict:
    """The saved config: component paths relative to the mixture file ``path``."""
    missing = [mixture._label(i) for i, p in enumerate(mixture.paths) if p is None]
    if missing:
        raise NlmError(f"cannot save the mixture: component(s) {', '.join(missing)} have no "
                       "model file; save each component first and build the mixture with "
                       "MixtureModel.from_files")
    target = os.path.realpath(path)
    for p in mixture.paths:
        if os.path.exists(p) and os.path.realpath(p) == target:
            raise NlmError(f"{path}: is one of the mixture's components; "
                           "write the mixture to another file")
    base = os.path.dirname(os.path.abspath(path))
    return {"components": [_relative(p, base) for p in mixture.paths],
            "weights": [float(w) for w in mixture.weights]}


def _load_mixture(vocab, config, arrays, path=None) -> MixtureModel:
    """Load the components a mixture file (at ``path``) refers to, and mix them."""
    from .modelfile import load
    where = os.fspath(path) if path is not None else "mixture"
    refs, weights = config.get("components"), config.get("weights")
    if (not isinstance(refs, list) or not refs or not isinstance(weights, list)
            or len(refs) != len(weights) or not all(isinstance(r, str) for r in refs)):
        raise ModelFileError(f"{where}: corrupt mixture (bad component list or weights)")
    base = os.path.dirname(os.path.abspath(path)) if path is not None else os.getcwd()
    key = os.path.realpath(where) if path is not None else None
    if key is not None and key in _LOADING:
        raise ModelFileError(f"{where}: the mixture refers to itself through its components")
    if key is not None:
        _LOADING.add(key)
    try:
        components, full_paths = [], []
        for ref in refs:
            full = os.path.normpath(os.path.join(base, ref))
            if not os.path.exists(full):
                raise ModelFileError(f"{where}: component {ref} not found (looked for {full})")
            try:
                model = load(full)
            except ModelFileError as e:
                raise ModelFileError(f"{where}: component {ref}: {e}") from None
            reason = vocabulary_difference(vocab, model.vocab)
            if reason is not None:
                raise ModelFileError(f"{where}: component {ref} has a different vocabulary "
                                     f"from the mixture's ({reason}); was it retrained "
                                     "after the mixture was made?")
            components.append(model)
            full_paths.append(full)
    finally:
        if key is not None:
            _LOADING.discard(key)
    try:
        return MixtureModel(components, weights, paths=full_paths)
    except OptionError as e:
        raise ModelFileError(f"{where}: {e}") from None


register_format(FileFormat("mixture", kind="mixture", load=_load_mixture,
                           config=_mixture_config))


def _relative(path: str, base: str) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:  # another drive (Windows): keep it absolute
        return path


__all__ = ["MixtureModel", "em_weights", "EMResult", "combine_logprobs", "check_weights",
           "vocabulary_difference", "id_map"]
