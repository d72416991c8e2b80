"""nlm.files (atomic output, the npz + JSON container) and model files written by
earlier versions of nlm."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import nlm
from nlm.corpus import read_corpus
from nlm.errors import ModelFileError, NlmError
from nlm.files import atomic_output, check_writable, read_npz, write_npz

FORMAT1 = Path(__file__).parent / "data" / "format1"


def test_atomic_output_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as f:
            f.write(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]   # no temp file left
    with atomic_output(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"


def test_check_writable(tmp_path):
    with pytest.raises(NlmError, match="is a directory"):
        check_writable(tmp_path)
    with pytest.raises(NlmError, match="does not exist"):
        check_writable(tmp_path / "nope" / "x.npz")
    check_writable(tmp_path / "fine.npz")


def test_npz_container_round_trip_and_errors(tmp_path):
    path = tmp_path / "c.npz"
    write_npz(path, {"a": [1, 2]}, {"x": np.arange(3)}, "__h__")
    header, arrays = read_npz(path, "__h__", "thing")
    assert header == {"a": [1, 2]}
    assert list(arrays) == ["x"] and arrays["x"].tolist() == [0, 1, 2]
    with pytest.raises(NlmError, match="no nlm header"):
        read_npz(path, "__other__", "thing")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        read_npz(tmp_path / "bad.npz", "__h__", "thing", ModelFileError)
    with pytest.raises(NlmError, match="no such file"):
        read_npz(tmp_path / "missing.npz", "__h__", "thing")


EXPECTED = json.loads((FORMAT1 / "expected.json").read_text()) if FORMAT1.exists() else {}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_model_files_written_before_the_registry_load_and_score_identically(name):
    """tests/data/format1 was written by nlm at commit 8aa2f8a (before the model
    registry and file formats moved): every kind still loads and scores as it did."""
    model = nlm.load(FORMAT1 / name)
    corpus = read_corpus(FORMAT1 / "test.txt", model.vocab)
    lp = model.score_corpus(corpus.ids, corpus.offsets)
    want = EXPECTED[name]
    assert float(lp.sum()) == pytest.approx(want["sum"], rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(lp[:20], want["first"], rtol=1e-12, atol=1e-12)


def test_a_mixture_file_refers_to_its_components_relative_to_itself(tmp_path):
    for name in ("mkn3.npz", "rnn.npz", "mix.npz"):
        (tmp_path / name).write_bytes((FORMAT1 / name).read_bytes())
    moved = nlm.load(tmp_path / "mix.npz")
    assert [os.path.basename(p) for p in moved.paths] == ["mkn3.npz", "rnn.npz"]
    assert all(str(tmp_path) in p for p in moved.paths)
    nlm.save(moved, tmp_path / "again.npz")
    header, _ = nlm.modelfile.read_header(tmp_path / "again.npz")
    assert header["config"]["components"] == ["mkn3.npz", "rnn.npz"]
