"""The nlm command line end to end, and every bad input giving a one-line error."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from conftest import TINY_TEXT, assert_one_line_error, run

from nlm import __version__
from nlm.cli import main
from nlm.modelfile import FORMAT_VERSION, HEADER

TRAIN = "\n".join(TINY_TEXT[:3]) + "\n"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "train.txt").write_text(TRAIN, encoding="utf-8")
    (tmp_path / "test.txt").write_text("the cat sat\na zebra sat on the mat\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    return tmp_path


@pytest.fixture
def model(runner, files):
    path = files / "lm.npz"
    run(runner, ["train", files / "train.txt", "--model", "add-k", "--order", 2, "--k", 0.5,
                 "-q", "-o", path])
    return path


def test_every_command_has_help_with_an_example(runner):
    for name, cmd in main.commands.items():
        out = run(runner, [name, "--help"]).output
        assert "Example" in out, name
    assert __version__ in run(runner, ["--version"]).output


def test_train_evaluate_score_generate_info(runner, files, model):
    out = run(runner, ["train", files / "train.txt", "--order", 2, "-o", files / "m2.npz",
                       "--valid", files / "test.txt", "-q"]).output
    assert "valid perplexity" in out
    res = json.loads(run(runner, ["evaluate", model, files / "test.txt", "--json"]).output)
    for key in ("perplexity", "perplexity_excluding_oov", "cross_entropy_nats", "bits_per_token",
                "tokens", "sentences", "oov"):
        assert key in res
    assert res["tokens"] == 3 + 1 + 6 + 1 and res["sentences"] == 2 and res["oov"] == 1
    assert res["perplexity"] == pytest.approx(math.exp(res["cross_entropy_nats"]))
    text = run(runner, ["evaluate", model, files / "test.txt"]).output
    assert f"{res['perplexity']:.4f}" in text
    out = run(runner, ["score", model, "the cat sat", "a dog"]).output.splitlines()
    assert len(out) == 2 and out[0].startswith("the ") and "</s>" in out[0]
    stdin = run(runner, ["score", model, "--json"], input="the cat\n\nthe dog\n").output.splitlines()
    rows = [json.loads(x) for x in stdin]
    # a blank line is the empty sentence: one output line per input line
    assert [r["tokens"] for r in rows] == [["the", "cat", "</s>"], ["</s>"], ["the", "dog", "</s>"]]
    assert rows[0]["total"] == pytest.approx(sum(rows[0]["logprobs"]))
    g1 = run(runner, ["generate", model, "-n", 3, "--seed", 5, "--prompt", "the"]).output
    g2 = run(runner, ["generate", model, "-n", 3, "--seed", 5, "--prompt", "the"]).output
    assert g1 == g2 and len(g1.splitlines()) == 3
    assert all(line.startswith("the") for line in g1.splitlines())
    run(runner, ["generate", model, "--top-k", 2, "--top-p", 0.5, "--temperature", 0.7,
                 "--max-tokens", 3, "--seed", 1])
    info = json.loads(run(runner, ["info", model, "--json"]).output)
    assert info["kind"] == "add-k" and info["config"] == {"order": 2, "k": 0.5}


def test_bad_training_inputs(runner, files):
    out = files / "out.npz"
    cases = [
        (["train", files / "missing.txt", "-o", out], "no such file"),
        (["train", files / "empty.txt", "-o", out], "empty corpus"),
        (["train", files / "latin1.txt", "-o", out], "not valid UTF-8"),
        (["train", files / "train.txt", "--order", 0, "-o", out], "order must be at least 1"),
        (["train", files / "train.txt", "--model", "add-k", "--k", -1, "-o", out],
         "k must be a positive"),
        (["train", files / "train.txt", "--min-count", 0, "-o", out], "min-count"),
        (["train", files / "train.txt", "-o", files / "no" / "dir" / "m.npz"], "does not exist"),
        (["train", files / "train.txt", "-o", files], "is a directory"),
        (["train", files / "train.txt", "--valid", files / "missing.txt", "-o", out], "no such file"),
        (["train", files / "train.txt", "--order", "two", "-o", out], "not a valid integer"),
    ]
    for args, needle in cases:
        assert_one_line_error(run(runner, args, ok=False), needle)
    assert not out.exists()
    assert not [p for p in os.listdir(files) if p.startswith(".nlm-")], "temporary file left behind"


def test_failed_training_keeps_the_existing_model(runner, files, model):
    before = model.read_bytes()
    assert_one_line_error(run(runner, ["train", files / "empty.txt", "-o", model], ok=False))
    assert model.read_bytes() == before


def test_bad_sampling_options(runner, model):
    for args, needle in [(["--temperature", -1], "temperature"), (["--top-k", 0], "top-k"),
                         (["--top-p", 2], "top-p"), (["--max-tokens", 0], "max-tokens"),
                         (["-n", 0], "samples")]:
        assert_one_line_error(run(runner, ["generate", model, *args], ok=False), needle)


def test_bad_evaluation_inputs(runner, files, model):
    assert_one_line_error(run(runner, ["evaluate", model, files / "missing.txt"], ok=False),
                          "no such file")
    assert_one_line_error(run(runner, ["evaluate", model, files / "empty.txt"], ok=False),
                          "empty corpus")
    assert_one_line_error(run(runner, ["evaluate", model, files / "latin1.txt"], ok=False),
                          "UTF-8")
    assert_one_line_error(run(runner, ["score", model], ok=False, input=b"\xff\xfe\n"), "UTF-8")


def _rewrite_header(src, dst, **changes):
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays[HEADER].tobytes())
    header.update(changes)
    arrays[HEADER] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(dst, **arrays)


def test_bad_model_files(runner, files, model):
    data = model.read_bytes()
    (files / "truncated.npz").write_bytes(data[: len(data) // 2])
    (files / "garbage.npz").write_bytes(os.urandom(2000))
    (files / "text.npz").write_text("hello", encoding="utf-8")
    np.savez(files / "foreign.npz", weights=np.ones(3))
    np.save(files / "bare.npy", np.ones(3))
    _rewrite_header(model, files / "newer.npz", format_version=FORMAT_VERSION + 1)
    _rewrite_header(model, files / "alien.npz", kind="transformer-xl")
    _rewrite_header(model, files / "notnlm.npz", format="something-else")
    cases = [("missing.npz", "no such file"), ("truncated.npz", "corrupt"),
             ("garbage.npz", "not an nlm model"), ("text.npz", "not an nlm model"), ("foreign.npz", "not an nlm model"),
             ("bare.npy", "not an nlm model"), ("newer.npz", "newer nlm"),
             ("alien.npz", "unknown model kind"), ("notnlm.npz", "not an nlm model")]
    for name, needle in cases:
        for cmd in (["info"], ["generate"], ["evaluate", None]):
            args = [c if c is not None else files / "test.txt" for c in cmd]
            args.insert(1, files / name)
            assert_one_line_error(run(runner, args, ok=False), needle)


def test_option_not_applicable_to_model(runner, files):
    from nlm.api import MODELS
    spec = MODELS["add-k"]
    assert "k" in spec.options
    res = run(runner, ["train", files / "train.txt", "--model", "add-k", "--order", 2,
                       "-o", files / "x.npz", "-q"])
    assert res.exit_code == 0


def test_written_files_follow_the_umask(runner, files):
    old = os.umask(0o022)
    try:
        run(runner, ["train", files / "train.txt", "--order", 2, "-q", "-o", files / "perm.npz"])
    finally:
        os.umask(old)
    assert (files / "perm.npz").stat().st_mode & 0o777 == 0o644


# -- messages that name the file and the problem --------------------------------------------
def test_a_model_missing_a_setting_names_the_file_and_the_setting(runner, files):
    from nlm.files import read_npz, write_npz
    good = files / "rnn.npz"
    run(runner, ["train", files / "train.txt", "--model", "rnn", "--emb", 4, "--hidden", 4,
                 "--epochs", 1, "-q", "-o", good])
    header, arrays = read_npz(good, HEADER, "model")
    del header["config"]["activation"]
    write_npz(files / "bad.npz", header, arrays, HEADER)
    r = run(runner, ["info", files / "bad.npz"], ok=False)
    assert_one_line_error(r)
    assert r.output.strip() == f"Error: {files / 'bad.npz'}: malformed RNN model: missing 'activation'"


def test_warnings_are_one_line_each_without_source_lines(runner, files):
    r = run(runner, ["train", files / "train.txt", "--model", "mkn", "--order", 2, "-q",
                     "-o", files / "m.npz"])
    warns = [line for line in r.output.splitlines() if not line.startswith("trained")]
    assert warns and all(line.startswith("warning: modified Kneser-Ney: cannot estimate")
                         for line in warns), r.output
    assert "n1..n4 = " in warns[0] and "very small" not in r.output
    assert "warnings.warn" not in r.output and "DiscountWarning" not in r.output


def test_train_reads_standard_input(runner, files):
    r = run(runner, ["train", "-", "--model", "add-k", "--order", 2, "-q", "-o", files / "s.npz"],
            input=TRAIN.encode())
    run(runner, ["train", files / "train.txt", "--model", "add-k", "--order", 2, "-q",
                 "-o", files / "f.npz"])
    a = run(runner, ["evaluate", files / "s.npz", files / "test.txt", "--json"]).output
    b = run(runner, ["evaluate", files / "f.npz", files / "test.txt", "--json"]).output
    assert "-> " in r.output
    assert json.loads(a)["perplexity"] == json.loads(b)["perplexity"]
    assert_one_line_error(run(runner, ["train", "-", "-o", files / "s.npz"], ok=False, input=b""),
                          "standard input: empty corpus")
    assert_one_line_error(run(runner, ["train", "-", "--valid", "-", "-o", files / "s.npz"],
                              ok=False, input=TRAIN.encode()), "cannot be standard input")


def test_train_without_model_trains_a_trigram_modified_kneser_ney(runner, files):
    run(runner, ["train", files / "train.txt", "-q", "-o", files / "d.npz"])
    info = json.loads(run(runner, ["info", files / "d.npz", "--json"]).output)
    assert info["config"]["method"] == "mkn" and info["config"]["order"] == 3
    assert "[default: mkn]" in run(runner, ["train", "--help"], terminal_width=200).output


# -- output conventions -----------------------------------------------------------------------
def test_score_log10_and_blank_stdin_lines(runner, model):
    nat = [json.loads(x) for x in run(runner, ["score", model, "--json"],
                                       input="the cat\n\nthe dog sat\n").output.splitlines()]
    ten = [json.loads(x) for x in run(runner, ["score", model, "--json", "--log10"],
                                       input="the cat\n\nthe dog sat\n").output.splitlines()]
    assert [s["sentence"] for s in nat] == ["the cat", "", "the dog sat"]
    assert nat[1]["tokens"] == ["</s>"] and len(nat[1]["logprobs"]) == 1
    for a, b in zip(nat, ten):
        assert a["base"] == "e" and b["base"] == "10"
        np.testing.assert_allclose(np.array(b["logprobs"]) * math.log(10), a["logprobs"],
                                   rtol=1e-12)
        assert b["total"] * math.log(10) == pytest.approx(a["total"], rel=1e-12)
        assert b["perplexity"] == a["perplexity"]
    text = run(runner, ["score", model, "--log10", "the cat"]).output.split("\t")
    assert text[0] == f"the {nat[0]['logprobs'][0] / math.log(10):.4f}"


def test_evaluate_per_sentence_gives_text_tokens_and_perplexity(runner, files, model):
    (files / "two.txt").write_text("the cat sat\n\n  a dog  \n", encoding="utf-8")
    lines = run(runner, ["evaluate", model, files / "two.txt", "--per-sentence"]).output
    rows = [line.split("\t") for line in lines.splitlines() if line.startswith("sentence ")]
    doc = json.loads(run(runner, ["evaluate", model, files / "two.txt", "--per-sentence",
                                  "--json"]).output)
    detail = doc["sentences_detail"]
    assert [d["text"] for d in detail] == ["the cat sat", "a dog"]
    assert [d["tokens"] for d in detail] == [4, 3]
    for d, lp in zip(detail, doc["sentence_logprobs"]):
        assert d["logprob"] == lp and d["perplexity"] == pytest.approx(math.exp(-lp / d["tokens"]))
    assert rows == [["sentence 1", "4 tokens", f"{detail[0]['logprob']:.4f}",
                     f"ppl {detail[0]['perplexity']:.4f}", "the cat sat"],
                    ["sentence 2", "3 tokens", f"{detail[1]['logprob']:.4f}",
                     f"ppl {detail[1]['perplexity']:.4f}", "a dog"]]


def test_info_summarizes_a_neural_history_and_describes_checkpoints(runner, files):
    out = files / "r.npz"
    run(runner, ["train", files / "train.txt", "--model", "rnn", "--emb", 4, "--hidden", 4,
                 "--epochs", 8, "--lr-schedule", "constant", "--valid", files / "test.txt",
                 "--keep-checkpoint", "-q", "-o", out])
    text = run(runner, ["info", out]).output
    lines = text.splitlines()
    assert max(len(line) for line in lines) < 300 and len(lines) < 20, text
    assert "history: 8 epoch(s)" in text and "  ..." in lines
    assert sum(line.startswith("  epoch ") for line in lines) == 6
    assert any(line.startswith("  best valid ppl") for line in lines)
    full = json.loads(run(runner, ["info", out, "--json"]).output)
    assert len(full["config"]["training"]["history"]) == 8
    ck = run(runner, ["info", files / "r.ckpt.npz"]).output
    assert "kind: training checkpoint of an rnn model" in ck
    assert "progress: 8 epoch(s) done" in ck
    doc = json.loads(run(runner, ["info", files / "r.ckpt.npz", "--json"]).output)
    assert doc["kind"] == "checkpoint" and doc["model"] == "rnn" and doc["epochs"] == 8
    assert doc["config"]["hidden"] == 4
    assert_one_line_error(run(runner, ["evaluate", files / "r.ckpt.npz", files / "test.txt"],
                              ok=False), "is a training checkpoint (rnn model after 8 epoch(s))")
