"""Reading training logs into curves (the plotting itself is exercised in test_cli_mix)."""
from __future__ import annotations

import json
import math

import pytest

from nlm.errors import NlmError
from nlm.plot import read_training_log


def write(path, records):
    path.write_text("".join((json.dumps(r) if not isinstance(r, str) else r) + "\n"
                            for r in records), encoding="utf-8")
    return path


def test_step_records_make_the_train_curve_and_losses_become_perplexities(tmp_path):
    log = write(tmp_path / "run.jsonl", [
        {"event": "config", "hidden": 100},
        {"event": "step", "words": 2000, "train_loss": 5.0},
        {"event": "step", "words": 1000, "train_loss": 6.0},
        {"event": "epoch", "words": 2000, "train_ppl": 999.0, "valid_ppl": 300.0},
        "",
        {"event": "valid", "words": 4000, "valid_loss": 5.5, "extra": [1, 2]},
        {"event": "done"},
    ])
    c = read_training_log(log)
    assert c.label == "run"
    assert c.train == [(1000.0, pytest.approx(math.exp(6.0))), (2000.0, pytest.approx(math.exp(5.0)))]
    assert c.valid == [(2000.0, 300.0), (4000.0, pytest.approx(math.exp(5.5)))]


def test_epoch_records_are_the_train_curve_when_there_are_no_steps(tmp_path):
    log = write(tmp_path / "run.jsonl", [
        {"event": "epoch", "tokens": 500, "train_ppl": 400.0, "valid_ppl": 450.0},
        {"event": "epoch", "tokens": 1000, "train_ppl": 200.0, "valid_ppl": 420.0},
        {"words": 1000, "valid_ppl": 410.0},          # a repeated evaluation replaces the last
    ])
    c = read_training_log(log, label="mlp")
    assert c.label == "mlp"
    assert c.train == [(500.0, 400.0), (1000.0, 200.0)]
    assert c.valid == [(500.0, 450.0), (1000.0, 410.0)]


def test_huge_loss_is_an_infinite_perplexity_not_a_crash(tmp_path):
    c = read_training_log(write(tmp_path / "x.jsonl", [{"words": 1, "train_loss": 1e6}]))
    assert c.train == [(1.0, math.inf)]


@pytest.mark.parametrize("records, needle", [
    ([{"words": "many", "train_ppl": 3.0}], "words is not a number"),
    ([{"words": 1, "valid_loss": True}], "valid_loss is not a number"),
    (["{broken"], "line 1 is not JSON"),
    ([{"words": 5}], "no perplexity records"),
])
def test_bad_logs(tmp_path, records, needle):
    with pytest.raises(NlmError, match=needle):
        read_training_log(write(tmp_path / "bad.jsonl", records))


def test_unreadable_logs(tmp_path):
    with pytest.raises(NlmError, match="no such file"):
        read_training_log(tmp_path / "none.jsonl")
    with pytest.raises(NlmError, match="directory"):
        read_training_log(tmp_path)
    (tmp_path / "bin.jsonl").write_bytes(b'{"words": 1, "train_ppl": 2}\n\xff\xfe\n')
    with pytest.raises(NlmError, match="UTF-8"):
        read_training_log(tmp_path / "bin.jsonl")
