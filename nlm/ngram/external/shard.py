"""Stage 1 of out-of-core estimation: token ids -> windows, partitioned by context word.

Input: the spilled ids (:mod:`.read`). Output: for one partition, for every position t
whose word w_t the partition owns and that has a next word, the window of N words
``w_{t-N+2} .. w_t, w_{t+1}`` (-1 before the sentence's ``<s>``). Each partition reads
the ids file through and keeps its windows (:func:`windows_of`), which costs a scan
of 4 bytes a token per partition and writes nothing; :func:`shard` instead writes
every partition's windows to its own file in one pass (20 bytes a token at order 5),
for when partitions are many. With worker processes the pass is split: each worker
shards one range of whole sentences into files of its own, and a partition's files
are read back in the order of their ranges (:func:`load_windows`), which gives the
rows of the one-process pass in the same order.

Why partition by the second-to-last word: a k-gram ``w_1 .. w_k`` (k >= 2), every
k+1-gram that extends it to the left (its Kneser-Ney continuation count), its
suffix ``w_2 .. w_k`` (its lower-order probability) and every sibling ``w_1 ..
w_{k-1} v`` (its context's totals) all have the same second-to-last word, so one
partition estimates its n-grams without seeing any other. Only unigrams (small,
global) and the backoff weights of the contexts (written with their own n-gram,
which another partition owns) cross partitions. Words are spread over the
partitions heaviest first, each to the lightest partition.

A word with more windows than one partition may hold (the most frequent words of a
large corpus: "the" is 5% of English tokens) is split into sub-partitions by the
word before it, w_{t-1} (by the next word w_{t+1} where w_t is ``<s>``, which nothing
precedes, and at order 2). For k >= 3 a k-gram with second-to-last word w_t, its left
extensions, its siblings and its suffix (if of order >= 3) also share w_{t-1}, so a
sub-partition estimates them alone. The bigram level ``w_t v`` is what the
sub-partitions share: each counts its share of every bigram and of its Kneser-Ney
continuation count (each distinct trigram ``u w_t v`` lives in one sub-partition), and
:func:`.partition.merge_split` sums them into one bigram table, which every
sub-partition then estimates against and one of them (the lead) writes. The words
before a split word are spread over its sub-partitions by their exact window counts
(one more pass over the ids), heaviest first; one pair (u, w_t) is never cut.
"""
from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass

import numpy as np

from ...errors import NlmError
from ...vocab import BOS_ID, EOS_ID
from . import codec, spill
from .budget import partitions_needed
from .kernels import _balance, _key_counts, _windows, _windows_of
from .read import SpilledCorpus, iter_chunks, range_chunks


def window_weights(corpus: SpilledCorpus) -> np.ndarray:
    """(V,) windows each word heads: its count (every token is followed by another,
    except </s>), and one per sentence for <s>."""
    w = corpus.unigram_counts.copy()
    w[EOS_ID] = 0
    w[BOS_ID] = corpus.sentences
    return w


@dataclass
class Layout:
    """Which partition every window goes to (:func:`.kernels._window_part`)."""
    part_of: np.ndarray     # (V,) int32 partition of the windows of an unsplit word
    split_row: np.ndarray   # (V,) int32 a split word's row of sub_part, -1 for the others
    sub_part: np.ndarray    # (split words, V + 1) int32 its sub-partition by key word + 1
    sizes: np.ndarray       # (P,) int64 windows of every partition
    lead: np.ndarray        # (P,) int64 a split word's first sub-partition, else -1

    @property
    def count(self) -> int:
        return len(self.sizes)

    def arrays(self) -> tuple:
        return self.part_of, self.split_row, self.sub_part

    def is_split(self, q: int) -> bool:
        """Whether partition q is a sub-partition of a split word."""
        return bool(self.lead[q] >= 0)

    def writes_bigrams(self, q: int) -> bool:
        """Whether partition q writes its bigrams: all but the non-lead sub-partitions."""
        return bool(self.lead[q] < 0 or self.lead[q] == q)

    def groups(self) -> list[list[int]]:
        """The sub-partitions of every split word."""
        out: dict = {}
        for q in np.flatnonzero(self.lead >= 0):
            out.setdefault(int(self.lead[q]), []).append(int(q))
        return list(out.values())

    def partitions_of(self, w: int) -> list[int]:
        """The partitions holding the windows of context word ``w``."""
        if self.split_row[w] < 0:
            return [int(self.part_of[w])]
        return sorted(set(self.sub_part[self.split_row[w]].tolist()))


def plan_partitions(corpus: SpilledCorpus, order: int, capacity: int, word_windows: int,
                    chunk_tokens: int, memory: int = 1 << 30, pool=None) -> Layout:
    """Partitions of at most ``capacity`` windows as far as the words allow (see the module
    doc); a word with more than ``word_windows`` windows is split into sub-partitions of
    at most that many. ``memory``: bytes the window counts of the split words may take
    (more split words than fit take more passes over the ids). ``pool``: worker processes
    that count them over ranges of the ids (:func:`sentence_ranges`)."""
    weights = window_weights(corpus)
    V = len(weights)
    heavy = np.flatnonzero(weights > word_windows)
    split_row = np.full(V, -1, dtype=np.int32)
    split_row[heavy] = np.arange(len(heavy), dtype=np.int32)
    light = weights.copy()
    light[heavy] = 0
    part_of, load = _spread(light, capacity, partitions_needed(int(light.sum()), capacity))
    sub_part = np.zeros((len(heavy), V + 1), dtype=np.int32)
    sizes, lead = [load], [np.full(len(load), -1, dtype=np.int64)]
    P = len(load)
    for i, keys in _key_windows(corpus, order, heavy, V, chunk_tokens, memory, pool):
        sub, load = _spread(keys, word_windows, math.ceil(keys.sum() / max(word_windows, 1)))
        sub_part[i] = sub + P
        sizes.append(load)
        lead.append(np.full(len(load), P, dtype=np.int64))
        P += len(load)
    return Layout(part_of, split_row, sub_part, np.concatenate(sizes), np.concatenate(lead))


def _key_windows(corpus, order, heavy, V, chunk_tokens, memory, pool=None):
    """(i, (V + 1,) windows of the split word heavy[i] by key word + 1), counted in as
    few passes over the ids as ``memory`` allows (each of the ``pool``'s workers counts
    one range of the ids into a table of its own, and the parent sums them)."""
    if not len(heavy):
        return
    ranges = sentence_ranges(corpus.path, corpus.tokens, pool.workers) if pool else []
    tables = len(ranges) + 1 if len(ranges) > 1 else 1
    rows = max(1, memory // (8 * (V + 1) * tables))
    for a in range(0, len(heavy), rows):
        batch = heavy[a:a + rows]
        split_row = np.full(V, -1, dtype=np.int32)
        split_row[batch] = np.arange(len(batch), dtype=np.int32)
        if tables > 1:
            keys = sum(pool.map(_range_key_counts, [(corpus.path, b, e, order, split_row,
                                                     chunk_tokens) for b, e in ranges]))
        else:
            keys = _range_key_counts(corpus.path, 0, corpus.tokens, order, split_row,
                                     chunk_tokens)
        for i in range(len(batch)):
            yield a + i, keys[i]


def _range_key_counts(path, begin, end, order, split_row, chunk_tokens) -> np.ndarray:
    """(split words, V + 1) windows of each split word of ``split_row`` by key word + 1,
    over the ids [begin, end) (whole sentences)."""
    keys = np.zeros((int(split_row.max()) + 1, len(split_row) + 1), dtype=np.int64)
    for ids in range_chunks(path, begin, end, chunk_tokens):
        _key_counts(ids, order, split_row, keys)
    return keys


def _spread(weights: np.ndarray, capacity: int, P: int) -> tuple[np.ndarray, np.ndarray]:
    """(part of each item, (P',) load of each part): the items spread over P' >= P parts,
    heaviest first, each to the lightest part; a few more parts are tried while the
    heaviest load exceeds ``capacity`` (and the heaviest item)."""
    order = np.argsort(-weights, kind="stable").astype(np.int64)
    sorted_weights = weights[order].astype(np.int64)
    limit = max(capacity, int(sorted_weights[0]) if len(order) else 0)
    part_of = np.zeros(len(weights), dtype=np.int32)
    P = max(P, 1)
    for parts in range(P, P + 4):
        load = _balance(order, sorted_weights, parts, part_of)
        if load.max() <= limit:
            break
    return part_of, load


def window_path(directory: str, q: int, part: int | None = None) -> str:
    """Partition q's windows file; ``part``: the one written by the worker that sharded
    the part-th range of the ids (:func:`shard` with a pool)."""
    name = f"win.{q}.i32" if part is None else f"win.{q}.{part}.i32"
    return os.path.join(directory, name)


def window_files(directory: str, q: int) -> list[str]:
    """Partition q's windows files, in the order of the ids they come from."""
    whole = window_path(directory, q)
    parts = glob.glob(os.path.join(glob.escape(directory), f"win.{q}.*.i32"))
    parts.sort(key=lambda p: int(p.rsplit(".", 2)[1]))
    return ([whole] if os.path.exists(whole) else []) + parts


def load_windows(directory: str, q: int, order: int) -> np.ndarray:
    """(size, N) int32: partition q's windows from its files (:func:`shard`), in the
    order of the ids, decoded into one array; the files are removed."""
    paths = window_files(directory, q)
    win = codec.load_all(paths, np.int32, order)
    for path in paths:
        spill.remove(path)
    return win


def windows_of(corpus: SpilledCorpus, order: int, layout: Layout, q: int,
               chunk_tokens: int) -> np.ndarray:
    """(size, N) int32: the windows of partition q (``layout.sizes[q]`` of them), read
    from the ids file."""
    size = int(layout.sizes[q])
    win = np.empty((size, order), dtype=np.int32)
    j = 0
    for ids in iter_chunks(corpus, chunk_tokens):
        j = _windows_of(ids, order, *layout.arrays(), q, win, j)
    if j != size:
        raise RuntimeError(f"partition {q}: {j} windows, {size} expected")
    return win


def shard(corpus: SpilledCorpus, directory: str, order: int, layout: Layout,
          chunk_tokens: int, progress=None, pool=None) -> list[int]:
    """Write every partition's windows; return how many each got. ``pool`` (a
    :class:`.distributed.ProcessRunner`): the ids are cut into one range of whole
    sentences per worker (:func:`sentence_ranges`), each sharded by a worker into files
    of its own (:func:`window_path` with ``part``); a partition's windows, read back
    with :func:`load_windows`, are then the same rows in the same order."""
    ranges = sentence_ranges(corpus.path, corpus.tokens, pool.workers if pool else 1)
    if len(ranges) < 2:
        report = progress.update if progress is not None else None
        return _shard_range(corpus.path, 0, corpus.tokens, directory, order,
                            layout.arrays(), layout.count, chunk_tokens, None, report)
    tally = os.path.join(directory, "shard.tally")
    np.zeros(len(ranges), dtype=np.int64).tofile(tally)
    try:
        result = pool.map_async(_shard_part, [
            (corpus.path, a, b, directory, order, layout.arrays(), layout.count,
             chunk_tokens, w, tally) for w, (a, b) in enumerate(ranges)])
        parts = pool.follow(result, _bar_mover(progress, tally, len(ranges)),
                            "a worker process died while sharding the token ids (killed, "
                            "or out of memory)")
    finally:
        spill.remove(tally)
    return [sum(p[q] for p in parts) for q in range(layout.count)]


def sentence_ranges(path: str, tokens: int, parts: int) -> list[tuple[int, int]]:
    """About ``parts`` equal ranges [a, b) of the ids file, each cut just after a
    ``</s>``, so that each holds whole sentences (the windows of a sentence depend on
    it alone: :func:`.kernels._windows` starts every chunk, and every sentence, at
    ``<s>``); fewer when sentences are longer than a range."""
    cuts = [0]
    with open(path, "rb") as f:
        for i in range(1, parts):
            cut = _end_at_or_after(f, max(i * tokens // parts, cuts[-1]), tokens)
            if cuts[-1] < cut < tokens:
                cuts.append(cut)
    cuts.append(tokens)
    return list(zip(cuts[:-1], cuts[1:]))


def _end_at_or_after(f, at: int, tokens: int, block: int = 1 << 16) -> int:
    """The least position c >= ``at`` just after a ``</s>`` (ids[c - 1]), or ``tokens``."""
    if at <= 0:
        return 0
    pos = at - 1
    while pos < tokens:
        f.seek(4 * pos)
        ids = np.fromfile(f, dtype=np.int32, count=block)
        if not len(ids):
            break
        ends = np.flatnonzero(ids == EOS_ID)
        if len(ends):
            return pos + int(ends[0]) + 1
        pos += len(ids)
    return tokens


def _shard_range(path, begin, end, directory, N, arrays, P, chunk_tokens, part,
                 report) -> list[int]:
    """Shard the ids [begin, end) into the files of ``part`` (:func:`window_path`);
    ``report(tokens)`` after every chunk; returns the windows of every partition."""
    sizes = [0] * P
    for ids in range_chunks(path, begin, end, chunk_tokens):
        m = len(ids)
        win = np.empty((m, N), dtype=np.int32)
        start = np.empty(P + 1, dtype=np.int64)
        _windows(ids, N, *arrays, np.empty(m, dtype=np.int32), win, start)
        for q in range(P):
            a, b = start[q], start[q + 1]
            if b > a:
                codec.append(window_path(directory, q, part), win[a:b])
                sizes[q] += int(b - a)
        del win
        if report is not None:
            report(m)
    return sizes


def _shard_part(path, begin, end, directory, N, arrays, P, chunk_tokens, w, tally):
    """A worker's :func:`_shard_range` of range ``w``, its progress (tokens done) kept in
    entry w of the ``tally`` file (aligned 8-byte stores to a shared mapping: the parent,
    :func:`_bar_mover`, reads whole values)."""
    row = np.memmap(tally, dtype=np.int64, mode="r+", offset=8 * w, shape=(1,))

    def report(m):
        row[0] += m

    try:
        return _shard_range(path, begin, end, directory, N, arrays, P, chunk_tokens, w,
                            report)
    except KeyboardInterrupt:   # Ctrl-C reached the process group: the parent stops the
        raise NlmError("interrupted") from None     # pool (no worker traceback printed)
    finally:
        del row


def _bar_mover(progress, tally: str, n: int):
    """A function that moves ``progress`` by the tokens the workers' ``tally`` (n entries)
    counts since its last call (None without a bar)."""
    if progress is None:
        return None
    rows = np.memmap(tally, dtype=np.int64, mode="r", shape=(n,))
    shown = 0

    def move():
        nonlocal shown
        done = int(np.array(rows).sum())
        if done > shown:
            progress.update(done - shown)
            shown = done
    return move
