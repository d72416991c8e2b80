"""The runtime form of every backoff or interpolated n-gram model.

Whatever the smoothing method, an estimated model ends as ARPA-style tables
(the last stage of the pipeline count -> adjust -> discount -> interpolate ->
write): for every stored n-gram its final log-probability, and for every
stored n-gram of order < N its log backoff weight. Interpolated models are
folded into this form too, as KenLM and SRILM do. Querying is then

    ln P(w | h) = logprob(h w)                      if h w is stored,
                = logbow(h) + ln P(w | h minus its first word)   otherwise,

with logbow(h) = 0 when h itself is not stored. ARPA files load into this
class as well. Tables use the key layout of :mod:`nlm.ngram.counts`
(``prefix_row * V + last_word``; table 1 is indexed by word id), all natural
logs; ``-inf`` is a zero probability (``<s>``; MLE's unseen words).
"""
from __future__ import annotations

import numpy as np

from ..errors import ModelFileError
from ..model import register
from ..vocab import Vocabulary
from .base import NgramModel
from .counts import NgramCounts, ngram_rows, padded_stream


@register("backoff")
class BackoffModel(NgramModel):
    def __init__(self, vocab: Vocabulary, keys: list[np.ndarray], logprob: list[np.ndarray],
                 logbow: list[np.ndarray], method: str = "arpa", normalized: bool = True,
                 options: dict | None = None):
        super().__init__(vocab, len(keys))
        N, V = len(keys), len(vocab)
        if len(logprob) != N or len(logbow) not in (N - 1, N):
            raise ValueError("one logprob table per order and one logbow table per order < N")
        if len(keys[0]) != V or len(logprob[0]) != V:
            raise ValueError("the unigram table must cover the whole vocabulary")
        self.tables = NgramCounts(V, [np.asarray(k, np.int64) for k in keys],
                                  [np.zeros(0, np.int64)] * N)
        self.logprob = [np.asarray(x, np.float64) for x in logprob]
        self.logbow = [np.asarray(x, np.float64) for x in logbow[:N - 1]]
        for k in range(N):
            if self.logprob[k].shape != self.tables.keys[k].shape:
                raise ValueError(f"order {k + 1}: logprob and keys differ in length")
            if k < N - 1 and self.logbow[k].shape != self.tables.keys[k].shape:
                raise ValueError(f"order {k + 1}: logbow and keys differ in length")
        self.method = method
        self.normalized = bool(normalized)
        self.options = dict(options or {})

    # -- queries ------------------------------------------------------------
    def _find(self, ids) -> int:
        return self.tables.find(ids)

    def next_logprobs(self, state) -> np.ndarray:
        h = tuple(state)[-(self.order - 1):] if self.order > 1 else ()
        lp = self.logprob[0].copy()
        for j in range(1, len(h) + 1):
            row = self._find(h[-j:])
            if row < 0:
                continue
            lp += self.logbow[j - 1][row]
            start = self.tables.child_start(j + 1)
            a, b = start[row], start[row + 1]
            if b > a:
                lp[self.tables.keys[j][a:b] % self.vocab_size] = self.logprob[j][a:b]
        return lp

    def score_corpus(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        padded, depth = padded_stream(ids, offsets)
        rows = ngram_rows(self.tables, padded, depth)
        N = self.order
        scored = np.flatnonzero(depth >= 1)
        ctx_len = np.minimum(depth[scored], N - 1)
        # longest stored n-gram ending at each scored token
        lp = np.full(len(scored), np.nan)
        longest = np.zeros(len(scored), dtype=np.int64)
        for j in range(1, N + 1):
            r = rows[j - 1][scored]
            ok = (r >= 0) & (j <= ctx_len + 1)
            lp[ok] = self.logprob[j - 1][r[ok]]
            longest[ok] = j
        # plus the backoff weights of the contexts longer than the one used
        for m in range(1, N):
            r = rows[m - 1][scored - 1]
            use = (m >= longest) & (m <= ctx_len) & (r >= 0)
            lp[use] += self.logbow[m - 1][r[use]]
        return lp

    # -- persistence --------------------------------------------------------
    def config(self) -> dict:
        return {"order": self.order, "method": self.method, "normalized": self.normalized,
                "options": self.options}

    def arrays(self) -> dict:
        out = {}
        for k in range(1, self.order + 1):
            out[f"keys.{k}"] = self.tables.keys[k - 1]
            out[f"logprob.{k}"] = self.logprob[k - 1]
            if k < self.order:
                out[f"logbow.{k}"] = self.logbow[k - 1]
        return out

    @classmethod
    def from_saved(cls, vocab, config, arrays):
        order = int(config["order"])
        try:
            keys = [arrays[f"keys.{k}"] for k in range(1, order + 1)]
            logprob = [arrays[f"logprob.{k}"] for k in range(1, order + 1)]
            logbow = [arrays[f"logbow.{k}"] for k in range(1, order)]
        except KeyError as e:
            raise ModelFileError(f"missing table {e.args[0]}") from None
        return cls(vocab, keys, logprob, logbow, method=str(config.get("method", "arpa")),
                   normalized=bool(config.get("normalized", True)),
                   options=dict(config.get("options", {})))

    def describe(self) -> dict:
        return {"method": self.method,
                "ngrams": [len(k) for k in self.tables.keys]}
