"""Stage 0 of out-of-core estimation: the text, streamed into token ids on disk.

Input: a text file (one sentence per line; plain, gzip, bzip2, xz or stdin).
Output: the :class:`~nlm.vocab.Vocabulary` that :func:`nlm.corpus.read_training_corpus`
builds from the same text (same ids), and ``ids.i32`` in the working directory:
every sentence's ids followed by ``</s>`` (id 2, which marks sentence ends; ``<s>``
is implicit), plus the unigram counts and each word's first position, which is
all later stages need of the corpus as a whole.

Two passes over a spill: the text is tokenized once into provisional ids (order
of first appearance) written in chunks; once the vocabulary is known the chunks
are mapped to final ids. Memory: the word dictionary and one chunk.
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import count

import numpy as np

from ...corpus import _file_progress, describe_path, iter_sentences
from ...errors import CorpusError
from ...vocab import BOS, EOS, EOS_ID, UNK, UNK_ID, Vocabulary
from . import spill
from .kernels import _first_and_counts


@dataclass
class SpilledCorpus:
    path: str                 # int32 ids, each sentence ended by </s>
    tokens: int
    sentences: int
    unigram_counts: np.ndarray  # (V,) int64, as np.bincount(corpus.ids)
    first_seen: np.ndarray      # (V,) int64 first position of each id (tokens if none)


def read_to_disk(path, directory: str, chunk_tokens: int, tokenizer: str = "whitespace",
                 lowercase: bool = False, min_count: int = 1, max_size: int | None = None,
                 progress: bool = False) -> tuple[Vocabulary, SpilledCorpus]:
    raw_path = os.path.join(directory, "provisional.i32")
    provisional: dict[str, int] = defaultdict(count().__next__)  # new word -> next id
    lookup = provisional.__getitem__
    buf: list[int] = []
    word_counts = np.zeros(0, dtype=np.int64)
    sentences = tokens = 0
    bar = _file_progress(path, f"reading {os.path.basename(os.fspath(path))}", progress)

    def flush():
        nonlocal word_counts, buf
        a = np.array(buf, dtype=np.int32)
        buf = []
        c = np.bincount(a[a >= 0], minlength=len(provisional))
        if len(c) > len(word_counts):
            c[:len(word_counts)] += word_counts
            word_counts = c
        else:
            word_counts[:len(c)] += c
        spill.append(raw_path, a)

    for words in iter_sentences(path, tokenizer, lowercase, bar):
        buf.extend(map(lookup, words))
        buf.append(-1)  # </s>
        sentences += 1
        tokens += len(words) + 1
        if len(buf) >= chunk_tokens:
            flush()
    if bar is not None:
        bar.close()
    if sentences == 0:
        raise CorpusError(f"{describe_path(path)}: empty corpus (no non-blank lines)")
    flush()
    words_in_order = list(provisional)
    counts = np.zeros(len(words_in_order), dtype=np.int64)
    counts[:len(word_counts)] = word_counts
    vocab = Vocabulary.build(Counter(dict(zip(words_in_order, counts.tolist()))), sentences,
                             min_count=min_count, max_size=max_size, tokenizer=tokenizer,
                             lowercase=lowercase)
    # provisional id -> final id (as read_training_corpus maps them); the last entry is </s>
    remap = np.array([vocab.index.get(w, UNK_ID) for w in words_in_order] + [EOS_ID],
                     dtype=np.int32)
    for w in (BOS, EOS):  # a literal <s> or </s> in text is not the boundary symbol
        if w in provisional:
            remap[provisional[w]] = UNK_ID
    del provisional, lookup
    V = len(vocab)
    ids_path = os.path.join(directory, "ids.i32")
    unigram = np.zeros(V, dtype=np.int64)
    first = np.full(V, tokens, dtype=np.int64)
    done = 0
    with open(raw_path, "rb") as f:
        while True:
            raw = np.fromfile(f, dtype=np.int32, count=chunk_tokens)
            if len(raw) == 0:
                break
            ids = remap[raw]  # raw == -1 picks the last entry, </s>
            _first_and_counts(ids, done, first, unigram)
            spill.append(ids_path, ids)
            done += len(ids)
    spill.remove(raw_path)
    return vocab, SpilledCorpus(ids_path, tokens, sentences, unigram, first)


def iter_chunks(corpus: SpilledCorpus, chunk_tokens: int):
    """The spilled ids in chunks of whole sentences (each ends with </s>)."""
    carry = np.zeros(0, dtype=np.int32)
    with open(corpus.path, "rb") as f:
        while True:
            block = np.fromfile(f, dtype=np.int32, count=chunk_tokens)
            if len(block) == 0:
                break
            if len(carry):
                block = np.concatenate([carry, block])
            ends = np.flatnonzero(block == EOS_ID)
            cut = int(ends[-1]) + 1 if len(ends) else 0
            if cut:
                yield block[:cut]
            carry = block[cut:]
    if len(carry):  # cannot happen: the file ends with </s>
        yield carry
