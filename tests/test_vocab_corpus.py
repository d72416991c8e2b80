"""Vocabulary building, tokenizers and corpus reading."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from nlm.corpus import Corpus, build_vocab, make_tokenizer, read_corpus
from nlm.errors import CorpusError, OptionError
from nlm.vocab import BOS_ID, EOS_ID, UNK_ID, Vocabulary


def write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_ids_are_frequency_ordered_after_specials():
    v = Vocabulary.build(Counter({"b": 2, "a": 2, "c": 5, "d": 1}), sentences=3)
    assert v.words == ["<unk>", "<s>", "</s>", "c", "a", "b", "d"]
    assert v.counts.tolist() == [0, 0, 3, 5, 2, 2, 1]


def test_min_count_and_max_size_move_mass_to_unk():
    counts = Counter({"c": 5, "a": 2, "b": 2, "d": 1, "<unk>": 4})
    v = Vocabulary.build(counts, 2, min_count=2)
    assert "d" not in v and v.counts[UNK_ID] == 4 + 1
    v = Vocabulary.build(counts, 2, max_size=4)
    assert v.words == ["<unk>", "<s>", "</s>", "c"]
    assert v.counts[UNK_ID] == 4 + 2 + 2 + 1
    with pytest.raises(OptionError):
        Vocabulary.build(counts, 2, min_count=0)
    with pytest.raises(OptionError):
        Vocabulary.build(counts, 2, max_size=2)


def test_literal_unk_is_the_unknown_word_not_an_oov(tmp_path):
    p = write(tmp_path, "t.txt", b"the <unk> sat\n\n  \nthe cat\n")
    v = build_vocab(p)
    assert v.counts[UNK_ID] == 1
    c = read_corpus(p, v)
    assert c.sentences == 2 and c.tokens == 3 + 1 + 2 + 1
    assert c.ids[1] == UNK_ID and not c.oov.any()
    assert c.ids[3] == EOS_ID and c.ids[-1] == EOS_ID
    assert c.offsets.tolist() == [0, 4, 7]


def test_oov_marked_and_mapped_to_unk(tmp_path):
    v = build_vocab(write(tmp_path, "a.txt", b"a b\n"))
    c = read_corpus(write(tmp_path, "b.txt", b"a zz b <s>\n"), v)
    assert c.ids.tolist() == [v.id("a"), UNK_ID, v.id("b"), UNK_ID, EOS_ID]
    assert c.oov.tolist() == [False, True, False, True, False]


def test_tokenizers_and_lowercase(tmp_path):
    assert make_tokenizer("whitespace")("a  b\tc") == ["a", "b", "c"]
    assert make_tokenizer("word")("Don't stop, now.") == ["Do", "n't", "stop", ",", "now", "."]
    assert make_tokenizer("char")("ab c") == ["a", "b", " ", "c"]
    assert make_tokenizer("whitespace", lowercase=True)("The CAT") == ["the", "cat"]
    v = build_vocab(write(tmp_path, "c.txt", "Ab\nbA\n".encode()), tokenizer="char", lowercase=True)
    assert set(v.words[3:]) == {"a", "b"} and v.tokenizer == "char" and v.lowercase
    c = read_corpus(write(tmp_path, "d.txt", b"AB\n"), v)
    assert c.ids.tolist() == [v.id("a"), v.id("b"), EOS_ID]
    with pytest.raises(OptionError):
        make_tokenizer("bpe")


@pytest.mark.parametrize("data,message", [
    (b"", "empty corpus"),
    (b"\n  \n\t\n", "empty corpus"),
    (b"ok line\n\xff\xfe bad\n", "line 2 is not valid UTF-8"),
])
def test_bad_corpora(tmp_path, data, message):
    p = write(tmp_path, "bad.txt", data)
    with pytest.raises(CorpusError, match=message):
        build_vocab(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        build_vocab(tmp_path / "nope.txt")
    with pytest.raises(CorpusError, match="directory"):
        build_vocab(tmp_path)


def test_from_sentences_matches_read_corpus(tmp_path):
    p = write(tmp_path, "e.txt", b"x y z\ny x\n")
    v = build_vocab(p)
    a = read_corpus(p, v)
    b = Corpus.from_sentences([["x", "y", "z"], ["y", "x"]], v)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert BOS_ID not in a.ids


def test_shipped_corpus_reads(shakespeare_dir):
    v = build_vocab(shakespeare_dir / "valid.txt", max_size=500)
    c = read_corpus(shakespeare_dir / "test.txt", v)
    assert len(v) == 500
    assert c.sentences > 1000 and 0 < c.oov.mean() < 0.5


# -- input conventions: compressed files, standard input, BOM, CRLF -------------------------
TEXT = "the cat sat\n\nthe dog sat on the mat\n"


def _same(a, b):
    assert a[0].words == b[0].words
    assert a[1].ids.tolist() == b[1].ids.tolist()
    assert a[1].offsets.tolist() == b[1].offsets.tolist()


@pytest.mark.parametrize("suffix, compress", [
    ("gz", lambda d: __import__("gzip").compress(d)),
    ("bz2", lambda d: __import__("bz2").compress(d)),
    ("xz", lambda d: __import__("lzma").compress(d)),
    ("txt", lambda d: __import__("gzip").compress(d)),   # recognized by content, not by name
])
def test_compressed_text_reads_as_the_plain_text(tmp_path, suffix, compress):
    from nlm.corpus import read_training_corpus
    plain = read_training_corpus(write(tmp_path, "plain.txt", TEXT.encode()))
    packed = read_training_corpus(write(tmp_path, f"packed.{suffix}", compress(TEXT.encode())))
    _same(plain, packed)
    assert packed[1].sentences == 2 and packed[1].tokens == 3 + 1 + 6 + 1


def test_truncated_compressed_text_is_one_error_naming_the_file(tmp_path):
    import gzip
    data = gzip.compress(("the cat sat on the mat\n" * 2000).encode())
    path = write(tmp_path, "cut.gz", data[: len(data) // 2])
    with pytest.raises(CorpusError, match=r"cut.gz: corrupt or truncated gzip data at line \d+"):
        read_corpus(path, build_vocab(write(tmp_path, "t.txt", TEXT.encode())))


def test_standard_input_is_dash(tmp_path, monkeypatch):
    import io
    import sys
    from nlm.corpus import read_training_corpus
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(TEXT.encode())))
    _same(read_training_corpus("-"), read_training_corpus(write(tmp_path, "t.txt", TEXT.encode())))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\n\n")))
    with pytest.raises(CorpusError, match="^standard input: empty corpus"):
        read_training_corpus("-")


def test_a_byte_order_mark_and_crlf_line_ends_are_not_text(tmp_path):
    from nlm.corpus import read_training_corpus
    plain = read_training_corpus(write(tmp_path, "plain.txt", TEXT.encode()))
    windows = read_training_corpus(write(tmp_path, "win.txt",
                                         b"\xef\xbb\xbf" + TEXT.replace("\n", "\r\n").encode()))
    _same(plain, windows)
    assert windows[0].words[3] == "the"    # not "\ufeffthe"


def test_bad_utf8_names_the_line_and_byte(tmp_path):
    path = write(tmp_path, "bad.txt", b"fine line\nna\xefve\n")
    with pytest.raises(CorpusError, match=r"bad.txt: line 2 is not valid UTF-8 \(byte 0xef "
                                          r"at column 3\)"):
        build_vocab(path)
