"""The memory-mapped binary n-gram format (nlm/ngram/binary.py, nlm build-binary)."""
from __future__ import annotations

import json
import mmap
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import MORE_TEXT, assert_one_line_error, corpus_from_lines, run
from conformance import LanguageModelConformance, random_contexts, random_corpus

from nlm.errors import ModelFileError
from nlm.modelfile import load, save
from nlm.ngram.arpa import read_arpa, write_arpa
from nlm.ngram.binary import MAGIC, read_binary, verify_binary, write_binary
from nlm.ngram.estimate.methods import fit_witten_bell


class TestBinaryModel(LanguageModelConformance):
    # probabilities are float32 values (as KenLM's): each distribution sums to 1 within
    # float32 rounding; the query paths agree with each other to 1e-9 all the same
    sum_tolerance = 1e-6

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, binary_path):
        return load(binary_path)


def _mapped(arr) -> bool:
    """True when ``arr``'s memory is a file mapping (not a copy read into memory)."""
    base = arr
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return isinstance(base, mmap.mmap)


def test_the_numbers_of_the_model_it_was_built_from_in_float32(kn4, binary_path):
    """A binary model is its model with probabilities rounded to float32 values (as
    KenLM's files): the numbers of float32_model(model), bit for bit, on every path."""
    from nlm.ngram.binary import float32_model
    b = load(binary_path)
    assert b.kind == "backoff" and b.order == 4 and b.vocab.words == kn4.vocab.words
    f32 = float32_model(kn4)
    ids, offsets = random_corpus(kn4, sentences=40, seed=5)
    assert np.array_equal(b.score_corpus(ids, offsets), f32.score_corpus(ids, offsets))
    np.testing.assert_allclose(b.score_corpus(ids, offsets), kn4.score_corpus(ids, offsets),
                               rtol=1e-6)
    assert not np.array_equal(b.score_corpus(ids, offsets), kn4.score_corpus(ids, offsets))
    for ctx in random_contexts(kn4, n=20):
        s = kn4.state_after(ctx)
        assert np.array_equal(b.next_logprobs(s), f32.next_logprobs(s))
    grams = np.array([[3, 4, 5, 6], [1, 3, 4, 2], [0, 0, 0, 0]])
    assert np.array_equal(b.ngram_logprobs(grams), f32.ngram_logprobs(grams))
    assert b.describe() == kn4.describe() and b.config() == kn4.config()


def test_loading_maps_the_tables_without_reading_them(binary_path):
    b = read_binary(binary_path)
    for arr in b._query[:3]:
        assert _mapped(arr)
        assert not arr.flags.writeable


def test_arpa_to_binary_and_back(kn4, tmp_path, runner):
    arpa = tmp_path / "m.arpa"
    write_arpa(kn4, arpa)
    out = tmp_path / "m.nlmbin"
    before = arpa.read_bytes()
    r = run(runner, ["build-binary", arpa, out])
    assert "4-gram binary model" in r.output
    assert arpa.read_bytes() == before
    from nlm.ngram.binary import float32_model
    b, a = load(out), float32_model(load(arpa))
    ids, offsets = random_corpus(a, sentences=30, seed=8)
    assert np.array_equal(b.score_corpus(ids, offsets), a.score_corpus(ids, offsets))
    # the binary model exports to an ARPA file of the same n-grams, numbers to float32
    again = tmp_path / "again.arpa"
    run(runner, ["export-arpa", out, again])
    c = load(again)
    assert c.describe() == a.describe()
    np.testing.assert_allclose(c.score_corpus(ids, offsets), a.score_corpus(ids, offsets),
                               rtol=1e-9)
    # and saves as npz with the same numbers
    save(b, tmp_path / "b.npz")
    d = load(tmp_path / "b.npz")
    assert np.array_equal(d.score_corpus(ids, offsets), a.score_corpus(ids, offsets))


def test_any_name_is_recognized_by_its_magic(binary_path, tmp_path, kn4):
    other = tmp_path / "model.bin"
    other.write_bytes(binary_path.read_bytes())
    assert load(other).vocab.words == kn4.vocab.words


def test_verify_reads_everything(binary_path, tmp_path):
    assert verify_binary(binary_path).order == 4
    data = bytearray(binary_path.read_bytes())
    header, start = _header(data)
    ints = header["arrays"]["ints"]
    assert ints["dtype"] == "<u4"
    n = header["config"]["order"]
    meta = np.frombuffer(bytes(data[start:start + 8 * (2 + n + 1)]), "<i8")
    at = start + ints["offset"] + 4 * (int(meta[-1]) - 1)   # the last n-gram's word
    data[at:at + 4] = struct.pack("<I", 0)       # an n-gram out of order
    bad = tmp_path / "bad.nlmbin"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="bad.nlmbin: corrupt.*do not match their checksum"):
        load(bad)                                # the tables' checksum is checked on load
    # a file without checksums (as written before they were added) loads as it is;
    # verifying checks every table's structure
    header, _ = _header(data)
    del header["data_crc32"], header["header_crc32"]
    bad.write_bytes(_rewrite_header(bytes(data), header))
    load(bad)
    with pytest.raises(ModelFileError, match="bad.nlmbin: corrupt"):
        verify_binary(bad)


def _header(data: bytes):
    (length,) = struct.unpack("<Q", bytes(data[8:16]))
    header = json.loads(bytes(data[16:16 + length]))
    return header, (16 + length + 4095) // 4096 * 4096


def _rewrite_header(data: bytes, header: dict) -> bytes:
    (length,) = struct.unpack("<Q", data[8:16])
    text = json.dumps(header, separators=(",", ":")).encode()
    assert len(text) <= length
    text = text + b" " * (length - len(text))
    return data[:16] + text + data[16 + length:]


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:len(d) // 2], "truncated"),
    (lambda d: d[:20], "truncated (ends inside the header)"),
    (lambda d: b"", "not an nlm binary model"),
    (lambda d: b"mmap lm http://kheafield.com/code format version 5\n\0" + d[60:200],
     "a KenLM binary file"),
    (lambda d: MAGIC + d[8:16] + b"{not json" + d[25:], "corrupt nlm binary header"),
])
def test_damaged_files_give_one_line_errors(binary_path, tmp_path, runner, damage, message):
    bad = tmp_path / "bad.nlmbin"
    bad.write_bytes(damage(binary_path.read_bytes()))
    with pytest.raises(ModelFileError, match=re.escape(message)):
        load(bad)
    assert_one_line_error(run(runner, ["info", bad], ok=False), "bad.nlmbin", message)


def test_newer_format_is_refused(binary_path, tmp_path):
    data = binary_path.read_bytes()
    header, _ = _header(data)
    header["format_version"] = 99
    bad = tmp_path / "new.nlmbin"
    bad.write_bytes(_rewrite_header(data, header))
    with pytest.raises(ModelFileError, match="newer nlm .*upgrade nlm"):
        load(bad)
    header["format_version"] = 2
    header["arrays"]["vals"]["shape"] = [10**9]
    del header["header_crc32"]
    bad.write_bytes(_rewrite_header(data, header))
    with pytest.raises(ModelFileError, match="corrupt nlm binary model"):
        load(bad)


def test_build_binary_refuses_other_models_and_keeps_outputs(tmp_path, runner, kn4):
    from nlm.ngram.addk import AddKModel
    vocab, corpus = corpus_from_lines(MORE_TEXT)
    addk = tmp_path / "addk.npz"
    save(AddKModel.fit(corpus, vocab, order=2, k=0.5), addk)
    out = tmp_path / "out.nlmbin"
    out.write_bytes(b"keep me")
    r = run(runner, ["build-binary", addk, out], ok=False)
    assert_one_line_error(r, "only backoff and interpolated n-gram models")
    assert out.read_bytes() == b"keep me"
    src = tmp_path / "m.npz"
    save(kn4, src)
    assert_one_line_error(run(runner, ["build-binary", src, src], ok=False), "overwrite")


def test_binary_model_mixes_and_evaluates(tmp_path, runner, kn4, binary_path):
    vocab, corpus = corpus_from_lines(MORE_TEXT)
    wb = fit_witten_bell(corpus, vocab, order=3)
    save(wb, tmp_path / "wb.npz")
    text = tmp_path / "t.txt"
    text.write_text("\n".join(MORE_TEXT[:4]) + "\n")
    r = run(runner, ["mix", binary_path, tmp_path / "wb.npz", "--weights", "0.5,0.5",
                     "--valid", text, "-o", tmp_path / "mix.npz"])
    assert "mixture" in r.output
    a = run(runner, ["evaluate", binary_path, text, "--json"])
    save(kn4, tmp_path / "kn4.npz")
    b = run(runner, ["evaluate", tmp_path / "kn4.npz", text, "--json"])
    assert json.loads(a.output)["perplexity"] == pytest.approx(
        json.loads(b.output)["perplexity"], rel=1e-7)


def test_build_binary_records_how_to_tokenize_an_arpa_files_text(kn4, tmp_path, runner):
    arpa = tmp_path / "m.arpa"
    write_arpa(kn4, arpa)
    run(runner, ["build-binary", arpa, tmp_path / "m.nlmbin", "--tokenizer", "word", "--lower"])
    b = load(tmp_path / "m.nlmbin")
    assert (b.vocab.tokenizer, b.vocab.lowercase) == ("word", True)
    assert_one_line_error(run(runner, ["build-binary", tmp_path / "m.nlmbin", tmp_path / "x.nlmbin",
                                       "--tokenizer", "word"], ok=False), "apply to ARPA files")


def _same_scores(model, tmp_path, name):
    from nlm.ngram.binary import float32_model
    path = tmp_path / name
    write_binary(model, path)
    b = load(path)
    model = float32_model(model)
    _, text = corpus_from_lines(MORE_TEXT)      # every stored context occurs in it
    cases = [(text.ids, text.offsets)] + [random_corpus(model, sentences=60, seed=seed)
                                          for seed in range(3)]
    for ids, offsets in cases:
        np.testing.assert_array_equal(b.score_corpus(ids, offsets),
                                      model.score_corpus(ids, offsets))
    return b


def test_models_that_are_not_suffix_closed_score_the_same(kn4, tmp_path):
    """A file can hold an n-gram whose suffix is missing (pruning by other tools): scoring
    must then not stop at the first n-gram not found."""
    arpa = tmp_path / "m.arpa"
    write_arpa(kn4, arpa)
    lines = arpa.read_text().splitlines()
    four = [line.split("\t")[1].split() for line in lines[lines.index("\\4-grams:") + 1:]
            if "\t" in line]
    prefixes, suffixes = {tuple(g[:3]) for g in four}, {tuple(g[1:]) for g in four}
    start = lines.index("\\3-grams:") + 1
    end = lines.index("", start)
    drop = [i for i in range(start, end)
            if tuple(lines[i].split("\t")[1].split()) in suffixes - prefixes]
    assert drop
    n3 = end - start
    lines = [line for i, line in enumerate(lines) if i not in set(drop)]
    lines[lines.index(f"ngram 3={n3}")] = f"ngram 3={n3 - len(drop)}"
    arpa.write_text("\n".join(lines) + "\n")
    b = _same_scores(read_arpa(arpa), tmp_path, "open.nlmbin")
    assert b.query_table()[3] is False


def test_backoff_weights_of_ngrams_without_continuations_count(kn4, tmp_path):
    """An ARPA file may give an n-gram that nothing extends a backoff weight other than
    1; it applies when that n-gram is the context, so it must be carried."""
    arpa = tmp_path / "m.arpa"
    write_arpa(kn4, arpa)
    lines = arpa.read_text().splitlines()
    start = lines.index("\\3-grams:") + 1
    has_child = {tuple(line.split("\t")[1].split()[:3]) for line in
                 lines[lines.index("\\4-grams:") + 1:] if "\t" in line}
    changed = 0
    for i in range(start, lines.index("", start)):
        p, words, b = lines[i].split("\t")
        if tuple(words.split()) not in has_child:
            lines[i] = f"{p}\t{words}\t-0.25"
            changed += 1
    assert changed > 3
    arpa.write_text("\n".join(lines) + "\n")
    model = read_arpa(arpa)
    b = _same_scores(model, tmp_path, "odd.nlmbin")
    # suffix-closed: scoring stops at the first miss, but carries the rows of every
    # stored context, whatever its continuations
    assert b.query_table()[3] is True


def test_kenlm_binaries_are_named_by_their_magic(tmp_path):
    from nlm.errors import ModelFileError
    from nlm.modelfile import load
    for name in ("mkn.kenlm", "lm.binary", "lm.trie", "lm.nlmbin"):
        p = tmp_path / name
        p.write_bytes(b"mmap lm http://kheafield.com/code format version 5\n\0\0\0\0")
        with pytest.raises(ModelFileError, match="a KenLM binary file.*ARPA file.*build-binary"):
            load(p)
        assert p.read_bytes().startswith(b"mmap lm ")


def test_flipped_bytes_give_an_error_or_the_right_numbers(binary_path, tmp_path, runner, kn4):
    """A byte flipped anywhere (header, tables, padding): loading refuses the file with one
    line, or (where the byte is not read: header padding) scores exactly as before."""
    data = binary_path.read_bytes()
    good = load(binary_path)
    ids, offsets = random_corpus(kn4, sentences=10, seed=3)
    want = good.score_corpus(ids, offsets)
    rng = np.random.default_rng(11)
    header_end = 16 + struct.unpack("<Q", data[8:16])[0]
    data_start = _header(data)[1]
    spots = (list(rng.integers(8, header_end, 20))
             + list(rng.integers(header_end, data_start, 5))
             + list(rng.integers(data_start, len(data), 40)))
    refused = 0
    bad = tmp_path / "flip.nlmbin"
    for at in spots:
        damaged = bytearray(data)
        damaged[at] ^= 1 << int(rng.integers(0, 8))
        bad.write_bytes(bytes(damaged))
        try:
            model = load(bad)
        except ModelFileError as e:
            assert str(e).startswith(str(bad)) and "\n" not in str(e)
            refused += 1
            continue
        assert np.array_equal(model.score_corpus(ids, offsets), want), at
    assert refused >= 50
    # the commands that crashed on such files: one line, exit 1
    damaged = bytearray(data)
    damaged[(data_start + len(data)) // 2] ^= 0x40     # inside the tables
    bad.write_bytes(bytes(damaged))
    for args in (["export-arpa", bad, tmp_path / "x.arpa"], ["generate", bad, "-n", "2"],
                 ["evaluate", bad, binary_path]):
        r = run(runner, args, ok=False)
        assert r.exit_code == 1 and "checksum" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.arpa").exists()


V1 = Path(__file__).parent / "data" / "binary1"


def test_format_1_files_still_load_and_score_the_same(kn4):
    """tests/data/binary1/mkn3.nlmbin was written by nlm's binary format 1 (sorted float64
    tables beside a probing table of hashes) from tests/data/format1/mkn3.npz: it scores
    as that model rounded to float32, bit for bit, on every path."""
    from nlm.ngram.binary import float32_model
    b = load(V1 / "mkn3.nlmbin")
    a = float32_model(load(V1.parent / "format1" / "mkn3.npz"))
    ids, offsets = random_corpus(a, sentences=30, seed=4)
    assert np.array_equal(b.score_corpus(ids, offsets), a.score_corpus(ids, offsets))
    for ctx in random_contexts(a, n=10):
        s = a.state_after(ctx)
        assert np.array_equal(b.next_logprobs(s), a.next_logprobs(s))
    lp, matched = b.full_scores(ids[:12])
    want_lp, want_matched = a.full_scores(ids[:12])
    assert np.array_equal(lp, want_lp) and np.array_equal(matched, want_matched)
    assert verify_binary(V1 / "mkn3.nlmbin").describe() == a.describe()


def test_format_2_is_smaller_than_kenlms_probing_size(kn4, binary_path):
    """About 14 bytes per highest-order n-gram and 22 per other (KenLM's probing binary:
    18 and 24 with its default -p 1.5), plus the header and the vocabulary."""
    n = [len(k) for k in kn4.tables.keys]
    header, start = _header(binary_path.read_bytes())
    assert header["format_version"] == 2
    assert binary_path.stat().st_size - start <= 24 * sum(n[1:-1]) + 18 * n[-1] + 24 * n[0]
