"""Static interpolation: several backoff n-gram models merged into one (SRILM's
``ngram -mix-lm -lambda -write-lm``).

Input: backoff models over the same words (ids may be ordered differently) and
mixture weights. Output: one :class:`~nlm.ngram.backoff.BackoffModel` whose
n-grams are the union of the components' n-grams, with

    P(w | h) = sum_i lambda_i P_i(w | h)      for every n-gram h w of the union,

each P_i(w | h) computed by component i's own backoff rule (with h cut to its
order), and every context's backoff weight recomputed so that its distribution
sums to 1 (:func:`~nlm.ngram.prune.recompute_backoff_weights`, lower orders
first).

Where it is exact and where it approximates: a query (h, w) whose full n-gram
(h w, h cut to the merged order minus 1) is in the union gets exactly the
dynamic mixture's probability (:class:`nlm.mixture.MixtureModel`), up to float
rounding. Any other query backs off, and then the merged model gives
bow(h) * P(w | h minus its first word), where the dynamic mixture gives
sum_i lambda_i bow_i(h) P_i(w | h minus its first word): the mass each
component reserves for unseen words is pooled and spread in proportion to the
merged lower-order distribution, not to each component's own. The two agree
when the components back off alike (one component, or unigram models) and
differ otherwise; ``nlm mix --write-arpa --valid`` measures the difference.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import OptionError
from ..combine import check_weights, combine_logprobs, id_map, vocabulary_difference
from .backoff import BackoffModel
from .prune import recompute_backoff_weights


def merge_backoff(models: Sequence[BackoffModel], weights=None) -> BackoffModel:
    """One backoff model equal to the linear mixture of ``models`` on the union of their
    n-grams (see the module docstring). ``weights`` default to uniform."""
    models = list(models)
    if not models:
        raise OptionError("nothing to merge")
    for i, m in enumerate(models):
        if not isinstance(m, BackoffModel):
            raise OptionError(f"component {i + 1} is a {m.kind} model; only backoff and "
                              "interpolated n-gram models can be merged into one ARPA file")
        if not m.normalized:
            raise OptionError(f"component {i + 1}: {m.method} scores are not probabilities")
        reason = vocabulary_difference(models[0].vocab, m.vocab)
        if reason is not None:
            raise OptionError(f"component {i + 1} has a different vocabulary from the first "
                              f"({reason})")
    weights = check_weights(weights, len(models))
    vocab = models[0].vocab
    V = len(vocab)
    N = max(m.order for m in models)
    # per component: target id -> its id, and its id -> target id
    to_comp = [id_map(vocab, m.vocab) for m in models]
    to_target = [None if t is None else np.argsort(t) for t in to_comp]

    keys = [np.arange(V, dtype=np.int64)]
    words = [np.arange(V, dtype=np.int64)[:, None]]      # (n_k, k) target ids per union k-gram
    rowmap = [[np.arange(V, dtype=np.int64) if t is None else t for t in to_target]]
    for k in range(2, N + 1):
        parts, comp_keys = [], []
        for c, m in enumerate(models):
            if k > m.order:
                comp_keys.append(None)
                continue
            key = m.tables.keys[k - 1]
            last = key % m.vocab_size
            if to_target[c] is not None:
                last = to_target[c][last]
            merged = rowmap[k - 2][c][key // m.vocab_size] * V + last
            comp_keys.append(merged)
            parts.append(merged)
        union = np.unique(np.concatenate(parts))
        keys.append(union)
        rowmap.append([None if ck is None else np.searchsorted(union, ck) for ck in comp_keys])
        words.append(np.concatenate([words[-1][union // V], (union % V)[:, None]], axis=1))

    logprob = []
    for k in range(1, N + 1):
        rows = []
        for c, m in enumerate(models):
            if weights[c] == 0.0:
                rows.append(None)
                continue
            grams = words[k - 1] if to_comp[c] is None else to_comp[c][words[k - 1]]
            rows.append(m.ngram_logprobs(grams) if k > 1 else m.logprobs[0][grams[:, 0]])
        logprob.append(combine_logprobs(rows, weights))
    logbow = [np.zeros(len(keys[k])) for k in range(N - 1)]
    methods = sorted({m.method for m in models})
    merged = BackoffModel(vocab, keys, logprob, logbow, method="mixture",
                          options={"components": methods, "weights": weights.tolist()})
    recompute_backoff_weights(merged)
    return merged


__all__ = ["merge_backoff"]
