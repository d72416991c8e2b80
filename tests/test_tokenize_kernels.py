"""The block reader's Numba word table (nlm/ngram/external/tokenize_kernels.py) against
Python's own ``str.split()``: the same words, ids in order of first appearance, counts,
line ends, whatever the whitespace, the growth of the table or the cut into blocks."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from nlm.ngram.external.tokenize_kernels import WordTable, space_length

#: every character str.split() splits at (within the whole of Unicode)
SPACES = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]


def reference(lines_blocks: list[str], lowercase: bool = False):
    """(ids per block with -1 ending each line that has a word, lines ended per block,
    word -> id, counts) as str.split() on each line gives them."""
    ids: dict[str, int] = {"\x00": 0}
    counts = [0]
    out, ends = [], []
    for block in lines_blocks:
        if lowercase:
            block = block.lower()
        got, n = [], 0
        lines = block.split("\n")
        if block.endswith("\n"):
            lines.pop()
        for line in lines:
            words = line.split()
            for w in words:
                if w not in ids:
                    ids[w] = len(ids)
                    counts.append(0)
                counts[ids[w]] += 1
                got.append(ids[w])
            if words:
                got.append(-1)
                n += 1
        out.append(got)
        ends.append(n)
    return out, ends, ids, counts


def through_table(blocks: list[str], table: WordTable | None = None, lowercase=False):
    table = table or WordTable()
    out, ends = [], []
    for block in blocks:
        text = block.lower() if lowercase else block
        ids, n = table.ids(text.encode("utf-8"))
        assert ids.dtype == np.int32
        out.append(ids.tolist())
        ends.append(n)
    return out, ends, table.words(), table.counts_array().tolist(), table


def assert_like_str_split(blocks, **kw):
    out, ends, words, counts, table = through_table(blocks, **kw)
    r_out, r_ends, r_words, r_counts = reference(blocks, kw.get("lowercase", False))
    assert out == r_out
    assert ends == r_ends
    assert words == r_words
    assert counts == r_counts
    assert table.words_bytes().decode("utf-8").split("\n") == list(r_words)
    return table


def test_the_whitespace_set_is_exactly_str_split():
    assert len(SPACES) == 29          # Python 3.11: the kernel hard-codes these
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        ch = chr(c)
        data = np.frombuffer((ch + "x").encode("utf-8"), dtype=np.uint8)
        want = len(ch.encode("utf-8")) if ch.isspace() else 0
        assert space_length(data, 0, len(data)) == want, hex(c)


def test_every_space_separates_words():
    line = "a" + "b".join(s for s in SPACES if s != "\n") + "c\n"
    assert_like_str_split([line, "x\u200by \ufeffz \u180ew\n"])   # no spaces: one word each


def test_blank_lines_crlf_and_no_final_line_end():
    assert_like_str_split(["\n\n  \t\nthe cat\r\n\r\n\nsat on\x0bthe\x1cmat\n",
                           " \n", "no end at all", "\n", "the end\n"])


def test_lowercase_beyond_ascii():
    assert_like_str_split(["ÄRGER Über ÉTÉ the THE\n", "İstanbul ΣΟΦΊΑ ǅ\n"], lowercase=True)


def test_the_table_and_arena_grow():
    table = WordTable(slots=4, arena_bytes=2)
    words = [f"w{i}" + "é" * (i % 7) for i in range(5000)]
    rng = np.random.default_rng(3)
    blocks = []
    for _ in range(6):
        picks = rng.integers(0, len(words), size=3000)
        blocks.append("\n".join(" ".join(words[p] for p in picks[i:i + 11])
                                for i in range(0, 3000, 11)) + "\n")
    assert_like_str_split(blocks, table=table)
    assert len(table) == len(set(" ".join(blocks).split())) + 1   # and the line-end mark
    assert len(table.table) >= 2 * len(table)


def test_a_long_word_in_a_small_arena():
    long = "x" * 100_000
    table = assert_like_str_split(["a " + long + " b\n", long + "\n"],
                                  table=WordTable(slots=4, arena_bytes=16))
    assert table.counts_array()[2] == 2


def test_collisions_in_a_tiny_table_keep_words_apart():
    # prefixes and permutations of the same bytes, in a table that starts with 4 slots
    words = ["ab", "ba", "a", "b", "aab", "aba", "baa", "", "abab", "ab\u00a0"]
    blocks = [" ".join(words) + "\n", " ".join(reversed(words)) + "\n"]
    assert_like_str_split(blocks, table=WordTable(slots=4))


def test_bad_table_size():
    with pytest.raises(ValueError, match="power of two"):
        WordTable(slots=12)
