"""Stage 5 of out-of-core estimation: the output buckets -> the model file and the ARPA file.

Input: the records of :mod:`.probabilities`, in buckets by their first word (buckets
are ranges of word ids, so that bucket order is table order), and the unigram
table. Output: the model file (the same ``.npz`` as :func:`nlm.save` writes for a
:class:`~nlm.ngram.backoff.BackoffModel`: ``keys.k``, ``logprob.k``, ``logbow.k``)
and, if asked for, the ARPA file, both written as streams, one order after the
other and one bucket at a time.

Within a bucket the records of order k are sorted by their words (radix sort), the
backoff-weight records are joined to the probability records, and each k-gram's
context row (the key layout of :mod:`nlm.ngram.counts`, ``context_row * V +
last_word``) is found by walking the same bucket's sorted (k-1)-grams alongside,
which hold every context of the bucket's k-grams: a context starts with the same
word. Memory: one bucket of one order.
"""
from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass

import numpy as np

from ...files import NpzWriter, header_array
from ...modelfile import HEADER
from ...vocab import BOS_ID
from . import codec, spill
from .budget import ASSEMBLY_THREADS
from .kernels import _context_rows, _join_sorted, _sort_records


def plan_buckets(weights: np.ndarray, per_bucket: float, cap: int = 4096) -> np.ndarray:
    """(V,) bucket of each first word: consecutive word ranges of about ``per_bucket``
    weight (a word is never split)."""
    total = float(weights.sum())
    n = max(1, min(cap, int(np.ceil(total / max(per_bucket, 1.0)))))
    cum = np.cumsum(weights, dtype=np.float64) - weights
    return np.minimum((cum / max(total, 1.0) * n).astype(np.int64), n - 1).astype(np.int32)


def _abandon_on_error(method):
    """A failed write (disk full) abandons the archive: ZipFile would otherwise try to
    finish it again when collected, and complain from ``ZipFile.__del__``."""
    def guarded(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.zip.fp = None
            raise
    return guarded


def _record_files(directory: str, k: int) -> dict:
    """(bucket, what) -> the record files of order k (one per writer)."""
    out: dict = {}
    prefix = f".{k}."
    for name in os.listdir(directory):
        if name.startswith("b") and prefix in name:
            r, kk, rest = name[1:].split(".", 2)
            if int(kk) == k:
                what = rest[:3] if rest.startswith("bow") else rest[:2]
                out.setdefault((int(r), what), []).append(os.path.join(directory, name))
    return out


def _load_sorted(files: dict, r, k, what, V):
    """(words (n, k) int32, values (n,) float64) of bucket r's records, sorted by words."""
    paths = sorted(files.get((r, what), []))
    parts = [codec.load(p, np.int32, k + 2, delta=k) for p in paths]
    rec = (parts[0] if len(parts) == 1 else
           np.concatenate(parts) if parts else np.zeros((0, k + 2), dtype=np.int32))
    del parts
    if len(rec):
        rec = _sort_records(rec, k, V, np.empty_like(rec))
    words = np.ascontiguousarray(rec[:, :k])
    values = np.ascontiguousarray(rec[:, k:]).view(np.float64).reshape(-1)
    return words, values


def assemble(directory: str, vocab, sizes: list[int], unigram_logprob: np.ndarray,
             unigram_logbow: np.ndarray, n_buckets: int, model_out, arpa=None,
             constant_logbow: float | None = None, header: dict | None = None, binary=None):
    """Write the tables of every order (see the module doc). ``model_out``: a binary file
    for the model file (or None), written by the model files' one writer
    (:class:`nlm.files.NpzWriter`, ``header`` from :func:`nlm.modelfile.model_header`);
    ``arpa``: an :class:`~nlm.ngram.arpa.ArpaWriter` (or None); ``binary``: a
    :class:`~nlm.ngram.binary_stream.BinaryWriter` (or None). ``constant_logbow``:
    stupid backoff's weight for every n-gram below the highest order instead of
    backoff-weight records."""
    # Buckets are prepared (read, sorted, joined, their ARPA text formatted) by a pool of
    # threads, several at once (the kernels release the GIL); this thread takes them in
    # bucket order and writes the model file, while one more thread writes the ARPA text
    # and another the binary model's part of each bucket.
    from contextlib import ExitStack
    from concurrent.futures import ThreadPoolExecutor
    text = _Queue("nlm-arpa") if arpa is not None else None
    bin_queue = _Queue("nlm-binary") if binary is not None else None
    pool = ThreadPoolExecutor(ASSEMBLY_THREADS, thread_name_prefix="nlm-bucket")
    try:
        with ExitStack() as stack:
            npz = stack.enter_context(NpzWriter(model_out)) if model_out is not None else None
            out = _Assembler(directory, vocab, sizes, n_buckets, npz, arpa, text,
                             constant_logbow)
            out.binary, out.bin_queue, out.pool = binary, bin_queue, pool
            out.unigrams(unigram_logprob, unigram_logbow)
            offsets = None
            for k in range(2, len(sizes) + 1):
                offsets = out.order(k, offsets)
            if npz is not None:
                npz.whole("vocab.counts", np.asarray(vocab.counts, dtype=np.int64))
                npz.whole(HEADER, header_array(header))
            if binary is not None:
                bin_queue.drain()
                binary.close()
            if arpa is not None:
                out.to_arpa(arpa.end)
                text.drain()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for q in (text, bin_queue):
            if q is not None:
                q.close()


class _Queue:
    """A thread that runs the calls given to it in order, at most one waiting: bounds
    the buckets in memory."""

    def __init__(self, name: str):
        from concurrent.futures import ThreadPoolExecutor
        self.pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self.pending = None

    def submit(self, fn, *args):
        self.drain()
        self.pending = self.pool.submit(fn, *args)

    def drain(self):
        if self.pending is not None:
            self.pending.result()
            self.pending = None

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Assembler:
    """The outputs being written, and the ARPA thread's queue of one bucket."""

    def __init__(self, directory, vocab, sizes, n_buckets, npz, arpa, text, constant_logbow):
        self.directory, self.V, self.sizes, self.R = directory, len(vocab), sizes, n_buckets
        self.N = len(sizes)
        self.npz, self.arpa, self.text, self.constant = npz, arpa, text, constant_logbow
        self.binary = self.bin_queue = self.pool = None

    def to_arpa(self, fn, *args):
        """Queue ARPA output in order; at most one bucket waits, which bounds memory."""
        self.text.submit(fn, *args)

    def unigrams(self, logprob, logbow):
        """Order 1: indexed by word id."""
        V, N = self.V, self.N
        if self.npz is not None:
            self.npz.whole("keys.1", np.arange(V, dtype=np.int64))
            self.npz.whole("logprob.1", logprob)
            if N > 1:
                self.npz.whole("logbow.1", logbow)
        if self.binary is not None:
            self.bin_queue.submit(self.binary.unigrams, logprob, logbow if N > 1 else None)
        if self.arpa is not None:
            lp1 = logprob.copy()
            lp1[BOS_ID] = -np.inf
            self.to_arpa(self.arpa.section, 1)
            self.to_arpa(self.arpa.write, np.arange(V, dtype=np.int32)[:, None], lp1,
                         logbow if N > 1 else None)

    def order(self, k: int, offsets_prev):
        """Order k, bucket by bucket; returns where each bucket's rows start."""
        d, npz, size = self.directory, self.npz, self.sizes[k - 1]
        if self.arpa is not None:
            self.to_arpa(self.arpa.section, k)
        lp_path = os.path.join(d, f"out.{k}.logprob")
        bow_path = os.path.join(d, f"out.{k}.logbow")
        if npz is not None:
            npz.begin(f"keys.{k}", np.int64, size)
        offsets = np.zeros(self.R + 1, dtype=np.int64)
        files = _record_files(d, k)
        for r, part in enumerate(self.prepared(k, files, offsets_prev)):
            offsets[r + 1] = offsets[r] + self.emit(k, part, lp_path, bow_path)
        if offsets[-1] != size:
            raise RuntimeError(f"order {k}: {offsets[-1]} n-grams assembled, {size} estimated")
        if npz is not None:
            npz.end()
            npz.copy_file(f"logprob.{k}", lp_path, np.float64, size)
            if k < self.N:
                npz.copy_file(f"logbow.{k}", bow_path, np.float64, size)
            spill.remove(lp_path, bow_path)
        return offsets

    def prepared(self, k, files, offsets_prev):
        """Every bucket of order k prepared (:meth:`prepare`), in bucket order; up to
        ``ASSEMBLY_THREADS`` of them at once, by as many threads (the kernels, the codec and
        the ARPA formatting release the GIL)."""
        pending = deque()
        for r in range(self.R):
            pending.append(self.pool.submit(self.prepare, k, r, files, offsets_prev))
            if len(pending) >= ASSEMBLY_THREADS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def prepare(self, k, r, files, offsets_prev) -> "_Bucket":
        """Bucket r of order k read and sorted, its backoff weights joined, its context rows
        found, its words kept for order k + 1 and its ARPA text formatted: everything but
        the writes, which must come in bucket order (:meth:`emit`)."""
        d, V, N = self.directory, self.V, self.N
        words, lp = _load_sorted(files, r, k, "lp", V)
        n = len(words)
        bow = None
        if k < N and self.constant is not None:
            bow = np.full(n, self.constant)
        elif k < N:
            bw, bv = _load_sorted(files, r, k, "bow", V)
            bow = np.zeros(n)
            if _join_sorted(words, bw, bv, bow) != len(bw):
                raise RuntimeError(f"order {k}: a backoff weight has no n-gram")
        if k == 2:
            rows = words[:, 0].astype(np.int64)
        else:
            prev_path = os.path.join(d, f"s{r}.{k - 1}")
            prev = codec.load(prev_path, np.int32, k - 1)
            rows = np.empty(n, dtype=np.int64)
            _context_rows(words, prev, rows)
            if n and rows.min() < 0:
                raise RuntimeError(f"order {k}: an n-gram's context is missing")
            rows += offsets_prev[r]
            spill.remove(prev_path)
        if k < N:
            codec.append(os.path.join(d, f"s{r}.{k}"), words)
        text = self.arpa.lines(words, lp, bow) if self.arpa is not None else None
        spill.remove(*files.get((r, "lp"), []), *files.get((r, "bow"), []))
        return _Bucket(words, lp, bow, rows, text)

    def emit(self, k, part: "_Bucket", lp_path, bow_path) -> int:
        """A prepared bucket written to every output; returns its size."""
        if self.npz is not None:
            self.npz.write(part.rows * self.V + part.words[:, k - 1])
            spill.append(lp_path, part.lp)
            if part.bow is not None:
                spill.append(bow_path, part.bow)
        if self.binary is not None:
            self.bin_queue.submit(self.binary.block, k, part.words, part.lp, part.bow,
                                  part.rows)
        if self.arpa is not None:
            self.to_arpa(self.arpa.put, part.text)
        return len(part.words)


@dataclass
class _Bucket:
    """One bucket of one order, ready to be written."""
    words: np.ndarray            # (n, k) int32, sorted
    lp: np.ndarray               # (n,) ln probabilities
    bow: np.ndarray | None       # (n,) ln backoff weights; None at the highest order
    rows: np.ndarray             # (n,) int64 context rows in the table of order k - 1
    text: list | None            # the ARPA lines (bytes), when an ARPA file is written
