"""Bad inputs to every command: each case exits non-zero with exactly one ``Error:`` line,
no traceback, no temporary file, and every file that existed before byte for byte as it
was. Then fuzzing: the model-file and ARPA readers, given damaged files, either read them
or raise ModelFileError, never anything else."""
from __future__ import annotations

import gzip
import io
import shutil
import zipfile

import numpy as np
import pytest
from conftest import TINY_TEXT, assert_one_line_error, run
from hypothesis import HealthCheck, given, settings, strategies as st

from nlm.errors import ModelFileError
from nlm.modelfile import load
from nlm.ngram.arpa import read_arpa

TRAIN = "\n".join(TINY_TEXT) + "\n"
RNN = ["--model", "rnn", "--emb", "4", "--hidden", "4", "--epochs", "1", "-q"]


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    """A directory of good files (texts, an n-gram model, its ARPA file, an RNN and its
    checkpoint, a training log) and damaged ones of every kind."""
    from click.testing import CliRunner
    d = tmp_path_factory.mktemp("bad")
    runner = CliRunner()
    (d / "train.txt").write_text(TRAIN)
    (d / "valid.txt").write_text("the cat sat\na dog saw the mat\n")
    run(runner, ["train", d / "train.txt", "--model", "kn", "--order", 2, "-q", "-o", d / "m.npz"])
    run(runner, ["export-arpa", d / "m.npz", d / "m.arpa"])
    run(runner, ["train", d / "train.txt", *RNN, "--train-log", d / "log.jsonl",
                 "--keep-checkpoint", "-o", d / "r.npz"])
    good = (d / "m.npz").read_bytes()
    arpa = (d / "m.arpa").read_text()
    (d / "truncated.npz").write_bytes(good[: len(good) // 2])
    middle = len(good) // 2
    (d / "corrupt.npz").write_bytes(good[:middle] + bytes(b ^ 0xFF for b in good[middle:middle + 64])
                                    + good[middle + 64:])
    np.savez(d / "foreign.npz", weights=np.ones(3))
    (d / "empty.npz").write_bytes(b"")
    (d / "empty.txt").write_text("\n \n")
    (d / "crlf.npz").write_bytes(TRAIN.replace("\n", "\r\n").encode())
    (d / "bom.npz").write_bytes(b"\xef\xbb\xbf" + TRAIN.encode())
    (d / "nul.npz").write_bytes(b"\x00" * 300)
    (d / "nul.txt").write_bytes(b"\x00\x00\n\x00\n")
    (d / "huge.arpa").write_text("a " * 500_000 + "\n")
    (d / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    (d / "adir").mkdir()
    (d / "nodata.arpa").write_text(arpa.replace("\\data\\", "\\info\\"))
    (d / "counts.arpa").write_text(arpa.replace("ngram 1=", "ngram 1=9"))
    (d / "noend.arpa").write_text(arpa.replace("\\end\\", ""))
    (d / "bom-crlf.arpa").write_bytes(b"\xef\xbb\xbf" + arpa.replace("ngram 2=", "ngram 2=x")
                                      .replace("\n", "\r\n").encode())
    packed = gzip.compress(arpa.encode())
    (d / "truncated.arpa.gz").write_bytes(packed[: len(packed) // 2])
    (d / "bad.jsonl").write_text('{"words": 1, "train_ppl": 3}\nnot json\n')
    (d / "cut.gz").write_bytes(gzip.compress(TRAIN.encode() * 50)[:60])
    return d


def snapshot(d):
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# (arguments, {d} is the directory; stdin or None; a phrase the error must contain)
CASES = {
    # train
    "train: missing text": (["train", "{d}/missing.txt", "-o", "{d}/o.npz"], None, "no such file"),
    "train: a directory": (["train", "{d}/adir", "-o", "{d}/o.npz"], None, "is a directory"),
    "train: not UTF-8": (["train", "{d}/latin1.txt", "-o", "{d}/o.npz"], None, "not valid UTF-8"),
    "train: blank lines only": (["train", "{d}/empty.txt", "-o", "{d}/o.npz"], None,
                                "empty corpus"),
    "train: truncated gzip": (["train", "{d}/cut.gz", "-o", "{d}/o.npz"], None,
                              "corrupt or truncated gzip data"),
    "train: empty stdin": (["train", "-", "-o", "{d}/o.npz"], b"", "standard input: empty"),
    "train: binary stdin": (["train", "-", "-o", "{d}/o.npz"], b"\xff\xfe\x00", "not valid UTF-8"),
    "train: valid not UTF-8": (["train", "{d}/train.txt", "--valid", "{d}/latin1.txt", "-o",
                                "{d}/o.npz"], None, "not valid UTF-8"),
    "train: valid a directory": (["train", "{d}/train.txt", "--valid", "{d}/adir", "-o",
                                  "{d}/o.npz"], None, "is a directory"),
    "train: -o a directory": (["train", "{d}/train.txt", "-o", "{d}/adir"], None,
                              "is a directory"),
    "train: -o in no directory": (["train", "{d}/train.txt", "-o", "{d}/no/o.npz"], None,
                                  "does not exist"),
    "train: -o the model it would replace is its text": (
        ["train", "{d}/m.npz", "-o", "{d}/m.npz"], None, "would overwrite"),
    "train: resume from a corrupt checkpoint": (
        ["train", "{d}/train.txt", *RNN, "--resume", "--checkpoint", "{d}/corrupt.npz", "-o",
         "{d}/o.npz"], None, "corrupt.npz"),
    "train: resume from a model file": (
        ["train", "{d}/train.txt", *RNN, "--resume", "--checkpoint", "{d}/m.npz", "-o",
         "{d}/o.npz"], None, "not an nlm checkpoint"),
    "train: bad option value": (["train", "{d}/train.txt", "--order", "0", "-o", "{d}/o.npz"],
                                None, "order must be at least 1"),
    # evaluate
    "evaluate: truncated npz": (["evaluate", "{d}/truncated.npz", "{d}/valid.txt"], None,
                                "truncated or corrupt"),
    "evaluate: corrupt npz": (["evaluate", "{d}/corrupt.npz", "{d}/valid.txt"], None,
                              "corrupt.npz"),
    "evaluate: foreign npz": (["evaluate", "{d}/foreign.npz", "{d}/valid.txt"], None,
                              "not an nlm model file"),
    "evaluate: empty model file": (["evaluate", "{d}/empty.npz", "{d}/valid.txt"], None,
                                   "not an nlm model file"),
    "evaluate: CRLF text as model": (["evaluate", "{d}/crlf.npz", "{d}/valid.txt"], None,
                                     "not an nlm model file"),
    "evaluate: BOM text as model": (["evaluate", "{d}/bom.npz", "{d}/valid.txt"], None,
                                    "not an nlm model file"),
    "evaluate: NUL bytes as model": (["evaluate", "{d}/nul.npz", "{d}/valid.txt"], None,
                                     "not an nlm model file"),
    "evaluate: a huge line as ARPA": (["evaluate", "{d}/huge.arpa", "{d}/valid.txt"], None,
                                      "expected \\data\\"),
    "evaluate: ARPA without \\data\\": (["evaluate", "{d}/nodata.arpa", "{d}/valid.txt"], None,
                                       "nodata.arpa: line 3: expected"),
    "evaluate: ARPA with wrong counts": (["evaluate", "{d}/counts.arpa", "{d}/valid.txt"], None,
                                         "but the header says"),
    "evaluate: ARPA without \\end\\": (["evaluate", "{d}/noend.arpa", "{d}/valid.txt"], None,
                                      "without \\end\\"),
    "evaluate: ARPA with BOM, CRLF and a bad count": (
        ["evaluate", "{d}/bom-crlf.arpa", "{d}/valid.txt"], None, "ngram N=COUNT"),
    "evaluate: truncated ARPA gzip": (["evaluate", "{d}/truncated.arpa.gz", "{d}/valid.txt"],
                                      None, "truncated"),
    "evaluate: a checkpoint as model": (["evaluate", "{d}/r.ckpt.npz", "{d}/valid.txt"], None,
                                        "is a training checkpoint"),
    "evaluate: text not UTF-8": (["evaluate", "{d}/m.npz", "{d}/latin1.txt"], None,
                                 "not valid UTF-8"),
    "evaluate: text blank": (["evaluate", "{d}/m.npz", "{d}/empty.txt"], None, "empty corpus"),
    "evaluate: text a directory": (["evaluate", "{d}/m.npz", "{d}/adir"], None,
                                   "is a directory"),
    "evaluate: model a directory": (["evaluate", "{d}/adir", "{d}/valid.txt"], None,
                                    "is a directory"),
    # score
    "score: missing model": (["score", "{d}/missing.npz", "a b"], None, "no such file"),
    "score: corrupt model": (["score", "{d}/corrupt.npz", "a b"], None, "corrupt.npz"),
    "score: stdin not UTF-8": (["score", "{d}/m.npz"], b"caf\xe9\n", "not valid UTF-8"),
    # generate
    "generate: foreign npz": (["generate", "{d}/foreign.npz"], None, "not an nlm model file"),
    "generate: negative seed": (["generate", "{d}/m.npz", "--seed", "-3"], None, "seed"),
    "generate: model a directory": (["generate", "{d}/adir"], None, "is a directory"),
    # info
    "info: missing": (["info", "{d}/missing.npz"], None, "no such file"),
    "info: empty file": (["info", "{d}/empty.npz"], None, "not an nlm model file"),
    "info: bad ARPA": (["info", "{d}/counts.arpa"], None, "but the header says"),
    "info: NUL bytes": (["info", "{d}/nul.npz"], None, "not an nlm model file"),
    # export-arpa
    "export-arpa: truncated model": (["export-arpa", "{d}/truncated.npz", "{d}/o.arpa"], None,
                                     "truncated or corrupt"),
    "export-arpa: a neural model": (["export-arpa", "{d}/r.npz", "{d}/o.arpa"], None,
                                    "cannot be written as ARPA"),
    "export-arpa: onto a directory": (["export-arpa", "{d}/m.npz", "{d}/adir"], None,
                                      "is a directory"),
    "export-arpa: into no directory": (["export-arpa", "{d}/m.npz", "{d}/no/o.arpa"], None,
                                       "does not exist"),
    "export-arpa: onto its model": (["export-arpa", "{d}/m.npz", "{d}/m.npz"], None,
                                    "would overwrite"),
    # vocab
    "vocab: truncated model": (["vocab", "{d}/truncated.npz"], None, "truncated or corrupt"),
    "vocab: foreign npz": (["vocab", "{d}/foreign.npz"], None, "not an nlm model file"),
    # build-binary
    "build-binary: truncated model": (["build-binary", "{d}/truncated.npz", "{d}/o.nlmbin"],
                                      None, "truncated or corrupt"),
    "build-binary: a neural model": (["build-binary", "{d}/r.npz", "{d}/o.nlmbin"], None,
                                     "only backoff and interpolated n-gram models"),
    "build-binary: bad ARPA": (["build-binary", "{d}/counts.arpa", "{d}/o.nlmbin"], None,
                               "but the header says"),
    "build-binary: onto its model": (["build-binary", "{d}/m.npz", "{d}/m.npz"], None,
                                     "would overwrite"),
    "build-binary: into no directory": (["build-binary", "{d}/m.npz", "{d}/no/o.nlmbin"], None,
                                        "does not exist"),
    # mix
    "mix: a corrupt component": (["mix", "--valid", "{d}/valid.txt", "{d}/m.npz",
                                  "{d}/corrupt.npz", "-o", "{d}/o.npz"], None, "corrupt.npz"),
    "mix: valid not UTF-8": (["mix", "--valid", "{d}/latin1.txt", "{d}/m.npz", "{d}/m.npz",
                              "-o", "{d}/o.npz"], None, "not valid UTF-8"),
    "mix: bad weights": (["mix", "--weights", "a,b", "{d}/m.npz", "{d}/m.npz", "-o",
                          "{d}/o.npz"], None, "comma-separated numbers"),
    "mix: a checkpoint component": (["mix", "--weights", "0.5,0.5", "{d}/m.npz",
                                     "{d}/r.ckpt.npz", "-o", "{d}/o.npz"], None,
                                    "is a training checkpoint"),
    # compare
    "compare: missing text": (["compare", "{d}/missing.txt", "{d}/m.npz"], None, "no such file"),
    "compare: truncated model": (["compare", "{d}/valid.txt", "{d}/truncated.npz"], None,
                                 "truncated or corrupt"),
    "compare: text not UTF-8": (["compare", "{d}/latin1.txt", "{d}/m.npz"], None,
                                "not valid UTF-8"),
    # plot
    "plot: missing log": (["plot", "{d}/missing.jsonl", "-o", "{d}/o.png"], None, "no such file"),
    "plot: not JSON": (["plot", "{d}/bad.jsonl", "-o", "{d}/o.png"], None, "line 2 is not JSON"),
    "plot: NUL bytes": (["plot", "{d}/nul.txt", "-o", "{d}/o.png"], None, "not JSON"),
    "plot: a huge line": (["plot", "{d}/huge.arpa", "-o", "{d}/o.png"], None, "not JSON"),
    "plot: not UTF-8": (["plot", "{d}/latin1.txt", "-o", "{d}/o.png"], None, "UTF-8"),
    "plot: a directory": (["plot", "{d}/adir", "-o", "{d}/o.png"], None, "is a directory"),
}


def test_the_matrix_covers_every_command():
    from nlm.cli import main
    assert len(CASES) >= 40
    assert {args[0] for args, _, _ in CASES.values()} == set(main.commands)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(d, runner, name):
    args, stdin, needle = CASES[name]
    if args[0] == "plot":
        pytest.importorskip("matplotlib")
    before = snapshot(d)
    r = run(runner, [a.format(d=d) for a in args], ok=False, input=stdin)
    assert_one_line_error(r, needle)
    assert sum(line.startswith("Error:") for line in r.output.splitlines()) == 1, r.output
    assert snapshot(d) == before, "a file was changed, removed or left behind"


# -- fuzzing the readers --------------------------------------------------------------------
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _reads_or_refuses(path):
    try:
        load(path)
    except ModelFileError:
        pass


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_are_refused_cleanly(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "f.npz"
    path.write_bytes(data)
    _reads_or_refuses(path)


@FUZZ
@given(data=st.data())
def test_mutated_model_files_are_read_or_refused(d, tmp_path_factory, data):
    """Random byte flips, cuts and insertions in a valid model file, and in the JSON
    header inside it."""
    good = bytearray((d / "m.npz").read_bytes())
    how = data.draw(st.sampled_from(["flip", "cut", "insert", "header"]))
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            good[data.draw(st.integers(0, len(good) - 1))] ^= data.draw(st.integers(1, 255))
        out = bytes(good)
    elif how == "cut":
        out = bytes(good[:data.draw(st.integers(0, len(good) - 1))])
    elif how == "insert":
        at = data.draw(st.integers(0, len(good)))
        out = bytes(good[:at]) + data.draw(st.binary(min_size=1, max_size=40)) + bytes(good[at:])
    else:   # a header of random JSON, or with random text spliced in
        with zipfile.ZipFile(io.BytesIO(bytes(good))) as z:
            members = {n: z.read(n) for n in z.namelist()}
        header = np.load(io.BytesIO(members["__nlm__.npy"]))
        text = header.tobytes().decode()
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(st.text(max_size=20)) + text[at + data.draw(st.integers(0, 30)):]
        buf = io.BytesIO()
        np.save(buf, np.frombuffer(text.encode(), dtype=np.uint8))
        members["__nlm__.npy"] = buf.getvalue()
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w") as z:
            for n, b in members.items():
                z.writestr(n, b)
        out = packed.getvalue()
    path = tmp_path_factory.mktemp("fuzz") / "f.npz"
    path.write_bytes(out)
    _reads_or_refuses(path)


@FUZZ
@given(data=st.data())
def test_mutated_arpa_files_are_read_or_refused(d, tmp_path_factory, data):
    lines = (d / "m.arpa").read_text().splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        how = data.draw(st.sampled_from(["drop", "duplicate", "replace", "splice"]))
        if how == "drop":
            del lines[i]
        elif how == "duplicate":
            lines.insert(i, lines[i])
        elif how == "replace":
            lines[i] = data.draw(st.text(max_size=30))
        else:
            at = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + data.draw(st.text(max_size=8)) + lines[i][at:]
        if not lines:
            break
    path = tmp_path_factory.mktemp("fuzz") / "f.arpa"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
    try:
        read_arpa(path)
    except ModelFileError:
        pass


def test_the_fixture_files_are_what_they_claim(d):
    """The good files read, so that every case above fails for its own reason."""
    assert load(d / "m.npz").order == 2 and load(d / "m.arpa").order == 2
    assert (d / "r.ckpt.npz").exists()
    shutil.copy(d / "m.npz", d / "adir" / "copy.npz")
    assert load(d / "adir" / "copy.npz").order == 2
    (d / "adir" / "copy.npz").unlink()
