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

from ...corpus import describe_path, file_progress, iter_sentences
from ...errors import CorpusError
from ...vocab import BOS, EOS, EOS_ID, UNK_ID, Vocabulary
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
    bar = file_progress(path, f"reading {os.path.basename(os.fspath(path))}", progress)
    try:
        provisional, sentences, tokens = None, 0, 0
        marked = tokenizer == "whitespace"          # the block reader's line-end mark
        if marked:
            try:
                provisional, sentences, tokens = _read_blocks(path, lowercase, bar, raw_path,
                                                              chunk_tokens)
            except _Fallback:
                spill.remove(raw_path)
                provisional, marked = None, False
        if provisional is None:
            provisional, sentences, tokens = _read_lines(path, tokenizer, lowercase, bar,
                                                         raw_path, chunk_tokens)
    finally:
        if bar is not None:
            bar.close()
    if sentences == 0:
        raise CorpusError(f"{describe_path(path)}: empty corpus (no non-blank lines)")
    words_in_order = list(provisional)
    counts = _spilled_counts(raw_path, len(words_in_order), chunk_tokens)
    vocab = Vocabulary.build(Counter({w: c for w, c in zip(words_in_order, counts.tolist())
                                      if not (marked and w == _END)}), sentences,
                             min_count=min_count, max_size=max_size, tokenizer=tokenizer,
                             lowercase=lowercase)
    # provisional id -> final id (as read_training_corpus maps them); the last entry is </s>
    remap = np.array([vocab.index.get(w, UNK_ID) for w in words_in_order] + [EOS_ID],
                     dtype=np.int32)
    for w in (BOS, EOS):  # a literal <s> or </s> in text is not the boundary symbol
        if w in provisional:
            remap[provisional[w]] = UNK_ID
    del provisional
    V = len(vocab)
    ids_path = os.path.join(directory, "ids.i32")
    unigram = np.zeros(V, dtype=np.int64)
    first = np.full(V, tokens, dtype=np.int64)
    done = 0
    with open(raw_path, "r+b") as f:      # mapped in place: one copy of the corpus on disk
        while True:
            f.seek(4 * done)
            raw = np.fromfile(f, dtype=np.int32, count=chunk_tokens)
            if len(raw) == 0:
                break
            ids = remap[raw]  # raw == -1 picks the last entry, </s>
            _first_and_counts(ids, done, first, unigram)
            f.seek(4 * done)
            f.write(memoryview(ids).cast("B"))
            done += len(ids)
    os.replace(raw_path, ids_path)
    return vocab, SpilledCorpus(ids_path, tokens, sentences, unigram, first)


def _read_lines(path, tokenizer, lowercase, bar, raw_path, chunk_tokens):
    """Provisional ids (order of first appearance, -1 ends a sentence) spilled to
    ``raw_path``, line by line through :func:`nlm.corpus.iter_sentences`."""
    provisional: dict[str, int] = defaultdict(count().__next__)  # new word -> next id
    lookup = provisional.__getitem__
    buf: list[int] = []
    sentences = tokens = 0
    for words in iter_sentences(path, tokenizer, lowercase, bar):
        buf.extend(map(lookup, words))
        buf.append(-1)  # </s>
        sentences += 1
        tokens += len(words) + 1
        if len(buf) >= chunk_tokens:
            spill.append(raw_path, np.array(buf, dtype=np.int32))
            buf = []
    spill.append(raw_path, np.array(buf, dtype=np.int32))
    return provisional, sentences, tokens


#: a sentence end among the words of a block (never a word: the fast reader is not used
#: for text that holds it)
_END = "\x00"
_BLOCK_BYTES = 4 << 20


def _spilled_counts(path: str, n: int, chunk: int) -> np.ndarray:
    counts = np.zeros(n, dtype=np.int64)
    with open(path, "rb") as f:
        while True:
            a = np.fromfile(f, dtype=np.int32, count=chunk)
            if len(a) == 0:
                return counts
            counts += np.bincount(a[a >= 0], minlength=n)


def _read_blocks(path, lowercase: bool, bar, raw_path: str, chunk_tokens: int):
    """What :func:`_read_lines` gives for the whitespace tokenizer, several times faster:
    whole blocks of text are decoded and split at once, line ends marked by a word that
    cannot occur. Whatever it cannot handle exactly as the line reader does (standard
    input, bad UTF-8, damaged compressed data, a NUL character in the text) raises
    :class:`_Fallback`, and the caller starts over with the line reader, whose messages
    name the line."""
    from ...corpus import is_stream, open_text
    if is_stream(path):       # read once: a failure could not start over
        raise _Fallback
    provisional: dict[str, int] = defaultdict(count().__next__)
    end_id = provisional[_END]              # id 0: the line-end mark
    lookup = provisional.__getitem__
    f, raw_file, _compression = open_text(os.fspath(path))
    sentences = tokens = 0
    carry = b""
    at_start = True          # the text so far ends at a sentence boundary
    first = True
    pending: list[np.ndarray] = []
    pending_n = 0
    try:
        while True:
            try:
                block = f.read(_BLOCK_BYTES)
            except (EOFError, OSError, ValueError):
                raise _Fallback from None
            if not block and not carry:
                break
            data = carry + block
            if block:
                cut = data.rfind(b"\n") + 1
                carry, data = data[cut:], data[:cut]
            else:
                carry = b""
            if not data:
                continue
            if bar is not None:
                bar.update(len(data), rate_n=0)
            if first:
                first = False
                if data.startswith(b"\xef\xbb\xbf"):
                    data = data[3:]
            ids = _block_ids(data, lookup, end_id, lowercase, at_start)
            if len(ids):
                is_end = ids == end_id
                at_start = bool(is_end[-1])
                sentences += int(is_end.sum())
                tokens += len(ids)
                ids[is_end] = -1
                if bar is not None:
                    bar.rate_done += len(ids)
                pending.append(ids)
                pending_n += len(ids)
                if pending_n >= chunk_tokens:
                    spill.append(raw_path, np.concatenate(pending))
                    pending, pending_n = [], 0
        if pending:
            spill.append(raw_path, np.concatenate(pending))
    finally:
        f.close()
        if raw_file is not None and raw_file is not f:
            raw_file.close()
    return provisional, sentences, tokens


def _block_ids(data: bytes, lookup, end_id: int, lowercase: bool, at_start: bool) -> np.ndarray:
    """The provisional ids of a block of whole lines, each line ended by ``end_id``;
    blank lines give nothing (``at_start``: the text before ends a line)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Fallback from None
    if _END in text:
        raise _Fallback
    if lowercase:
        text = text.lower()
    words = text.replace("\n", " " + _END + " ").split()
    if not text.endswith("\n"):
        words.append(_END)          # the last line, without its line end
    ids = np.fromiter(map(lookup, words), dtype=np.int32, count=len(words))
    del words, text
    is_end = ids == end_id
    prev_end = np.empty(len(ids), dtype=bool)
    if len(ids):
        prev_end[0] = at_start
        prev_end[1:] = is_end[:-1]
    return ids[~(is_end & prev_end)]        # blank lines: no sentence


class _Fallback(Exception):
    """The block reader met something only the line reader reports exactly."""


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
