"""Reading text corpora into id arrays.

A corpus file is UTF-8 text with one sentence per line; blank lines are
skipped. Files are streamed line by line, so a big corpus is held in memory
only once, as its int32 ids. Scoring convention (as SRILM and KenLM): each
sentence ends with ``</s>``, which is scored; ``<s>`` is context only and is
not stored in the id array.
"""
from __future__ import annotations

import io
import os
import sys
from collections import Counter, defaultdict
from itertools import count
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .errors import CorpusError
from .progress import Progress
from .vocab import BOS, EOS, EOS_ID, SPECIALS, UNK, UNK_ID, Vocabulary, make_tokenizer


@dataclass
class Corpus:
    """Sentences as one flat id array.

    ``ids`` holds every sentence followed by its ``</s>``; sentence ``i`` is
    ``ids[offsets[i]:offsets[i + 1]]``. ``oov[j]`` is true where the text had
    a word that is not in the vocabulary (a literal ``<unk>`` is in it).
    """
    ids: np.ndarray      # (T,) int32
    offsets: np.ndarray  # (S + 1,) int64
    oov: np.ndarray      # (T,) bool

    @property
    def tokens(self) -> int:
        return len(self.ids)

    @property
    def sentences(self) -> int:
        return len(self.offsets) - 1

    def sentence(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i]:self.offsets[i + 1]]

    @classmethod
    def from_sentences(cls, sentences, vocab: Vocabulary) -> "Corpus":
        """Corpus from already tokenized sentences (lists of words)."""
        builder = _CorpusBuilder(vocab)
        for words in sentences:
            builder.add(words)
        return builder.finish()


#: Compressed text is recognized by its first bytes (whatever the file is called).
_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
STDIN = "-"


def compression_of(magic: bytes) -> str:
    """The compression a file's first bytes announce ("gzip", "bzip2", "xz"), or ""."""
    for start, name in _COMPRESSED:
        if magic.startswith(start):
            return name
    return ""


def open_text(path: str):
    """(binary file of the decompressed text, the file under it, the compression's name
    or "") of ``path``; ``-`` is standard input."""
    if path == STDIN:
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:   # a text stream (tests): re-encode it
            stream = io.BytesIO(sys.stdin.read().encode("utf-8"))
        return stream, None, ""
    if not os.path.exists(path):
        raise CorpusError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CorpusError(f"{path}: is a directory, not a text file")
    try:
        f = open(path, "rb")
        magic = f.read(6)
        f.seek(0)
    except OSError as e:
        raise CorpusError(f"{path}: cannot read ({e.strerror})") from None
    name = compression_of(magic)
    if name:
        import bz2
        import gzip
        import lzma
        opener = {"gzip": gzip.GzipFile, "bzip2": bz2.BZ2File, "xz": lzma.LZMAFile}[name]
        return io.BufferedReader(opener(fileobj=f, mode="rb") if name == "gzip"
                                 else opener(f, mode="rb"), 1 << 20), f, name
    return f, f, ""


def describe_path(path) -> str:
    """How a path is named in messages (``-`` is standard input)."""
    path = os.fspath(path)
    return "standard input" if path == STDIN else path


def iter_lines(path: str | os.PathLike, progress: Progress | None = None) -> Iterator[str]:
    """Non-blank lines of a UTF-8 file, without line ends; clear errors for unreadable files.
    ``-`` reads standard input; gzip, bzip2 and xz files (recognized by their first bytes)
    are decompressed. A UTF-8 byte order mark at the start is dropped. ``progress`` advances
    by bytes read (of the decompressed text)."""
    path = os.fspath(path)
    f, raw_file, compression = open_text(path)
    name = describe_path(path)
    pending = 0  # bytes not yet reported: progress is updated every 4096 lines
    lineno = 0
    try:
        for lineno, raw in enumerate(f, 1):
            if progress is not None:
                pending += len(raw)
                if not lineno & 4095:
                    progress.update(pending, rate_n=0)
                    pending = 0
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CorpusError(f"{name}: line {lineno} is not valid UTF-8 (byte "
                                  f"{raw[e.start]:#04x} at column {e.start + 1})") from None
            if not line.isspace() and line:
                yield line.strip("\r\n")
    except (EOFError, OSError, ValueError) as e:
        if isinstance(e, UnicodeDecodeError):
            raise
        what = f"{compression} data" if compression else "file"
        raise CorpusError(f"{name}: corrupt or truncated {what} at line {lineno + 1} "
                          f"({str(e) or type(e).__name__})".splitlines()[0]) from None
    finally:
        if raw_file is not None:
            f.close()
            raw_file.close()
    if progress is not None:
        progress.update(pending, rate_n=0)


def iter_sentences(path, tokenizer: str = "whitespace", lowercase: bool = False,
                   progress: Progress | None = None) -> Iterator[list[str]]:
    """Tokenized non-blank lines; ``progress`` shows bytes done and words/s."""
    tokenize = make_tokenizer(tokenizer, lowercase)
    for line in iter_lines(path, progress):
        words = tokenize(line.strip())
        if words:
            if progress is not None:
                progress.rate_done += len(words)
            yield words


def file_progress(path, desc: str, enabled: bool) -> Progress | None:
    if not enabled:
        return None
    size = None   # unknown for standard input and compressed files: no percentage
    if os.fspath(path) != STDIN:
        try:
            with open(path, "rb") as f:
                magic = f.read(6)
            if not compression_of(magic):
                size = os.path.getsize(path)
        except OSError:
            return None
    p = Progress(desc, total=size, unit="B")
    p.rate_unit = "words"
    return p


class _OOVLookup(dict):
    """word -> id, with -1 for a word not in the vocabulary."""

    def __missing__(self, word):
        return -1


class _CorpusBuilder:
    """Accumulates id chunks so that a large corpus is never held as Python lists."""

    CHUNK = 1 << 20

    def __init__(self, vocab: Vocabulary):
        table = _OOVLookup(vocab.index)
        # a literal <s> or </s> in text is not the boundary symbol
        table[BOS] = table[EOS] = -1
        self.lookup = table.__getitem__
        self.chunks: list[np.ndarray] = []
        self.buf: list[int] = []
        self.lengths: list[int] = []

    def add(self, words: list[str]):
        self.buf.extend(map(self.lookup, words))
        self.buf.append(EOS_ID)
        self.lengths.append(len(words) + 1)
        if len(self.buf) >= self.CHUNK:
            self._flush()

    def _flush(self):
        if self.buf:
            self.chunks.append(np.array(self.buf, dtype=np.int32))
            self.buf = []

    def finish(self) -> Corpus:
        self._flush()
        raw = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int32)
        oov = raw < 0
        ids = np.where(oov, UNK_ID, raw).astype(np.int32)
        offsets = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=offsets[1:])
        return Corpus(ids, offsets, oov)


def read_corpus(path, vocab: Vocabulary, progress: bool = False,
                allow_empty: bool = False) -> Corpus:
    """A text file as ids, tokenized the way ``vocab`` was built."""
    builder = _CorpusBuilder(vocab)
    bar = file_progress(path, f"reading {os.path.basename(os.fspath(path))}", progress)
    for words in iter_sentences(path, vocab.tokenizer, vocab.lowercase, bar):
        builder.add(words)
    if bar is not None:
        bar.close()
    corpus = builder.finish()
    if corpus.sentences == 0 and not allow_empty:
        raise CorpusError(f"{describe_path(path)}: empty corpus (no non-blank lines)")
    return corpus


def tokenize_text(text: str, vocab: Vocabulary) -> list[str]:
    """One sentence of text, tokenized as the vocabulary's training text was."""
    return vocab.tokenize(text)


def read_training_corpus(path, tokenizer: str = "whitespace", lowercase: bool = False,
                         min_count: int = 1, max_size: int | None = None,
                         progress: bool = False, closed: list[str] | None = None
                         ) -> tuple[Vocabulary, Corpus]:
    """Vocabulary and id corpus of a training file in one streaming pass. ``closed``: the
    vocabulary's words, given (:meth:`Vocabulary.closed`), instead of
    those of the text (min_count and max_size do not apply).

    Words get provisional ids in order of appearance; once every count is known
    the vocabulary is built (frequency order, cutoffs) and the ids are remapped
    with one array lookup, so the text is tokenized once and held only as ids.
    """
    provisional: dict[str, int] = defaultdict(count().__next__)  # new word -> next id
    lookup = provisional.__getitem__
    chunks: list[np.ndarray] = []
    buf: list[int] = []
    lengths: list[int] = []
    bar = file_progress(path, f"reading {os.path.basename(os.fspath(path))}", progress)
    for words in iter_sentences(path, tokenizer, lowercase, bar):
        buf.extend(map(lookup, words))
        buf.append(-1)  # </s>
        lengths.append(len(words) + 1)
        if len(buf) >= _CorpusBuilder.CHUNK:
            chunks.append(np.array(buf, dtype=np.int32))
            buf = []
    if bar is not None:
        bar.close()
    if not lengths:
        raise CorpusError(f"{describe_path(path)}: empty corpus (no non-blank lines)")
    chunks.append(np.array(buf, dtype=np.int32))
    raw = np.concatenate(chunks)
    del chunks, buf
    words_in_order = list(provisional)
    counts = np.bincount(raw[raw >= 0], minlength=len(words_in_order))
    if closed is not None:
        vocab = Vocabulary.closed(closed, Counter(dict(zip(words_in_order, counts.tolist()))),
                                  len(lengths), tokenizer=tokenizer, lowercase=lowercase)
    else:
        vocab = Vocabulary.build(Counter(dict(zip(words_in_order, counts.tolist()))),
                                 len(lengths), min_count=min_count, max_size=max_size,
                                 tokenizer=tokenizer, lowercase=lowercase)
    # provisional id -> final id; -1 marks words that are not in the vocabulary
    remap = np.array([vocab.index.get(w, -1) for w in words_in_order] + [EOS_ID], dtype=np.int32)
    for w in (BOS, EOS):  # a literal <s> or </s> in text is not the boundary symbol
        if w in provisional:
            remap[provisional[w]] = -1
    mapped = remap[raw]  # raw == -1 picks the last entry, </s>
    oov = mapped < 0
    if UNK in provisional:
        oov &= raw != provisional[UNK]
    ids = np.where(mapped < 0, UNK_ID, mapped).astype(np.int32)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return vocab, Corpus(ids, offsets, oov)


def read_vocab_file(path, lowercase: bool = False) -> list[str]:
    """The distinct words of a vocabulary file (whitespace separated, as lmplz's
    ``--limit_vocab_file``), in file order, the specials left out."""
    words, seen = [], set(SPECIALS)
    for line in iter_lines(path):
        for w in line.split():
            if lowercase:
                w = w.lower()
            if w not in seen:
                seen.add(w)
                words.append(w)
    if not words:
        raise CorpusError(f"{os.fspath(path)}: the vocabulary file lists no words")
    return words


def build_vocab(path, tokenizer: str = "whitespace", lowercase: bool = False,
                min_count: int = 1, max_size: int | None = None,
                progress: bool = False) -> Vocabulary:
    return read_training_corpus(path, tokenizer, lowercase, min_count, max_size, progress)[0]


__all__ = ["Corpus", "read_corpus", "read_training_corpus", "build_vocab", "iter_sentences",
           "make_tokenizer", "tokenize_text", "read_vocab_file", "open_text", "compression_of",
           "file_progress", "UNK"]
