"""The smoothing methods: one estimator per method, each ending as a BackoffModel.

Pipeline (one module per stage, in data-flow order):

    count_ngrams            (counts.py)      raw counts of all orders, suffix links
    -> adjusted_counts      (adjust.py)      Kneser-Ney continuation counts
    -> discounts            (discount.py)    from counts of counts
    -> alpha / leftover     (this module)    what each method gives each n-gram
    -> fold + cutoffs       (interpolate.py) final ARPA-form tables
    -> BackoffModel         (backoff.py)     the runtime model, queries only

Notation for one order: h is a context (a (k-1)-gram), c(h w) the count used
at that order, c(h) = sum_w c(h w), N1+(h .) the number of distinct words
seen after h. Each estimator returns, per order, alpha(h w) and leftover(h)
(see :mod:`.interpolate`):

==================  ==========================================  ===============================
method              alpha(h w)                                  leftover(h)
==================  ==========================================  ===============================
mle                 c(h w) / c(h)                               0
witten-bell         c(h w) / (c(h) + N1+(h .))                  N1+(h .) / (c(h) + N1+(h .))
absolute            max(c(h w) - D, 0) / c(h)                   D N1+(h .) / c(h)
kn, mkn             (a(h w) - D(a)) / sum_w a(h w)              sum_w D(a(h w)) / sum_w a(h w)
katz                d_c c(h w) / c(h)  (Good-Turing d_c)        1 - sum_w alpha(h w)  (*)
==================  ==========================================  ===============================

(*) Katz: where that leaves nothing (every continuation seen more than 5
times, so none is discounted), c(h) + 1 replaces c(h), leaving 1 / (c(h) + 1).

a are Kneser-Ney adjusted counts (:mod:`.adjust`); D(a) is D1, D2 or D3+ by
a (modified Kneser-Ney) or one D (Kneser-Ney). mle, witten-bell, absolute
and the interpolated kn/mkn fold as interpolated models, katz and
``interpolate=False`` kn/mkn as backoff models. Stupid backoff (Brants et
al. 2007) stores c(h w)/c(h) and a constant backoff factor 0.4; its scores
are not probabilities.

Unknown words. Interpolated Kneser-Ney, Witten-Bell, absolute discounting and
Katz end the recursion as KenLM does for modified Kneser-Ney: the unigram
level's leftover mass is spread uniformly over the V-1 words other than
``<s>``, so ``<unk>`` and every word get some probability even if never
seen. With ``mle_unigrams=True`` Witten-Bell and absolute discounting use
maximum-likelihood unigrams instead, exactly as nltk.lm does (unseen words,
``<unk>`` included, then get probability 0). MLE and stupid backoff never
give an unseen word mass.

A context never seen (or seen only at the end of sentences) has no stored
continuations; every method then uses the longest context that was seen
(backoff weight 1). For MLE this differs from nltk.lm, which gives every word
probability 0 after an unseen context.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ...corpus import Corpus
from ...errors import OptionError
from ...progress import stage
from ...registry import register_trainer
from ...vocab import BOS_ID, Vocabulary
from .adjust import (adjusted, adjusted_counts_of_counts, context_of, context_sums,
                     counts_of_counts, starts_with_bos)
from ..backoff import BackoffModel
from ..base import NGRAM_OPTIONS, check_order
from ..counts import NgramCounts, count_ngrams, first_positions
from .discount import (DiscountWarning, check_mkn_discounts, check_single_discount, estimate_kn,
                       estimate_mkn, good_turing, lmplz_counts_of_counts, option_parts)
from .interpolate import compact_keys, fold

STUPID_BACKOFF_FACTOR = 0.4
#: methods whose scores are not probabilities, and what they are called
UNNORMALIZED = {"stupid": "stupid backoff"}
KATZ_MAX_COUNT = 5


# -- the masses of one order, on plain arrays: written once, used in memory (the
# estimators below) and out of core (nlm.ngram.external.probabilities) --------------

def context_totals(values: np.ndarray, ctx: np.ndarray, n_ctx: int, unigram: bool) -> np.ndarray:
    """Sum of ``values`` over each context: (1,) for the unigrams' empty context, else
    (n_ctx,) by the context ids ``ctx``."""
    if unigram:
        return np.array([values.sum()], dtype=np.float64)
    return np.bincount(ctx, weights=values, minlength=n_ctx)


def discounted_masses(values, removed, ctx, n_ctx, unigram):
    """alpha = (v - removed) / sum v over the context, leftover = sum removed / sum v;
    contexts without children get leftover 1."""
    v = values.astype(np.float64)
    total = context_totals(v, ctx, n_ctx, unigram)
    gone = context_totals(removed, ctx, n_ctx, unigram)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = total[ctx]
        alpha = np.where(denom > 0, (v - removed) / denom, 0.0)
        leftover = np.where(total > 0, gone / total, 1.0)
    return alpha, leftover


def witten_bell_masses(values, ctx, n_ctx, unigram, mle_unigrams):
    """alpha = c / (c(h) + N1+(h .)), leftover = N1+(h .) / (c(h) + N1+(h .)); with
    ``mle_unigrams`` the unigrams keep nothing back."""
    c = values.astype(np.float64)
    total = context_totals(c, ctx, n_ctx, unigram)
    n_plus = context_totals((c > 0).astype(np.float64), ctx, n_ctx, unigram)
    if unigram and mle_unigrams:
        n_plus[:] = 0.0
    denom = total + n_plus
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(denom[ctx] > 0, c / denom[ctx], 0.0)
        leftover = np.where(denom > 0, n_plus / denom, 1.0)
    return alpha, leftover


def relative_frequencies(values, ctx, n_ctx, unigram):
    """Stupid backoff's scores: ln c(h w) - ln c(h), -inf where h was never seen."""
    c = values.astype(np.float64)
    total = context_totals(c, ctx, n_ctx, unigram)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total[ctx] > 0, np.log(c) - np.log(total[ctx]), -np.inf)


# -- methods: order_masses(k, values, ctx, n_ctx) gives alpha and leftover of order k
# from the counts the method uses (raw, or Kneser-Ney's adjusted counts) -------------

class Smoothing:
    """What a smoothing method is, apart from any count tables: its parameters
    (discounts), whether its unigrams spread leftover mass uniformly, whether it uses
    Kneser-Ney's adjusted counts, and the masses of one order. Picklable: the
    out-of-core pipeline sends it to worker processes."""
    name = ""
    uniform = True
    adjusted_counts = False
    info: dict = {}

    def order_masses(self, k, values, ctx, n_ctx):
        raise NotImplementedError


class MLE(Smoothing):
    name, uniform = "mle", False

    def __init__(self):
        self.info = {}

    def order_masses(self, k, values, ctx, n_ctx):
        return discounted_masses(values, np.zeros(len(values)), ctx, n_ctx, k == 1)


class WittenBell(Smoothing):
    name = "witten-bell"

    def __init__(self, mle_unigrams: bool = False):
        self.mle_unigrams, self.info = mle_unigrams, {}
        self.uniform = not mle_unigrams

    def order_masses(self, k, values, ctx, n_ctx):
        return witten_bell_masses(values, ctx, n_ctx, k == 1, self.mle_unigrams)


class AbsoluteDiscounting(Smoothing):
    """``discounts[k-1]``: D of order k (0 for MLE unigrams)."""
    name = "absolute"

    def __init__(self, discounts: list[float], mle_unigrams: bool = False):
        self.discounts = discounts
        self.uniform = not mle_unigrams
        self.info = {"discounts": [float(d) for d in discounts]}

    def order_masses(self, k, values, ctx, n_ctx):
        removed = np.minimum(values, self.discounts[k - 1]).astype(float)
        return discounted_masses(values, removed, ctx, n_ctx, k == 1)


class KneserNey(Smoothing):
    """``discounts[k-1]`` = [0, D1, D2, D3+] for order k (all equal for plain
    Kneser-Ney); the values are the adjusted counts of :mod:`.adjust`."""
    adjusted_counts = True

    def __init__(self, discounts: list[np.ndarray], modified: bool = True):
        self.name = "mkn" if modified else "kn"
        self.discounts = discounts
        self.info = {"discounts": [[float(x) for x in d[1:]] for d in discounts]}

    def order_masses(self, k, values, ctx, n_ctx):
        removed = self.discounts[k - 1][np.minimum(values, 3)]
        return discounted_masses(values, removed, ctx, n_ctx, k == 1)


class InMemory:
    """A method bound to in-memory count tables: ``masses(k)`` for :func:`.interpolate.fold`."""

    def __init__(self, method: Smoothing, counts: NgramCounts):
        self.method, self.counts = method, counts
        self.uniform, self.info = method.uniform, method.info
        self._bos = None

    def masses(self, k):
        counts = self.counts
        values = counts.counts[k - 1]
        if self.method.adjusted_counts:
            self._bos = starts_with_bos(counts, k, self._bos)
            values = adjusted(counts, k, self._bos)
        n_ctx = 1 if k == 1 else counts.size(k - 1)
        return self.method.order_masses(k, values, context_of(counts, k), n_ctx)


class Katz:
    """Good-Turing coefficients ``coeffs[k-1][r]`` for counts r <= ``max_count`` (in
    memory only: the starved-context repair needs whole contexts)."""
    uniform = True

    def __init__(self, counts: NgramCounts, max_count: int = KATZ_MAX_COUNT):
        self.counts, self.max_count = counts, max_count
        self.coeffs = []
        for k in range(1, counts.order + 1):
            d = good_turing(counts_of_counts(counts.counts[k - 1], max_count + 1), max_count)
            if (d[1:] == 1.0).all():
                warnings.warn(f"Katz: Good-Turing discounts are undefined for order {k} (too "
                              "few distinct counts); that order is not discounted",
                              DiscountWarning, stacklevel=4)
            self.coeffs.append(d)
        self.info = {"good_turing": [[float(x) for x in d[1:]] for d in self.coeffs]}

    def masses(self, k):
        c = self.counts.counts[k - 1]
        d = self.coeffs[k - 1]
        factor = np.where(c <= self.max_count, d[np.minimum(c, self.max_count)], 1.0)
        ctx = context_of(self.counts, k)
        n_ctx = 1 if k == 1 else self.counts.size(k - 1)
        alpha, leftover = discounted_masses(c, c * (1.0 - factor), ctx, n_ctx, k == 1)
        # Counts above max_count are not discounted, so a context whose continuations
        # are all frequent keeps no mass for unseen words, which would then get
        # probability 0. Such a context is estimated with its total count plus one.
        seen = context_sums(self.counts, k, (c > 0).astype(np.float64))
        starved = (leftover <= 1e-12) & (seen > 0) & (seen < self.counts.vocab_size - 1)
        if starved.any():
            total = context_sums(self.counts, k, c.astype(np.float64))
            fix = starved[ctx]
            alpha[fix] *= total[ctx][fix] / (total[ctx][fix] + 1.0)
            leftover[starved] = 1.0 / (total[starved] + 1.0)
        return alpha, leftover


# -- discounts: from the counts of counts, in memory and out of core alike ------------

def discounts_from(method: str, order: int, discount, counts_of_counts,
                   mle_unigrams: bool = False):
    """Per-order discounts of ``method`` ("absolute", "kn", "mkn"): the user's
    ``discount``, or estimated from ``counts_of_counts()`` (called only then: per order
    n_0..n_4 of the raw counts for absolute discounting, of the adjusted counts, as
    lmplz tallies them, for Kneser-Ney)."""
    if method == "absolute":
        if discount is not None:
            d = [check_single_discount(discount, "absolute discounting")] * order
        else:
            d = estimate_kn(counts_of_counts(), what="absolute discounting")
        if mle_unigrams:
            d[0] = 0.0
        return d
    modified = method == "mkn"
    if discount is not None:
        if modified:
            return [check_mkn_discounts(discount)] * order
        x = check_single_discount(discount, "Kneser-Ney")
        return [np.array([0.0, x, x, x])] * order
    if modified:
        return estimate_mkn(counts_of_counts())
    return [np.array([0.0, x, x, x]) for x in estimate_kn(counts_of_counts())]


def smoothing(method: str, discounts=None, mle_unigrams: bool = False) -> Smoothing:
    """The :class:`Smoothing` of a method name, with its discounts."""
    if method == "mle":
        return MLE()
    if method == "witten-bell":
        return WittenBell(mle_unigrams)
    if method == "absolute":
        return AbsoluteDiscounting(discounts, mle_unigrams)
    return KneserNey(discounts, modified=method == "mkn")


def check_arpa_output(method: str) -> None:
    """Refuse an ARPA file for a method whose scores are not probabilities."""
    if method in UNNORMALIZED:
        raise OptionError(f"{UNNORMALIZED[method]} scores are not probabilities; an ARPA file "
                          "would present them as probabilities")


def recorded_options(method: str, order: int, *, mle_unigrams=False, interpolate=True,
                     info=None, prune=None, prune_entropy=None) -> dict:
    """The options a model records in its file, in this order, whichever pipeline made it."""
    out = {"order": order}
    if method == "stupid":
        out["factor"] = STUPID_BACKOFF_FACTOR
    if prune is not None and any(prune):
        out["prune"] = prune
    if prune_entropy is not None:
        out["prune_entropy"] = prune_entropy
    if method in ("witten-bell", "absolute"):
        out["mle_unigrams"] = bool(mle_unigrams)
    if method in ("kn", "mkn"):
        out["interpolate"] = bool(interpolate)
    out.update(info or {})
    return out


def absolute_discounts(counts: NgramCounts, discount=None) -> list[float]:
    """D per order: the user's, or n1 / (n1 + 2 n2) of the raw counts."""
    return discounts_from("absolute", counts.order, discount,
                          lambda: [counts_of_counts(c, 4) for c in counts.counts])


def kneser_ney_discounts(counts: NgramCounts, modified: bool, discount=None,
                         corpus: Corpus | None = None) -> list[np.ndarray]:
    """Per order [0, D1, D2, D3+]: the user's, or estimated from counts of counts
    of the adjusted counts (as lmplz tallies them when ``corpus`` is given, see
    :func:`.discount.lmplz_counts_of_counts`)."""
    def tally():
        coc = adjusted_counts_of_counts(counts)
        if corpus is not None:
            coc = lmplz_counts_of_counts(counts, coc,
                                         first_positions(corpus.ids, counts.vocab_size))
        return coc
    return discounts_from("mkn" if modified else "kn", counts.order, discount, tally)


# -- options ---------------------------------------------------------------------

def parse_prune(prune, order: int) -> list[int]:
    """Count cutoffs per order, lmplz style: ``"0,1,1"`` or ``"0 1 1"`` or a
    sequence; n-grams of order k with count <= threshold k are dropped. The
    last threshold applies to the higher orders; thresholds must not decrease
    (else a kept n-gram could lose its context), and the unigram threshold must
    be 0 (every vocabulary word keeps its unigram; use --min-count to shrink
    the vocabulary)."""
    if prune is None:
        return [0] * order
    values = []
    for p in option_parts(prune):
        try:
            v = int(p)
            if isinstance(p, float) and v != p:
                raise ValueError
        except (TypeError, ValueError):
            raise OptionError(f"prune thresholds must be whole numbers, got {p!r}") from None
        if v < 0:
            raise OptionError(f"prune thresholds must be 0 or more, got {v}")
        values.append(v)
    if not values:
        raise OptionError("give at least one prune threshold, e.g. --prune 0,1,1")
    if len(values) > order:
        raise OptionError(f"{len(values)} prune thresholds given for a model of order {order}")
    if values[0] != 0:
        raise OptionError("the unigram prune threshold must be 0 (use --min-count to drop "
                          "rare words from the vocabulary)")
    if any(b < a for a, b in zip(values, values[1:])):
        raise OptionError(f"prune thresholds must not decrease, got {','.join(map(str, values))}")
    return values + [values[-1]] * (order - len(values))


def _check_entropy_threshold(value):
    if value is None:
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"entropy pruning threshold must be a number, got {value!r}") from None
    if not (t >= 0.0) or math.isinf(t):
        raise OptionError(f"entropy pruning threshold must be 0 or more, got {value}")
    return t


# -- building the model ------------------------------------------------------------

def build_model(vocab: Vocabulary, counts: NgramCounts, estimator, method: str,
                interpolate: bool, thresholds: list[int], options: dict) -> BackoffModel:
    """Fold the estimator's masses into tables (consuming ``counts``) and wrap them."""
    with stage(f"{method}: probabilities and backoff weights"):
        keys, logprob, logbow = fold(counts, estimator, interpolate, thresholds)
    info = dict(options)
    info.update(estimator.info)
    return BackoffModel(vocab, keys, logprob, logbow, method=method, normalized=True,
                        options=info)


def _finish(model: BackoffModel, prune_entropy) -> BackoffModel:
    if prune_entropy is None:
        return model
    try:
        from ..prune import prune_entropy as prune
    except ImportError:
        raise OptionError("entropy pruning is not available in this version") from None
    with stage("entropy pruning"):
        return prune(model, prune_entropy)


def _start(corpus: Corpus, vocab: Vocabulary, order, prune, prune_entropy):
    order = check_order(order)
    thresholds = parse_prune(prune, order)
    threshold = _check_entropy_threshold(prune_entropy)
    with stage(f"counting 1- to {order}-grams of {corpus.tokens} tokens"):
        counts = count_ngrams(corpus, order, len(vocab))
    return order, thresholds, threshold, counts


def _fit(corpus, vocab, method, order, prune, prune_entropy, interpolate=True,
         mle_unigrams=False, discount=None):
    """Count, find the discounts, fold and prune: every method but Katz and stupid backoff."""
    order, thresholds, pe, counts = _start(corpus, vocab, order, prune, prune_entropy)
    mle_unigrams = bool(mle_unigrams)
    discounts = None
    if method == "absolute":
        discounts = absolute_discounts(counts, discount)
        if mle_unigrams:
            discounts[0] = 0.0
    elif method in ("kn", "mkn"):
        with stage("adjusted counts and discounts"):
            discounts = kneser_ney_discounts(counts, method == "mkn", discount, corpus)
    options = recorded_options(method, order, mle_unigrams=mle_unigrams,
                               interpolate=interpolate, prune=thresholds, prune_entropy=pe)
    est = InMemory(smoothing(method, discounts, mle_unigrams), counts)
    model = build_model(vocab, counts, est, method, interpolate, thresholds, options)
    return _finish(model, pe)


# -- fit functions (registered below) -----------------------------------------------

def fit_mle(corpus: Corpus, vocab: Vocabulary, order: int = 3, prune=None,
            prune_entropy=None) -> BackoffModel:
    """Maximum likelihood: zero probability for everything unseen in a seen context."""
    return _fit(corpus, vocab, "mle", order, prune, prune_entropy)


def fit_witten_bell(corpus: Corpus, vocab: Vocabulary, order: int = 3, mle_unigrams=False,
                    prune=None, prune_entropy=None) -> BackoffModel:
    """Interpolated Witten-Bell."""
    return _fit(corpus, vocab, "witten-bell", order, prune, prune_entropy,
                mle_unigrams=mle_unigrams)


def fit_absolute(corpus: Corpus, vocab: Vocabulary, order: int = 3, discount=None,
                 mle_unigrams=False, prune=None, prune_entropy=None) -> BackoffModel:
    """Interpolated absolute discounting; D per order = n1/(n1+2 n2) unless given."""
    return _fit(corpus, vocab, "absolute", order, prune, prune_entropy,
                mle_unigrams=mle_unigrams, discount=discount)


def fit_kneser_ney(corpus: Corpus, vocab: Vocabulary, order: int = 3, discount=None,
                   interpolate=True, prune=None, prune_entropy=None) -> BackoffModel:
    """Kneser-Ney, one discount per order (n1/(n1+2 n2) of adjusted counts unless given)."""
    interpolate = True if interpolate is None else bool(interpolate)
    return _fit(corpus, vocab, "kn", order, prune, prune_entropy, interpolate,
                discount=discount)


def fit_modified_kneser_ney(corpus: Corpus, vocab: Vocabulary, order: int = 3, discount=None,
                            interpolate=True, prune=None, prune_entropy=None) -> BackoffModel:
    """Modified Kneser-Ney (Chen & Goodman), as KenLM's lmplz estimates it."""
    interpolate = True if interpolate is None else bool(interpolate)
    return _fit(corpus, vocab, "mkn", order, prune, prune_entropy, interpolate,
                discount=discount)


def fit_katz(corpus: Corpus, vocab: Vocabulary, order: int = 3, prune=None,
             prune_entropy=None) -> BackoffModel:
    """Katz backoff with Good-Turing discounts for counts up to 5."""
    order, thresholds, pe, counts = _start(corpus, vocab, order, prune, prune_entropy)
    options = recorded_options("katz", order, prune=thresholds, prune_entropy=pe)
    model = build_model(vocab, counts, Katz(counts), "katz", False, thresholds, options)
    return _finish(model, pe)


def fit_stupid_backoff(corpus: Corpus, vocab: Vocabulary, order: int = 3,
                       prune=None) -> BackoffModel:
    """Stupid backoff (Brants et al. 2007): S(w | h) = c(h w) / c(h) if seen, else
    0.4 S(w | h'). Not normalized. A context never seen costs nothing extra (it
    is not in the tables), where Brants et al. would still multiply by 0.4."""
    order = check_order(order)
    thresholds = parse_prune(prune, order)
    counts = count_ngrams(corpus, order, len(vocab))
    logprob, logbow, keys = [], [], []
    factor = math.log(STUPID_BACKOFF_FACTOR)
    new_row = np.arange(len(vocab), dtype=np.int64)
    for k in range(1, order + 1):
        n_ctx = 1 if k == 1 else counts.size(k - 1)
        lp = relative_frequencies(counts.counts[k - 1], context_of(counts, k), n_ctx, k == 1)
        keep = counts.counts[k - 1] > thresholds[k - 1] if k > 1 and thresholds[k - 1] else None
        key, new_row = compact_keys(counts.keys[k - 1], keep, new_row, len(vocab))
        keys.append(key)
        logprob.append(lp if keep is None else lp[keep])
        if k < order:
            logbow.append(np.full(len(key), factor))
    logprob[0][BOS_ID] = -np.inf
    options = recorded_options("stupid", order, prune=thresholds)
    return BackoffModel(vocab, keys, logprob, logbow, method=UNNORMALIZED["stupid"],
                        normalized=False, options=options)


#: the methods the out-of-core pipeline (nlm.ngram.external) estimates, and the options it
#: takes for each (the others, and --backoff, prune and entropy pruning, run in memory)
OUT_OF_CORE = {"mle": {"order"}, "witten-bell": {"order", "mle_unigrams"},
               "absolute": {"order", "discount", "mle_unigrams"},
               "kn": {"order", "discount", "interpolate"},
               "mkn": {"order", "discount", "interpolate"}, "stupid": {"order"}}

for _name, _fit_fn, _help in (
        ("mle", fit_mle, "maximum likelihood n-grams (zeros for unseen)"),
        ("witten-bell", fit_witten_bell, "interpolated Witten-Bell"),
        ("absolute", fit_absolute, "interpolated absolute discounting"),
        ("kn", fit_kneser_ney, "Kneser-Ney, one discount per order"),
        ("mkn", fit_modified_kneser_ney,
         "modified Kneser-Ney as KenLM lmplz (the default n-gram model)"),
        ("katz", fit_katz, "Katz backoff with Good-Turing discounts"),
        ("stupid", fit_stupid_backoff, "stupid backoff (scores are not probabilities)")):
    register_trainer(_name, _fit_fn, _help, family="ngram", option_help=NGRAM_OPTIONS)
