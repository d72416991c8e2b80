"""Fuzzing every reader with damaged files: bytes flipped, cut or inserted anywhere. A
reader gives a clear error (its one-line NlmError) or the right answer (the same numbers
as the undamaged file), never a crash, a hang or a wrong number. (The npz and ARPA
readers are also fuzzed in tests/test_bad_inputs.py for "no crash".)"""
from __future__ import annotations

import bz2
import gzip
import lzma

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TINY_TEXT, run
from hypothesis import HealthCheck, given, settings, strategies as st

from nlm.corpus import compression_of, iter_lines, read_corpus, read_vocab_file
from nlm.errors import NlmError
from nlm.modelfile import load

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
TEXT = "\n".join(TINY_TEXT * 30) + "\n"
RNN = ["--model", "rnn", "--emb", "4", "--hidden", "4", "--epochs", "1", "-q"]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """An n-gram model, its binary file, an RNN checkpoint, and the log-probabilities of a
    text under the models (what a damaged file must reproduce if it reads at all)."""
    d = tmp_path_factory.mktemp("good")
    runner = CliRunner()
    (d / "train.txt").write_text(TEXT)
    run(runner, ["train", d / "train.txt", "--model", "kn", "--order", 3, "-q",
                 "-o", d / "m.npz"])
    run(runner, ["build-binary", d / "m.npz", d / "m.nlmbin"])
    run(runner, ["train", d / "train.txt", *RNN, "--keep-checkpoint", "-o", d / "r.npz"])
    model = load(d / "m.npz")
    corpus = read_corpus(d / "train.txt", model.vocab)
    d_logprobs = model.score_corpus(corpus.ids, corpus.offsets)
    return d, corpus, d_logprobs


def mutate(data, raw: bytes, header: int = 0) -> bytes:
    """``raw`` with bytes flipped, cut or inserted (anywhere, or in the first ``header``
    bytes when the strategy draws it so)."""
    b = bytearray(raw)
    how = data.draw(st.sampled_from(["flip", "flip", "cut", "insert", "flip head"]))
    if how == "flip head" and header:
        for _ in range(data.draw(st.integers(1, 3))):
            b[data.draw(st.integers(0, min(header, len(b)) - 1))] ^= data.draw(st.integers(1, 255))
    elif how.startswith("flip"):
        for _ in range(data.draw(st.integers(1, 4))):
            b[data.draw(st.integers(0, len(b) - 1))] ^= data.draw(st.integers(1, 255))
    elif how == "cut":
        del b[data.draw(st.integers(0, len(b) - 1)):]
    else:
        at = data.draw(st.integers(0, len(b)))
        b[at:at] = data.draw(st.binary(min_size=1, max_size=16))
    return bytes(b)


def _same_numbers_or_refused(path, good):
    """Loads to the very same log-probabilities, or is refused with an NlmError."""
    _, corpus, expected = good
    try:
        model = load(path)
        got = model.score_corpus(corpus.ids, corpus.offsets)
    except NlmError:
        return
    np.testing.assert_array_equal(got, expected.astype(got.dtype))


@FUZZ
@given(data=st.data())
def test_damaged_npz_models_give_the_same_numbers_or_an_error(good, tmp_path_factory, data):
    d = good[0]
    path = tmp_path_factory.mktemp("fuzz") / "m.npz"
    path.write_bytes(mutate(data, (d / "m.npz").read_bytes()))
    _same_numbers_or_refused(path, good)


@FUZZ
@given(data=st.data())
def test_damaged_npz_models_export_the_same_arpa_or_an_error(good, tmp_path_factory, data):
    """export-arpa reads a backoff model file through memory maps, not np.load."""
    from nlm.ngram.arpa import export_model_file
    d = good[0]
    work = tmp_path_factory.mktemp("fuzz")
    if not (d / "m.arpa").exists():
        export_model_file(d / "m.npz", d / "m.arpa")
    (work / "m.npz").write_bytes(mutate(data, (d / "m.npz").read_bytes()))
    try:
        export_model_file(work / "m.npz", work / "out.arpa")
    except NlmError:
        assert not (work / "out.arpa").exists()
        return
    assert (work / "out.arpa").read_bytes() == (d / "m.arpa").read_bytes()


@FUZZ
@given(data=st.data())
def test_damaged_binary_models_give_the_same_numbers_or_an_error(good, tmp_path_factory, data):
    d = good[0]
    raw = (d / "m.nlmbin").read_bytes()
    path = tmp_path_factory.mktemp("fuzz") / "m.nlmbin"
    path.write_bytes(mutate(data, raw, header=4096))
    _, corpus, expected = good
    try:
        model = load(path)
        got = model.score_corpus(corpus.ids, corpus.offsets)
    except NlmError:
        return
    # the binary file holds float32 tables: the numbers of the undamaged binary file
    reference = load(d / "m.nlmbin").score_corpus(corpus.ids, corpus.offsets)
    np.testing.assert_array_equal(got, reference)


@FUZZ
@given(data=st.data())
def test_damaged_checkpoints_are_read_right_or_refused(good, tmp_path_factory, data):
    from nlm.neural.checkpoint import checkpoint_summary, read_checkpoint
    d = good[0]
    header, arrays = read_checkpoint(d / "r.ckpt.npz")
    path = tmp_path_factory.mktemp("fuzz") / "c.npz"
    path.write_bytes(mutate(data, (d / "r.ckpt.npz").read_bytes()))
    checkpoint_summary(path)      # None or a summary, never an exception
    try:
        got_header, got = read_checkpoint(path)
    except NlmError:
        return
    assert got_header == header and set(got) == set(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(got[name], array)


@FUZZ
@given(data=st.binary(max_size=300))
def test_any_bytes_as_a_vocabulary_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "vocab.txt"
    path.write_bytes(data)
    try:
        words = read_vocab_file(path)
    except NlmError:
        return
    assert words and all(isinstance(w, str) and w and not w.isspace() for w in words)
    expected = [w for w in data.decode("utf-8").removeprefix("\ufeff").split()
                if w not in ("<unk>", "<s>", "</s>")]
    assert words == list(dict.fromkeys(expected))


COMPRESS = {"gzip": gzip.compress, "xz": lzma.compress, "bzip2": bz2.compress}


@FUZZ
@given(data=st.data())
def test_damaged_compressed_text_gives_the_same_lines_or_an_error(tmp_path_factory, data):
    """gzip, xz and bzip2 text: the very lines of the undamaged text, or a CorpusError
    naming a line; also read as standard input."""
    import io
    import sys
    kind = data.draw(st.sampled_from(sorted(COMPRESS)))
    packed = COMPRESS[kind](TEXT.encode())
    damaged = mutate(data, packed, header=16)
    if compression_of(damaged[:8]) != kind:
        return     # damaged in its first bytes: no longer compressed data, but other bytes
    path = tmp_path_factory.mktemp("fuzz") / f"text.{kind}"
    path.write_bytes(damaged)
    expected = [line for line in TEXT.splitlines() if line.strip()]
    for source in (path, "-"):
        stdin = sys.stdin
        if source == "-":
            sys.stdin = io.TextIOWrapper(io.BytesIO(damaged))
        try:
            lines = list(iter_lines(source))
        except NlmError as e:
            assert "line" in str(e) and "\n" not in str(e)
            continue
        finally:
            sys.stdin = stdin
        assert lines == expected
