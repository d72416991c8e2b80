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
from nlm.files import atomic_output, check_writable, map_npz, read_npz, write_npz

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


def test_memory_mapped_members_are_checked_like_np_load_checks_them(tmp_path):
    """A flipped bit in a stored member's data (the lowest bit of a float here, which
    no range check could see) is refused by the memory-mapping reader too."""
    arrays = {"a": np.arange(40, dtype=np.float64) / 7, "b": np.arange(5, dtype=np.int32)}
    path = tmp_path / "m.npz"
    write_npz(path, {"format_version": 1}, arrays, "__head__")
    mapped = map_npz(str(path))
    np.testing.assert_array_equal(mapped["a"], arrays["a"])
    np.testing.assert_array_equal(mapped["b"], arrays["b"])
    del mapped
    raw = bytearray(path.read_bytes())
    at = raw.index(arrays["a"][9].tobytes())
    raw[at] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"damaged zip member a\.npy \(crc32\)"):
        map_npz(str(path))


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


# -- write failures: disk full, permissions, killed writers ------------------------------
class FailingFile:
    """A file object whose writes fail with ``error`` once ``after`` bytes were written
    (a disk that fills up part-way through)."""

    def __init__(self, f, after: int, error: OSError):
        self._f, self._left, self._error = f, after, error

    def write(self, data):
        if len(data) > self._left:
            self._f.write(bytes(data[:self._left]) if isinstance(data, (bytes, bytearray, memoryview))
                          else data[:self._left])
            self._left = 0
            raise self._error
        self._left -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def fail_writes(monkeypatch, after: int = 100, errno: int = 28):
    """Make every atomic output fail after ``after`` bytes (errno 28: disk full)."""
    real = os.fdopen
    error = OSError(errno, os.strerror(errno))
    monkeypatch.setattr("nlm.files.os.fdopen",
                        lambda fd, mode="r", *a, **k: FailingFile(real(fd, mode, *a, **k),
                                                                  after, error))


def temp_files(d):
    return sorted(p.name for p in Path(d).iterdir() if p.name.startswith(".nlm-"))


@pytest.mark.parametrize("errno, words", [(28, "No space left on device"),
                                          (13, "Permission denied"),
                                          (30, "Read-only file system")])
def test_a_failed_write_is_one_error_naming_the_file_and_keeps_the_old_one(
        tmp_path, monkeypatch, errno, words):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    fail_writes(monkeypatch, after=2, errno=errno)
    with pytest.raises(NlmError) as err:
        with atomic_output(target) as f:
            f.write(b"new contents")
    assert str(err.value) == f"{target}: cannot write ({words}); the previous file is left as it was"
    assert target.read_bytes() == b"old"
    assert temp_files(tmp_path) == []


def test_a_failed_write_of_a_new_file_leaves_nothing(tmp_path, monkeypatch):
    fail_writes(monkeypatch, after=0)
    with pytest.raises(NlmError, match="nothing was written"):
        write_npz(tmp_path / "new.npz", {"a": 1}, {"x": np.arange(1000)}, "__h__")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_is_one_error(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def replace(src, dst):
        raise OSError(13, "Permission denied")
    monkeypatch.setattr("nlm.files.os.replace", replace)
    with pytest.raises(NlmError, match="cannot write .Permission denied"):
        with atomic_output(target) as f:
            f.write(b"new")
    assert target.read_bytes() == b"old" and temp_files(tmp_path) == []


def test_a_directory_that_cannot_hold_a_temp_file_is_one_error(tmp_path, monkeypatch):
    def mkstemp(**kw):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr("nlm.files.tempfile.mkstemp", mkstemp)
    with pytest.raises(NlmError, match=r"out.bin: cannot write \(Read-only file system\)"):
        with atomic_output(tmp_path / "out.bin") as f:
            f.write(b"x")


def test_temp_files_are_named_after_their_writer(tmp_path):
    with atomic_output(tmp_path / "out.bin") as f:
        assert temp_files(tmp_path) and all(
            name.startswith(f".nlm-{os.getpid()}-") for name in temp_files(tmp_path))
        f.write(b"x")
    assert temp_files(tmp_path) == []


def test_stale_temp_files_of_dead_writers_are_removed_by_the_next_writer(tmp_path):
    dead = tmp_path / ".nlm-999999999-abc123.tmp"    # above any pid_max: never alive
    alive = tmp_path / f".nlm-{os.getppid()}-def456.tmp"
    other = tmp_path / ".nlm-notapid.tmp"
    for p in (dead, alive, other):
        p.write_bytes(b"partial")
    with atomic_output(tmp_path / "out.bin") as f:
        f.write(b"x")
    assert not dead.exists()
    assert alive.exists() and other.exists()      # a live writer's, and not ours to judge


def test_a_temp_file_left_by_sigkill_is_removed_by_the_next_run(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    code = ("import sys, time\nfrom nlm.files import atomic_output\n"
            "with atomic_output(sys.argv[1]) as f:\n"
            "    f.write(b'partial'); f.flush(); print('writing', flush=True); time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "m.npz")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        left = temp_files(tmp_path)
        assert left == [n for n in left if n.startswith(f".nlm-{child.pid}-")] and len(left) == 1
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert temp_files(tmp_path) == left and not (tmp_path / "m.npz").exists()
    time.sleep(0.01)
    write_npz(tmp_path / "other.npz", {}, {"x": np.arange(2)}, "__h__")
    assert temp_files(tmp_path) == []


def test_a_training_log_that_cannot_be_written_is_one_error(tmp_path):
    from nlm.neural.checkpoint import TrainingLog
    log = TrainingLog(tmp_path / "log.jsonl", append=False)
    log._f = FailingFile(log._f, after=0, error=OSError(28, os.strerror(28)))
    with pytest.raises(NlmError, match=r"log.jsonl: cannot write the training log "
                                       r"\(No space left on device\)"):
        log.write("start", x=1)
    log.close()   # nothing left open, no second error


def test_an_npz_writer_dropped_mid_write_complains_to_no_one(tmp_path, monkeypatch):
    """A signal between NpzWriter() and its ``with`` block (or while an error unwinds)
    leaves a writer whose file is closed: collecting it must not try to finish the
    archive (ZipFile.__del__ printed "Exception ignored ... Traceback" after the error)."""
    import gc
    from nlm.files import NpzWriter
    unraisable = []
    monkeypatch.setattr("sys.unraisablehook", unraisable.append)
    f = open(tmp_path / "half.npz", "wb")
    w = NpzWriter(f)
    w.begin("a", np.float64, 10)
    w.write(np.zeros(4))
    f.close()
    del w
    gc.collect()
    assert unraisable == []
