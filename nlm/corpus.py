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
import stat
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
_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
               (b"\x28\xb5\x2f\xfd", "zstd"))
STDIN = "-"


def compression_of(magic: bytes) -> str:
    """The compression a file's first bytes announce ("gzip", "bzip2", "xz", "zstd"), or
    ""."""
    for start, name in _COMPRESSED:
        if magic.startswith(start):
            return name
    return ""


def is_stream(path) -> bool:
    """Standard input, a pipe, a FIFO, process substitution (/dev/fd/N) or a device: text
    that can be read only once, as it streams (never opened twice, never sized)."""
    path = os.fspath(path)
    if path == STDIN:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _stdin_bytes():
    if sys.stdin is None:
        raise CorpusError("standard input is closed; give a file, or pipe text in")
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:   # a text stream (tests): re-encode it
        stream = io.BytesIO(sys.stdin.read().encode("utf-8"))
    return stream


def open_text(path: str):
    """(binary file of the decompressed text, the file under it or None when it is not
    ours to close, the compression's name or "") of ``path``; ``-`` is standard input.
    The compression is recognized by the first bytes, of a file or a stream alike (a
    stream is peeked at, not read twice); a zip archive or zstd data without the
    ``zstandard`` module is refused with a message saying what to do."""
    name = describe_path(path)
    if path == STDIN:
        f, owned = _stdin_bytes(), None
    else:
        if not os.path.exists(path):
            raise CorpusError(f"{path}: no such file")
        if os.path.isdir(path):
            raise CorpusError(f"{path}: is a directory, not a text file")
        try:
            f = owned = open(path, "rb")
        except OSError as e:
            raise CorpusError(f"{path}: cannot read ({e.strerror})") from None
    try:
        if not hasattr(f, "peek"):
            f = io.BufferedReader(f)
        magic = f.peek(8)[:8]
    except (OSError, ValueError) as e:
        if owned is not None:
            owned.close()
        raise CorpusError(f"{name}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    kind = compression_of(magic)
    if magic.startswith(b"PK\x03\x04") or kind == "zstd":
        if owned is not None:
            owned.close()
        if kind == "zstd":
            raise CorpusError(f"{name}: zstd-compressed, which this Python cannot "
                              "decompress; decompress it first: zstd -dc FILE | nlm ... -")
        raise CorpusError(f"{name}: a zip archive (an npz model file?), not text; unzip it "
                          "first (or pipe a member in: unzip -p FILE | nlm ... -)")
    if kind:
        import bz2
        import gzip
        import lzma
        opener = {"gzip": gzip.GzipFile, "bzip2": bz2.BZ2File, "xz": lzma.LZMAFile}[kind]
        inner = opener(fileobj=f, mode="rb") if kind == "gzip" else opener(f, mode="rb")
        return io.BufferedReader(inner, 1 << 16), owned, kind
    return f, owned, ""


def _decompression_error_line(path: str, kind: str) -> int | None:
    """The line of a damaged compressed file where its data stop making sense: the text
    decompressed before the damage is counted exactly (the damaged piece fed a byte at
    a time). None when it cannot be told."""
    import bz2
    import lzma
    import zlib
    new = {"gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
           "bzip2": bz2.BZ2Decompressor, "xz": lzma.LZMADecompressor}[kind]

    def feed(state, data):     # state: (decompressor, lines so far, inside a member)
        d, lines, inside = state
        while data:
            lines += d.decompress(data).count(b"\n")
            inside = not d.eof
            data = d.unused_data if d.eof else b""
            if d.eof:
                d = new()
                data = data.lstrip(b"\0") if kind == "gzip" else data
        return d, lines, inside

    piece = 1 << 16
    try:
        with open(path, "rb") as f:
            state, k = (new(), 0, False), 0
            while True:
                data = f.read(piece)
                if not data:     # no damage: truncated inside the line after the last
                    return state[1] + 1 if state[2] else None
                try:
                    state = feed(state, data)
                except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError):
                    break
                k += 1
            f.seek(0)
            state = (new(), 0, False)
            for _ in range(k):
                state = feed(state, f.read(piece))
            for byte in f.read(piece):
                try:
                    state = feed(state, bytes((byte,)))
                except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError):
                    return state[1] + 1
    except (OSError, zlib.error, lzma.LZMAError, EOFError, ValueError):
        return None
    return None


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
    import lzma
    import zlib
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
    except (EOFError, OSError, ValueError, zlib.error, lzma.LZMAError) as e:
        if isinstance(e, UnicodeDecodeError):
            raise
        raise CorpusError(_damaged(name, path, compression, lineno, e)) from None
    finally:
        if raw_file is not None:
            f.close()
            raw_file.close()
    if progress is not None:
        progress.update(pending, rate_n=0)


def _damaged(name: str, path: str, compression: str, lineno: int, e: BaseException) -> str:
    """The message for compressed data (or a file) that cannot be read past line
    ``lineno``: the line where the damage is when it can be told (a buffer of text is
    decompressed ahead of the lines given out)."""
    what = f"{compression} data" if compression else "file"
    at = lineno + 1
    if compression and path != STDIN and not is_stream(path):
        found = _decompression_error_line(path, compression)
        if found is not None:
            at = max(found, at)
    cause = str(e) or type(e).__name__
    return f"{name}: corrupt or truncated {what} at line {at} ({cause})".splitlines()[0]


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
    size = None   # unknown for streams and compressed files: no percentage
    if not is_stream(path):
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
           "make_tokenizer", "tokenize_text", "read_vocab_file", "open_text", "compression_of", "is_stream",
           "file_progress", "UNK"]
