"""Bengio's MLP language model: the conformance suite, learning, options, the command line."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from conformance import LanguageModelConformance
from conftest import TINY_TEXT, assert_resume_equals_fresh, working_directory

from nlm.cli import main
from nlm.errors import ModelFileError, OptionError
from nlm.evaluate import evaluate
from nlm.modelfile import load, save
from nlm.neural.mlp import MLPModel
from nlm.vocab import BOS_ID, EOS_ID


def tiny_fit(tiny, **kw):
    vocab, corpus = tiny
    opts = dict(order=3, emb=6, hidden=10, epochs=20, batch_size=8, lr=0.5, seed=2,
                dropout=0.0, unk_dropout=0.0, softmax="full")
    opts.update(kw)
    return MLPModel.fit(corpus, vocab, **opts)


class TestMLPFullSoftmax(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        return tiny_fit(tiny)


class TestMLPClassSoftmaxDirect(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        return tiny_fit(tiny, softmax="class", direct=True, order=4)


class TestMLPTied(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        return tiny_fit(tiny, tie=True, emb=8, hidden=8, softmax="class")


class TestMLPBigram(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        return tiny_fit(tiny, order=2, activation="relu", optimizer="adam", lr=0.02)


@pytest.mark.parametrize("softmax", ["full", "class"])
def test_sentence_start_never_predicted(tiny, softmax):
    m = tiny_fit(tiny, softmax=softmax, epochs=2)
    for ctx in ([], [3], [4, 5, 6]):
        lp = m.next_logprobs(m.state_after(ctx))
        assert np.isneginf(lp[BOS_ID])
        assert math.fsum(np.exp(lp)) == pytest.approx(1.0, abs=1e-12)


def test_state_is_the_last_n_minus_1_ids(tiny):
    m = tiny_fit(tiny, order=4, epochs=1)
    s = m.initial_state()
    assert s == (BOS_ID,) * 3
    s = m.advance(m.advance(s, 5), 7)
    assert s == (BOS_ID, 5, 7)
    assert m.advance(m.advance(s, 8), 9) == (7, 8, 9)
    # the same context gives the same distribution however it was reached
    np.testing.assert_array_equal(m.next_logprobs((7, 8, 9)),
                                  m.next_logprobs(m.state_after([3, 4, 7, 8, 9])))


@pytest.mark.parametrize("softmax", ["full", "class"])
def test_training_learns_the_text(tiny, softmax):
    vocab, corpus = tiny
    m = tiny_fit(tiny, softmax=softmax, epochs=60, valid=corpus)
    ppl = evaluate(m, corpus).perplexity
    uniform = len(vocab) - 1
    unigram = math.exp(-np.mean(np.log(vocab.counts[corpus.ids] / vocab.counts.sum())))
    assert ppl < 0.5 * unigram < uniform
    # the trainer's float32 validation figure agrees with the float64 evaluation
    assert m.training["best_valid_ppl"] == pytest.approx(ppl, rel=1e-4)
    # and the history shows the loss going down
    losses = [h["train_loss"] for h in m.history]
    assert losses[-1] < 0.6 * losses[0]


def test_scoring_float32_network_agrees_with_float64(tiny):
    vocab, corpus = tiny
    m = tiny_fit(tiny, epochs=3, direct=True)
    from nlm.neural.layers import context_windows
    win = context_windows(corpus.ids, corpus.offsets, m.order - 1, BOS_ID)
    lp32 = m._net32.target_logprobs(win, corpus.ids)
    lp64 = m.score_corpus(corpus.ids, corpus.offsets)
    np.testing.assert_allclose(lp32, lp64, rtol=1e-5, atol=1e-5)


def test_bad_options(tiny):
    vocab, corpus = tiny
    with pytest.raises(OptionError, match="order"):
        MLPModel.fit(corpus, vocab, order=1)
    with pytest.raises(OptionError):
        MLPModel.fit(corpus, vocab, softmax="hierarchical")
    with pytest.raises(OptionError, match="classes"):
        MLPModel.fit(corpus, vocab, classes=4)
    with pytest.raises(OptionError, match="hidden"):
        MLPModel.fit(corpus, vocab, hidden=0)
    with pytest.raises(OptionError, match="unknown option"):
        MLPModel.fit(corpus, vocab, bptt=5)
    with pytest.raises(OptionError):
        MLPModel.fit(corpus, vocab, activation="swish")
    for rate in (1.0, -0.1):
        with pytest.raises(OptionError, match="dropout"):
            MLPModel.fit(corpus, vocab, dropout=rate)


def test_score_corpus_rejects_bad_ids(tiny):
    m = tiny_fit(tiny, epochs=1)
    with pytest.raises(ValueError):
        m.score_corpus(np.array([3, 999, 2], np.int32), np.array([0, 3]))
    with pytest.raises(ValueError):
        m.score_corpus(np.array([3, 4, 2], np.int32), np.array([0, 2]))


def test_corrupt_model_file(tiny, tmp_path):
    m = tiny_fit(tiny, epochs=1, softmax="class")
    path = tmp_path / "m.npz"
    save(m, path)
    with np.load(path) as z:
        arrays = dict(z)
    arrays["H"] = arrays["H"][:, :3]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelFileError, match="shape"):
        load(tmp_path / "bad.npz")
    del arrays["class_start"]
    np.savez(tmp_path / "bad2.npz", **arrays)
    with pytest.raises(ModelFileError):
        load(tmp_path / "bad2.npz")


# -- command line ----------------------------------------------------------------------
def test_cli_train_evaluate_score_generate_resume(tmp_path):
    runner = CliRunner()
    with working_directory(tmp_path):
        with open("train.txt", "w") as f:
            f.write("\n".join(TINY_TEXT * 3) + "\n")
        with open("valid.txt", "w") as f:
            f.write("the cat sat on the log\na dog saw the mat\n")
        def args(epochs, *extra):
            return ["train", "train.txt", "--model", "mlp", "--order", "3", "--emb", "8",
                    "--hidden", "12", "--direct", "--softmax", "class", "--optimizer",
                    "momentum", "--lr", "0.1", "--weight-decay", "1e-5", "--epochs", str(epochs),
                    "--batch-size", "16", "--seed", "4", "--valid", "valid.txt", "-q", *extra]
        r = runner.invoke(main, args(2, "--train-log", "log.jsonl", "--keep-checkpoint",
                                     "-o", "m.npz"))
        assert r.exit_code == 0, r.output
        assert "trained mlp model" in r.output and "valid perplexity" in r.output
        with open("log.jsonl") as f:
            events = [json.loads(x)["event"] for x in f]
        assert events.count("epoch") == 2
        import os
        assert os.path.exists("m.ckpt.npz")             # default checkpoint next to the model
        r = runner.invoke(main, ["evaluate", "m.npz", "valid.txt", "--json"])
        assert r.exit_code == 0, r.output
        ev = json.loads(r.output)
        assert 1 < ev["perplexity"] < 20 and ev["tokens"] == 13
        r = runner.invoke(main, ["score", "m.npz", "the cat sat"])
        assert r.exit_code == 0 and "total" in r.output
        r = runner.invoke(main, ["generate", "m.npz", "-n", "2", "--seed", "1"])
        assert r.exit_code == 0 and len(r.output.strip().splitlines()) == 2
        # resume with more epochs continues from the checkpoint; same as 3 epochs at once
        assert_resume_equals_fresh(runner, args)


def test_cli_errors(tmp_path):
    runner = CliRunner()
    with working_directory(tmp_path):
        with open("train.txt", "w") as f:
            f.write("\n".join(TINY_TEXT) + "\n")
        r = runner.invoke(main, ["train", "train.txt", "--model", "mlp", "--k", "0.5",
                                 "-o", "m.npz"])
        assert r.exit_code != 0 and "--k does not apply" in r.output
        r = runner.invoke(main, ["train", "train.txt", "--model", "mkn", "--direct",
                                 "-o", "m.npz"])
        assert r.exit_code != 0 and "--direct does not apply" in r.output
        r = runner.invoke(main, ["train", "train.txt", "--model", "mlp", "--order", "1",
                                 "-o", "m.npz"])
        assert r.exit_code == 1 and "order >= 2" in r.output and "Traceback" not in r.output
        r = runner.invoke(main, ["train", "train.txt", "--model", "mlp", "--resume",
                                 "-o", "m.npz"])
        assert r.exit_code == 1 and "no checkpoint" in r.output
        r = runner.invoke(main, ["train", "train.txt", "--model", "mlp", "--lr", "1e30",
                                 "--epochs", "3", "-o", "m.npz", "-q"])
        assert r.exit_code == 1 and "diverged" in r.output and "Traceback" not in r.output


def test_carried_windows_reach_into_the_previous_sentence(tiny):
    from nlm.neural.mlp import stream_windows
    ids = np.array([5, 6, EOS_ID, 7, EOS_ID], dtype=np.int32)
    offsets = np.array([0, 3, 5])
    w = stream_windows(ids, offsets, 3)
    B = BOS_ID
    assert w.tolist() == [[B, B, B], [B, B, 5], [B, 5, 6], [5, 6, B], [6, B, 7]]
    m = tiny_fit(tiny, order=4, epochs=2)
    vocab, corpus = tiny
    carried = m.score_corpus_carried(corpus.ids, corpus.offsets)
    per = m.score_corpus(corpus.ids, corpus.offsets)
    first = slice(0, corpus.offsets[1])
    np.testing.assert_array_equal(carried[first], per[first])
    assert np.abs(carried - per).max() > 1e-6


def test_unk_dropout_trains_the_unknown_word(tiny):
    """Without it <unk> never occurs in training and gets little probability; with it
    each occurrence of a word seen c times is read as <unk> with probability a/(a+c)."""
    from nlm.neural.base import UnkDropout
    from nlm.vocab import UNK_ID
    vocab, corpus = tiny
    u = UnkDropout(vocab.counts, 0.5)
    c = vocab.counts[5]
    assert u.prob[5] == pytest.approx(0.5 / (0.5 + c))
    assert u.prob[UNK_ID] == u.prob[BOS_ID] == u.prob[EOS_ID] == 0
    ids = np.tile(corpus.ids, 200)
    out = u.apply(ids, np.random.default_rng(0))
    assert out.dtype == np.int32 and ((out == ids) | (out == UNK_ID)).all()
    assert (out[ids == EOS_ID] == EOS_ID).all()
    rate = (out != ids).mean()
    want = u.prob[ids].mean()
    assert abs(rate - want) < 4 * np.sqrt(want / len(ids))
    plain = tiny_fit(tiny, epochs=10)
    trained = tiny_fit(tiny, epochs=10, unk_dropout=0.5)
    s = plain.initial_state()
    assert trained.next_logprobs(s)[UNK_ID] > plain.next_logprobs(s)[UNK_ID] + 1.0
    assert trained.training["unk_dropout"] == 0.5


def test_unk_dropout_resumes_exactly(tiny, tmp_path):
    vocab, corpus = tiny
    ckpt = tmp_path / "c.npz"
    full = tiny_fit(tiny, epochs=4, unk_dropout=1.0)
    tiny_fit(tiny, epochs=2, unk_dropout=1.0, checkpoint=str(ckpt))
    resumed = tiny_fit(tiny, epochs=4, unk_dropout=1.0, checkpoint=str(ckpt), resume=True)
    for k in full.params:
        np.testing.assert_array_equal(full.params[k], resumed.params[k])


def test_context_word_dropout_draws_unk_from_the_seed():
    from nlm.neural.mlp import drop_context_words
    from nlm.vocab import UNK_ID
    ctx = np.random.default_rng(0).integers(3, 50, (400, 4)).astype(np.int32)
    out = drop_context_words(ctx, 0.25, 7, 3)
    assert out.dtype == np.int32 and ((out == ctx) | (out == UNK_ID)).all()
    rate = (out != ctx).mean()
    assert abs(rate - 0.25) < 4 * math.sqrt(0.25 * 0.75 / ctx.size)
    np.testing.assert_array_equal(out, drop_context_words(ctx, 0.25, 7, 3))
    assert not np.array_equal(out, drop_context_words(ctx, 0.25, 7, 4))
    np.testing.assert_array_equal(drop_context_words(ctx, 0.0, 7, 3), ctx)


def test_context_word_dropout_trains_seeded_and_resumes(tiny, tmp_path):
    plain = tiny_fit(tiny, epochs=4)
    a = tiny_fit(tiny, epochs=4, word_dropout=0.3)
    b = tiny_fit(tiny, epochs=4, word_dropout=0.3)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert not np.array_equal(a.params["H"], plain.params["H"])
    assert a.training["word_dropout"] == 0.3 and plain.training["word_dropout"] == 0.0
    hist = a.training["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    ckpt = tmp_path / "c.npz"
    tiny_fit(tiny, epochs=2, word_dropout=0.3, checkpoint=str(ckpt))
    resumed = tiny_fit(tiny, epochs=4, word_dropout=0.3, checkpoint=str(ckpt), resume=True)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], resumed.params[k])
    with pytest.raises(OptionError, match="word-dropout must be in"):
        tiny_fit(tiny, epochs=1, word_dropout=1.0)
