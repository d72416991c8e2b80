"""Out-of-core reading in parallel (nlm/ngram/external/read.py): the worker processes
each tokenize one byte range of the text, and everything that comes out (vocabulary,
ids file, unigram counts, first positions) is the one reader's, byte for byte."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from nlm.errors import CorpusError
from nlm.ngram.external import pipeline, read
from nlm.ngram.external.budget import Plan
from nlm.ngram.external.distributed import ProcessRunner

BOM = "\ufeff"


@pytest.fixture(scope="module")
def pools():
    """Pools of 2 and 3 workers forked while blocks are 7 bytes (lines cut across blocks
    inside the ranges too)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(read, "_BLOCK_BYTES", 7)
        made = {k: ProcessRunner(k) for k in (2, 3)}
        try:
            yield made
        finally:
            for p in made.values():
                p.close()


@pytest.fixture
def spy(monkeypatch):
    """The number of parallel first passes (the parent's side of them)."""
    calls = []
    real = read._read_ranges

    def counted(*args):
        calls.append(args[-1])
        return real(*args)
    monkeypatch.setattr(read, "_read_ranges", counted)
    monkeypatch.setattr(read, "_BLOCK_BYTES", 7)
    return calls


def _read(path, d, pool=None, **kw):
    os.makedirs(d)
    vocab, corpus = read.read_to_disk(path, str(d), 5, pool=pool, parallel_bytes=0, **kw)
    assert os.listdir(d) == ["ids.i32"]      # no provisional or range file left
    return vocab, corpus, Path(corpus.path).read_bytes()


def assert_same_reading(a, b):
    (va, ca, ida), (vb, cb, idb) = a, b
    assert va.words == vb.words
    assert va.index == vb.index
    np.testing.assert_array_equal(va.counts, vb.counts)
    assert ida == idb
    assert (ca.tokens, ca.sentences) == (cb.tokens, cb.sentences)
    assert ca.tokens == len(ida) // 4
    np.testing.assert_array_equal(ca.unigram_counts, cb.unigram_counts)
    np.testing.assert_array_equal(ca.first_seen, cb.first_seen)


def _mid_text(before: str, at_cut: str, after: str) -> str:
    """``before`` + ``at_cut`` + ``after`` with ``at_cut`` starting where the file is cut in
    two (``before`` ends a line): padded with lines of one word."""
    for pad in range(400):
        text = before + "p\n" * pad + at_cut + after
        data = text.encode("utf-8")
        start = len((before + "p\n" * pad).encode("utf-8"))
        if data.find(b"\n", len(data) // 2) + 1 == start:    # as byte_ranges cuts
            return text
    raise AssertionError("no padding puts the text at the cut")


def _texts():
    rng = np.random.default_rng(5)
    first = [f"a{i}" for i in range(30)]
    late = [f"b{i}" for i in range(30)]         # only in the second half
    half1 = "\n".join(" ".join(rng.choice(first, rng.integers(1, 9))) for _ in range(60))
    half2 = "\n".join(" ".join(rng.choice(first + late, rng.integers(1, 9)))
                      for _ in range(60))
    long_line = " ".join(rng.choice(first + late, 600)) + "\n"
    tricky = ("The cat  sat\r\n\n   \n\tthe <unk> <s> </s> dog\u2028ran\n"
              "ΣΟΦΟΣ λόγος\x0bend\n\n")
    return {
        "halves": BOM + half1 + "\n" + half2 + "\n",
        "no final newline": half1 + "\n" + tricky + half2,
        "blank lines at the cut": _mid_text(half1 + "\n", "\n\n  \n\n" * 5, half2 + "\n"),
        "blank line then text at the cut": _mid_text(half1 + "\n", "\n" + half2, "\n"),
        "BOM at the cut": _mid_text(BOM + half1 + "\n", BOM + "x y\n", tricky + half2),
        "long line": half1 + "\n" + long_line * 3 + half2 + "\n",
        "only blank lines in range 0": "\n" * 2000 + "  \n" * 1000 + half2 + "\n",
        "one line": long_line,
    }


TEXTS = _texts()


@pytest.mark.parametrize("name", sorted(TEXTS))
@pytest.mark.parametrize("options", [{}, {"lowercase": True}, {"min_count": 2},
                                     {"max_size": 12}])
def test_parallel_reading_equals_one_reader(pools, spy, tmp_path, name, options):
    path = tmp_path / "t.txt"
    path.write_text(TEXTS[name], encoding="utf-8")
    want = _read(path, tmp_path / "one", **options)
    for workers, pool in sorted(pools.items()):
        got = _read(path, tmp_path / str(workers), pool, **options)
        assert_same_reading(got, want)
    ranges = read.byte_ranges(path, 3, 0)
    if name == "one line":      # a single range: nothing to do in parallel
        assert ranges is None and spy == []
    else:
        assert len(spy) == 2 and len(ranges) >= 2
        assert all(path.read_bytes()[a - 1:a] == b"\n" for a, _ in ranges[1:])
    assert want[0].words[:3] == ["<unk>", "<s>", "</s>"]
    if name == "halves" and "max_size" not in options:   # words only in the second range
        assert any(w.startswith("b") for w in want[0].words)


def test_the_cut_texts_are_cut_where_they_say(tmp_path):
    data = TEXTS["blank lines at the cut"].encode("utf-8")
    (start, _), = [r for r in read.byte_ranges(_file(tmp_path, data), 2, 0)[1:]]
    assert data[start:start + 4] == b"\n\n  "
    data = TEXTS["BOM at the cut"].encode("utf-8")
    (start, _), = read.byte_ranges(_file(tmp_path, data), 2, 0)[1:]
    assert data[start:start + 3] == BOM.encode("utf-8")


def _file(tmp_path, data: bytes):
    path = tmp_path / "c.txt"
    path.write_bytes(data)
    return path


def test_not_in_parallel_below_the_size_or_compressed(pools, spy, tmp_path):
    text = TEXTS["halves"].encode("utf-8")
    plain = _file(tmp_path, text)
    packed = tmp_path / "t.txt.gz"
    packed.write_bytes(gzip.compress(text))
    for i, (path, threshold) in enumerate([(plain, len(text) + 1), (packed, 0)]):
        d = tmp_path / str(i)
        d.mkdir()
        v, c = read.read_to_disk(path, str(d), 5, pool=pools[2], parallel_bytes=threshold)
        assert c.tokens > 0 and "a0" in v.index
    assert spy == []
    assert read.byte_ranges(plain, 2, len(text)) is not None
    assert read.byte_ranges(plain, 1, 0) is None


@pytest.mark.parametrize("bad, message", [(b"\xff e\n", r"line \d+ is not valid UTF-8"),
                                          (b"nul \x00 char\n", None)])
def test_fallback_from_the_second_range(pools, spy, tmp_path, bad, message):
    """Bad UTF-8 or a NUL in range 1: the whole file goes through the line reader, which
    says what it says today (the line), or reads the NUL as part of a word."""
    data = TEXTS["halves"].encode("utf-8")
    data = data + bad + data[len(data) // 2:]
    path = _file(tmp_path, data)
    assert read.byte_ranges(path, 2, 0)[1][0] <= data.index(bad)
    if message is None:
        want = _read(path, tmp_path / "one")
        got = _read(path, tmp_path / "par", pools[2])
        assert_same_reading(got, want)
        assert "\x00" in want[0].index
    else:
        with pytest.raises(CorpusError, match=message) as one:
            _read(path, tmp_path / "one")
        with pytest.raises(CorpusError, match=message) as par:
            _read(path, tmp_path / "par", pools[2])
        assert str(par.value) == str(one.value)
        assert not [f for f in os.listdir(tmp_path / "par") if f.startswith("read.")]
    assert len(spy) == 1


def test_progress_counts_every_byte(pools, spy, tmp_path, monkeypatch):
    from nlm.progress import Progress
    bars = []

    def progress(path, desc, enabled):
        bars.append(Progress(desc, total=os.path.getsize(path), enabled=False))
        return bars[-1]
    monkeypatch.setattr(read, "file_progress", progress)
    path = _file(tmp_path, TEXTS["BOM at the cut"].encode("utf-8"))
    d = tmp_path / "d"
    d.mkdir()
    _, corpus = read.read_to_disk(path, str(d), 5, pool=pools[3], parallel_bytes=0,
                                  progress=True)
    assert len(spy) == 1
    assert bars[0].done == os.path.getsize(path)
    # the rate counts tokens with the line-end marks of blank lines (not kept)
    assert bars[0].rate_done >= corpus.tokens


def _fail_in_range_one(path, start, *args):
    if start > 0:
        raise OSError(28, "No space left on device")
    return REAL_TOKENIZE_RANGE(path, start, *args)


REAL_TOKENIZE_RANGE = read.tokenize_range


def _read_with_a_fault(tmp_path, monkeypatch, fault, error, match):
    """Read with two workers, the second range's worker hit by ``fault``: ``error`` is
    raised (no hang); returns the pool, still open."""
    monkeypatch.setattr(read, "tokenize_range", fault)
    pool = ProcessRunner(2)
    try:
        path = _file(tmp_path, TEXTS["halves"].encode("utf-8"))
        d = tmp_path / "d"
        d.mkdir()
        with pytest.raises(error, match=match):
            read.read_to_disk(path, str(d), 5, pool=pool, parallel_bytes=0)
    except BaseException:
        pool.close()
        raise
    return pool


def test_a_failing_worker_stops_the_reading(tmp_path, monkeypatch):
    pool = _read_with_a_fault(tmp_path, monkeypatch, _fail_in_range_one, OSError, "No space")
    try:
        assert pool.map(divmod, [(7, 2)]) == [(3, 1)]     # the pool still works
    finally:
        pool.close()


TINY = Plan(1 << 20, chunk_tokens=300, partition_windows=200, bucket_ngrams=150)


@pytest.mark.filterwarnings("ignore::nlm.ngram.estimate.discount.DiscountWarning")
def test_worker_processes_read_and_give_the_same_files(tmp_path, monkeypatch, spy):
    """End to end: the pipeline with two workers reads in parallel, and its model file,
    binary model and ARPA file are those of one process."""
    import nlm
    from nlm.modelfile import load
    text = TEXTS["no final newline"] * 3
    path = _file(tmp_path, text.encode("utf-8"))
    monkeypatch.setattr(read, "PARALLEL_BYTES", 0)
    files = {}
    for workers in (1, 2):
        d = tmp_path / f"w{workers}"
        d.mkdir()
        outs = {"output": d / "m.npz", "binary": d / "m.nlmbin", "arpa": d / "m.arpa"}
        pipeline.estimate(path, "mkn", {"order": 4}, budget=1 << 20, temp_dir=d, plan=TINY,
                          workers=workers, **outs)
        assert sorted(os.listdir(d)) == ["m.arpa", "m.nlmbin", "m.npz"]
        files[workers] = {k: p.read_bytes() for k, p in outs.items()}
    assert len(spy) == 1           # the run with two workers only
    assert files[1] == files[2]
    got, want = load(tmp_path / "w2" / "m.npz"), nlm.train(path, "mkn", order=4)
    assert got.vocab.words == want.vocab.words
    for k in range(4):
        np.testing.assert_array_equal(got.tables.keys[k], want.tables.keys[k])
        np.testing.assert_array_equal(got.logprobs[k], want.logprobs[k])


def _die_in_range_one(path, start, *args):
    if start > 0:
        os._exit(1)         # as if killed
    return REAL_TOKENIZE_RANGE(path, start, *args)


def test_a_killed_worker_is_an_error_not_a_hang(tmp_path, monkeypatch):
    from nlm.errors import NlmError
    _read_with_a_fault(tmp_path, monkeypatch, _die_in_range_one, NlmError,
                       "worker process reading the text stopped").close()
