"""The shared trainer: exact resume, Ctrl-C, divergence, best-model selection, schedules, log."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from conftest import TINY_TEXT, corpus_from_lines

from nlm.errors import NlmError, OptionError
from nlm.neural.mlp import MLPModel
from nlm.neural.trainer import (Trainer, TrainingDiverged, TrainingInterrupted, TrainingTask,
                                TrainSettings)
from nlm.neural.checkpoint import read_checkpoint

TEXT = TINY_TEXT + ["the log was red and the mat was blue", "a red cat sat on a blue mat"]

VALID = ["the dog sat on a mat", "a cat saw the red log"]

SMALL = dict(order=3, emb=6, hidden=8, batch_size=8, lr=0.3, seed=3)


@pytest.fixture(scope="module")
def data():
    vocab, corpus = corpus_from_lines(TEXT)
    from nlm.corpus import Corpus
    valid = Corpus.from_sentences([s.split() for s in VALID], vocab)
    return vocab, corpus, valid


def fit(data, **kw):
    vocab, corpus, valid = data
    opts = {**SMALL, **kw}
    return MLPModel.fit(corpus, vocab, valid=valid, **opts)


def assert_same_params(a, b):
    assert set(a.params) == set(b.params)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)


# -- resume ------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer,softmax", [("momentum", "full"), ("adagrad", "class"),
                                               ("adam", "class")])
def test_resume_gives_the_uninterrupted_result(data, tmp_path, optimizer, softmax):
    kw = dict(optimizer=optimizer, softmax=softmax, lr=0.05 if optimizer == "adam" else 0.3)
    full = fit(data, epochs=3, checkpoint=str(tmp_path / "a.npz"), **kw)
    part = fit(data, epochs=1, checkpoint=str(tmp_path / "b.npz"), **kw)
    with pytest.raises(AssertionError):
        assert_same_params(full, part)          # one epoch is not three
    resumed = fit(data, epochs=3, checkpoint=str(tmp_path / "b.npz"), resume=True, **kw)
    assert_same_params(full, resumed)
    assert [h["valid_loss"] for h in resumed.history] == [h["valid_loss"] for h in full.history]


def test_dropout_same_seed_same_model_and_resume(data, tmp_path):
    """MLP dropout masks come from the seed and the step: the same seed gives the same
    model, an interrupted run resumes to it, and scoring does not drop anything."""
    kw = dict(dropout=0.3, optimizer="adagrad", softmax="class", direct=True)
    full = fit(data, epochs=2, checkpoint=str(tmp_path / "f.npz"), **kw)
    again = fit(data, epochs=2, **kw)
    assert_same_params(full, again)
    plain = fit(data, epochs=2, **{**kw, "dropout": 0.0})
    with pytest.raises(AssertionError):
        assert_same_params(full, plain)
    assert full.training["dropout"] == 0.3
    ckpt = str(tmp_path / "d.npz")

    def press_ctrl_c(trainer, event):
        if event == "step" and trainer.state.updates == 7:
            raise KeyboardInterrupt
    with pytest.raises(TrainingInterrupted):
        fit(data, epochs=2, checkpoint=ckpt, callbacks=[press_ctrl_c], **kw)
    resumed = fit(data, epochs=2, checkpoint=ckpt, resume=True, **kw)
    assert_same_params(full, resumed)
    vocab, corpus, valid = data
    a = full.score_corpus(valid.ids, valid.offsets)
    np.testing.assert_array_equal(a, full.score_corpus(valid.ids, valid.offsets))


def test_ctrl_c_mid_epoch_then_resume(data, tmp_path):
    ckpt = str(tmp_path / "c.npz")
    full = fit(data, epochs=2, optimizer="nesterov", checkpoint=str(tmp_path / "f.npz"))
    seen = []

    def press_ctrl_c(trainer, event):
        seen.append(event)
        if event == "step" and trainer.state.updates == 9:   # inside the second epoch
            raise KeyboardInterrupt
    with pytest.raises(TrainingInterrupted, match="--resume"):
        fit(data, epochs=2, optimizer="nesterov", checkpoint=ckpt, callbacks=[press_ctrl_c])
    header, arrays = read_checkpoint(ckpt)
    assert header["state"]["epoch"] == 1 and header["state"]["step"] > 0
    resumed = fit(data, epochs=2, optimizer="nesterov", checkpoint=ckpt, resume=True)
    assert_same_params(full, resumed)


def test_sigint_finishes_the_step_and_checkpoints(data, tmp_path):
    """A real SIGINT: the handler asks the loop to stop at the next step boundary."""
    ckpt = str(tmp_path / "s.npz")
    # whatever handler the test runner has (Python's default, or SIG_IGN when the run
    # was started in the background by a non-interactive shell) comes back afterwards
    before = signal.getsignal(signal.SIGINT)

    def send_sigint(trainer, event):
        if event == "step" and trainer.state.updates == 3:
            assert signal.getsignal(signal.SIGINT) is not before   # the trainer's own
            os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(TrainingInterrupted):
        fit(data, epochs=2, checkpoint=ckpt, callbacks=[send_sigint])
    header, _ = read_checkpoint(ckpt)
    assert header["state"]["updates"] == 3
    assert signal.getsignal(signal.SIGINT) is before  # handler restored


def test_interrupt_without_checkpoint_path(data):
    def stop(trainer, event):
        raise KeyboardInterrupt
    with pytest.raises(TrainingInterrupted, match="no checkpoint"):
        fit(data, epochs=1, callbacks=[stop])


# -- divergence --------------------------------------------------------------------------
def test_divergence_leaves_the_last_good_checkpoint(data, tmp_path):
    ckpt = tmp_path / "d.npz"
    fit(data, epochs=1, checkpoint=str(ckpt))
    before = ckpt.read_bytes()
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch 2.*left as it was.*--lr"):
        fit(data, epochs=4, checkpoint=str(ckpt), resume=True, lr=1e30)
    assert ckpt.read_bytes() == before
    header, arrays = read_checkpoint(ckpt)
    assert all(np.isfinite(a).all() for k, a in arrays.items() if k.startswith("param/"))


def test_divergence_from_the_start(data, tmp_path):
    ckpt = tmp_path / "e.npz"
    with pytest.raises(TrainingDiverged, match="no checkpoint was written"):
        fit(data, epochs=2, checkpoint=str(ckpt), lr=1e30)
    assert not ckpt.exists()


# -- seeds --------------------------------------------------------------------------------
def test_same_seed_same_model(data):
    a = fit(data, epochs=2, seed=11)
    b = fit(data, epochs=2, seed=11)
    c = fit(data, epochs=2, seed=12)
    assert_same_params(a, b)
    assert not np.array_equal(a.params["E"], c.params["E"])


# -- a scripted task: the trainer's own logic, without a model ---------------------------------
class ScriptedTask(TrainingTask):
    """Minimize |w - 1|^2 / 2 in 2 steps per epoch; validation losses come from a script."""

    def __init__(self, valid_losses):
        self.params = {"w": np.zeros(3)}
        self.grads = {"w": np.zeros(3)}
        self.script = list(valid_losses)
        self.has_valid = True
        self.calls = 0

    def config(self):
        return {"kind": "scripted"}

    def start_epoch(self, rng):
        rng.random()
        return 2

    def epoch_tokens(self):
        return 2

    def step(self, i):
        self.grads["w"][:] = self.params["w"] - 1.0
        return float(0.5 * ((self.params["w"] - 1.0) ** 2).sum()), 1

    def validation_loss(self):
        loss = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return loss * 10, 10


def run_scripted(losses, **kw):
    task = ScriptedTask(losses)
    snapshots = []
    settings = TrainSettings(**{"epochs": len(losses), "lr": 0.25, **kw})
    result = Trainer(task, settings, callbacks=[
        lambda tr, ev: ev == "epoch" and snapshots.append(tr.task.params["w"].copy())]).run()
    return result, snapshots, task


def test_best_validation_parameters_are_returned():
    result, snaps, task = run_scripted([3.0, 1.0, 2.0, 4.0], lr_schedule="constant")
    np.testing.assert_array_equal(result.params["w"], snaps[1])
    assert not np.array_equal(result.params["w"], task.params["w"])   # training went on
    assert result.best_valid_ppl == pytest.approx(np.exp(1.0))


def test_early_stopping():
    result, snaps, _ = run_scripted([3.0, 2.0, 2.5, 2.6, 2.7, 1.0], patience=2)
    assert len(result.history) == 4 and "no improvement" in result.stop_reason
    np.testing.assert_array_equal(result.params["w"], snaps[1])


def test_plateau_schedule_restores_and_halves():
    result, snaps, task = run_scripted([3.0, 2.0, 2.5, 1.9, 1.899], lr_schedule="plateau")
    h = result.history
    assert h[2]["restored_best"] and h[2]["lr"] == pytest.approx(0.125)
    assert result.stop_reason == "plateau" and len(h) == 5
    # after the restore in epoch 3 the weights were epoch 2's: epoch 4 started from them
    assert [r["lr"] for r in h[:2]] == [0.25, 0.25]


def test_reduce_schedule_halves_after_each_epoch_without_improvement():
    """The default with validation text: any improvement keeps the rate; an epoch without
    one restores the best weights and halves it; the (max_halvings + 1)-th stops."""
    result, snaps, task = run_scripted([3.0, 2.0, 1.999, 2.5, 1.5, 1.6, 1.7, 1.4, 1.8],
                                       max_halvings=2)
    h = result.history
    assert task.calls == len(h) == 7 and result.stop_reason == "plateau"
    assert [r["lr"] for r in h] == [0.25, 0.25, 0.25, 0.125, 0.125, 0.0625, 0.0625]
    assert [r["restored_best"] for r in h] == [False, False, False, True, False, True, True]
    np.testing.assert_array_equal(result.params["w"], snaps[4])     # the best epoch (1.5)
    constant, _, _ = run_scripted([3.0, 2.0, 2.5], lr_schedule="constant")
    assert [r["lr"] for r in constant.history] == [0.25] * 3


def test_training_log_and_mid_epoch_validation(tmp_path):
    log = tmp_path / "log.jsonl"
    result, _, _ = run_scripted([3.0, 2.0], train_log=str(log), valid_every=1)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert kinds.count("epoch") == 2 and kinds.count("valid") == 2   # one mid-epoch per epoch
    ep = [e for e in events if e["event"] == "epoch"]
    assert ep[1]["valid_ppl"] == pytest.approx(np.exp(2.0))
    assert {"train_loss", "words_per_second", "lr", "updates"} <= set(ep[0])


def test_time_budget_stops_and_keeps_best(data):
    m = fit(data, epochs=10**7, time_budget=0.5, lr_schedule="constant")
    assert m.training["stop"] == "time budget"
    assert len(m.history) < 10**7 and m.training["best_valid_ppl"] is not None


def test_settings_are_checked(data, tmp_path):
    vocab, corpus, valid = data
    with pytest.raises(OptionError, match="needs validation"):
        MLPModel.fit(corpus, vocab, order=2, emb=2, hidden=2, epochs=1, lr_schedule="plateau")
    with pytest.raises(OptionError, match="checkpoint"):
        fit(data, epochs=1, resume=True)
    with pytest.raises(OptionError, match="no checkpoint"):
        fit(data, epochs=1, resume=True, checkpoint=str(tmp_path / "missing.npz"))
    ckpt = str(tmp_path / "x.npz")
    fit(data, epochs=1, checkpoint=ckpt)
    with pytest.raises(OptionError, match="different model.*hidden"):
        fit(data, epochs=2, checkpoint=ckpt, resume=True, hidden=9)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(NlmError, match="not a readable"):
        fit(data, epochs=2, checkpoint=str(tmp_path / "bad.npz"), resume=True)
    with pytest.raises(OptionError):
        fit(data, epochs=0)
    with pytest.raises(OptionError):
        fit(data, epochs=1, optimizer="lbfgs")


# -- --checkpoint-every --------------------------------------------------------------------
def test_checkpoint_every_n_updates_resumes_exactly_after_a_kill(data, tmp_path):
    """A run killed mid-epoch (no Ctrl-C handler gets to write anything) loses at most
    N updates: the checkpoint written every N updates resumes to the uninterrupted run."""
    kw = dict(optimizer="adam", lr=0.05, softmax="class")
    full = fit(data, epochs=2, **kw)
    ckpt = str(tmp_path / "k.npz")

    class Killed(Exception):
        pass

    def kill_at_update_7(trainer, event):
        if event == "step" and trainer.state.updates == 7:
            raise Killed
    with pytest.raises(Killed):
        fit(data, epochs=2, checkpoint=ckpt, checkpoint_every=3, callbacks=[kill_at_update_7],
            **kw)
    header, _ = read_checkpoint(ckpt)
    assert header["state"]["updates"] == 6 and header["state"]["epoch"] == 0
    assert 0 < header["state"]["step"] == 6
    resumed = fit(data, epochs=2, checkpoint=ckpt, resume=True, checkpoint_every=3, **kw)
    assert_same_params(full, resumed)
    with pytest.raises(OptionError, match="checkpoint-every must be at least 1"):
        fit(data, epochs=1, checkpoint=ckpt, checkpoint_every=0)
