"""Stage 0 of out-of-core estimation: the text, streamed into token ids on disk.

Input: a text file (one sentence per line; plain, gzip, bzip2, xz or stdin).
Output: the :class:`~nlm.vocab.Vocabulary` that :func:`nlm.corpus.read_training_corpus`
builds from the same text (same ids), and ``ids.i32`` in the working directory:
every sentence's ids followed by ``</s>`` (id 2, which marks sentence ends; ``<s>``
is implicit), plus the unigram counts and each word's first position, which is
all later stages need of the corpus as a whole.

Two passes over a spill: the text is tokenized once into provisional ids (order
of first appearance) written in chunks; once the vocabulary is known the chunks
are mapped to final ids. Memory: the word dictionary and one chunk. Whitespace-split
text is tokenized block by block in compiled code (:mod:`.tokenize_kernels`: a hash
table of the words' bytes); other tokenizers, and text that is not valid UTF-8, go
line by line through :func:`nlm.corpus.iter_sentences`.

A large plain file (:data:`PARALLEL_BYTES`) read with a pool of worker processes is
cut into one byte range per worker, each cut just after a line end; every worker
tokenizes its range into its own provisional ids and words (in the order they first
appear in the range), the parent merges the words in range order (range 0's, then
range 1's new ones, ...: the order of the whole text) and builds the vocabulary, and
the workers map their ranges into ``ids.i32`` at their token offsets. The results are
those of one process, byte for byte.
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import count

import numpy as np

from ...corpus import compression_of, describe_path, file_progress, is_stream, iter_sentences
from ...errors import CorpusError, NlmError
from ...vocab import BOS, EOS, EOS_ID, UNK_ID, Vocabulary
from . import spill
from .kernels import _first_and_counts
from .tokenize_kernels import WordTable

#: a plain text file at least this large is read by the worker processes in parallel (one
#: byte range each) when there are any; a smaller one is not worth their start-up
PARALLEL_BYTES = 32 << 20
_WORKER_DIED = "a worker process reading the text stopped (killed, or out of memory)"


@dataclass
class SpilledCorpus:
    path: str                 # int32 ids, each sentence ended by </s>
    tokens: int
    sentences: int
    unigram_counts: np.ndarray  # (V,) int64, as np.bincount(corpus.ids)
    first_seen: np.ndarray      # (V,) int64 first position of each id (tokens if none)


@dataclass
class _Piece:
    """The first pass's result for the whole text or one byte range of it."""
    raw: str              # provisional ids (-1 ends a sentence), absent when there are none
    words: object         # its words in order of first appearance: a dict (word -> id), or
                          # the name of a file holding them one a line (a worker's)
    counts: np.ndarray    # occurrences of each provisional id
    sentences: int
    tokens: int


def read_to_disk(path, directory: str, chunk_tokens: int, tokenizer: str = "whitespace",
                 lowercase: bool = False, min_count: int = 1, max_size: int | None = None,
                 progress: bool = False, pool=None,
                 parallel_bytes: int | None = None) -> tuple[Vocabulary, SpilledCorpus]:
    """``pool`` (a :class:`~.distributed.ProcessRunner`): its workers read a plain file of
    at least ``parallel_bytes`` (:data:`PARALLEL_BYTES`) in parallel, whitespace-tokenized."""
    bar = file_progress(path, f"reading {os.path.basename(os.fspath(path))}", progress)
    try:
        ranges = None
        if pool is not None and tokenizer == "whitespace":
            ranges = byte_ranges(path, pool.workers,
                                 PARALLEL_BYTES if parallel_bytes is None else parallel_bytes)
        pieces, marked = None, tokenizer == "whitespace"     # the block reader's line-end mark
        if ranges is not None:
            try:
                pieces = _read_ranges(path, directory, chunk_tokens, lowercase, bar, pool, ranges)
            except _Fallback:
                marked = False
        elif marked:
            pieces = _read_whole(path, directory, chunk_tokens, lowercase, bar)
            marked = pieces is not None
        if pieces is None:
            pieces = [_read_lines(path, tokenizer, lowercase, bar,
                                  os.path.join(directory, "provisional.i32"), chunk_tokens)]
    finally:
        if bar is not None:
            bar.close()
    try:
        return _finish(path, directory, pieces, marked, chunk_tokens, pool, tokenizer,
                       lowercase, min_count, max_size)
    finally:
        for p in pieces:   # gone when all went well
            spill.remove(p.raw, *([p.words] if isinstance(p.words, str) else []))


def _finish(path, directory, pieces, marked, chunk_tokens, pool, tokenizer, lowercase,
            min_count, max_size):
    """The vocabulary from the pieces' words and counts, and their provisional ids mapped
    to final ids in ``ids.i32`` (by ``pool``'s workers when there are several pieces)."""
    sentences = sum(p.sentences for p in pieces)
    tokens = sum(p.tokens for p in pieces)
    if sentences == 0:
        raise CorpusError(f"{describe_path(path)}: empty corpus (no non-blank lines)")
    order, counts, where = _merge(pieces)
    vocab = Vocabulary.build(Counter({w: c for w, c in zip(order, counts.tolist())
                                      if not (marked and w == _END)}), sentences,
                             min_count=min_count, max_size=max_size, tokenizer=tokenizer,
                             lowercase=lowercase)
    # provisional id -> final id (as read_training_corpus maps them)
    final = np.array([vocab.index.get(w, UNK_ID) for w in order], dtype=np.int32)
    for w in (BOS, EOS):  # a literal <s> or </s> in text is not the boundary symbol
        if w in order:
            final[order[w]] = UNK_ID
    del order
    V = len(vocab)
    ids_path = os.path.join(directory, "ids.i32")
    if pieces[0].tokens:
        os.replace(pieces[0].raw, ids_path)   # mapped in place; the others written into it
    with open(ids_path, "ab"):
        pass
    os.truncate(ids_path, 4 * tokens)
    offsets = np.cumsum([0] + [p.tokens for p in pieces]).tolist()
    # each piece's remap ends with </s>, which its -1 picks
    chunk = max(1, chunk_tokens // len(pieces))     # together one chunk, as one process
    jobs = [(ids_path if i == 0 else p.raw, ids_path, offsets[i], p.tokens,
             np.append(final[where[i]], np.int32(EOS_ID)), V, tokens, chunk)
            for i, p in enumerate(pieces) if p.tokens]
    del final, where
    if pool is not None and len(jobs) > 1:
        parts = pool.follow(pool.map_async(remap_task, jobs), None,
                            _WORKER_DIED)
    else:
        parts = [remap_range(*job) for job in jobs]
    unigram, first = parts[0]
    for u, f in parts[1:]:
        unigram += u
        np.minimum(first, f, out=first)
    return vocab, SpilledCorpus(ids_path, tokens, sentences, unigram, first)


def _merge(pieces) -> tuple[dict, np.ndarray, list]:
    """(every word -> its index in order of first appearance in the whole text, the
    words' counts, each piece's provisional id -> that index)."""
    if len(pieces) == 1 and isinstance(pieces[0].words, dict):
        p = pieces[0]
        return p.words, p.counts, [np.arange(len(p.words))]
    order: dict[str, int] = {}
    where = []
    for p in pieces:
        with open(p.words, encoding="utf-8") as f:
            words = f.read().split("\n")
        spill.remove(p.words)
        where.append(np.fromiter((order.setdefault(w, len(order)) for w in words),
                                 dtype=np.int64, count=len(words)))
        del words
    counts = np.zeros(len(order), dtype=np.int64)
    for p, g in zip(pieces, where):
        counts[g] += p.counts
    return order, counts, where


def remap_range(raw_path: str, ids_path: str, offset: int, n: int, remap: np.ndarray,
                V: int, total: int, chunk_tokens: int):
    """Map the ``n`` provisional ids in ``raw_path`` through ``remap`` (-1 picks its last
    entry) into ``ids_path`` from token ``offset`` on (in place when they are the same
    file: ``offset`` 0); returns their unigram counts and first positions ((V,) int64
    each, ``total`` where a word does not occur). ``raw_path`` is removed after."""
    unigram = np.zeros(V, dtype=np.int64)
    first = np.full(V, total, dtype=np.int64)
    same = raw_path == ids_path
    src = os.open(raw_path, os.O_RDWR if same else os.O_RDONLY)
    try:
        dst = src if same else os.open(ids_path, os.O_WRONLY)
        try:
            done = 0
            while done < n:
                buf = os.pread(src, 4 * min(chunk_tokens, n - done), 4 * done)
                if len(buf) < 4:
                    raise NlmError(f"{raw_path}: spill file cut short")
                ids = remap[np.frombuffer(buf, dtype=np.int32, count=len(buf) // 4)]
                _first_and_counts(ids, offset + done, first, unigram)
                _pwrite_all(dst, memoryview(ids).cast("B"), 4 * (offset + done))
                done += len(ids)
        finally:
            if dst != src:
                os.close(dst)
    finally:
        os.close(src)
    if not same:
        spill.remove(raw_path)
    return unigram, first


def remap_task(*args):
    """:func:`remap_range` in a worker process."""
    try:
        return remap_range(*args)
    except KeyboardInterrupt:   # Ctrl-C reached the process group: the parent stops the
        raise NlmError("interrupted") from None     # pool (no worker traceback printed)


def _pwrite_all(fd: int, data: memoryview, position: int) -> None:
    while len(data):
        n = os.pwrite(fd, data, position)
        data, position = data[n:], position + n


def _read_lines(path, tokenizer, lowercase, bar, raw_path, chunk_tokens) -> _Piece:
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
    counts = _spilled_counts(raw_path, len(provisional), chunk_tokens)
    return _Piece(raw_path, provisional, counts, sentences, tokens)


#: a sentence end among the words of a block (never a word: the fast reader is not used
#: for text that holds it)
_END = "\x00"
_BLOCK_BYTES = 4 << 20


def _spilled_counts(path: str, n: int, chunk: int) -> np.ndarray:
    counts = np.zeros(n, dtype=np.int64)
    if not os.path.exists(path):
        return counts
    with open(path, "rb") as f:
        while True:
            a = np.fromfile(f, dtype=np.int32, count=chunk)
            if len(a) == 0:
                return counts
            counts += np.bincount(a[a >= 0], minlength=n)


def _read_whole(path, directory: str, chunk_tokens: int, lowercase: bool, bar):
    """What :func:`_read_lines` gives for the whitespace tokenizer, several times faster
    (:func:`_tokenize`), as a list of one piece; None for what only the line reader
    handles exactly (standard input, bad UTF-8, damaged compressed data, a NUL
    character in the text): the caller starts over with it, whose messages name the
    line."""
    from ...corpus import open_text
    if is_stream(path):       # read once: a failure could not start over
        return None
    raw_path = os.path.join(directory, "provisional.i32")
    report = None
    if bar is not None:
        def report(nbytes, ntokens):
            bar.update(nbytes, rate_n=ntokens)
    f, raw_file, _compression = open_text(os.fspath(path))
    try:
        table, sentences, tokens = _tokenize(f, None, lowercase, raw_path, chunk_tokens,
                                             report, bom=True)
    except _Fallback:
        spill.remove(raw_path)
        return None
    finally:
        f.close()
        if raw_file is not None and raw_file is not f:
            raw_file.close()
    return [_Piece(raw_path, table.words(), table.counts_array(), sentences, tokens)]


def _tokenize(f, limit: int | None, lowercase: bool, raw_path: str, chunk_tokens: int,
              report, bom: bool) -> tuple[WordTable, int, int]:
    """(the words: a :class:`WordTable` of provisional ids in order of first appearance,
    with their counts; sentences, tokens) of the next ``limit`` bytes of the binary file
    ``f`` (None: all of it), which start a line; the ids are appended to ``raw_path``, -1
    ending each sentence. Whole blocks of lines are tokenized at once (the line-end mark,
    id 0, is no word); ``report(bytes, tokens)`` after each. ``bom``: a UTF-8 byte order
    mark at the start is dropped. Raises :class:`_Fallback` for what the line reader must
    handle."""
    table = WordTable()
    sentences = tokens = 0
    carry = b""
    pending: list[np.ndarray] = []
    pending_n = 0
    while True:
        size = _BLOCK_BYTES if limit is None else min(_BLOCK_BYTES, limit)
        try:
            block = f.read(size) if size else b""
        except (EOFError, OSError, ValueError):
            raise _Fallback from None
        if limit is not None:
            limit -= len(block)
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
        nbytes = len(data)
        if bom:
            bom = False
            if data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
        ids, ends = _block_ids(data, table, lowercase)
        if len(ids):
            sentences += ends
            tokens += len(ids)
            pending.append(ids)
            pending_n += len(ids)
            if pending_n >= chunk_tokens:
                spill.append(raw_path, np.concatenate(pending))
                pending, pending_n = [], 0
        if report is not None:
            report(nbytes, len(ids))
    if pending:
        spill.append(raw_path, np.concatenate(pending))
    return table, sentences, tokens


def _block_ids(data: bytes, table: WordTable, lowercase: bool) -> tuple[np.ndarray, int]:
    """(the provisional ids of a block of whole lines, -1 ending each line that has a word,
    the number of such lines): blank lines give nothing. :class:`_Fallback` for bad UTF-8
    or a NUL."""
    if _END.encode() in data:
        raise _Fallback
    if data.isascii():              # valid UTF-8; str.lower() changes A-Z only, as here
        if lowercase:
            data = data.lower()
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _Fallback from None
        if lowercase:
            data = text.lower().encode("utf-8")
        del text
    return table.ids(data)


class _Fallback(Exception):
    """The block reader met something only the line reader reports exactly."""


# -- the parallel first pass: one byte range of the file per worker ----------------------------

def byte_ranges(path, parts: int, min_bytes: int) -> list[tuple[int, int]] | None:
    """``path`` cut into at most ``parts`` non-empty byte ranges [start, end), each but the
    last ending just after a line end; None when it is not to be read in parallel (not a
    plain regular file, compressed, smaller than ``min_bytes``, or one range)."""
    if parts < 2 or is_stream(path):
        return None
    try:
        size = os.path.getsize(path)
        if size < max(min_bytes, 1):
            return None
        with open(path, "rb") as f:
            magic = f.read(8)
            if compression_of(magic) or magic.startswith(b"PK\x03\x04"):
                return None
            cuts = [0]
            for k in range(1, parts):
                cuts.append(_line_start(f, max(size * k // parts, cuts[-1]), size))
    except OSError:
        return None     # the sequential reader says what is wrong
    cuts.append(size)
    ranges = [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
    return ranges if len(ranges) > 1 else None


def _line_start(f, position: int, size: int) -> int:
    """The offset just after the first line end at or after ``position`` (``size``: none)."""
    f.seek(position)
    while True:
        block = f.read(1 << 20)
        if not block:
            return size
        i = block.find(b"\n")
        if i >= 0:
            return position + i + 1
        position += len(block)


def _range_files(directory: str, i: int) -> tuple[str, str, str]:
    """Range ``i``'s provisional ids, words (one a line) and progress (bytes and tokens
    read so far, two int64)."""
    base = os.path.join(directory, f"read.{i}")
    return base + ".i32", base + ".words", base + ".progress"


def tokenize_range(path, start: int, end: int, lowercase: bool, directory: str, i: int,
                   chunk_tokens: int):
    """A worker's first pass over bytes [start, end) of ``path`` (:func:`_tokenize`): its
    provisional ids and words to its files (:func:`_range_files`); returns (counts,
    sentences, tokens). A worker that fails (:class:`_Fallback` included) leaves a mark
    that stops the others at their next block (with :class:`_Fallback`)."""
    raw, words_path, progress_path = _range_files(directory, i)
    stop = os.path.join(directory, "read.stop")
    fd = os.open(progress_path, os.O_WRONLY | os.O_CREAT, 0o600)
    done = np.zeros(2, dtype=np.int64)

    def report(nbytes, ntokens):
        done[0] += nbytes
        done[1] += ntokens
        os.pwrite(fd, done.tobytes(), 0)
        if os.path.exists(stop):
            raise _Fallback

    try:
        with open(path, "rb") as f:
            f.seek(start)
            table, sentences, tokens = _tokenize(
                f, end - start, lowercase, raw, chunk_tokens, report, bom=start == 0)
    except KeyboardInterrupt:   # Ctrl-C reached the process group: the parent stops the
        raise NlmError("interrupted") from None     # pool (no worker traceback printed)
    except Exception:       # _Fallback, or a failure: the others need not go on
        with open(stop, "ab"):
            pass
        raise
    finally:
        os.close(fd)
    with open(words_path, "wb") as out:
        out.write(table.words_bytes())
    return table.counts_array(), sentences, tokens


def _read_ranges(path, directory: str, chunk_tokens: int, lowercase: bool, bar, pool,
                 ranges) -> list[_Piece]:
    """The first pass by ``pool``'s workers, one range each; :class:`_Fallback` (files
    removed) when any of them met what only the line reader handles exactly."""
    chunk = max(1, chunk_tokens // len(ranges))     # together one chunk, as one reader
    files = [_range_files(directory, i) for i in range(len(ranges))]
    result = pool.map_async(tokenize_range, [(os.fspath(path), a, b, lowercase, directory, i,
                                              chunk) for i, (a, b) in enumerate(ranges)])
    try:
        parts = pool.follow(result, _bar_mover(bar, [progress for _, _, progress in files]),
                            _WORKER_DIED)
    except _Fallback:
        spill.remove(os.path.join(directory, "read.stop"), *(f for fs in files for f in fs))
        raise
    spill.remove(*(progress for _, _, progress in files))
    return [_Piece(raw, words, counts, sentences, tokens)
            for (raw, words, _), (counts, sentences, tokens) in zip(files, parts)]


def _bar_mover(bar, progress_paths: list[str]):
    """A function that moves ``bar`` by what the workers' progress files (bytes, tokens)
    say since its last call (None without a bar)."""
    if bar is None:
        return None
    shown = np.zeros(2, dtype=np.int64)

    def move():
        nonlocal shown
        now = np.zeros(2, dtype=np.int64)
        for p in progress_paths:
            try:
                a = np.fromfile(p, dtype=np.int64)
            except OSError:
                continue
            if len(a) == 2:
                now += a
        bar.update(int(now[0] - shown[0]), rate_n=int(now[1] - shown[1]))
        shown = now
    return move


def iter_chunks(corpus: SpilledCorpus, chunk_tokens: int):
    """The spilled ids in chunks of whole sentences (each ends with </s>)."""
    return range_chunks(corpus.path, 0, corpus.tokens, chunk_tokens)


def range_chunks(path: str, begin: int, end: int, chunk_tokens: int):
    """The ids [begin, end) of the ids file (whole sentences) in chunks of whole
    sentences."""
    carry = np.zeros(0, dtype=np.int32)
    with open(path, "rb") as f:
        f.seek(4 * begin)
        pos = begin
        while pos < end:
            block = np.fromfile(f, dtype=np.int32, count=min(chunk_tokens, end - pos))
            if not len(block):
                raise RuntimeError(f"{path}: {end - pos} ids missing")
            pos += len(block)
            if len(carry):
                block = np.concatenate([carry, block])
            ends = np.flatnonzero(block == EOS_ID)
            cut = int(ends[-1]) + 1 if len(ends) else 0
            if cut:
                yield block[:cut]
            carry = block[cut:]
    if len(carry):   # cannot happen: a range ends with </s>
        yield carry
