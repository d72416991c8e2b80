"""Linear mixtures of probabilities, below every model that mixes: the weights check,
the weighted log-sum, and lining up two vocabularies that hold the same words in
different id orders. Used by dynamic mixtures (:mod:`nlm.mixture`) and static ones
(:mod:`nlm.ngram.merge`); knows nothing about any model.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import OptionError
from .vocab import Vocabulary


def vocabulary_difference(a: Vocabulary, b: Vocabulary) -> str | None:
    """Why two vocabularies cannot be mixed (word set, tokenizer, case), or None.

    The same words in another id order are compatible (an ARPA file lists its
    words in its own order): :func:`id_map` translates between them."""
    if a is b:
        return None
    if a.tokenizer != b.tokenizer:
        return f"tokenizer {a.tokenizer!r} vs {b.tokenizer!r}"
    if a.lowercase != b.lowercase:
        return f"lowercase {a.lowercase} vs {b.lowercase}"
    if a.words == b.words:
        return None
    only_a = [w for w in a.words if w not in b.index]
    only_b = [w for w in b.words if w not in a.index]
    if not only_a and not only_b:
        return None
    parts = [f"{len(a)} vs {len(b)} words"]
    if only_a:
        parts.append(f"{len(only_a)} only in the first, e.g. {only_a[0]!r}")
    if only_b:
        parts.append(f"{len(only_b)} only in the second, e.g. {only_b[0]!r}")
    return "; ".join(parts)


def id_map(target: Vocabulary, source: Vocabulary) -> np.ndarray | None:
    """(V,) int64: the id in ``source`` of each id of ``target``, or None when the
    ids already agree. The vocabularies must hold the same words."""
    if target is source or target.words == source.words:
        return None
    return np.array([source.index[w] for w in target.words], dtype=np.int64)


def check_weights(weights, k: int) -> np.ndarray:
    """``k`` finite non-negative weights with a positive sum, normalized to sum to 1."""
    if weights is None:
        return np.full(k, 1.0 / k)
    try:
        w = np.array([float(x) for x in weights], dtype=np.float64)
    except (TypeError, ValueError):
        raise OptionError(f"weights must be numbers, got {weights!r}") from None
    if len(w) != k:
        raise OptionError(f"{len(w)} weight(s) given for {k} component model(s)")
    if not np.isfinite(w).all() or (w < 0).any():
        raise OptionError(f"weights must be finite and non-negative, got {list(map(float, w))}")
    total = w.sum()
    if total <= 0:
        raise OptionError("at least one weight must be positive")
    # Weights that already sum to 1 up to rounding are kept bit for bit, so a
    # saved and reloaded mixture scores exactly as the original.
    return w if abs(total - 1.0) <= 1e-12 else w / total


def combine_logprobs(logprobs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ln sum_i w_i exp(logprobs[i]) along axis 0; zero-weight rows are left out."""
    out = None
    for lp, w in zip(logprobs, weights):
        if w == 0.0:
            continue
        term = lp + math.log(w)
        out = term if out is None else np.logaddexp(out, term)
    return out


__all__ = ["vocabulary_difference", "id_map", "check_weights", "combine_logprobs"]
