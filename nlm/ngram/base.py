"""What every count-based model shares: the n-gram state and order checks.

An n-gram state is the tuple of the last n-1 token ids (shorter at the start
of a sentence, where it begins with ``<s>``).
"""
from __future__ import annotations

import numpy as np

from ..errors import ModelFileError, OptionError
from ..model import LanguageModel
from ..registry import Opt
from ..vocab import BOS_ID, Vocabulary

MAX_ORDER = 20

#: The options of the count-based models (help for ``nlm train``), shared by their
#: registrations in :mod:`.addk` and :mod:`.methods`.
NGRAM_OPTIONS = {
    "order": Opt("N-gram order (context words + 1)."),
    "k": Opt("add-k: pseudo-count (1 = Laplace)."),
    "interpolate": Opt("kn, mkn: interpolated or backoff form.", flag="--interpolate/--backoff"),
    "discount": Opt("absolute, kn: one discount in [0, 1]; mkn: D1,D2,D3+ (each Dr in [0, r]).",
                    type=str, none_means="estimated per order from counts of counts"),
    "prune": Opt("N-gram models: count cutoffs per order as lmplz --prune; 0,1,1 drops the 2- "
                 "and 3-grams (and longer) seen once. Thresholds never decrease, the first is "
                 "0, the last applies to higher orders.", type=str, none_means="none"),
    "prune_entropy": Opt("Backoff n-gram models: Stolcke entropy pruning threshold "
                         "(e.g. 1e-8).", type=float, none_means="none"),
    "mle_unigrams": Opt("witten-bell, absolute: maximum-likelihood unigrams as nltk.lm (unseen "
                        "words get probability 0) instead of interpolating with the uniform "
                        "distribution."),
}


def check_order(order) -> int:
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool):
        raise OptionError(f"order must be a whole number, got {order!r}")
    if order < 1:
        raise OptionError(f"order must be at least 1, got {order}")
    if order > MAX_ORDER:
        raise OptionError(f"order must be at most {MAX_ORDER}, got {order}")
    return int(order)


class NgramModel(LanguageModel):
    """Base of the count-based models: state = last n-1 ids."""

    def __init__(self, vocab: Vocabulary, order: int):
        super().__init__(vocab)
        self.order = check_order(order)

    def initial_state(self) -> tuple:
        return (BOS_ID,) if self.order > 1 else ()

    def advance(self, state: tuple, token: int) -> tuple:
        if self.order == 1:
            return ()
        return (tuple(state) + (int(token),))[-(self.order - 1):]


def saved_counts(arrays: dict, order: int, vocab_size: int):
    """Rebuild an :class:`NgramCounts` from ``keys.k`` / ``counts.k`` arrays."""
    from .counts import NgramCounts
    keys, counts = [], []
    for k in range(1, order + 1):
        try:
            key, cnt = arrays[f"keys.{k}"], arrays[f"counts.{k}"]
        except KeyError:
            raise ModelFileError(f"missing table for order {k}") from None
        if key.shape != cnt.shape or key.ndim != 1:
            raise ModelFileError(f"inconsistent table for order {k}")
        keys.append(key.astype(np.int64, copy=False))
        counts.append(cnt.astype(np.int64, copy=False))
    if len(keys[0]) != vocab_size:
        raise ModelFileError("unigram table does not match the vocabulary")
    return NgramCounts(vocab_size, keys, counts)


def counts_arrays(counts) -> dict:
    out = {}
    for k in range(1, counts.order + 1):
        out[f"keys.{k}"] = counts.keys[k - 1]
        out[f"counts.{k}"] = counts.counts[k - 1]
    return out
