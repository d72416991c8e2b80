"""A fast word tokenizer with exactly the tokens of NLTK's ``NLTKWordTokenizer``.

``--tokenizer word`` means the tokens of ``nltk.tokenize.NLTKWordTokenizer().tokenize``
(the tokenizer behind ``nltk.word_tokenize``, without sentence splitting and with
``convert_parentheses=False``). Matched and tested against **NLTK 3.10.4**, whose
rules are run by the third-party ``regex`` engine (through ``nltk.redos``), except
the MacIntyre contractions, which use the standard ``re`` module. The two engines
disagree on a few Unicode details of ``\\w``, ``\\s``, ``\\d`` and case folding, so
:func:`reference_tokenize` uses the same engine for each rule as NLTK does.

NLTK applies about 25 regular-expression substitutions to the whole line, which
runs at under 100k words/s. :class:`WordTokenizer` gets the same tokens at several
million words/s by tokenizing each space-separated chunk of a line once and
caching the result. Why that is exact:

The line is split at single spaces (U+0020) into chunks. A chunk holding any
other whitespace (by ``str.isspace`` or by the ``regex`` engine's ``\\s``) makes
the line go through :func:`reference_tokenize` as a whole. Otherwise every rule
sees at most one character beyond a chunk, and that character is a space, with
these exceptions, which the caches key on:

* the start of the text: ``^"`` becomes `````, and the rules that need a character
  before a quote, apostrophe or period (``[ ([{<]["'']``, ``[^']' ``, ``[^.]\\.``)
  cannot match at position 0. The first chunk has its own cache.
* the end of the text: the two final-period rules match a period followed only by
  closing brackets or quotes, spaces and then the end, so they can reach back over
  chunks made only of ``])}>"'»”’``. The *tail* is the last chunk that holds
  some other character, with everything after it; it is tokenized (and cached)
  as one piece, preceded by a space. A chunk holding a character outside that
  set stops both rules, so chunks before the tail never see the end. When no chunk
  holds such a character the whole line goes through :func:`reference_tokenize`.
* rules that consume the space after a match (``[:,][^\\d]``, ``[^']' `` and the
  clitic rules) never need that space as the first character of a match of the
  same rule in the next chunk, except ``[^']' ``, which, there, only doubles a space
  before an apostrophe that already follows one; no rule before whitespace is
  collapsed (``\\s+`` -> one space) looks at spaces, so the tokens do not change.

So the tokens of a middle chunk ``c`` are those of ``" " + c + " x"`` without the
final ``x`` (``x`` stands for the rest of the line: a plain word after a space),
those of the first chunk are those of ``c + " x"`` without the ``x``, and those of
the tail are those of ``" " + tail``; a line without spaces is cached whole. Each
is computed once, with :func:`reference_tokenize`, or, for the commonest shapes of
chunk (words, with trailing ``,;:?!`` or a period, an inner apostrophe, "--"), by
:func:`_simple`, which knows what the rules do to them. A chunk is tokenized at
the start of the line as after a space unless it starts with ``"``, ``'`` or
``.``, and at the end as before a space unless it holds a period or ends with
``:``, ``,`` or ``'``; the caches share those results.
"""
from __future__ import annotations

import re
from typing import Callable

import regex as _regex    # an NLTK dependency; NLTK 3.10.4 runs its rules with it

__all__ = ["NLTK_VERSION", "WordTokenizer", "reference_tokenize", "word_tokenize"]

#: The NLTK release whose ``NLTKWordTokenizer`` this module reproduces.
NLTK_VERSION = "3.10.4"


def _rx(pattern: str):
    return _regex.compile(pattern, _regex.UNICODE)


# The rules, in NLTK's order: (compiled pattern, replacement, characters of which
# the text must hold at least one for the pattern to match, or "" for always).
_OPEN_QUOTES = [
    (_rx("([«“‘„]|[`]+)"), r" \1 ", "«“‘„`"),
    (_rx(r'^"'), "``", '"'),
    (_rx("(``)"), r" \1 ", "`"),
    (_rx(r"""([ (\[{<])("|'{2})"""), r"\1 `` ", "\"'"),
    (_rx(r"(?i)(?<!\w)(')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)"), r"\1 ", "'"),
]
_CLOSERS = "])}>\"'»”’"   # may follow a sentence-final period
_PUNCT = [
    (_rx(r"""([^.])(\.)([\])}>"'»”’ ]*+)\s*$"""), r"\1 \2 \3 ", "."),
    (_rx(r"([:,])([^\d])"), r" \1 \2", ":,"),
    (_rx(r"([:,])$"), r" \1 ", ":,"),
    (_rx(r"\.{2,}"), r" \g<0> ", "."),
    (_rx(r"[;@#$%&]"), r" \g<0> ", ";@#$%&"),
    (_rx("[\u2012-\u2015]"), r" \g<0> ", "\u2012\u2013\u2014\u2015"),
    (_rx(r"""([^.])(\.)([\])}>"']*)\s*$"""), r"\1 \2\3 ", "."),
    (_rx(r"[?!]"), r" \g<0> ", "?!"),
    (_rx(r"([^'])' "), r"\1 ' ", "'"),
    (_rx(r"[*]"), r" \g<0> ", "*"),
    (_rx(r"[\][(){}<>]"), r" \g<0> ", "[](){}<>"),
    (_rx(r"--"), r" -- ", "-"),
]
_CLOSE_QUOTES = [
    (_rx("([»”’])"), r" \1 ", "»”’"),
    (_rx(r"''"), " '' ", "'"),
    (_rx(r'"'), " '' ", '"'),
    (_rx(r"\s+"), " ", ""),
    (_rx(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 ", "'"),
    (_rx(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 ", "'"),
]
# Robert MacIntyre's contractions, split in two (NLTK compiles these with ``re``).
_SPLIT_WORD_PATTERNS = (
    r"(?i)\b(can)(not)\b", r"(?i)\b(d)('ye)\b", r"(?i)\b(gim)(me)\b", r"(?i)\b(gon)(na)\b",
    r"(?i)\b(got)(ta)\b", r"(?i)\b(lem)(me)\b", r"(?i)\b(more)('n)\b", r"(?i)\b(wan)(na)(?=\s)",
)
_SPLIT_WORDS = [re.compile(p) for p in _SPLIT_WORD_PATTERNS]
# Matches somewhere iff one of them does (the same patterns, as alternatives).
_ANY_SPLIT_WORD = re.compile("(?i)" + "|".join(p[len("(?i)"):] for p in _SPLIT_WORD_PATTERNS))
_SPLIT_T_PATTERNS = (r"(?i) ('t)(is)\b", r"(?i) ('t)(was)\b")
_SPLIT_T = [re.compile(p) for p in _SPLIT_T_PATTERNS]
_ANY_CONTRACTION = re.compile(
    "(?i)" + "|".join(p[len("(?i)"):] for p in _SPLIT_WORD_PATTERNS + _SPLIT_T_PATTERNS))

_OPEN_QUOTES = [(p, r, frozenset(n)) for p, r, n in _OPEN_QUOTES]
_PUNCT = [(p, r, frozenset(n)) for p, r, n in _PUNCT]
_CLOSE_QUOTES = [(p, r, frozenset(n)) for p, r, n in _CLOSE_QUOTES]


def _apply(rules, text: str) -> str:
    for pattern, repl, needs in rules:
        if not needs or not needs.isdisjoint(text):
            text = pattern.sub(repl, text)
    return text


def reference_tokenize(text: str) -> list[str]:
    """NLTK's rules applied to the whole of ``text``: exact, and nearly as slow as
    NLTK (a rule is skipped when none of the characters it needs is in the text)."""
    text = _apply(_OPEN_QUOTES, text)
    text = _apply(_PUNCT, text)
    text = _apply(_CLOSE_QUOTES, " " + text + " ")
    if _ANY_SPLIT_WORD.search(text):
        for pattern in _SPLIT_WORDS:
            text = pattern.sub(r" \1 \2 ", text)
    if "'" in text:
        for pattern in _SPLIT_T:
            text = pattern.sub(r" \1 \2 ", text)
    return text.split()


_SPACE = _regex.compile(r"\s")
_AT_START = "\"'."    # first characters that make a chunk's start-of-text tokens differ
_AT_END = ":,'"       # last characters (besides any ".") that make the end-of-text tokens differ
# A piece of a chunk split at "--": a word no rule acts on (single hyphens allowed;
# no whitespace by either definition), possibly an apostrophe and a second such
# word, then punctuation that is always split off one character at a time, or one
# period.
_WORD = r"""[^\s\x1c-\x1f«“‘„`"'.:,;@#$%&\u2012-\u2015?!*\][(){}<>»”’]+"""
_PIECE = _regex.compile(rf"({_WORD})(?:'({_WORD}))?([,;:?!]*|\.)")
_WORD_CHAR = _regex.compile(r"\w")
_CLITICS = frozenset(["s", "S", "m", "M", "d", "D", "ll", "LL", "re", "RE", "ve", "VE"])
_MISSING = object()


def _plain(chunk: str) -> bool:
    """No whitespace at all in ``chunk`` (by either definition)."""
    return (not chunk or chunk.split() == [chunk]) and not _SPACE.search(chunk)


def _simple(chunk: str, at_end: bool):
    """Tokens of a chunk made of ``_PIECE``s joined by "--" (``None`` for any other
    chunk), which depend on the context only through a final period: it is split
    off at the end of the text (``at_end``).

    Each rule matches inside a piece, or at its edges, where "-", a space and the
    start or end of the text look alike to it (non-word, non-digit, not a quote,
    bracket or space), except the two final-period rules. An apostrophe between
    words, after a word character, is only touched by the clitic rules, which need
    a space after the clitic: there is one unless a period not split off follows.
    The MacIntyre contractions match inside one token; none may match any of them.
    """
    if chunk.isalpha():        # the usual cases, for speed: a word ...
        return None if _ANY_CONTRACTION.search(" " + chunk + " ") else (chunk,)
    if "--" not in chunk:      # ... or one piece
        m = _PIECE.fullmatch(chunk)
        if m is None:
            return None
        word, word2, punct = m.groups()
        if word2 is None:
            if not punct:
                out = (chunk,)
            elif punct != ".":
                out = (word, *punct)
            elif at_end:
                out = (word, ".")
            else:
                out = (chunk,)
            if _ANY_CONTRACTION.search(" " + " ".join(out) + " "):
                return None
            return out
    out = []
    pieces = chunk.split("--")
    end = len(pieces) - 1
    for i, piece in enumerate(pieces):
        if i:
            out.append("--")
        if not piece:
            continue
        m = _PIECE.fullmatch(piece)
        if m is None:
            return None
        word, word2, punct = m.groups()
        split_period = punct == "." and at_end and i == end
        if word2 is None:
            if punct != "." or split_period:
                out.append(word)
                out += punct
            else:
                out.append(piece)
            continue
        if not _WORD_CHAR.match(word[-1]):
            return None
        if punct == "." and not split_period:
            out.append(piece)
            continue
        if word2 in _CLITICS:
            out += (word, "'" + word2)
        elif len(word) > 1 and (word2 == "t" and word[-1] == "n" or word2 == "T" and word[-1] == "N"):
            out += (word[:-1], word[-1] + "'" + word2)
        else:
            out.append(word + "'" + word2)
        out += punct
    if _ANY_CONTRACTION.search(" " + " ".join(out) + " "):
        return None
    return tuple(out)


def _strip_sentinel(tokens: list[str]):
    return tuple(tokens[:-1]) if tokens and tokens[-1] == "x" else None


class WordTokenizer:
    """NLTK's word tokens, from per-chunk caches (see the module docstring).

    ``tokenize(line)`` returns a new list. The caches hold one entry per distinct
    chunk (roughly the vocabulary) and are emptied when one passes ``max_cache``.
    ``fallback_lines`` counts the lines tokenized whole by :func:`reference_tokenize`.
    """

    def __init__(self, max_cache: int = 1 << 19):
        self.max_cache = max_cache
        self.clear()

    def clear(self) -> None:
        self._whole: dict[str, tuple] = {}          # a line without spaces
        self._first: dict[str, tuple | None] = {}   # the chunk before the first space
        self._mid: dict[str, tuple | None] = {}     # a chunk between spaces
        self._last: dict[str, tuple | None] = {}    # the tail; None: see _tokenize_slow
        for cache in (self._whole, self._first, self._mid):
            cache[""] = ()
        self.fallback_lines = 0

    def __call__(self, text: str) -> list[str]:
        return self.tokenize(text)

    def tokenize(self, text: str) -> list[str]:
        parts = text.split(" ")
        try:
            if len(parts) == 1:
                return list(self._whole[text])
            out = list(self._first[parts[0]])
            mid = self._mid
            for part in parts[1:-1]:
                out += mid[part]
            out += self._last[parts[-1]]
            return out
        except (KeyError, TypeError):   # a chunk not seen yet, or a line needing care
            return self._tokenize_slow(text, parts)

    # -- cache misses --------------------------------------------------------------

    def _remember(self, cache: dict, key: str, value):
        if len(cache) >= self.max_cache:
            self._make_room()
        cache[key] = value
        return value

    def _make_room(self) -> None:
        """Empty the caches that are full."""
        for cache in (self._whole, self._first, self._mid, self._last):
            if len(cache) >= self.max_cache:
                cache.clear()
                if cache is not self._last:
                    cache[""] = ()

    def _chunk(self, cache: dict, part: str):
        """Tokens of a chunk without spaces, not yet in ``cache``, in the position
        ``cache`` is for; None when the chunk holds other whitespace. A chunk's tokens
        are the same at the start of the text as after a space unless it starts with
        one of ``_AT_START``, and the same at the end of the text as before a space
        unless it holds a period or ends with one of ``_AT_END``."""
        if not part:
            return None if cache is self._last else ()
        tokens = _simple(part, False)
        if tokens is not None:   # fill the other positions too: they mostly agree
            at_end = _simple(part, True) if part[-1] == "." else tokens
            self._make_room()
            self._first[part] = self._mid[part] = tokens
            if at_end is not None:
                self._last[part] = at_end
            if cache is self._first or cache is self._mid:
                return tokens
            if at_end is not None:
                return self._remember(cache, part, at_end)
        if tokens is not None:   # at the end, a split-off period let a contraction match
            tokens = tuple(reference_tokenize(" " + part if cache is self._last else part))
        elif not _plain(part):
            tokens = tuple(reference_tokenize(part)) if cache is self._whole else None
        elif cache is self._mid:
            tokens = _strip_sentinel(reference_tokenize(" " + part + " x"))
        else:
            start = part[0] in _AT_START
            end = "." in part or part[-1] in _AT_END
            if cache is self._first and not start or cache is self._last and not end or (
                    cache is self._whole and not start and not end):
                tokens = self._mid.get(part, _MISSING)
                if tokens is _MISSING:
                    tokens = self._chunk(self._mid, part)
            if cache is self._first:
                if start or tokens is None:
                    tokens = _strip_sentinel(reference_tokenize(part + " x"))
            elif cache is self._last:
                if end or tokens is None:
                    tokens = tuple(reference_tokenize(" " + part))
            elif start or end or tokens is None:
                tokens = tuple(reference_tokenize(part))
        return self._remember(cache, part, tokens)

    def _tokenize_slow(self, text: str, parts: list[str]) -> list[str]:
        if len(parts) == 1:
            tokens = self._whole.get(text, _MISSING)
            if tokens is _MISSING:
                tokens = self._chunk(self._whole, text)
            return list(tokens)
        # The tail starts at the last chunk holding something other than closers.
        j = len(parts) - 1
        while j > 0 and not parts[j].strip(_CLOSERS):
            j -= 1
        if j < len(parts) - 1:
            self._remember(self._last, parts[-1], None)   # a closer-only last chunk
        if j == 0:
            if not text.strip(" "):
                return []
            self.fallback_lines += 1
            return reference_tokenize(text)
        first = self._first.get(parts[0], _MISSING)
        if first is _MISSING:
            first = self._chunk(self._first, parts[0])
        if first is None:
            self.fallback_lines += 1
            return reference_tokenize(text)
        out = list(first)
        mid = self._mid
        get = mid.get
        for part in parts[1:j]:
            tokens = get(part, _MISSING)
            if tokens is _MISSING:
                tokens = self._chunk(mid, part)
            if tokens is None:
                self.fallback_lines += 1
                return reference_tokenize(text)
            out += tokens
        if j == len(parts) - 1:
            tokens = self._last.get(parts[j], _MISSING)
            if tokens is _MISSING:
                tokens = self._chunk(self._last, parts[j])
        elif _plain(parts[j]):   # a tail of several chunks: its key holds a space
            tail = " ".join(parts[j:])
            tokens = self._last.get(tail)
            if tokens is None:
                tokens = self._remember(self._last, tail, tuple(reference_tokenize(" " + tail)))
        else:
            tokens = None
        if tokens is None:
            self.fallback_lines += 1
            return reference_tokenize(text)
        out += tokens
        return out


_default = WordTokenizer()

#: NLTK's word tokens of one line, using a shared :class:`WordTokenizer`.
word_tokenize: Callable[[str], list[str]] = _default.tokenize
