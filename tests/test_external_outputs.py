"""Out-of-core estimation's compact spill files and direct outputs: the codec, the
.nlmbin written straight from the partitions (byte for byte nlm build-binary's file
of the in-memory model), ARPA and .arpa.gz without a model file, outputs all or none,
and the disk check that refuses a run which would not fit."""
from __future__ import annotations

import gzip
import os
import shutil
import zlib

import numpy as np
import pytest

import nlm
from nlm.errors import OptionError
from nlm.ngram import binary_stream
from nlm.ngram.arpa import write_arpa
from nlm.ngram.binary import write_binary
from nlm.ngram.external import budget, codec, pipeline
from nlm.ngram.external.budget import Plan

from conftest import MORE_TEXT, assert_one_line_error, run

TINY = Plan(1 << 20, chunk_tokens=300, partition_windows=200, bucket_ngrams=150)


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(50)] + ["the", "a"]
    lines = [" ".join(rng.choice(words, size=rng.integers(1, 12))) for _ in range(300)]
    path = tmp_path_factory.mktemp("texts") / "more.txt"
    path.write_text("\n".join(lines + MORE_TEXT * 5) + "\n", encoding="utf-8")
    return path


def test_codec_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    path = str(tmp_path / "f")
    a32 = rng.integers(-2 ** 31, 2 ** 31 - 1, size=(500, 6)).astype(np.int32)
    codec.append(path, a32, delta=4)
    codec.append(path, a32[:3], delta=4)
    codec.append(path, a32[:0], delta=4)            # nothing written
    np.testing.assert_array_equal(codec.load(path, np.int32, 6, delta=4),
                                  np.concatenate([a32, a32[:3]]))
    a64 = rng.integers(-2 ** 62, 2 ** 62, size=1000)
    codec.append(str(tmp_path / "g"), a64)
    np.testing.assert_array_equal(codec.load(str(tmp_path / "g"), np.int64), a64)
    assert codec.load(str(tmp_path / "missing"), np.int32, 3).shape == (0, 3)
    # sorted rows of small ids take about a byte a column, against 4 raw
    rows = np.sort(rng.integers(0, 100, size=(10000, 4)).astype(np.int32), axis=0)
    assert len(codec.encode(rows)) < 0.3 * rows.nbytes


def test_crc32_combine():
    rng = np.random.default_rng(1)
    for n1, n2 in [(0, 5), (7, 0), (100, 1), (3, 4096), (1000, 77777)]:
        a, b = rng.bytes(n1), rng.bytes(n2)
        assert binary_stream.crc32_combine(zlib.crc32(a), zlib.crc32(b), n2) == \
            zlib.crc32(a + b)


@pytest.mark.filterwarnings("ignore::nlm.ngram.estimate.discount.DiscountWarning")
@pytest.mark.parametrize("model", ["mkn", "kn", "witten-bell", "absolute", "mle", "stupid"])
def test_direct_binary_is_build_binarys_file(text, tmp_path, model):
    """The .nlmbin straight from the partitions is byte for byte write_binary's file of
    the in-memory model (which is bit for bit the out-of-core model)."""
    for order in (1, 2, 3, 5):
        d = tmp_path / str(order)
        d.mkdir()
        pipeline.estimate(text, model, {"order": order}, output=None, budget=1 << 20,
                          temp_dir=d, binary=d / "ooc.nlmbin", plan=TINY)
        assert os.listdir(d) == ["ooc.nlmbin"]              # no model file, no spill left
        write_binary(nlm.train(text, model, order=order), d / "mem.nlmbin")
        assert (d / "ooc.nlmbin").read_bytes() == (d / "mem.nlmbin").read_bytes()


def test_binary_header_a_page_shorter(text, tmp_path, monkeypatch):
    """When the header comes out shorter than the room left for it, the data moves up."""
    start = binary_stream.BinaryWriter._start
    monkeypatch.setattr(binary_stream.BinaryWriter, "_start",
                        lambda self: start(self) + binary_stream.PAGE)
    pipeline.estimate(text, "mkn", {"order": 3}, output=None, budget=1 << 20,
                      temp_dir=tmp_path, binary=tmp_path / "ooc.nlmbin", plan=TINY)
    write_binary(nlm.train(text, "mkn", order=3), tmp_path / "mem.nlmbin")
    assert (tmp_path / "ooc.nlmbin").read_bytes() == (tmp_path / "mem.nlmbin").read_bytes()


SHAKESPEARE = os.path.join(os.path.dirname(__file__), "..", "corpora", "shakespeare",
                           "train.txt")


def test_cli_binary_and_gzip_arpa_without_model_file(runner, tmp_path):
    """One command, the outputs asked for and nothing else; the same bytes as the
    in-memory path's (the .arpa.gz's text, and its gzip stream: mtime 0)."""
    spills = tmp_path / "spill"
    spills.mkdir()
    r = run(runner, ["train", SHAKESPEARE, "--order", 3, "--memory", "16M", "--temp-dir",
                     spills, "--binary", tmp_path / "o.nlmbin", "--arpa", tmp_path / "o.arpa.gz"])
    assert "estimation: out-of-core" in r.output
    assert "-> " + str(tmp_path / "o.nlmbin") in r.output
    assert sorted(os.listdir(tmp_path)) == ["o.arpa.gz", "o.nlmbin", "spill"]
    assert os.listdir(spills) == []
    mem = tmp_path / "mem"
    mem.mkdir()
    r = run(runner, ["train", SHAKESPEARE, "--order", 3, "--memory", "4G", "--binary",
                     mem / "o.nlmbin", "--arpa", mem / "o.arpa.gz"])
    assert "estimation: in memory" in r.output
    assert sorted(os.listdir(mem)) == ["o.arpa.gz", "o.nlmbin"]
    for name in ("o.nlmbin", "o.arpa.gz"):
        assert (tmp_path / name).read_bytes() == (mem / name).read_bytes(), name
    write_arpa(nlm.train(SHAKESPEARE, "mkn", order=3), tmp_path / "ref.arpa")
    assert gzip.decompress((tmp_path / "o.arpa.gz").read_bytes()) == \
        (tmp_path / "ref.arpa").read_bytes()
    run(runner, ["train", SHAKESPEARE, "--order", 3, "--arpa", tmp_path / "only.arpa",
                 "--memory", "16M", "--temp-dir", spills])
    assert (tmp_path / "only.arpa").read_bytes() == (tmp_path / "ref.arpa").read_bytes()
    r = run(runner, ["train", SHAKESPEARE, "--order", 3], ok=False)
    assert r.exit_code != 0 and "--output" in r.output and "--binary" in r.output


def test_failed_run_leaves_no_output(text, tmp_path, monkeypatch):
    def boom(self):
        raise RuntimeError("stop")
    monkeypatch.setattr(binary_stream.BinaryWriter, "close", boom)
    (tmp_path / "o.nlmbin").write_bytes(b"old")
    with pytest.raises(RuntimeError):
        pipeline.estimate(text, "mkn", {"order": 3}, output=None, budget=1 << 20,
                          temp_dir=tmp_path, binary=tmp_path / "o.nlmbin",
                          arpa=tmp_path / "o.arpa", plan=TINY)
    assert os.listdir(tmp_path) == ["o.nlmbin"]
    assert (tmp_path / "o.nlmbin").read_bytes() == b"old"


def test_disk_prediction():
    outputs = {"temp": "/", "binary model": "/x.nlmbin", "compressed ARPA file": "/x.arpa.gz"}
    # one file system: temporary files 8 + 8 x 4 = 40 bytes a token, outputs 7 x 4 + 6 x 4,
    # as measured at 10M tokens (and taken for smaller corpora)
    for tokens in (10 ** 5, 10 ** 7):
        (what, where, need, free), = budget.disk_needed(tokens, 5, outputs)
        assert (what, where) == ("temp", "/")
        assert need == 52 * tokens + 40 * tokens // 4
        assert free == shutil.disk_usage("/").free
    # 100 times larger: 100 ** -0.15 = 0.50 times the bytes a token
    (_, _, need, _), = budget.disk_needed(10 ** 9, 5, outputs)
    assert need == pytest.approx((52 + 40 / 4) * 10 ** 9 * 0.5012, rel=1e-3)


def test_refused_when_the_disk_is_too_small(runner, text, tmp_path, monkeypatch):
    real = shutil.disk_usage

    def small(path):
        return real(path)._replace(free=10_000)
    monkeypatch.setattr(shutil, "disk_usage", small)
    spills = tmp_path / "spill"
    spills.mkdir()
    r = run(runner, ["train", SHAKESPEARE, "--order", 5, "--memory", "16M", "--temp-dir",
                     spills, "--binary", tmp_path / "o.nlmbin"], ok=False)
    assert_one_line_error(r, str(spills), "not enough free disk", "9.8K is free")
    assert sorted(os.listdir(tmp_path)) == ["spill"] and os.listdir(spills) == []
    with pytest.raises(OptionError, match="not enough free disk"):
        budget.check_disk(text, 5, {"temp": str(spills)})
    monkeypatch.setattr(shutil, "disk_usage", real)
    budget.check_disk(text, 5, {"temp": str(spills)})    # fits: nothing raised
