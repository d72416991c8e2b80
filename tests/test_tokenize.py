"""nlm.tokenize: exactly NLTK's NLTKWordTokenizer tokens, on tricky text, random
punctuation-heavy strings and every line of the corpora."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlm.corpus import make_tokenizer
from nlm.tokenize import WordTokenizer, reference_tokenize, word_tokenize

nltk_tokenize = pytest.importorskip("nltk.tokenize").NLTKWordTokenizer().tokenize

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "corpora"

TRICKY = [
    "", " ", "   ", "\t", "\n", "a", ".", "..", "...", "....", "a.", "a..", "a...", "'", "''", '"',
    '"Hello," she said.', '"Hello', '" Hello', "''Tis so", "'tis true.", "'Tis", "'twas", "'Twas the night",
    "I cannot go.", "CANNOT", "Cannot.", "gonna", "I'm gonna go", "wanna", "wanna.", "I wanna go.",
    "gimme that", "lemme see", "gotta run", "d'ye know", "more'n enough", "whaddya", "whatcha",
    "don't", "Don't stop, now.", "can't.", "won't!", "DON'T", "N'T", "n't", "I'll", "you're", "we've",
    "he'd", "she's", "it's.", "James'", "James' book", "the boys' toys", "'quoted'", "'hello world'",
    "rock 'n' roll", "o'er the hills", "ne'er", "'s", "x 's", "'re", "l'amour", "O'Neill's",
    "Wait...", "Wait... what?", "Hm....", "a.b.c.", "U.S.A.", "e.g. this", "Mr. Smith.", "etc.)",
    "(a)", "[a]", "{a}", "<a>", "(Hello.)", "He said (quietly.)", "end.)", "end.'", 'end."', "end.”",
    "end. )", 'end. "', "end .", "end . )", ". . .", "a (b) c.", "( [ { < > } ] )", "(\"quoted\")",
    "http://example.com/a,b?c=1&d=2.", "www.nltk.org.", "3,000,000 dollars", "1,5", "a,b", "a, b", "a,",
    "a:b", "a: b", "12:30", "a:", "$3.88", "100%", "#tag @user", "a;b", "a&b", "x*y", "a--b", "a---b",
    "--", "---", "a -- b", "well--", "“Hello,” he said.", "‘single’", "„low”", "«guillemets»",
    "It’s", "It’s fine’", "en–dash", "em—dash", "figure‒dash", "bar―", "``quoted''", "`single`",
    "```", "a`b", "Hello!?", "?!", "What?'", "so'", "so' ", "' so", "a ' b", "a '' b", "\"\"", '" "',
    "tab\tseparated\twords.", "new\nline", "non\xa0breaking space.", "a\x1cb", "trailing space. ",
    " leading space.", "double  space.", "café's", "naïve.", "Straße.", "ſo'ſ", "\u212aannot",
    "İ'll", "x\u0301'y", "日本語のテキスト。", "a’s", "'.", "'a", "a'", "a''", "a'''b", "' '",
    "He's 'gone'.", "Say \"hi\" to 'em.", "It's 5 o'clock.", "Goodbye.'\"", "Done.\"'", "(Done.)'",
    "x ,", ", x", ": x", "x :", "x '", "' x", '" x', "x \"", ". x", "x .", "x . .", "a.\t)", "a. \t)",
]


def contexts(s):
    """``s`` alone and among other words, so each chunk is seen in every position."""
    return [s, "w " + s, s + " w", "w " + s + " w", s + " " + s, s + "  " + s + " " + s,
            "(" + s + ")", s + ".", '"' + s + '"']


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_cases_match_nltk(text):
    fresh = WordTokenizer()
    for s in contexts(text):
        expected = nltk_tokenize(s)
        assert reference_tokenize(s) == expected, s
        assert fresh.tokenize(s) == expected, s
        assert word_tokenize(s) == expected, s   # the shared, already warm tokenizer


def test_cached_chunks_in_every_position():
    """Every tricky chunk is first met in one position, then reused in the others."""
    words = [w for text in TRICKY for w in text.split(" ") if w]
    tok = WordTokenizer()
    for i, w in enumerate(words):
        v = words[(i * 7) % len(words)]
        for s in (w, f"{w} {v}", f"{v} {w}", f"{v} {w} {v}", f"{w} {w}", f"{w} )", f'{v} {w} "'):
            assert tok.tokenize(s) == nltk_tokenize(s), s


def test_returns_a_new_list():
    tok = WordTokenizer()
    a = tok.tokenize("Hello, world.")
    a.append("x")
    assert tok.tokenize("Hello, world.") == ["Hello", ",", "world", "."]


def test_small_cache_is_emptied_and_stays_exact():
    tok = WordTokenizer(max_cache=5)
    lines = [f"{w}, {v}'s {w}." for w in TRICKY[:40] for v in ("a", "b'", "c.")]
    for line in lines:
        assert tok.tokenize(line) == nltk_tokenize(line)
    assert max(len(c) for c in (tok._first, tok._mid, tok._last, tok._whole)) <= 5


def test_make_tokenizer_word_lowercases_first():
    line = "I CANNOT say 'TIS so, DON'T you THINK?"
    assert make_tokenizer("word")(line) == nltk_tokenize(line)
    assert make_tokenizer("word", lowercase=True)(line) == nltk_tokenize(line.lower())
    assert make_tokenizer("word", lowercase=True)(line)[:3] == ["i", "can", "not"]


# Characters and pieces that NLTK's rules act on, and whitespace of several kinds.
ATOMS = (list("aAnNtTsSdDlLv01_'\"`.,:;?!-()[]{}<>*&$%#@«»“”‘’„–—‒―") + [" "] * 6
         + ["\t", "\n", "\xa0", "\x1c", "é", "\u0301", "ſ", "\u212a", "İ", "日"]
         + ["can", "not", "gon", "na", "wan", "tis", "twas", "'t", "d'ye", "more'n", "'s", "n't",
            "'ll", "'re", "...", "--", "''", "``", "http://a.b/c,d", "3,000"])
texts = st.lists(st.sampled_from(ATOMS), max_size=24).map("".join)
_shared = WordTokenizer()


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_random_punctuation_strings_match_nltk(text):
    expected = nltk_tokenize(text)
    assert _shared.tokenize(text) == expected   # caches filled by earlier examples
    assert WordTokenizer().tokenize(text) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts.filter(lambda s: " " not in s), min_size=1, max_size=8))
def test_random_chunks_joined_by_spaces_match_nltk(chunks):
    for text in (" ".join(chunks), "  ".join(chunks), " " + " ".join(chunks) + " "):
        assert _shared.tokenize(text) == nltk_tokenize(text)


CORPORA = ([ROOT / "corpora" / "shakespeare" / f"{s}.txt" for s in ("train", "valid", "test")]
           + [SHARED / "wikitext-2" / f"{s}.txt" for s in ("train", "valid", "test")]
           + [SHARED / "tinyshakespeare" / f"{s}.txt" for s in ("train", "valid", "input")]
           + [SHARED / "names" / "names.txt"])
_checked: dict[str, int] = {}   # line -> hash of NLTK's tokens (input = train + valid)
_corpus_tokenizer = WordTokenizer()


@pytest.mark.parametrize("path", CORPORA, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_corpus_line_matches_nltk(path):
    """Each line as ``--tokenizer word`` reads it (stripped; lowercased too for some
    files, and unstripped for the validation files), on one tokenizer warmed by
    the corpora before, as when training and evaluating. NLTK runs once per
    distinct line."""
    if not path.exists():
        if ROOT.parent / "shared" in path.parents:
            pytest.skip(f"{path} not available")
        raise AssertionError(f"{path} is missing")
    tok = _corpus_tokenizer
    with open(path, encoding="utf-8") as f:
        raw = f.read().split("\n")
    lines = [line.strip() for line in raw if line and not line.isspace()]
    if path.name in ("valid.txt", "test.txt") and "wikitext" not in str(path):
        lines += [line.lower() for line in lines]          # as with --lowercase
    if path.name == "valid.txt":
        lines += raw                                          # unstripped, blank lines too
    mismatches = []
    for line in lines:
        got = tok.tokenize(line)
        expected = _checked.get(line)
        if expected is None:
            expected = _checked[line] = hash(tuple(nltk_tokenize(line)))
        if hash(tuple(got)) != expected:
            mismatches.append(line)
    assert not mismatches, f"{len(mismatches)} lines differ, first {mismatches[0]!r}"
