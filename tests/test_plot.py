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


def test_a_log_without_word_counts_is_drawn_against_updates(tmp_path):
    """Logs from other tools (and nlm's before it counted words) carry only "updates"."""
    log = write(tmp_path / "mlp.jsonl", [
        {"event": "start", "settings": {"epochs": 2}, "epoch": 0, "step": 0},
        {"event": "valid", "epoch": 0, "step": 50, "updates": 50, "valid_loss": 6.0,
         "valid_ppl": math.exp(6.0)},
        {"event": "epoch", "epoch": 1, "updates": 100, "train_loss": 5.5, "train_ppl": 244.7,
         "valid_loss": 5.6, "valid_ppl": 270.4, "lr": 0.1, "seconds": 3.0},
        {"event": "epoch", "epoch": 2, "updates": 200, "train_loss": 5.0, "train_ppl": 148.4,
         "valid_loss": None, "valid_ppl": None},
        {"event": "end", "reason": "epochs", "epochs": 2, "updates": 200, "best_valid_ppl": 270.4},
    ])
    c = read_training_log(log)
    assert c.x == "updates"
    assert c.train == [(100.0, 244.7), (200.0, 148.4)]
    assert c.valid == [(50.0, pytest.approx(math.exp(6.0))), (100.0, 270.4)]


def test_the_neural_trainers_log_reads_back_as_its_history(tmp_path):
    from nlm.neural.mlp import MLPModel
    from conftest import corpus_from_lines, TINY_TEXT
    vocab, corpus = corpus_from_lines(TINY_TEXT)
    log = tmp_path / "mlp.jsonl"
    model = MLPModel.fit(corpus, vocab, order=3, emb=8, hidden=16, epochs=3, valid=corpus,
                         train_log=str(log))
    history = model.training["history"]
    c = read_training_log(log)
    assert [p for _, p in c.train] == pytest.approx([h["train_ppl"] for h in history])
    assert [p for _, p in c.valid] == pytest.approx([h["valid_ppl"] for h in history])
    assert len(c.train) == 3
    # drawn against words seen: every epoch adds the training tokens (</s> included)
    assert c.x == "words"
    assert [x for x, _ in c.train] == [float(corpus.tokens * e) for e in (1, 2, 3)]
    assert [h["words"] for h in history] == [corpus.tokens * e for e in (1, 2, 3)]


def test_logs_counting_different_things_are_not_drawn_together(tmp_path):
    pytest.importorskip("matplotlib")
    from nlm.plot import plot_curves
    a = read_training_log(write(tmp_path / "a.jsonl", [{"words": 10, "train_ppl": 5.0}]))
    b = read_training_log(write(tmp_path / "b.jsonl", [{"updates": 10, "train_ppl": 5.0}]))
    with pytest.raises(NlmError, match="cannot share an x axis"):
        plot_curves([a, b], tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()
    with pytest.raises(NlmError, match="neither how many words"):
        read_training_log(write(tmp_path / "c.jsonl", [{"words": 10, "train_ppl": 5.0},
                                                       {"train_ppl": 4.0}]))
