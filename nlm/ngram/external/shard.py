"""Stage 1 of out-of-core estimation: token ids -> windows, partitioned by context word.

Input: the spilled ids (:mod:`.read`). Output: for one partition, for every position t
whose word w_t the partition owns and that has a next word, the window of N words
``w_{t-N+2} .. w_t, w_{t+1}`` (-1 before the sentence's ``<s>``). Each partition reads
the ids file through and keeps its windows (:func:`windows_of`), which costs a scan
of 4 bytes a token per partition and writes nothing; :func:`shard` instead writes
every partition's windows to its own file in one pass (20 bytes a token at order 5),
for when partitions are many.

Why partition by the second-to-last word: a k-gram ``w_1 .. w_k`` (k >= 2), every
k+1-gram that extends it to the left (its Kneser-Ney continuation count), its
suffix ``w_2 .. w_k`` (its lower-order probability) and every sibling ``w_1 ..
w_{k-1} v`` (its context's totals) all have the same second-to-last word, so one
partition estimates its n-grams without seeing any other. Only unigrams (small,
global) and the backoff weights of the contexts (written with their own n-gram,
which another partition owns) cross partitions. Words are spread over the
partitions heaviest first, each to the lightest partition.
"""
from __future__ import annotations

import os

import numpy as np

from ...vocab import BOS_ID, EOS_ID
from . import codec
from .kernels import _balance, _group, _windows, _windows_of
from .read import SpilledCorpus, iter_chunks


def window_weights(corpus: SpilledCorpus) -> np.ndarray:
    """(V,) windows each word heads: its count (every token is followed by another,
    except </s>), and one per sentence for <s>."""
    w = corpus.unigram_counts.copy()
    w[EOS_ID] = 0
    w[BOS_ID] = corpus.sentences
    return w


def plan_partitions(weights: np.ndarray, P: int) -> np.ndarray:
    """(V,) partition of every word (see the module doc)."""
    order = np.argsort(-weights, kind="stable")
    part_of = np.zeros(len(weights), dtype=np.int32)
    _balance(order.astype(np.int64), weights[order].astype(np.int64), int(P), part_of)
    return part_of


def window_path(directory: str, q: int) -> str:
    return os.path.join(directory, f"win.{q}.i32")


def windows_of(corpus: SpilledCorpus, order: int, part_of: np.ndarray, q: int, size: int,
               chunk_tokens: int) -> np.ndarray:
    """(size, N) int32: the windows of partition q (``size`` of them, from
    :func:`window_weights`), read from the ids file."""
    win = np.empty((size, order), dtype=np.int32)
    j = 0
    for ids in iter_chunks(corpus, chunk_tokens):
        j = _windows_of(ids, order, part_of, q, win, j)
    if j != size:
        raise RuntimeError(f"partition {q}: {j} windows, {size} expected")
    return win


def shard(corpus: SpilledCorpus, directory: str, order: int, part_of: np.ndarray,
          chunk_tokens: int, progress=None) -> list[int]:
    """Write every partition's windows; return how many each got."""
    N = order
    P = int(part_of.max()) + 1
    sizes = [0] * P
    for ids in iter_chunks(corpus, chunk_tokens):
        m = len(ids)
        win = np.empty((m, N), dtype=np.int32)
        part = np.empty(m, dtype=np.int32)
        _windows(ids, N, part_of, win, part)
        perm = np.empty(m, dtype=np.int64)
        start = _group(part, P, perm)
        win = win[perm]
        for q in range(P):
            a, b = start[q], start[q + 1]
            if b > a:
                codec.append(window_path(directory, q), win[a:b])
                sizes[q] += int(b - a)
        if progress is not None:
            progress.update(m)
    return sizes
