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

import sys
from functools import partial

import numpy as np

from ..errors import InputError, ModelFileError
from ..model import register
from ..vocab import Vocabulary
from .base import NgramModel
from .counts import NgramCounts

#: what a model opened from its query table alone (a binary file) computes when asked
_LAZY = frozenset(("_keys", "_lp", "_bow", "_child", "_coff", "tables", "logprobs", "logbows"))


#: slots per n-gram of each order's probing table
LOAD_FACTOR = 0.7
#: a model whose probing table is there without the kernels (a binary file's, mapped)
#: scores its first this many tokens in Python while no kernel is loaded
#: (:mod:`.probing`, the same numbers, about 5 us a token): a few sentences then cost no
#: Numba start-up (about 0.3 s of CPU, the time of some 50,000 tokens in Python)
PYTHON_TOKENS = 16384
#: where the query table's meta array lists the first row of each order
M_OFF = 5


def query_layout(off: np.ndarray, N: int, V: int) -> tuple[np.ndarray, int, np.dtype]:
    """(meta, the length of ints, its dtype) of the query table of a model whose orders
    start at ``off`` (see :mod:`.backoff_kernels`)."""
    cst = M_OFF + N + 1
    sst = cst + N + 1
    meta = np.zeros(sst + N + 2, dtype=np.int64)
    meta[:M_OFF] = N, V, M_OFF, cst, sst
    meta[M_OFF:M_OFF + N + 1] = off
    pos = int(off[N])
    for k in range(2, N + 1):
        meta[cst + k] = pos
        pos += int(off[k - 1] - off[k - 2]) + 1
    for k in range(2, N + 1):
        meta[sst + k] = pos
        pos += max(int((off[k] - off[k - 1]) / LOAD_FACTOR) + 1, 4)
    meta[sst + N + 1] = pos
    meta[sst:sst + 2] = meta[sst + 2] if N >= 2 else pos
    big = max([V] + [int(off[k] - off[k - 1]) + 1 for k in range(1, N + 1)])
    return meta, pos, np.dtype(np.uint32 if big < 2 ** 32 - 1 else np.int64)


def check_query_table(meta: np.ndarray, ints: np.ndarray, vals: np.ndarray, N: int,
                      V: int) -> None:
    """The sizes a query table must have for the kernels to stay inside its arrays
    (the contents are the writer's: see :func:`nlm.ngram.binary.verify_binary`)."""
    if meta.ndim != 1 or len(meta) < M_OFF + N + 1 or meta[2] != M_OFF:
        raise ValueError("the query table's layout does not fit the model")
    off = meta[M_OFF:M_OFF + N + 1]
    want, n_ints, _ = query_layout(off, N, V)
    if not (off[0] == 0 and off[1] == V and (np.diff(off) >= 0).all()
            and np.array_equal(meta, want) and ints.shape == (n_ints,)
            and vals.shape in ((int(off[N] + off[N - 1]),), (2 * int(off[N]),))):
        raise ValueError("the query table's layout does not fit the model")


@register("backoff")
class BackoffModel(NgramModel):
    """ARPA-form tables of ``keys`` (layout of :class:`NgramCounts`), ``logprob``
    (ln probabilities, one per stored n-gram) and ``logbow`` (ln backoff weights,
    orders 1..N-1). They are kept as ``tables.keys``, ``logprobs`` and ``logbows``
    (lists, one array per order; ``logprob`` is the LanguageModel method).
    ``method`` names the estimator; ``normalized=False`` marks scores that are
    not probabilities (stupid backoff). Queries run in the Numba kernels of
    :mod:`nlm.ngram.backoff_kernels` over one probing table (:meth:`query_table`), the
    same for models in memory, binary files and :mod:`nlm.kenlm`.
    """

    def __init__(self, vocab: Vocabulary, keys: list[np.ndarray], logprob: list[np.ndarray],
                 logbow: list[np.ndarray], method: str = "arpa", normalized: bool = True,
                 options: dict | None = None):
        super().__init__(vocab, len(keys))
        N, V = len(keys), len(vocab)
        if len(logprob) != N or len(logbow) not in (N - 1, N):
            raise ValueError("one logprob table per order and one logbow table per order < N")
        if len(keys[0]) != V or len(logprob[0]) != V:
            raise ValueError("the unigram table must cover the whole vocabulary")
        sizes = [len(k) for k in keys]
        for k in range(N):
            if np.shape(keys[k]) != (sizes[k],) or np.shape(logprob[k]) != (sizes[k],):
                raise ValueError(f"order {k + 1}: logprob and keys differ in length")
            if k < N - 1 and np.shape(logbow[k]) != (sizes[k],):
                raise ValueError(f"order {k + 1}: logbow and keys differ in length")
        # One flat array per quantity (the kernels' layout); the per-order lists are views.
        off = np.zeros(N + 1, dtype=np.int64)
        np.cumsum(sizes, out=off[1:])
        self._off = off
        self._keys = np.concatenate([np.asarray(k, np.int64) for k in keys])
        # probabilities and backoff weights side by side: the probing table's values
        # (see query_table), so that weights set in place are the ones scored
        self._vals = np.zeros(2 * off[-1], dtype=np.float64)
        self._lp, self._bow = self._vals[:off[-1]], self._vals[off[-1]:]
        if N:
            np.concatenate([np.asarray(x, np.float64) for x in logprob], out=self._lp)
        for k in range(N - 1):
            self._bow[off[k]:off[k + 1]] = logbow[k]
        self._check_tables()
        view = [slice(off[k], off[k + 1]) for k in range(N)]
        self.tables = NgramCounts(V, [self._keys[v] for v in view],
                                  [np.zeros(0, np.int64)] * N)
        self.logprobs = [self._lp[v] for v in view]
        self.logbows = [self._bow[v] for v in view[:N - 1]]
        self._child = None
        self._coff = None
        self._query = None   # the probing table (built on first use)
        self.method = method
        self.normalized = bool(normalized)
        self.options = dict(options or {})

    @classmethod
    def from_flat(cls, vocab: Vocabulary, tab: tuple, method: str = "arpa",
                  normalized: bool = True, options: dict | None = None) -> "BackoffModel":
        """A model over tables already in the kernels' flat layout ``tab`` = (keys, off,
        lp, bow, child, coff) (see :mod:`.backoff_kernels`). Nothing is copied or read,
        so arrays memory-mapped from a file stay on disk until a query touches them
        (:mod:`nlm.ngram.binary`); the caller vouches for the tables' invariants
        (:meth:`check_tables` reads everything to verify them)."""
        keys, off, lp, bow, child, coff = tab
        self = cls.__new__(cls)
        NgramModel.__init__(self, vocab, len(off) - 1)
        N, V = self.order, len(vocab)
        if off[1] != V or len(keys) != off[-1] or len(lp) != off[-1] or len(bow) != off[-1]:
            raise ValueError("flat tables of inconsistent sizes")
        if len(coff) != N + 1 or len(child) != coff[-1] or any(
                coff[k] - coff[k - 1] != (off[k - 1] - off[k - 2] + 1) for k in range(2, N + 1)):
            raise ValueError("child tables of inconsistent sizes")
        self._off, self._keys, self._lp, self._bow = off, keys, lp, bow
        self._child, self._coff = child, coff
        view = [slice(off[k], off[k + 1]) for k in range(N)]
        self.tables = NgramCounts(V, [keys[v] for v in view], [np.zeros(0, np.int64)] * N)
        self.tables._child_start = [None, None] + [child[coff[k - 1]:coff[k]]
                                                   for k in range(2, N + 1)]
        self.logprobs = [lp[v] for v in view]
        self.logbows = [bow[v] for v in view[:N - 1]]
        self._query = None
        self.method = method
        self.normalized = bool(normalized)
        self.options = dict(options or {})
        return self

    def check_tables(self) -> None:
        """Verify every invariant the kernels trust (reads all the tables)."""
        self._check_tables()
        tab = self._tab()
        for k in range(2, self.order + 1):
            want = np.searchsorted(
                self._keys[self._off[k - 1]:self._off[k]],
                np.arange(self._off[k - 1] - self._off[k - 2] + 1, dtype=np.int64)
                * self.vocab_size)
            if not np.array_equal(tab[4][tab[5][k - 1]:tab[5][k]], want):
                raise ValueError(f"order {k}: the continuation index does not match the keys")

    def _check_tables(self):
        """The kernels trust these invariants (an out-of-range row would read
        outside an array), so a damaged model file must not get past here."""
        N, V, off = self.order, self.vocab_size, self._off
        if not np.array_equal(self._keys[:V], np.arange(V)):
            raise ValueError("the unigram table must be indexed by word id")
        for k in range(2, N + 1):
            key = self._keys[off[k - 1]:off[k]]
            if len(key) == 0:
                continue
            if key[0] < 0 or (len(key) > 1 and not (key[1:] > key[:-1]).all()):
                raise ValueError(f"order {k}: keys are not sorted and distinct")
            if key[-1] // V >= off[k - 1] - off[k - 2]:
                raise ValueError(f"order {k}: an n-gram's context is not in table {k - 1}")
        if np.isnan(self._lp).any() or np.isnan(self._bow).any():
            raise ValueError("NaN in the probability tables")

    # -- queries ------------------------------------------------------------
    def _tab(self) -> tuple:
        """The flat tables in the kernels' layout (see :mod:`.backoff_kernels`)."""
        if self._child is None:
            N = self.order
            parts = [np.zeros(0, np.int64)] + [self.tables.child_start(k) for k in range(2, N + 1)]
            coff = np.zeros(N + 1, dtype=np.int64)
            np.cumsum([len(p) for p in parts], out=coff[1:])
            self._child = np.concatenate(parts).astype(np.int64, copy=False)
            self._coff = coff
            self.tables._child_start = []  # the flat copy is the one kept
        return (self._keys, self._off, self._lp, self._bow, self._child, self._coff)

    @classmethod
    def from_query_table(cls, vocab: Vocabulary, table: tuple, method: str = "arpa",
                         normalized: bool = True, options: dict | None = None) -> "BackoffModel":
        """A model over its query table alone, ``table`` = (meta, ints, vals, closed) as
        :meth:`query_table` returns it (a binary file's arrays, memory-mapped: nothing
        is read here). The sorted tables (``tables``, ``logprobs``, ``logbows``) are
        rebuilt from it when first asked for (export, pruning)."""
        meta, ints, vals, closed = table
        self = cls.__new__(cls)
        N = int(meta[0])
        NgramModel.__init__(self, vocab, N)
        check_query_table(meta, ints, vals, N, len(vocab))
        self._off = np.array(meta[M_OFF:M_OFF + N + 1], dtype=np.int64)
        self._query = (meta, ints, vals, bool(closed))
        self.method = method
        self.normalized = bool(normalized)
        self.options = dict(options or {})
        return self

    def __getattr__(self, name):
        # only called for missing attributes: the sorted tables of a model opened from
        # its query table, rebuilt on first use
        if name in _LAZY and "_query" in self.__dict__:
            self._unpack()
            return self.__dict__[name]
        raise AttributeError(name)

    def _unpack(self) -> None:
        """The sorted tables (keys, logprob, logbow, continuation starts) from the query
        table."""
        meta, ints, vals, _ = self._query
        N, V, off = self.order, self.vocab_size, self._off
        cst = int(meta[3])
        keys = np.empty(off[N], dtype=np.int64)
        keys[:V] = np.arange(V)
        parts = [np.zeros(0, np.int64)]
        for k in range(2, N + 1):
            start = np.asarray(ints[meta[cst + k]:meta[cst + k] + off[k - 1] - off[k - 2] + 1],
                               dtype=np.int64)
            parts.append(start)
            prefix = np.repeat(np.arange(len(start) - 1, dtype=np.int64), np.diff(start))
            keys[off[k - 1]:off[k]] = prefix * V + ints[off[k - 1]:off[k]]
        lp = np.asarray(vals[:off[N]], dtype=np.float64)
        bow = np.zeros(off[N], dtype=np.float64)
        bow[:off[N - 1]] = vals[off[N]:]
        coff = np.zeros(N + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=coff[1:])
        self._keys, self._lp, self._bow = keys, lp, bow
        self._child, self._coff = np.concatenate(parts), coff
        view = [slice(off[k], off[k + 1]) for k in range(N)]
        self.tables = NgramCounts(V, [keys[v] for v in view], [np.zeros(0, np.int64)] * N)
        self.logprobs = [lp[v] for v in view]
        self.logbows = [bow[v] for v in view[:N - 1]]

    def query_table(self) -> tuple:
        """(meta, ints, vals, closed): the probing table every query reads (see
        :mod:`.backoff_kernels`), built from the sorted tables on first use (its values
        are the model's own arrays, so weights set in place are the ones scored);
        ``closed`` tells whether the model is suffix-closed (scoring may then stop at
        the first n-gram not found). Memory: about 14 bytes per n-gram."""
        if self._query is None:
            keys, off, lp, bow, child, coff = self._tab()
            N, V = self.order, self.vocab_size
            from .backoff_kernels import _build_table
            meta, n_ints, dtype = query_layout(off, N, V)
            ints = np.empty(n_ints, dtype=dtype)
            closed = bool(_build_table(keys, off, child, coff, N, V, meta, ints))
            vals = self.__dict__.get("_vals")
            if vals is None:
                vals = np.concatenate([lp, bow[:off[N - 1]]]).astype(np.float64, copy=False)
            self._query = (meta, ints, vals, closed)
        return self._query

    def _find(self, ids) -> int:
        return self.tables.find(ids)

    def _history(self, state) -> np.ndarray:
        h = tuple(state)[-(self.order - 1):] if self.order > 1 else ()
        V = self.vocab_size
        if not all(0 <= t < V for t in h):
            raise InputError("state holds a token id outside the vocabulary")
        return np.array(h, dtype=np.int64)

    def next_logprobs(self, state) -> np.ndarray:
        from .backoff_kernels import _next_logprobs
        out = np.empty(self.vocab_size, dtype=np.float64)
        meta, ints, vals, _ = self.query_table()
        _next_logprobs(self._history(state), meta, ints, vals, out)
        return out

    def score_corpus(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(ids) or (
                np.diff(offsets) < 0).any():
            raise InputError("offsets must rise from 0 to len(ids)")
        if len(ids) and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise InputError("token id outside the vocabulary")
        out = np.empty(len(ids), dtype=np.float64)
        if self._in_python(len(ids)):
            from .probing import score_corpus
            score_corpus(ids, offsets, self._python_table(), out)
            return out
        from .backoff_kernels import _score_corpus
        meta, ints, vals, closed = self.query_table()
        _score_corpus(ids, offsets, meta, ints, vals, closed, out)
        return out

    def _in_python(self, tokens: int) -> bool:
        """Whether to score these tokens in Python: the probing table is there (mapped),
        no kernel is loaded yet, and the model's first :data:`PYTHON_TOKENS` last."""
        if self._query is None or "nlm.ngram.backoff_kernels" in sys.modules:
            return False
        done = self.__dict__.get("_python_tokens", 0) + tokens
        if done > PYTHON_TOKENS:
            return False
        self._python_tokens = done
        return True

    def _python_table(self):
        table = self.__dict__.get("_python_probing")
        if table is None:
            from .probing import Probing
            table = self._python_probing = Probing(self._query)
        return table

    def full_scores(self, ids, bos: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(ln P of each id given the ones before it, the length of the longest stored
        n-gram ending there) for one sentence of word ids, read after ``<s>`` (``bos``)
        or from no context: the numbers of :meth:`score_corpus`, plus what KenLM's
        ``full_scores`` reports as ``ngram_length``."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise InputError("token id outside the vocabulary")
        T, N, V = len(ids), self.order, self.vocab_size
        lp = np.empty(T, dtype=np.float64)
        matched = np.empty(T, dtype=np.int64)
        if self._in_python(T):
            from .probing import sentence_scores
            sentence_scores(ids, bool(bos), self._python_table(), lp, matched)
            return lp, matched
        from .backoff_kernels import _sentence_scores
        meta, ints, vals, closed = self.query_table()
        _sentence_scores(ids, bool(bos), meta, ints, vals, closed, lp, matched)
        return lp, matched

    def sentence_scorer(self):
        """:meth:`full_scores` as a function ``scores(ids, bos)`` that checks nothing (for
        per-sentence APIs such as nlm.kenlm's: one kernel call, no argument checks):
        ``ids`` must be an int64 array of word ids inside the vocabulary, ``bos`` a bool."""
        fn = self.__dict__.get("_scorer")
        if fn is None:
            from .backoff_kernels import _sentence_scores, compiled_for
            meta, ints, vals, closed = self.query_table()
            empty = np.empty
            lp, n = empty(1, dtype=np.float64), empty(1, dtype=np.int64)
            kernel = compiled_for(_sentence_scores, np.zeros(1, dtype=np.int64), True, meta,
                                  ints, vals, closed, lp, n)

            def fn(ids, bos):
                lp, n = empty(len(ids)), empty(len(ids), dtype=np.int64)
                kernel(ids, bos, meta, ints, vals, closed, lp, n)
                return lp, n
            self._scorer = fn
        return fn

    def context_step(self, hist: tuple, length: int, word: int,
                     bos_logprob: float = -np.inf) -> tuple[float, int, int]:
        """One word after a context: the first ``length`` ids of ``hist`` (most recent
        last; a tuple of ``max(order - 1, 1)`` ints, padded with any value). Returns
        (ln P(word | context), the length of the longest stored n-gram ending at
        ``word``, how many of the last words the next context needs: the longest stored
        n-gram ending at ``word`` that can be continued, KenLM's minimal state).
        ``bos_logprob`` is the unigram ln P(<s>) to answer (nlm stores probability 0).
        Ids outside the vocabulary give (nan, 0, 0)."""
        if len(hist) != max(self.order - 1, 1) or not 0 <= length <= len(hist):
            raise InputError(f"a context is a tuple of {max(self.order - 1, 1)} ids and a "
                             "length up to that")
        return self.context_stepper()(tuple(int(h) for h in hist), int(length), int(word),
                                      float(bos_logprob))

    def context_stepper(self):
        """:meth:`context_step` as a function ``step(hist, length, word, bos_logprob)``
        that checks nothing (for per-word APIs such as nlm.kenlm's: one kernel call over
        the probing table): ``hist`` must be a tuple of exactly ``max(order - 1, 1)``
        Python ints, ``length`` and ``word`` ints, ``bos_logprob`` a float."""
        step = self.__dict__.get("_stepper")
        if step is None:   # compiled for this model's argument types, once
            from .backoff_kernels import _context_step, compiled_for
            meta, ints, vals, _ = self.query_table()
            hist = (0,) * max(self.order - 1, 1)
            kernel = compiled_for(_context_step, meta, ints, vals, hist, 0, 0, 0.0)
            # the compiled body with the tables bound: no Python frame per call
            step = self._stepper = partial(kernel, meta, ints, vals)
        return step

    def blank_ngrams(self) -> set:
        """The word tuples (orders 2..N-1) that are not stored but end a stored longer
        n-gram: empty for models estimated from counts; pruned files have some (KenLM
        inserts them as "blanks" and counts them in ``ngram_length``)."""
        N = self.order
        if N < 3 or self.query_table()[3]:
            return set()     # suffix-closed
        stored = {j: set(map(tuple, self.ngram_words(j).tolist())) for j in range(2, N)}
        out = set()
        for k in range(3, N + 1):
            for gram in self.ngram_words(k).tolist():
                for j in range(2, k):
                    t = tuple(gram[k - j:])
                    if t not in stored[j]:
                        out.add(t)
        return out

    def ngram_logprobs(self, grams: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """ln P(last word | preceding words) for each row of ``grams`` (n, m) int word ids,
        using its first ``lengths[i]`` entries (default: all m). The words are taken as
        they stand (no ``<s>`` is added); contexts longer than N-1 are cut."""
        grams = np.ascontiguousarray(np.atleast_2d(grams), dtype=np.int64)
        n, m = grams.shape
        lengths = (np.full(n, m, dtype=np.int64) if lengths is None
                   else np.ascontiguousarray(lengths, dtype=np.int64))
        if m == 0 or lengths.shape != (n,) or (n and (lengths.min() < 1 or lengths.max() > m)):
            raise ValueError("each n-gram needs at least its last word")
        if grams.size and (grams.min() < 0 or grams.max() >= self.vocab_size):
            raise ValueError("token id outside the vocabulary")
        from .backoff_kernels import _ngram_logprobs
        out = np.empty(n, dtype=np.float64)
        meta, ints, vals, _ = self.query_table()
        _ngram_logprobs(grams, lengths, meta, ints, vals, out)
        return out

    def ngram_words(self, k: int) -> np.ndarray:
        """(n_k, k) int64 word ids of every stored k-gram, in table order."""
        V = self.vocab_size
        words = np.arange(V, dtype=np.int64)[:, None]
        for j in range(2, k + 1):
            key = self.tables.keys[j - 1]
            words = np.concatenate([words[key // V], (key % V)[:, None]], axis=1)
        return words

    # -- persistence --------------------------------------------------------
    def config(self) -> dict:
        return {"order": self.order, "method": self.method, "normalized": self.normalized,
                "options": self.options}

    def arrays(self) -> dict:
        out = {}
        for k in range(1, self.order + 1):
            out[f"keys.{k}"] = self.tables.keys[k - 1]
            out[f"logprob.{k}"] = self.logprobs[k - 1]
            if k < self.order:
                out[f"logbow.{k}"] = self.logbows[k - 1]
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
                "ngrams": [int(n) for n in np.diff(self._off)]}
