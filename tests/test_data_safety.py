"""No command may overwrite one of its own inputs, or write two outputs to one file:
each such case is refused before any work with a one-line error, and every file that
existed before is left byte for byte as it was."""
from __future__ import annotations

import pytest
from conftest import TINY_TEXT, assert_one_line_error, run


@pytest.fixture
def files(tmp_path, runner):
    (tmp_path / "train.txt").write_text("\n".join(TINY_TEXT) + "\n")
    (tmp_path / "valid.txt").write_text("the cat sat\na dog saw the mat\n")
    run(runner, ["train", tmp_path / "train.txt", "--model", "mkn", "--order", 2, "-q",
                 "-o", tmp_path / "m.npz"])
    (tmp_path / "existing.npz").write_bytes(b"precious")
    return tmp_path


def snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


RNN = ["--model", "rnn", "--emb", "4", "--hidden", "4", "--epochs", "1", "-q"]

CASES = {
    "train -o TRAIN": (["train", "{d}/train.txt", "--model", "mkn", "-o", "{d}/train.txt"],
                       "would overwrite the training text"),
    "train -o VALID": (["train", "{d}/train.txt", "--model", "mkn", "--valid", "{d}/valid.txt",
                        "-o", "{d}/valid.txt"], "would overwrite the validation text"),
    "train --train-log TRAIN": (["train", "{d}/train.txt", *RNN, "--train-log", "{d}/train.txt",
                                 "-o", "{d}/r.npz"], "would overwrite the training text"),
    "train --checkpoint TRAIN": (["train", "{d}/train.txt", *RNN, "--checkpoint",
                                  "{d}/train.txt", "-o", "{d}/r.npz"],
                                 "would overwrite the training text"),
    "train --checkpoint = -o": (["train", "{d}/train.txt", *RNN, "--checkpoint", "{d}/r.npz",
                                 "-o", "{d}/r.npz"], "use two different files"),
    "train --train-log = -o": (["train", "{d}/train.txt", *RNN, "--train-log", "{d}/m.npz",
                                "-o", "{d}/m.npz"], "use two different files"),
    "export-arpa onto the model": (["export-arpa", "{d}/m.npz", "{d}/m.npz"],
                                   "would overwrite the model file"),
    "compare -o TEST": (["compare", "{d}/valid.txt", "{d}/m.npz", "-o", "{d}/valid.txt"],
                        "would overwrite the test text"),
    "mix -o VALID": (["mix", "--valid", "{d}/valid.txt", "{d}/m.npz", "{d}/m.npz", "-o",
                      "{d}/valid.txt"], "would overwrite the validation text"),
    "plot -o LOG": (["plot", "{d}/valid.txt", "-o", "{d}/valid.txt"], "would overwrite the log"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_input_is_never_overwritten(files, runner, name):
    args, needle = CASES[name]
    before = snapshot(files)
    r = run(runner, [a.format(d=files) for a in args], ok=False)
    assert_one_line_error(r, needle)
    assert snapshot(files) == before


def test_stupid_backoff_with_valid_succeeds_without_a_perplexity(files, runner):
    r = run(runner, ["train", files / "train.txt", "--model", "stupid", "--valid",
                     files / "valid.txt", "-o", files / "existing.npz"])
    assert "not probabilities" in r.output
    assert (files / "existing.npz").read_bytes() != b"precious"   # replaced: it succeeded


def test_resume_reads_and_writes_the_same_checkpoint(files, runner):
    ck = files / "r.ckpt.npz"
    run(runner, ["train", files / "train.txt", *RNN, "--keep-checkpoint", "-o", files / "r.npz"])
    assert ck.exists()
    r = run(runner, ["train", files / "train.txt", *RNN, "--epochs", "2", "--resume",
                     "-o", files / "r.npz"])
    assert r.exit_code == 0
    assert not ck.exists()    # the resumed run succeeded: its default checkpoint goes


def test_the_default_checkpoint_goes_after_success_a_given_one_stays(files, runner):
    from nlm.neural.checkpoint import checkpoint_summary
    run(runner, ["train", files / "train.txt", *RNN, "-o", files / "r.npz"])
    assert (files / "r.npz").exists() and not (files / "r.ckpt.npz").exists()
    run(runner, ["train", files / "train.txt", *RNN, "--checkpoint", files / "mine.npz",
                 "-o", files / "r.npz"])
    assert checkpoint_summary(files / "mine.npz")["epochs"] == 1
    assert not (files / "r.ckpt.npz").exists()


# -- bad values in the API and the CLI: NlmErrors, one line, no traceback -------------------
def test_negative_seeds_are_refused(files, runner):
    import nlm
    from nlm.errors import OptionError
    r = run(runner, ["generate", files / "m.npz", "--seed", "-1"], ok=False)
    assert_one_line_error(r, "seed must be a whole number >= 0")
    r = run(runner, ["train", files / "train.txt", *RNN, "--seed", "-1", "-o", files / "r.npz"],
            ok=False)
    assert_one_line_error(r, "seed must be a whole number >= 0")
    assert not (files / "r.npz").exists()
    lm = nlm.load(files / "m.npz")
    with pytest.raises(OptionError, match="seed"):
        nlm.generate(lm, seed=-1)


def test_bad_states_and_token_ids_are_nlm_errors(files):
    import numpy as np
    import nlm
    from nlm.errors import NlmError
    lm = nlm.load(files / "m.npz")
    V = lm.vocab_size
    with pytest.raises(NlmError):
        lm.next_logprobs((V + 5,))
    with pytest.raises(NlmError):
        lm.score_corpus(np.array([V + 1, 2], dtype=np.int32), np.array([0, 2]))


def test_string_prompts_and_contexts_are_tokenized(files):
    import nlm
    lm = nlm.load(files / "m.npz")
    a = nlm.generate(lm, n=2, seed=3, prompt="the cat")
    b = nlm.generate(lm, n=2, seed=3, prompt=["the", "cat"])
    assert a == b and a[0][:2] == ["the", "cat"]
    assert lm.logprob("sat", "the cat") == lm.logprob("sat", ["the", "cat"])


# -- a disk that fills up during the write: every writer, one line, old file intact ---------
def _write_log(d):
    (d / "log.jsonl").write_text('{"words": 10, "train_ppl": 50.0}\n'
                                 '{"words": 20, "train_ppl": 40.0, "valid_ppl": 45.0}\n')
    return d / "log.jsonl"


WRITERS = {
    "train -o": (["train", "{d}/train.txt", "--model", "mkn", "--order", "2", "-q",
                  "-o", "{d}/existing.npz"], "existing.npz"),
    "train checkpoint": (["train", "{d}/train.txt", *RNN, "--checkpoint", "{d}/existing.npz",
                          "-o", "{d}/r.npz"], "existing.npz"),
    "export-arpa": (["export-arpa", "{d}/m.npz", "{d}/existing.npz"], "existing.npz"),
    "export-arpa .gz": (["export-arpa", "{d}/m.npz", "{d}/existing.arpa.gz"],
                        "existing.arpa.gz"),
    "mix": (["mix", "--valid", "{d}/valid.txt", "{d}/m.npz", "{d}/m.npz", "-o",
             "{d}/existing.npz"], "existing.npz"),
    "compare -o": (["compare", "{d}/valid.txt", "{d}/m.npz", "-o", "{d}/existing.npz"],
                   "existing.npz"),
    "plot": (["plot", "{d}/log.jsonl", "-o", "{d}/existing.png"], "existing.png"),
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_disk_full_during_a_write_is_one_line_and_keeps_the_old_file(files, runner,
                                                                       monkeypatch, name):
    from test_files import fail_writes, temp_files
    if name == "plot":
        pytest.importorskip("matplotlib")
    _write_log(files)
    for target in ("existing.arpa.gz", "existing.png"):
        (files / target).write_bytes(b"precious")
    args, target = WRITERS[name]
    before = snapshot(files)
    fail_writes(monkeypatch, after=64)
    r = run(runner, [a.format(d=files) for a in args], ok=False)
    assert_one_line_error(r, f"{files / target}: cannot write (No space left on device); "
                             "the previous file is left as it was")
    after = snapshot(files)
    assert {k: v for k, v in after.items() if k in before} == before
    assert temp_files(files) == []


def test_disk_full_while_writing_the_training_log_is_one_line(files, runner, monkeypatch):
    import nlm.neural.checkpoint as checkpoint
    from test_files import FailingFile
    real_init = checkpoint.TrainingLog.__init__

    def init(self, path, append):
        real_init(self, path, append)
        if self._f is not None:
            self._f = FailingFile(self._f, after=300, error=OSError(28, "No space left on device"))
    monkeypatch.setattr(checkpoint.TrainingLog, "__init__", init)
    before = snapshot(files)
    r = run(runner, ["train", files / "train.txt", *RNN, "--epochs", "3", "--train-log",
                     files / "log.jsonl", "-o", files / "existing.npz"], ok=False)
    assert_one_line_error(r, f"{files / 'log.jsonl'}: cannot write the training log "
                             "(No space left on device)")
    assert (files / "existing.npz").read_bytes() == before["existing.npz"]
