"""ARPA back-off files: reading them into a BackoffModel, writing any BackoffModel out.

The ARPA format (as KenLM's ``lmplz`` and SRILM's ``ngram-count`` write it)::

    \\data\\
    ngram 1=3619
    ngram 2=9935

    \\1-grams:
    -4.044283	<unk>	0
    -0.9363156	</s>	0
    -2.3400254	we	-0.15603013
    ...
    \\2-grams:
    -1.0816687	we </s>
    ...
    \\end\\

Each entry is a log10 probability, the n-gram's words, and for orders below
the highest an optional log10 backoff weight (absent means 0, weight 1).
``-99`` stands for log10(0). Probabilities become natural logs here; the model
is the :class:`~nlm.ngram.backoff.BackoffModel` the estimators produce, so an
ARPA model scores, samples and evaluates like any other.

Reading choices (documented because files differ):

* The vocabulary is the unigram section: ``<unk>``, ``<s>``, ``</s>`` get ids
  0, 1, 2 (each added with probability 0 when the file lacks it), the other
  words follow in file order. Counts are zero.
* Tokenization: nlm writes the tokenizer and lower-casing its model was trained
  with as a comment block before ``\\data\\`` (``# nlm: tokenizer=word
  lowercase=1``), which KenLM and SRILM skip; the reader restores them. Other
  lines starting with ``#`` before ``\\data\\`` are skipped; a file without the
  block (KenLM's, SRILM's) is whitespace-tokenized and case-kept, unless the
  caller says otherwise (``read_arpa(path, tokenizer=..., lowercase=...)``,
  ``--tokenizer``/``--lower`` on the command line).
* A file without ``<unk>`` gives unknown words log10 probability -100, with a
  warning, as KenLM does (not 0, which would make a text's perplexity infinite).
* ``<s>`` always gets probability 0, whatever the file says (KenLM writes 0,
  SRILM -99): it is context only, and a model giving it mass would sum to 2.
* An n-gram whose context (its first n-1 words) is not itself listed is added
  as KenLM does for SRILM-pruned files: the missing context gets backoff
  weight 1 and the probability the model gives it by backing off, so every
  score is exactly what the file means. A warning says how many were added.
* Anything else that is not well formed (bad header, wrong counts, bad
  number, wrong number of fields, unknown word or section, duplicate n-gram,
  missing ``\\end\\``, truncated gzip, bad UTF-8) is a
  :class:`~nlm.errors.ModelFileError` naming the line.

Files are read line by line (gzip when they start with the gzip magic bytes),
so a file is never held in memory as text.
"""
from __future__ import annotations

import gzip
import io
import math
import os
import re
import warnings
import zlib
from array import array

import numpy as np

from ..errors import ModelFileError, NlmError
from ..files import atomic_output
from ..modelfile import FileFormat, register_format
from ..vocab import BOS_ID, SPECIALS, UNK_ID, Vocabulary
from .backoff import BackoffModel

LN10 = math.log(10.0)
#: log10 values at or below this are probability (or weight) zero.
LOG10_ZERO = -99.0
#: the log10 probability of an unknown word in a file without ``<unk>`` (KenLM's choice)
NO_UNK_LOG10 = -100.0
_NGRAM_LINE = re.compile(r"ngram\s+(\d+)\s*=\s*(\d+)$")
_SECTION = re.compile(r"\\(\d+)-grams:$")
_FIELD_SPLIT = re.compile(r"[ \t]+")  # ARPA fields and words: spaces and tabs only


class _Lines:
    """Numbered, decoded, stripped lines of a plain or gzipped file."""

    def __init__(self, path: str):
        self.path = path
        self.lineno = 0
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise ModelFileError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ModelFileError(f"{path}: is a directory, not a model file") from None
        except OSError as e:
            raise ModelFileError(f"{path}: cannot read ({e.strerror})") from None
        magic = f.read(2)
        f.seek(0)
        self.gzipped = magic == b"\x1f\x8b"
        # a large buffer in front of gzip: its own readline is slow
        self.file = (io.BufferedReader(gzip.GzipFile(fileobj=f, mode="rb"), 1 << 20)
                     if self.gzipped else f)
        self._raw = f

    def close(self):
        self.file.close()
        self._raw.close()

    def error(self, message: str, lineno: int | None = None) -> ModelFileError:
        return ModelFileError(f"{self.path}: line {self.lineno if lineno is None else lineno}: "
                              f"{message}")

    def __iter__(self):
        n = self.lineno
        try:
            for raw in self.file:
                n += 1
                self.lineno = n
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise self.error("not valid UTF-8") from None
                yield line.strip()
        except EOFError:
            raise self.error("file ends early (truncated gzip)", self.lineno + 1) from None
        except (gzip.BadGzipFile, zlib.error, OSError) as e:
            raise self.error(f"corrupt gzip data ({e})", self.lineno + 1) from None


def _log10_value(text: str, lines: _Lines, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise lines.error(f"bad {what} {text!r}") from None
    if v != v or v == math.inf:
        raise lines.error(f"bad {what} {text!r}")
    return -math.inf if v <= LOG10_ZERO else v


def read_arpa(path, tokenizer: str | None = None, lowercase: bool | None = None
              ) -> BackoffModel:
    """Read an ARPA file (plain or gzipped) into a :class:`BackoffModel`. ``tokenizer``
    and ``lowercase``, when given, override what the file records (or the defaults,
    whitespace and no lower-casing, for a file that records nothing)."""
    path = os.fspath(path)
    model = None
    for fast in (True, False):   # one pass over the bytes; line by line if that declines
        lines = _Lines(path)
        try:
            model = _read(lines, fast)
            break
        except _ReadAgain:
            continue
        finally:
            lines.close()
    if tokenizer is not None:
        from ..vocab import TOKENIZERS
        if tokenizer not in TOKENIZERS:
            raise NlmError(f"unknown tokenizer {tokenizer!r}; choose from {', '.join(TOKENIZERS)}")
        model.vocab.tokenizer = tokenizer
    if lowercase is not None:
        model.vocab.lowercase = bool(lowercase)
    return model


#: The comment line, before \data\, that records how the model's text was tokenized.
NLM_COMMENT = "# nlm:"


def _parse_nlm_comment(text: str, lines: _Lines) -> dict:
    from ..vocab import TOKENIZERS
    out = {}
    for item in text[len(NLM_COMMENT):].split():
        key, _, value = item.partition("=")
        if key == "tokenizer":
            if value not in TOKENIZERS:
                raise lines.error(f"unknown tokenizer {value!r} in the nlm comment")
            out["tokenizer"] = value
        elif key == "lowercase":
            if value not in ("0", "1"):
                raise lines.error(f"lowercase must be 0 or 1 in the nlm comment, got {value!r}")
            out["lowercase"] = value == "1"
    return out


class _ReadAgain(Exception):
    """The one-pass reader declined the file: read it again line by line."""


def _rest_of_file(lines: _Lines, prefix: bytes) -> np.ndarray:
    """``prefix`` and the rest of the file's bytes in one array: read straight into it
    for a plain file (no second copy of a large file), through bytes for a gzipped one."""
    if lines.gzipped:
        return np.frombuffer(prefix + lines.file.read(), dtype=np.uint8)
    f = lines.file
    at = f.tell()
    size = max(os.fstat(f.fileno()).st_size - at, 0)
    buf = np.empty(len(prefix) + size, dtype=np.uint8)
    buf[:len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    view, got = memoryview(buf)[len(prefix):], 0
    while got < size:
        n = f.readinto(view[got:])
        if not n:           # the file shrank while being read
            return buf[:len(prefix) + got]
        got += n
    rest = f.read()         # ... or grew
    return np.concatenate([buf, np.frombuffer(rest, np.uint8)]) if rest else buf


def _read_fast(lines: _Lines, declared: list[int], recorded: dict) -> BackoffModel:
    """The n-gram sections (``lines`` is just past ``\\1-grams:``) in one pass over the
    rest of the file's bytes (:func:`.arpa_kernels._parse_sections`). Raises _ReadAgain
    for anything unusual: the line-by-line reader then names the problem."""
    from .arpa_kernels import _find_word, _parse_sections
    prefix = "\n".join(SPECIALS).encode() + b"\n"    # the specials' spellings
    try:
        buf = _rest_of_file(lines, prefix)
    except (EOFError, OSError, zlib.error):
        raise _ReadAgain from None
    N, n_max = len(declared), declared[0] + len(SPECIALS)
    starts, lens = np.zeros(n_max, np.int64), np.zeros(n_max, np.int64)
    table = np.full(1 << max(int(np.ceil(np.log2(2 * n_max))), 4), -1, dtype=np.int64)
    at = 0
    for i, w in enumerate(SPECIALS):
        starts[i], lens[i] = at, len(w)
        table[_find_word(buf, at, at + len(w), table, starts, lens)[0]] = i
        at += len(w) + 1
    goff = np.zeros(N + 1, dtype=np.int64)
    goff[1:] = np.cumsum([(k + 1) * n for k, n in enumerate(declared)])
    total = sum(declared)
    ids, where = np.empty(goff[-1], np.int32), np.empty(total, np.int64)
    prob, bow = np.empty(total), np.empty(total)
    n_words = _parse_sections(buf, len(prefix), N, np.array(declared, np.int64), starts, lens,
                              table, len(SPECIALS), ids, prob, bow, where, goff, lines.lineno)
    try:
        words = [bytes(buf[a:a + n]).decode("utf-8") for a, n in
                 zip(starts[len(SPECIALS):n_words], lens[len(SPECIALS):n_words])]
    except UnicodeDecodeError:
        raise _ReadAgain from None
    if n_words < 0 or any(w != w.strip() for w in words):
        raise _ReadAgain
    vocab = Vocabulary(list(SPECIALS) + words, np.zeros(n_words, dtype=np.int64),
                       tokenizer=recorded.get("tokenizer", "whitespace"),
                       lowercase=recorded.get("lowercase", False))
    g = np.concatenate([[0], np.cumsum(declared)])
    arrays = [(ids[goff[k]:goff[k + 1]].reshape(-1, k + 1), prob[g[k]:g[k + 1]],
               bow[g[k]:g[k + 1]], where[g[k]:g[k + 1]]) for k in range(N)]
    return _build_model(arrays, vocab, lines)


def _read(lines: _Lines, fast: bool = False) -> BackoffModel:
    it = iter(lines)
    # -- header (after any comment lines) --------------------------------------
    line = ""
    recorded = {}
    for line in it:
        line = line.lstrip("\ufeff")  # a byte-order mark some editors add
        if line.startswith(NLM_COMMENT):
            recorded.update(_parse_nlm_comment(line, lines))
            continue
        if line.startswith("#"):
            continue
        if line:
            break
    if line != "\\data\\":
        if lines.lineno == 0 or not line or line.startswith("#"):
            raise ModelFileError(f"{lines.path}: empty file, not an ARPA model")
        raise lines.error("expected \\data\\ (not an ARPA file?)")
    declared, line = _read_declared(it, lines)
    N = len(declared)
    if declared[0] == 0:
        raise lines.error("the \\data\\ header declares no unigrams")
    line = line if line.startswith("\\") else _next_nonblank(it)
    if fast and line == "\\1-grams:":
        return _read_fast(lines, declared, recorded)

    # -- sections -------------------------------------------------------------
    index = {w: i for i, w in enumerate(SPECIALS)}
    words = list(SPECIALS)
    ids = [array("i") for _ in range(N)]
    prob = [array("d") for _ in range(N)]
    bow = [array("d") for _ in range(N)]
    where = [array("q") for _ in range(N)]
    k = 0            # order of the section being read (0: before the first)
    while True:      # ``line`` is a section header or \end\
        if line is None:
            raise lines.error("file ends without \\end\\ (truncated?)")
        if line == "\\end\\":
            if k != N:
                raise lines.error(f"\\end\\ before the {k + 1}-grams section")
            break
        m = _SECTION.match(line)
        if m is None:
            if k == 0 and not line.startswith("\\"):
                raise lines.error("n-gram line outside any \\k-grams: section")
            raise lines.error(f"unknown section {line[:60]!r}")
        new_k = int(m.group(1))
        if new_k != k + 1 or new_k > N:
            expected = f"\\{k + 1}-grams:" if k < N else "\\end\\"
            raise lines.error(f"section {line!r} where {expected} was expected")
        k = new_k
        line, seen = _read_section(it, lines, k, N, index, words, ids[k - 1], prob[k - 1],
                                   bow[k - 1], where[k - 1])
        if seen != declared[k - 1]:
            raise lines.error(f"the {k}-grams section has {seen} entries but the header "
                              f"says {declared[k - 1]}")

    vocab = Vocabulary(words, np.zeros(len(words), dtype=np.int64),
                       tokenizer=recorded.get("tokenizer", "whitespace"),
                       lowercase=recorded.get("lowercase", False))
    arrays = [(np.frombuffer(ids[j], dtype=np.int32).reshape(-1, j + 1),
               np.frombuffer(prob[j], dtype=np.float64) * LN10,
               np.frombuffer(bow[j], dtype=np.float64) * LN10,
               np.frombuffer(where[j], dtype=np.int64)) for j in range(N)]
    return _build_model(arrays, vocab, lines)


def _read_declared(it, lines: _Lines) -> tuple[list[int], str]:
    """The n-gram counts of the \\data\\ header, and the line that ended it."""
    line = ""
    declared: list[int] = []
    for line in it:
        if not line:
            if declared:
                break
            continue
        m = _NGRAM_LINE.match(line)
        if m is None:
            if line.startswith("\\") and declared:
                break
            raise lines.error(f"expected 'ngram N=COUNT' in the \\data\\ header, got {line[:60]!r}")
        k, n = int(m.group(1)), int(m.group(2))
        if k != len(declared) + 1:
            raise lines.error(f"header declares order {k} after order {len(declared)}")
        declared.append(n)
    else:
        raise lines.error("file ends inside the \\data\\ header")
    if not declared:
        raise lines.error("the \\data\\ header declares no n-grams")
    return declared, line


def _next_nonblank(it):
    for line in it:
        if line:
            return line
    return None


def _read_section(it, lines, k, N, index, words, ids, prob, bow, where):
    """Entries of the k-grams section into the arrays; returns (the line that ended
    the section, or None at the end of the file; the number of entries)."""
    bad_fields = (k + 1, k + 2) if k < N else (k + 1,)
    specials_seen = set()
    seen = 0
    get = index.get
    for line in it:
        if not line:
            continue
        if line[0] == "\\":
            return line, seen
        # Fields are separated by spaces and tabs only; str.split (fast) also splits
        # at Unicode spaces, which a non-ASCII word may contain.
        parts = line.split() if line.isascii() else _FIELD_SPLIT.split(line)
        n = len(parts)
        if n not in bad_fields:
            raise lines.error(f"expected a log10 probability, {k} word{'s' * (k > 1)}"
                              f"{' and an optional backoff weight' if k < N else ''}; got "
                              f"{n} field{'s' * (n != 1)}")
        try:
            p = float(parts[0])
            b = float(parts[k + 1]) if n == k + 2 else 0.0
        except ValueError:
            _log10_value(parts[0], lines, "log10 probability")  # raises if it is this one
            raise lines.error(f"bad log10 backoff weight {parts[k + 1]!r}") from None
        if not p <= 0.0:  # also NaN
            _log10_value(parts[0], lines, "log10 probability")
            raise lines.error(f"log10 probability {parts[0]} is above 0")
        if p <= LOG10_ZERO:
            p = -math.inf
        if b <= LOG10_ZERO:
            b = -math.inf
        elif not b < math.inf:  # NaN or +inf
            _log10_value(parts[k + 1], lines, "log10 backoff weight")
        if k == 1:
            w = parts[1]
            i = get(w)
            if i is None:
                i = index[w] = len(words)
                words.append(w)
            elif i < len(SPECIALS) and i not in specials_seen:
                specials_seen.add(i)
            else:
                raise lines.error(f"unigram {w!r} listed twice")
            ids.append(i)
        else:
            try:
                ids.extend([index[w] for w in parts[1:k + 1]])
            except KeyError as e:
                raise lines.error(f"word {e.args[0]!r} is not in the unigram section") from None
        prob.append(p)
        bow.append(b)
        where.append(lines.lineno)
        seen += 1
    return None, seen


def _build_model(arrays, vocab: Vocabulary, lines: _Lines) -> BackoffModel:
    """Sorted key tables from per-order (ids (n, k), ln prob, ln bow, line numbers)."""
    N, V = len(arrays), len(vocab)
    uni_ids, uni_p, uni_b, _ = arrays[0]
    logprob1 = np.full(V, -np.inf)
    logbow1 = np.zeros(V)
    logprob1[uni_ids[:, 0]] = uni_p
    logbow1[uni_ids[:, 0]] = uni_b
    logprob1[BOS_ID] = -np.inf  # context only (KenLM writes 0 here)
    if not (uni_ids[:, 0] == UNK_ID).any():
        logprob1[UNK_ID] = NO_UNK_LOG10 * LN10
        warnings.warn(f"{lines.path}: no <unk> in the file; unknown words get log10 "
                      f"probability {NO_UNK_LOG10:g}, as KenLM gives them", stacklevel=3)
    keys = [np.arange(V, dtype=np.int64)]
    logprob = [logprob1]
    logbow = [logbow1]
    added = 0
    found: dict = {}                    # per order: a hash of its keys (_rows_of)
    grams = [a[0] for a in arrays]      # word ids per order, grows when contexts are added
    k = 2
    while k <= N:
        g = grams[k - 1]
        rows = np.asarray(g[:, 0], dtype=np.int64)
        missing_at = 0
        for j in range(2, k):          # walk the context's prefix chain
            pos = _rows_of(keys, found, j, rows * V + g[:, j - 1])
            ok = pos >= 0
            if not ok.all():
                missing_at = j
                bad = ~ok
                break
            rows = pos
        if missing_at:
            # contexts absent from table k-1: add them there (and restart from that order)
            ctx = np.unique(g[bad, :k - 1], axis=0)
            grams[k - 2] = np.concatenate([grams[k - 2], ctx.astype(np.int32)])
            added += len(ctx)
            del keys[k - 2:], logprob[k - 2:], logbow[k - 2:]
            found = {j: t for j, t in found.items() if j < k - 2}
            k -= 1
            if k == 1:  # a word unknown at order 1 cannot happen: the reader checks words
                raise AssertionError("unreachable")
            continue
        key = rows * V + g[:, k - 1]
        key, p, b = _sorted_order(key, rows, len(keys[k - 2]), arrays[k - 1], k, lines)
        keys.append(key)
        logprob.append(p)
        logbow.append(b)
        k += 1
    if added:
        _fill_added_contexts(keys, logprob, logbow, V)
        warnings.warn(f"{lines.path}: {added} n-gram context(s) missing from the file were "
                      "added with backoff weight 1, as KenLM does", stacklevel=3)
    return BackoffModel(vocab, keys, logprob, logbow[:N - 1], method="arpa")


def _sorted_order(key: np.ndarray, rows: np.ndarray, n_rows: int, arrays, k: int,
                  lines: _Lines):
    """Order k's keys (``rows`` their contexts' rows in table k-1) sorted, with its ln
    probabilities and backoffs in the same order (entries past the file's are added
    contexts: probability NaN, backoff 0). Grouping by context sorts the keys of a file
    listed as lmplz lists them (checked); other files are sorted."""
    from .arpa_kernels import _group_order, _increasing
    _, prob, bow, lineno = arrays
    n, n_file = len(key), len(lineno)
    order = np.empty(n, dtype=np.int64)
    _group_order(rows, n_rows, order)
    sorted_key = key[order]
    if not _increasing(sorted_key):
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
    key = sorted_key
    dup = np.flatnonzero(key[1:] == key[:-1])
    if len(dup):
        a, b = order[dup[0]], order[dup[0] + 1]
        first, second = sorted(int(lineno[i]) if i < n_file else 0 for i in (a, b))
        if first == 0:  # an added context that the file lists too: cannot happen
            raise AssertionError("unreachable")
        raise lines.error(f"{k}-gram listed twice (first on line {first})", second)
    if n == n_file:
        return key, prob[order], bow[order]
    p = np.full(n, np.nan)
    b = np.zeros(n)
    p[:n_file] = prob
    b[:n_file] = bow
    return key, p[order], b[order]


def _rows_of(keys: list, found: dict, j: int, want: np.ndarray) -> np.ndarray:
    """The rows of the keys ``want`` in table j (-1 where absent), through a hash of the
    table built on first use (a sorted search costs a dozen cache misses a key)."""
    from .arpa_kernels import _key_rows, _key_table
    if j - 1 not in found:
        bits = max(int(np.ceil(np.log2(max(len(keys[j - 1]), 1) / 0.5))), 4)
        found[j - 1] = (_key_table(keys[j - 1], bits), bits)
    table, bits = found[j - 1]
    out = np.empty(len(want), dtype=np.int64)
    _key_rows(np.ascontiguousarray(want, dtype=np.int64), keys[j - 1], table, bits, out)
    return out


def _fill_added_contexts(keys, logprob, logbow, V):
    """Give every added context (probability NaN so far) the probability that backing
    off assigns it, lower orders first (they are complete when order k is filled)."""
    N = len(keys)
    for k in range(2, N + 1):
        todo = np.flatnonzero(np.isnan(logprob[k - 1]))
        for row in todo:
            gram = _words_of(keys, V, k, int(row))
            logprob[k - 1][row] = _backoff_logprob(keys, logprob, logbow, V, gram[:-1], gram[-1],
                                                   skip_full=True)


def _words_of(keys, V, k, row) -> list[int]:
    out = []
    for j in range(k, 1, -1):
        key = int(keys[j - 1][row])
        out.append(key % V)
        row = key // V
    out.append(row)
    return out[::-1]


def _find(keys, V, gram) -> int:
    row = int(gram[0])
    for j in range(2, len(gram) + 1):
        key = row * V + int(gram[j - 1])
        t = keys[j - 1]
        pos = int(np.searchsorted(t, key))
        if pos >= len(t) or t[pos] != key:
            return -1
        row = pos
    return row


def _backoff_logprob(keys, logprob, logbow, V, context, word, skip_full=False) -> float:
    """ln P(word | context) by the ARPA rule (only used for the rare added contexts)."""
    context = list(context)
    if not skip_full:
        row = _find(keys, V, context + [word])
        if row >= 0:
            return float(logprob[len(context)][row])
    if not context:
        return float(logprob[0][word])
    row = _find(keys, V, context)
    b = float(logbow[len(context) - 1][row]) if row >= 0 else 0.0
    return b + _backoff_logprob(keys, logprob, logbow, V, context[1:], word)


# -- writing ------------------------------------------------------------------
#: decimals of the log10 values written (:mod:`.arpa_kernels`): the absolute error is
#: at most 5e-11 (KenLM writes float32 values, about 7 digits).
DECIMALS = 10
#: n-grams formatted per block: writing holds one block of text, never a whole order
BLOCK = 1 << 18


def check_arpa_words(vocab) -> None:
    """ARPA separates words by spaces: refuse a vocabulary it cannot represent."""
    bad = [w for w in vocab.words if not w or len(w.split()) != 1 or w != w.strip()]
    if bad:
        raise NlmError(f"word {bad[0]!r} is empty or holds whitespace, which ARPA cannot "
                       "represent (character models: map spaces to another symbol)")


class ArpaWriter:
    """Streams an ARPA file into a binary file object: the header (with the n-gram
    count of every order), then each order's section block by block. Used by
    :func:`write_arpa` and by the out-of-core estimation, which never holds a whole
    order."""

    def __init__(self, out, vocab, sizes: list[int]):
        self.out = out
        self.order = len(sizes)
        encoded = [w.encode("utf-8") for w in vocab.words]
        self._text = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self._off = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=self._off[1:])
        self._longest = max((len(b) for b in encoded), default=1)
        self._buf = None
        # how the text was tokenized, for nlm; KenLM and SRILM skip what precedes \data\
        out.write(f"{NLM_COMMENT} tokenizer={vocab.tokenizer} "
                  f"lowercase={int(bool(vocab.lowercase))}\n\n".encode())
        out.write(b"\\data\\\n")
        for k, n in enumerate(sizes, 1):
            out.write(f"ngram {k}={n}\n".encode())

    def section(self, k: int) -> None:
        self.out.write(f"\n\\{k}-grams:\n".encode())

    def write(self, words: np.ndarray, logprob: np.ndarray, logbow: np.ndarray | None) -> None:
        """Lines for the n-grams ``words`` (n, k) int32 with natural-log probabilities and
        backoff weights (None at the highest order)."""
        for block in self._blocks(words, logprob, logbow, shared=True):
            self.out.write(block)

    def lines(self, words: np.ndarray, logprob: np.ndarray, logbow: np.ndarray | None) -> list:
        """The text :meth:`write` writes, as a list of byte strings, without writing it:
        several threads may format at once (out-of-core assembly), and :meth:`put` writes
        their text in order."""
        return [bytes(block) for block in self._blocks(words, logprob, logbow, shared=False)]

    def _blocks(self, words, logprob, logbow, shared: bool):
        """The text of ``BLOCK`` n-grams at a time (memoryviews), formatted in ``self._buf``
        when ``shared`` (reused: no page faults per block; one thread only), else in a
        buffer of this call's own."""
        from .arpa_kernels import _arpa_lines
        words = np.ascontiguousarray(words, dtype=np.int32)
        n, k = words.shape
        buf = self._buf if shared else None
        for a in range(0, n, BLOCK):
            b = min(n, a + BLOCK)
            need = (b - a) * (2 * 32 + k * (self._longest + 1) + 4)
            if buf is None or len(buf) < need:
                buf = np.empty(need, dtype=np.uint8)
                if shared:
                    self._buf = buf
            lp = np.ascontiguousarray(logprob[a:b], dtype=np.float64)
            bow = (np.ascontiguousarray(logbow[a:b], dtype=np.float64) if logbow is not None
                   else lp)
            used = _arpa_lines(words[a:b], lp, bow, logbow is not None, self._text, self._off,
                               buf)
            yield memoryview(buf[:used])

    def put(self, text: list) -> None:
        """Write the byte strings of :meth:`lines`."""
        for chunk in text:
            self.out.write(chunk)

    def end(self) -> None:
        self.out.write(b"\n\\end\\\n")


def _block_words(model, k: int, a: int, b: int) -> np.ndarray:
    """(b - a, k) int32 word ids of rows a..b-1 of table k (through the context links)."""
    V = model.vocab_size
    words = np.empty((b - a, k), dtype=np.int32)
    rows = np.arange(a, b, dtype=np.int64)
    for j in range(k, 1, -1):
        key = model.tables.keys[j - 1][rows]
        words[:, j - 1] = key % V
        rows = key // V
    words[:, 0] = rows
    return words


def write_arpa(model, path) -> None:
    """Write a :class:`BackoffModel` as an ARPA file (gzipped when ``path`` ends in
    ``.gz``). The file appears only when complete (temporary file + rename). Text is
    written a block of n-grams at a time: the model is the only large thing in memory."""
    path = os.fspath(path)
    if not isinstance(model, BackoffModel):
        raise NlmError(f"{model.kind} models have no backoff form, so they cannot be written "
                       "as ARPA; only backoff and interpolated n-gram models can")
    _write_tables(model, path)


def _write_tables(model, path: str, check=None) -> None:
    """The ARPA file of anything with a BackoffModel's ``vocab``, ``tables.keys``,
    ``logprobs``, ``logbows``, ``normalized`` and ``method``; ``check(k, a, keys)``
    validates each block of keys before it is used (tables read lazily from a file)."""
    if not model.normalized:
        raise NlmError(f"{model.method} scores are not probabilities; an ARPA file would "
                       "present them as probabilities")
    check_arpa_words(model.vocab)
    N = len(model.tables.keys)
    with atomic_output(path) as raw:
        out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) if path.endswith(".gz") else raw
        try:
            writer = ArpaWriter(out, model.vocab, [len(t) for t in model.tables.keys])
            for k in range(1, N + 1):
                writer.section(k)
                n = len(model.tables.keys[k - 1])
                for a in range(0, n, BLOCK):
                    b = min(n, a + BLOCK)
                    if check is not None:
                        check(k, a, np.asarray(model.tables.keys[k - 1][a:b]))
                    lp = np.array(model.logprobs[k - 1][a:b], dtype=np.float64)
                    if k == 1 and a <= BOS_ID < b:
                        lp[BOS_ID - a] = -np.inf  # context only (KenLM writes 0, SRILM -99)
                    writer.write(_block_words(model, k, a, b), lp,
                                 model.logbows[k - 1][a:b] if k < N else None)
            writer.end()
        finally:
            if out is not raw:
                out.close()


class _MappedModel:
    """A backoff model file's tables as read-only memory maps: what :func:`export_model_file`
    writes from, so that exporting never holds more than the file (the kernel pages it in
    and out), where loading the model would copy every table."""
    kind = "backoff"

    def __init__(self, vocab, header, arrays):
        config = header["config"]
        N = int(config["order"])
        self.vocab, self.order = vocab, N
        self.vocab_size = len(vocab)
        self.method = str(config.get("method", "arpa"))
        self.normalized = bool(config.get("normalized", True))

        class _Tables:
            keys = [arrays[f"keys.{k}"] for k in range(1, N + 1)]
        self.tables = _Tables
        self.logprobs = [arrays[f"logprob.{k}"] for k in range(1, N + 1)]
        self.logbows = [arrays[f"logbow.{k}"] for k in range(1, N)]
        sizes = [len(k) for k in self.tables.keys]
        if sizes[0] != self.vocab_size or any(
                len(self.logprobs[k]) != sizes[k] or (k < N - 1 and len(self.logbows[k]) != sizes[k])
                or self.tables.keys[k].ndim != 1 for k in range(N)):
            raise ValueError("tables of different lengths")
        self._last = {}

    def describe(self) -> dict:
        return {"method": self.method, "ngrams": [len(k) for k in self.tables.keys]}

    def check(self, k: int, a: int, keys: np.ndarray):
        """The invariants BackoffModel checks on loading, block by block."""
        V = self.vocab_size
        if k == 1:
            if not np.array_equal(keys, np.arange(a, a + len(keys))):
                raise ValueError("the unigram table must be indexed by word id")
            return
        if len(keys) == 0:
            return
        prev = self._last.get(k, -1)
        if keys[0] <= prev or (len(keys) > 1 and not (keys[1:] > keys[:-1]).all()):
            raise ValueError(f"order {k}: keys are not sorted and distinct")
        if keys[-1] // V >= len(self.tables.keys[k - 2]):
            raise ValueError(f"order {k}: an n-gram's context is not in table {k - 1}")
        self._last[k] = int(keys[-1])


def export_model_file(model_path, path):
    """``nlm export-arpa``: write the model in ``model_path`` as ARPA. A backoff model file
    is read lazily (memory maps, see :class:`_MappedModel`); anything else is loaded and
    given to :func:`write_arpa` (which says why it cannot be written, if it cannot).
    Returns the model (or its mapped tables), for a summary line."""
    from ..modelfile import map_model_file
    model_path, path = os.fspath(model_path), os.fspath(path)
    mapped = None
    if not model_path.endswith((".arpa", ".arpa.gz")):
        try:
            header, vocab, arrays = map_model_file(model_path)
            if header.get("kind") == "backoff":
                mapped = _MappedModel(vocab, header, arrays)
        except Exception:   # anything odd: the ordinary loader gives the one-line reason
            mapped = None
    if mapped is None:
        from ..modelfile import load
        model = load(model_path)
        write_arpa(model, path)
        return model

    def check(k, a, keys):
        try:
            mapped.check(k, a, keys)
        except ValueError as e:
            raise ModelFileError(f"{model_path}: corrupt model file ({e})") from None
    _write_tables(mapped, path, check)
    return mapped


register_format(FileFormat("arpa", load=read_arpa, suffixes=(".arpa", ".arpa.gz")))

__all__ = ["read_arpa", "write_arpa", "export_model_file"]
