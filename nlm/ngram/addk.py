"""Add-k smoothing (k = 1 is Laplace, other k Lidstone), no backoff.

    P(w | h) = (c(h w) + k) / (c(h) + k V)

where c(h) is the total count of n-grams extending h and V is the vocabulary
size (``<s>`` and ``<unk>`` included, as in nltk.lm). The context h is the
whole state: the last n-1 words, or fewer at the start of a sentence, where
it begins with ``<s>``. An unseen context gives the uniform distribution.
"""
from __future__ import annotations

import math

import numpy as np

from ..corpus import Corpus
from ..errors import OptionError
from ..model import register
from ..registry import register_trainer
from ..vocab import Vocabulary
from .base import NGRAM_OPTIONS, NgramModel, check_order, counts_arrays, saved_counts
from .counts import NgramCounts, count_ngrams, ngram_rows, padded_stream


@register("add-k")
class AddKModel(NgramModel):
    def __init__(self, vocab: Vocabulary, counts: NgramCounts, k: float = 1.0):
        super().__init__(vocab, counts.order)
        if not (k > 0) or not math.isfinite(k):
            raise OptionError(f"k must be a positive number, got {k}")
        self.k = float(k)
        self.counts = counts
        # totals[j] = c(h) for every (j)-gram h of table j (j >= 1); the empty context is N
        self.totals = [np.array([counts.counts[0].sum()], dtype=np.int64)]
        for j in range(2, counts.order + 1):
            self.totals.append(counts.context_totals(j))

    @classmethod
    def fit(cls, corpus: Corpus, vocab: Vocabulary, order: int = 3, k: float = 1.0):
        order = check_order(order)
        if not (k > 0) or not math.isfinite(k):
            raise OptionError(f"k must be a positive number, got {k}")
        return cls(vocab, count_ngrams(corpus, order, len(vocab)), k)

    # -- queries ------------------------------------------------------------
    def _context(self, state: tuple) -> tuple[int, int]:
        """(length, row) of the context h = state, row -1 if never seen."""
        return len(state), self.counts.find(state)

    def next_logprobs(self, state) -> np.ndarray:
        V, k = self.vocab_size, self.k
        n_ctx, row = self._context(tuple(state))
        c = np.zeros(V, dtype=np.float64)
        if n_ctx == 0:
            c[:] = self.counts.counts[0]
            total = float(self.totals[0][0])
        elif row >= 0:
            words, cnt = self.counts.continuations(n_ctx + 1, row)
            c[words] = cnt
            total = float(self.totals[n_ctx][row])
        else:
            total = 0.0
        return np.log(c + k) - math.log(total + k * V)

    def ngram_logprob(self, word: int, context: tuple) -> float:
        """ln P(word | context) for an explicit context of at most n-1 ids."""
        context = tuple(context)[-(self.order - 1):] if self.order > 1 else ()
        return float(self.next_logprobs(context)[word])

    def score_corpus(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        padded, depth = padded_stream(ids, offsets)
        rows = ngram_rows(self.counts, padded, depth)
        scored = depth >= 1
        n_ctx = np.minimum(depth, self.order - 1)[scored]   # context length at each token
        out = np.empty(int(scored.sum()), dtype=np.float64)
        V, k = self.vocab_size, self.k
        for c in range(0, self.order):
            sel = n_ctx == c
            if not sel.any():
                continue
            pos = np.flatnonzero(scored)[sel]
            if c == 0:
                num = self.counts.counts[0][padded[pos]].astype(np.float64)
                tot = np.full(len(pos), float(self.totals[0][0]))
            else:
                ctx_row = rows[c - 1][pos - 1]
                full_row = rows[c][pos]
                num = np.where(full_row >= 0, self.counts.counts[c][np.maximum(full_row, 0)], 0)
                tot = np.where(ctx_row >= 0, self.totals[c][np.maximum(ctx_row, 0)], 0)
            out[sel] = np.log(num + k) - np.log(tot + k * V)
        return out

    # -- persistence --------------------------------------------------------
    def config(self) -> dict:
        return {"order": self.order, "k": self.k}

    def arrays(self) -> dict:
        return counts_arrays(self.counts)

    @classmethod
    def from_saved(cls, vocab, config, arrays):
        counts = saved_counts(arrays, int(config["order"]), len(vocab))
        return cls(vocab, counts, float(config["k"]))

    def describe(self) -> dict:
        return {"ngrams": [self.counts.size(j) for j in range(1, self.order + 1)]}


register_trainer("add-k", AddKModel.fit, "add-k smoothing (k=1: Laplace), no backoff",
                 family="ngram", option_help=NGRAM_OPTIONS)
