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

import json
import os
import zipfile

import numpy as np

from ...modelfile import FORMAT, FORMAT_VERSION, HEADER
from ...version import __version__
from ...vocab import BOS_ID
from . import spill
from .kernels import _context_rows, _join_sorted, _sort_records
from .probabilities import record_path


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


class NpzStream:
    """An uncompressed ``.npz`` written one array at a time, each array in pieces, so
    that no array is ever whole in memory; ``numpy.load`` reads it like any other."""

    def __init__(self, fileobj):
        self.zip = zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    @_abandon_on_error
    def begin(self, name: str, dtype, n: int):
        self._member = self.zip.open(name + ".npy", "w", force_zip64=True)
        np.lib.format.write_array_header_1_0(self._member, {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
            "shape": (int(n),)})
        self._dtype, self._left = np.dtype(dtype), int(n)

    @_abandon_on_error
    def write(self, part: np.ndarray):
        part = np.ascontiguousarray(part, dtype=self._dtype)
        self._left -= len(part)
        self._member.write(memoryview(part).cast("B"))

    @_abandon_on_error
    def end(self):
        if self._left != 0:
            raise RuntimeError(f"array written with {self._left} entries missing")
        self._member.close()

    def whole(self, name: str, array: np.ndarray):
        self.begin(name, array.dtype, len(array))
        self.write(array)
        self.end()

    def copy_file(self, name: str, path: str, dtype, n: int, block: int = 1 << 22):
        self.begin(name, dtype, n)
        if n == 0 and not os.path.exists(path):   # an order without n-grams spills nothing
            self.end()
            return
        with open(path, "rb") as f:
            while True:
                part = np.fromfile(f, dtype=dtype, count=block)
                if len(part) == 0:
                    break
                self.write(part)
        self.end()

    @_abandon_on_error
    def close(self):
        self.zip.close()

    def __del__(self):    # left unfinished (the ARPA file failed): abandoned, not finished
        if getattr(self, "zip", None) is not None and self.zip.fp is not None:
            self.zip.fp = None


def model_header(vocab, order: int, method: str, normalized: bool, options: dict) -> dict:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "nlm_version": __version__,
            "kind": "backoff",
            "config": {"order": order, "method": method, "normalized": normalized,
                       "options": options},
            "vocab": vocab.to_json()}


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
    parts = [spill.load(p, np.int32, k + 2) for p in paths]
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
             constant_logbow: float | None = None, header: dict | None = None):
    """Write the tables of every order (see the module doc). ``model_out``: a binary file
    for the npz (or None), ``arpa``: an :class:`~nlm.ngram.arpa.ArpaWriter` (or None).
    ``constant_logbow``: stupid backoff's weight for every n-gram below the highest
    order instead of backoff-weight records."""
    # The ARPA text of a bucket is formatted and written by a second thread (the kernels
    # release the GIL) while this one sorts the next bucket and writes the model file.
    from concurrent.futures import ThreadPoolExecutor
    text = ThreadPoolExecutor(1, thread_name_prefix="nlm-arpa") if arpa is not None else None
    try:
        _assemble(directory, vocab, sizes, unigram_logprob, unigram_logbow, n_buckets,
                  model_out, arpa, text, constant_logbow, header)
    finally:
        if text is not None:
            text.shutdown(wait=True, cancel_futures=True)


def _assemble(directory, vocab, sizes, unigram_logprob, unigram_logbow, n_buckets, model_out,
              arpa, text, constant_logbow, header):
    V = len(vocab)
    N = len(sizes)
    npz = NpzStream(model_out) if model_out is not None else None
    pending = None

    def to_arpa(fn, *args):
        """Queue ARPA output in order; at most one bucket waits, which bounds memory."""
        nonlocal pending
        if pending is not None:
            pending.result()
        pending = text.submit(fn, *args)
    # order 1: indexed by word id
    lp1 = unigram_logprob.copy()
    lp1[BOS_ID] = -np.inf
    if npz is not None:
        npz.whole("keys.1", np.arange(V, dtype=np.int64))
        npz.whole("logprob.1", unigram_logprob)
        if N > 1:
            npz.whole("logbow.1", unigram_logbow)
    if arpa is not None:
        to_arpa(arpa.section, 1)
        to_arpa(arpa.write, np.arange(V, dtype=np.int32)[:, None], lp1,
                unigram_logbow if N > 1 else None)
    offsets_prev = None
    for k in range(2, N + 1):
        if arpa is not None:
            to_arpa(arpa.section, k)
        lp_path = os.path.join(directory, f"out.{k}.logprob")
        bow_path = os.path.join(directory, f"out.{k}.logbow")
        if npz is not None:
            npz.begin(f"keys.{k}", np.int64, sizes[k - 1])
        offsets = np.zeros(n_buckets + 1, dtype=np.int64)
        files = _record_files(directory, k)
        for r in range(n_buckets):
            words, lp = _load_sorted(files, r, k, "lp", V)
            n = len(words)
            offsets[r + 1] = offsets[r] + n
            if k < N:
                if constant_logbow is not None:
                    bow = np.full(n, constant_logbow)
                else:
                    bw, bv = _load_sorted(files, r, k, "bow", V)
                    bow = np.zeros(n)
                    if _join_sorted(words, bw, bv, bow) != len(bw):
                        raise RuntimeError(f"order {k}: a backoff weight has no n-gram")
                    del bw, bv
            else:
                bow = None
            if k == 2:
                rows = words[:, 0].astype(np.int64)
            else:
                prev = spill.load(os.path.join(directory, f"s{r}.{k - 1}"), np.int32, k - 1)
                rows = np.empty(n, dtype=np.int64)
                _context_rows(words, prev, rows)
                if n and rows.min() < 0:
                    raise RuntimeError(f"order {k}: an n-gram's context is missing")
                rows += offsets_prev[r]
                del prev
                spill.remove(os.path.join(directory, f"s{r}.{k - 1}"))
            if k < N:
                spill.append(os.path.join(directory, f"s{r}.{k}"), words)
            if npz is not None:
                npz.write(rows * V + words[:, k - 1])
                spill.append(lp_path, lp)
                if bow is not None:
                    spill.append(bow_path, bow)
            if arpa is not None:
                to_arpa(arpa.write, words, lp, bow)
            spill.remove(*files.get((r, "lp"), []), *files.get((r, "bow"), []))
            del words, lp, bow, rows
        if offsets[-1] != sizes[k - 1]:
            raise RuntimeError(f"order {k}: {offsets[-1]} n-grams assembled, {sizes[k - 1]} "
                               "estimated")
        if npz is not None:
            npz.end()
            npz.copy_file(f"logprob.{k}", lp_path, np.float64, sizes[k - 1])
            if k < N:
                npz.copy_file(f"logbow.{k}", bow_path, np.float64, sizes[k - 1])
            spill.remove(lp_path, bow_path)
        offsets_prev = offsets
    if npz is not None:
        npz.whole("vocab.counts", np.asarray(vocab.counts, dtype=np.int64))
        npz.whole(HEADER, np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8))
        npz.close()
    if arpa is not None:
        to_arpa(arpa.end)
        pending.result()
