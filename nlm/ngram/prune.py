"""Entropy-based pruning of backoff models (Stolcke 1998; SRILM's ``ngram -prune``).

Input: a normalized :class:`~nlm.ngram.backoff.BackoffModel`. Output: a smaller
BackoffModel in which every n-gram (h, w) of order >= 2 whose removal raises
the model's perplexity by a relative amount below ``threshold`` is gone, with
the backoff weights recomputed so that every distribution still sums to 1.

Removing the explicit probability p(w|h) makes w back off:
p'(w|h) = bow'(h) p(w|h'), where h' is h without its first word and

    bow'(h) = (N(h) + p(w|h)) / (D(h) + p(w|h')),
    N(h) = 1 - sum p(v|h),  D(h) = 1 - sum p(v|h')  (sums over stored h v).

Only the distribution after h changes, so the relative entropy between the
model and the pruned model is (Stolcke's eq. 6, natural logs)

    delta(h, w) = -P(h) * [ p(w|h) * (ln p(w|h') + ln bow'(h) - ln p(w|h))
                            + N(h) * (ln bow'(h) - ln bow(h)) ],

the second term being the change for all the words that already backed off
(their mass under h is N(h)). The relative change of (training set)
perplexity is exp(delta) - 1; the n-gram is pruned when that is below
``threshold``, as SRILM does. P(h) is the model's own probability of the
context by the chain rule, with a leading ``<s>`` given the probability of
``</s>`` (a sentence start is as likely as a sentence end), again as SRILM.

As in SRILM, every decision is taken against the unpruned model (each n-gram
as if it alone were removed), orders are processed from the highest down, and
an n-gram that is still the context of a longer one is kept, so the pruned
tables keep their prefix structure. Unigrams are never pruned. After pruning,
all backoff weights are recomputed from the lowest order up.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import OptionError
from ..vocab import BOS_ID, EOS_ID
from .backoff import BackoffModel

#: SRILM's tolerance for rounding errors in 1 - sum p (values within it of 0 are 0).
PROB_EPSILON = 3e-6


def _context_logprobs(model: BackoffModel) -> list[np.ndarray]:
    """ln P(h) of every stored n-gram h used as a context (orders 1..N-1), by the
    chain rule; all of h's prefixes are stored, so each factor is a stored logprob."""
    V = model.vocab_size
    first = model.logprobs[0].copy()
    first[BOS_ID] = model.logprobs[0][EOS_ID]
    out = [first]
    for k in range(2, model.order):
        prefix = model.tables.keys[k - 1] // V
        out.append(out[-1][prefix] + model.logprobs[k - 1])
    return out


def _backoff_sums(model: BackoffModel, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the k-grams (h, w): ln p(w|h') (the backed-off estimate); and for each
    context h (row of table k-1): N(h) = 1 - sum p(w|h) and D(h) = 1 - sum p(w|h')."""
    V = model.vocab_size
    prefix = model.tables.keys[k - 1] // V
    n_ctx = len(model.tables.keys[k - 2])
    words = model.ngram_words(k)
    lq = model.ngram_logprobs(words[:, 1:])
    num = 1.0 - np.bincount(prefix, weights=np.exp(model.logprobs[k - 1]), minlength=n_ctx)
    den = 1.0 - np.bincount(prefix, weights=np.exp(lq), minlength=n_ctx)
    # rounding can leave tiny negative remainders where the stored words take all the mass
    num[(num < 0) & (num > -PROB_EPSILON)] = 0.0
    den[(den < 0) & (den > -PROB_EPSILON)] = 0.0
    return lq, num, den


def entropy_deltas(model: BackoffModel) -> list[np.ndarray | None]:
    """delta(h, w) in nats (see the module docstring) for every stored n-gram of
    order >= 2, as ``out[k-1]`` for order k (``out[0]`` is None: unigrams are
    never pruned). ``inf`` where removal is impossible or the context's weights
    are not sane (SRILM skips such contexts too)."""
    _check_model(model)
    V = model.vocab_size
    ctx_lp = _context_logprobs(model)
    out: list[np.ndarray | None] = [None]
    for k in range(2, model.order + 1):
        prefix = model.tables.keys[k - 1] // V
        lq, num, den = _backoff_sums(model, k)
        lp = model.logprobs[k - 1]
        n, d = num[prefix], den[prefix]
        p, q = np.exp(lp), np.exp(lq)
        old_bow = model.logbows[k - 2][prefix]
        with np.errstate(divide="ignore", invalid="ignore"):
            new_bow = np.log(n + p) - np.log(d + q)
            # p(w|h) [ln p'(w|h) - ln p(w|h)], zero when p(w|h) = 0
            change_w = np.where(p > 0, p * (lq + new_bow - lp), 0.0)
            # N(h) [ln bow'(h) - ln bow(h)], zero when no word backed off
            change_rest = np.where(n > 0, n * (new_bow - old_bow), 0.0)
            delta = -np.exp(ctx_lp[k - 2][prefix]) * (change_w + change_rest)
        insane = (n < 0) | ((d <= 0) & (n > PROB_EPSILON)) | ((q == 0) & (p > 0))
        delta[insane | np.isnan(delta)] = np.inf
        out.append(delta)
    return out


def prune_entropy(model: BackoffModel, threshold: float) -> BackoffModel:
    """The model without every n-gram (order >= 2, not the context of a longer kept
    one) whose removal changes perplexity by a relative amount below ``threshold``
    (SRILM ``ngram -prune threshold``; typical values 1e-8 .. 1e-5). Threshold 0
    prunes nothing. The result is normalized: its backoff weights are recomputed.
    """
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise OptionError(f"entropy pruning threshold must be a number, got {threshold!r}") \
            from None
    if not (threshold >= 0.0) or math.isinf(threshold):
        raise OptionError(f"entropy pruning threshold must be a finite number >= 0, "
                          f"got {threshold}")
    _check_model(model)
    N, V = model.order, model.vocab_size
    keys = model.tables.keys
    keep = [np.ones(len(k), dtype=bool) for k in keys]
    if threshold > 0.0 and N > 1:
        deltas = entropy_deltas(model)
        for k in range(N, 1, -1):
            prunable = np.expm1(deltas[k - 1]) < threshold
            if k < N:  # a context of a kept longer n-gram stays
                child_prefix = keys[k] // V
                has_child = np.bincount(child_prefix[keep[k]], minlength=len(keys[k - 1])) > 0
                prunable &= ~has_child
            keep[k - 1] = ~prunable
    if all(kp.all() for kp in keep):
        return BackoffModel(model.vocab, keys, model.logprobs, model.logbows,
                            method=model.method, normalized=True,
                            options={**model.options, "prune_entropy": threshold})
    new_keys, new_lp, new_bow = [keys[0]], [model.logprobs[0]], [model.logbows[0]]
    for k in range(2, N + 1):
        new_row = np.cumsum(keep[k - 2]) - 1          # old row of table k-1 -> new row
        kept = keys[k - 1][keep[k - 1]]
        new_keys.append(new_row[kept // V] * V + kept % V)
        new_lp.append(model.logprobs[k - 1][keep[k - 1]])
        if k < N:
            new_bow.append(model.logbows[k - 1][keep[k - 1]])
    pruned = BackoffModel(model.vocab, new_keys, new_lp, new_bow, method=model.method,
                          normalized=True, options={**model.options, "prune_entropy": threshold})
    recompute_backoff_weights(pruned)
    return pruned


def recompute_backoff_weights(model: BackoffModel) -> None:
    """Set every backoff weight (in place) so that each context's distribution sums
    to 1 given its stored probabilities: bow(h) = N(h) / D(h). Lower orders first,
    since D(h) backs off through them. A context without stored continuations gets
    weight 1; one whose lower-order distribution has no mass left keeps its weight."""
    for k in range(2, model.order + 1):
        _, num, den = _backoff_sums(model, k)
        bow = model.logbows[k - 2]
        has_children = np.diff(model.tables.child_start(k)) > 0
        with np.errstate(divide="ignore"):
            fresh = np.log(num) - np.log(den)
        ok = has_children & (num >= 0) & (den > 0)
        both_empty = has_children & (num <= PROB_EPSILON) & (den <= 0)
        bow[ok] = fresh[ok]          # views of the kernels' flat table: updated in place
        bow[both_empty] = 0.0
        bow[~has_children] = 0.0


def require_normalized_backoff(model, not_backoff: str, not_normalized: str) -> None:
    """Refuse (OptionError) a model that is not a backoff n-gram model (``not_backoff``,
    with ``{kind}``) or whose scores are not probabilities (``not_normalized``, with
    ``{method}``): what recomputes backoff weights needs both."""
    if not isinstance(model, BackoffModel):
        raise OptionError(not_backoff.format(kind=model.kind))
    if not model.normalized:
        raise OptionError(not_normalized.format(method=model.method))


def _check_model(model) -> None:
    require_normalized_backoff(
        model, "entropy pruning applies to backoff n-gram models, not to {kind} models",
        "{method} scores are not probabilities; entropy pruning needs a normalized model")


__all__ = ["prune_entropy", "entropy_deltas", "recompute_backoff_weights",
           "require_normalized_backoff"]
