"""Elman RNN LM: conformance (full and class softmax), gradient checks through time,
the kernels against a plain numpy recurrence, stream layouts, training (determinism,
resume, reset at sentences), dynamic evaluation and the command line."""
from __future__ import annotations


import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from conformance import LanguageModelConformance, random_corpus
from conftest import TINY_TEXT

from nlm.cli import main
from nlm.errors import NlmError, OptionError
from nlm.modelfile import load
from nlm.neural.gradcheck import gradient_check
from nlm.neural.layers import previous_tokens
from nlm.neural.rnn import RNNModel, RNNNetwork, stream_layout
from nlm.neural.softmax import make_output_layer
from nlm.neural.trainer import TrainingInterrupted
from nlm.vocab import BOS_ID, EOS_ID

TINY_RNN = dict(cell="elman", emb=8, hidden=12, bptt=5, batch_size=3, epochs=6, seed=3,
                optimizer="sgd",
                tie=False, softmax="full", dropout=0.0, unk_dropout=0.0, reset_sentences=False,
                lr=1.0)


def tiny_rnn(corpus, vocab, **kw):
    """A small RNN on TINY_RNN's settings, ``kw`` winning."""
    return RNNModel.fit(corpus, vocab, **{**TINY_RNN, **kw})


class TestRNNFullSoftmax(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return tiny_rnn(corpus, vocab, softmax="full", valid=corpus)


class TestRNNClassSoftmax(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return tiny_rnn(corpus, vocab, softmax="class", classes=4)


class TestRNNSigmoidResetDropout(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return tiny_rnn(corpus, vocab, activation="sigmoid", reset_sentences=True,
                        softmax="class", dropout=0.3, optimizer="adam", lr=0.01)


# -- gradient checks through time ---------------------------------------------------------
def random_network(softmax, activation, dtype=np.float64, V=13, m=4, n=5, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 50, V)
    counts[BOS_ID] = 0
    out = make_output_layer(softmax, V, counts=counts, classes=4)
    p = RNNNetwork.init_params(rng, V, m, n, out, counts, "uniform", 0.5, dtype,
                               cell="elman")
    for k in p:   # non-zero biases, weights large enough for the recurrence to matter
        p[k] += rng.normal(0, 0.3, p[k].shape).astype(dtype)
    return RNNNetwork(p, activation, out, cell="elman"), rng


def random_chunk(rng, V, T, B, n, reset_rate=0.2):
    inputs = rng.integers(0, V, (T, B)).astype(np.int32)
    targets = rng.integers(0, V, (T, B)).astype(np.int32)
    targets[targets == BOS_ID] = EOS_ID
    resets = rng.random((T, B)) < reset_rate
    h0 = rng.normal(0, 0.5, (B, n))
    return inputs, targets, resets, h0


@pytest.mark.parametrize("softmax", ["full", "class"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_gradient_check_through_time(softmax, activation):
    """Every parameter, and the carried state h0, over 6 steps of 3 streams with
    resets: max relative error < 1e-6 against central differences in float64."""
    net, rng = random_network(softmax, activation)
    inputs, targets, resets, h0 = random_chunk(rng, net.V, T=6, B=3, n=net.n)
    params = {**net.params, "h0": h0}

    def loss_and_grads():
        loss, grads, _ = net.loss_and_grads(inputs, targets, h0, resets, scale=1.0)
        return loss, {**grads, "h0": net.dh0}
    results = gradient_check(loss_and_grads, params)
    assert set(results) == {"E", "Wx", "Wh", "bh", "W", "b", "h0"} | (
        {"Wc", "bc"} if softmax == "class" else set())
    for key, r in results.items():
        assert r.checked == params[key].size
        assert r.max_rel_error < 1e-6, (key, r)


@pytest.mark.parametrize("softmax", ["full", "class"])
def test_gradient_check_with_tied_weights(softmax):
    """hidden == emb, W is E: E gets the output's gradient and the embeddings', checked
    through time with resets and dropout masks; and it equals dE + dW of the same
    network untied."""
    rng = np.random.default_rng(4)
    V, n = 13, 5
    counts = rng.integers(1, 50, V)
    counts[BOS_ID] = 0
    out = make_output_layer(softmax, V, counts=counts, classes=4)
    p = RNNNetwork.init_params(rng, V, n, n, out, counts, "uniform", 0.5, np.float64, tie=True,
                               cell="elman")
    assert "W" not in p
    for k in p:
        p[k] += rng.normal(0, 0.3, p[k].shape)
    net = RNNNetwork(p, "tanh", out, tie=True, cell="elman")
    untied = RNNNetwork({**{k: v.copy() for k, v in p.items()}, "W": p["E"].copy()}, "tanh",
                        make_output_layer(softmax, V, counts=counts, classes=4), cell="elman")
    T, B = 5, 3
    inputs, targets, resets, h0 = random_chunk(rng, V, T=T, B=B, n=n)
    masks = tuple((rng.random((T * B, w)) < 0.7) / 0.7 for w in (n, n))
    for m in (None, masks):
        def loss_and_grads():
            loss, grads, _ = net.loss_and_grads(inputs, targets, h0, resets, scale=1.0,
                                                masks=m)
            return loss, grads
        results = gradient_check(loss_and_grads, net.params)
        assert "E" in results and "W" not in results
        for key, r in results.items():
            assert r.max_rel_error < 1e-6, (key, r)
        _, g_t, _ = net.loss_and_grads(inputs, targets, h0, resets, scale=1.0, masks=m)
        _, g_u, _ = untied.loss_and_grads(inputs, targets, h0, resets, scale=1.0, masks=m)
        np.testing.assert_allclose(g_t["E"], g_u["E"] + g_u["W"], rtol=1e-12, atol=1e-12)


class TestRNNTied(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return tiny_rnn(corpus, vocab, softmax="class", classes=4, tie=True, emb=10, hidden=10)


@pytest.mark.parametrize("softmax", ["full", "class"])
def test_gradient_check_with_dropout_masks(softmax):
    """Dropout on the embeddings and on the output layer's input, masks held fixed."""
    net, rng = random_network(softmax, "tanh", seed=11)
    T, B = 5, 3
    inputs, targets, resets, h0 = random_chunk(rng, net.V, T=T, B=B, n=net.n)
    keep = 0.6
    masks = tuple((rng.random((T * B, w)) < keep) / keep for w in (net.m, net.n))
    assert all((mk == 0).any() for mk in masks)

    def loss_and_grads():
        loss, _, _ = net.loss_and_grads(inputs, targets, h0, resets, scale=1.0, masks=masks)
        return loss, net.grads
    for key, r in gradient_check(loss_and_grads, net.params).items():
        assert r.max_rel_error < 1e-6, (key, r)
    # a dropped embedding unit gets no gradient from that position: with every
    # x-mask entry 0 the input weights have no gradient at all
    zero = (np.zeros_like(masks[0]), masks[1])
    net.loss_and_grads(inputs, targets, h0, resets, masks=zero)
    assert not net.grads["Wx"].any() and not net.grads["E"].any()


def test_gradient_flows_through_time_only_without_resets():
    """The word read at step 0 influences the prediction at step 3 (and gets a
    gradient from it) exactly when no reset cuts the chain in between."""
    net, rng = random_network("full", "tanh")
    inputs, targets, _, h0 = random_chunk(rng, net.V, T=4, B=1, n=net.n)
    inputs[:, 0] = [3, 4, 5, 6]   # E[3] is read at step 0 only
    for resets, reaches in ((np.zeros((4, 1), bool), True),
                            (np.array([[False], [False], [True], [False]]), False)):
        # two chunks that differ only in the last target: their gradients differ at
        # E[3] only through the path from step 3 back to step 0
        net.loss_and_grads(inputs, targets, h0, resets, scale=1.0)
        g1 = net.grads["E"][3].copy()
        other = targets.copy()
        other[3, 0] = 7 if targets[3, 0] != 7 else 8
        net.loss_and_grads(inputs, other, h0, resets, scale=1.0)
        g2 = net.grads["E"][3].copy()
        assert (np.abs(g1 - g2).max() > 1e-8) == reaches
        H, _ = net.forward(inputs, h0, resets)
        before = H[3].copy()
        net.params["E"][3] += 0.1
        H, _ = net.forward(inputs, h0, resets)
        net.params["E"][3] -= 0.1
        assert (np.abs(H[3] - before).max() > 1e-8) == reaches


# -- kernels against a plain numpy recurrence ----------------------------------------------
def numpy_reference(net, inputs, targets, h0, resets):
    """Forward loss and hidden states, step by step with numpy (full softmax)."""
    p = net.params
    f = np.tanh if net.activation == "tanh" else (lambda a: 1 / (1 + np.exp(-a)))
    T, B = inputs.shape
    h = h0.copy()
    H = np.empty((T, B, net.n))
    loss = 0.0
    for t in range(T):
        h = np.where(resets[t][:, None], 0.0, h)
        h = f(p["E"][inputs[t]] @ p["Wx"] + h @ p["Wh"] + p["bh"])
        H[t] = h
        logits = h @ p["W"].T + p["b"]
        logits[:, BOS_ID] = -np.inf
        lse = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
        loss -= (logits[np.arange(B), targets[t]] - lse).sum()
    return loss, H


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_forward_matches_numpy(activation):
    net, rng = random_network("full", activation, V=11, m=3, n=7, seed=5)
    inputs, targets, resets, h0 = random_chunk(rng, net.V, T=9, B=4, n=net.n)
    ref_loss, ref_H = numpy_reference(net, inputs, targets, h0, resets)
    loss, _, h_last = net.loss_and_grads(inputs, targets, h0, resets)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(h_last, ref_H[-1], rtol=0, atol=1e-13)
    H, _ = net.forward(inputs, h0, resets)
    np.testing.assert_allclose(H, ref_H, rtol=0, atol=1e-13)
    P = net.cells[0].cache[2]
    # the cached previous states: zero at resets, else the state before
    prev = np.concatenate([h0[None], ref_H[:-1]])
    np.testing.assert_allclose(P, np.where(resets[..., None], 0.0, prev), atol=1e-13)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_float32_kernels_close_to_float64(activation):
    """The float32 path (fast exp-based tanh/sigmoid) stays within float32 rounding."""
    net, rng = random_network("class", activation, V=17, m=6, n=9, seed=2)
    inputs, targets, resets, h0 = random_chunk(rng, net.V, T=12, B=5, n=net.n)
    net32 = net.astype(np.float32)
    loss64, _, h64 = net.loss_and_grads(inputs, targets, h0, resets)
    g64 = {k: v.copy() for k, v in net.grads.items()}
    loss32, _, h32 = net32.loss_and_grads(inputs, targets, h0.astype(np.float32), resets)
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(h32, h64, atol=2e-6)
    for k, g in g64.items():
        np.testing.assert_allclose(net32.grads[k], g, atol=2e-5 * max(1.0, np.abs(g).max()))
    # extreme pre-activations saturate instead of overflowing the fast exp
    big = net32.astype(np.float32)
    big.params["bh"][:] = np.float32(300.0) * np.sign(np.arange(net.n) - 4.5)
    H, _ = big.forward(inputs, h0.astype(np.float32), resets)
    expect = np.where(big.params["bh"] > 0, 1.0, -1.0 if activation == "tanh" else 0.0)
    np.testing.assert_allclose(H[3], np.broadcast_to(expect, H[3].shape), atol=1e-6)


def test_step_equals_chunk_forward():
    net, rng = random_network("full", "tanh", seed=9)
    inputs, _, _, _ = random_chunk(rng, net.V, T=5, B=1, n=net.n)
    H, _ = net.forward(inputs, np.zeros((1, net.n)))
    h = np.zeros(net.n)
    for t in range(5):
        h = net.step(h, int(inputs[t, 0]))
        np.testing.assert_allclose(h, H[t, 0], rtol=0, atol=1e-14)


# -- layouts --------------------------------------------------------------------------------
def test_previous_tokens():
    ids = np.array([5, 6, 2, 7, 2, 2], dtype=np.int32)
    offsets = np.array([0, 3, 5, 6])
    inputs, starts = previous_tokens(ids, offsets)
    assert inputs.tolist() == [BOS_ID, 5, 6, BOS_ID, 7, BOS_ID]
    assert starts.tolist() == [True, False, False, True, False, True]


@pytest.mark.parametrize("streams", [1, 3, 64])
def test_stream_layout_covers_every_token_once(streams):
    rng = np.random.default_rng(4)
    lengths = rng.integers(1, 15, size=23)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = rng.integers(3, 50, size=offsets[-1]).astype(np.int32)
    pos, inputs, targets, resets = stream_layout(ids, offsets, streams)
    L, B = pos.shape
    assert B == min(streams, 23)
    p = pos[pos >= 0]
    assert sorted(p.tolist()) == list(range(offsets[-1]))
    assert (targets[pos >= 0] == ids[p]).all()
    starts = np.isin(pos, offsets[:-1])
    assert (resets[pos >= 0] == starts[pos >= 0]).all()
    assert (inputs[starts] == BOS_ID).all()
    inner = (pos >= 0) & ~starts
    assert (inputs[inner] == ids[pos[inner] - 1]).all()
    # longest-first packing: no stream is longer than the mean plus one sentence
    assert L <= offsets[-1] / B + lengths.max()


# -- the model ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tiny):
    vocab, corpus = tiny
    return tiny_rnn(corpus, vocab, softmax="full")


def test_initial_state_reads_bos_from_zero(trained):
    h0 = trained.initial_state()
    np.testing.assert_array_equal(h0, trained.net.step(np.zeros(trained.hidden_size), BOS_ID))
    assert not h0.flags.writeable
    with pytest.raises(ValueError):
        h0[0] = 1.0
    assert trained.next_logprobs(h0)[BOS_ID] == -np.inf


def test_bad_states_and_tokens(trained):
    with pytest.raises(OptionError, match="vector of 12"):
        trained.next_logprobs(np.zeros(5))
    with pytest.raises(OptionError, match="outside the vocabulary"):
        trained.advance(trained.initial_state(), trained.vocab_size)


def test_float32_validation_scores_close_to_float64(trained):
    ids, offsets = random_corpus(trained)
    np.testing.assert_allclose(trained._net32.score(ids, offsets),
                               trained.score_corpus(ids, offsets), atol=1e-4)


def test_training_lowers_the_loss_and_is_seeded(tiny):
    vocab, corpus = tiny
    a = RNNModel.fit(corpus, vocab, **{**TINY_RNN, "epochs": 8})
    b = RNNModel.fit(corpus, vocab, **{**TINY_RNN, "epochs": 8})
    hist = a.training["history"]
    assert hist[-1]["train_loss"] < 0.7 * hist[0]["train_loss"]
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    c = RNNModel.fit(corpus, vocab, **{**TINY_RNN, "epochs": 8, "seed": 4})
    assert not np.array_equal(a.params["Wh"], c.params["Wh"])


def test_dropout_changes_training_not_scoring(tiny):
    vocab, corpus = tiny
    a = tiny_rnn(corpus, vocab)
    b = tiny_rnn(corpus, vocab, dropout=0.5)
    c = tiny_rnn(corpus, vocab, dropout=0.5)
    assert not np.array_equal(a.params["Wh"], b.params["Wh"])
    for k in b.params:   # masks come from the seed: the same seed, the same model
        np.testing.assert_array_equal(b.params[k], c.params[k])
    assert b.training["dropout"] == 0.5
    ids, offsets = random_corpus(b)
    slow = np.concatenate([b.score_sentence(ids[s:e]) for s, e in zip(offsets[:-1], offsets[1:])])
    np.testing.assert_allclose(b.score_corpus(ids, offsets), slow, atol=1e-10)


def test_carried_state_differs_from_reset(tiny):
    vocab, corpus = tiny
    a = tiny_rnn(corpus, vocab)
    b = tiny_rnn(corpus, vocab, reset_sentences=True)
    assert not np.array_equal(a.params["Wh"], b.params["Wh"])
    assert a.training["reset_sentences"] is False and b.training["reset_sentences"] is True


def test_plateau_schedule_and_clipping_run(tiny):
    vocab, corpus = tiny
    m = RNNModel.fit(corpus, vocab, valid=corpus, lr_schedule="plateau", clip_norm=0.5,
                     **{**TINY_RNN, "epochs": 30, "lr": 2.0})
    lrs = [h["lr"] for h in m.training["history"]]
    assert lrs[0] == 2.0 and min(lrs) < 2.0          # halved at least once
    assert all(b in (a, a / 2) for a, b in zip(lrs, lrs[1:]))


@pytest.mark.parametrize("cell, layers", [("elman", 1), ("lstm", 2), ("gru", 2)])
def test_interrupted_training_resumes_to_the_same_model(tiny, tmp_path, cell, layers):
    """Ctrl-C in the middle of an epoch (the state is mid-stream: h, and an LSTM's c, of
    every layer) and --resume give exactly the parameters of an uninterrupted run."""
    vocab, corpus = tiny
    opts = {**TINY_RNN, "epochs": 3, "batch_size": 2, "bptt": 3, "dropout": 0.2,
            "cell": cell, "layers": layers}
    full = RNNModel.fit(corpus, vocab, **opts)
    ckpt = tmp_path / "rnn.ckpt"

    def stop_at_step_4(trainer, event):
        if event == "step" and trainer.state.updates == 4:
            trainer._stop_requested = True
    with pytest.raises(TrainingInterrupted):
        RNNModel.fit(corpus, vocab, checkpoint=str(ckpt), callbacks=[stop_at_step_4], **opts)
    resumed = RNNModel.fit(corpus, vocab, checkpoint=str(ckpt), resume=True, **opts)
    for k in full.params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k])


def test_default_learning_rate_follows_the_optimizer(tiny):
    vocab, corpus = tiny
    opts = {k: v for k, v in TINY_RNN.items() if k not in ("optimizer", "lr")}
    assert RNNModel.fit(corpus, vocab, **{**opts, "epochs": 1}).training["lr"] == 2e-3
    m = RNNModel.fit(corpus, vocab, optimizer="sgd", **{**opts, "epochs": 1})
    assert m.training["optimizer"] == "sgd" and m.training["lr"] == 1.0
    assert m.training["clip_norm"] == 1.0


def test_divergence_is_reported(tiny):
    vocab, corpus = tiny
    with pytest.raises(NlmError, match="diverged"):
        RNNModel.fit(corpus, vocab, clip_norm=None, **{**TINY_RNN, "lr": 1e30})


@pytest.mark.parametrize("bad, message", [
    (dict(bptt=0), "bptt"), (dict(hidden=-1), "hidden"), (dict(activation="relu"), "activation"),
    (dict(softmax="full", classes=3), "classes"), (dict(softmax="tree"), "softmax"),
    (dict(optimizer="lbfgs"), "optimizer"), (dict(dropout=1.0), "dropout"),
    (dict(layers=0), "layers"), (dict(cell="tree"), "cell"),
    (dict(cell="lstm", activation="sigmoid"), "Elman cell only"), (dict(nonsense=2), "nonsense")])
def test_bad_options(tiny, bad, message):
    vocab, corpus = tiny
    with pytest.raises(OptionError, match=message):
        RNNModel.fit(corpus, vocab, **{**TINY_RNN, **bad})


def test_corrupt_model_file_is_refused(trained, tmp_path):
    arrays = trained.arrays()
    arrays["Wh"] = arrays["Wh"][:, :3]
    with pytest.raises(NlmError, match="Wh"):
        RNNModel.from_saved(trained.vocab, trained.config(), arrays)


# -- dynamic evaluation ---------------------------------------------------------------------
def test_dynamic_with_zero_rate_is_static_scoring(trained):
    ids, offsets = random_corpus(trained, sentences=15)
    before = {k: v.copy() for k, v in trained.params.items()}
    for bptt in (1, 4):
        np.testing.assert_allclose(trained.dynamic_score_corpus(ids, offsets, 0.0, bptt=bptt),
                                   trained.score_corpus(ids, offsets), rtol=0, atol=1e-12)
    dyn = trained.dynamic_score_corpus(ids, offsets, 0.05, bptt=4)
    # the first chunk is scored before any update; the model itself never changes
    np.testing.assert_allclose(dyn[:4], trained.score_corpus(ids, offsets)[:4], atol=1e-12)
    for k, v in before.items():
        np.testing.assert_array_equal(trained.params[k], v)


def test_dynamic_evaluation_adapts_to_repeated_text(tiny):
    """A sentence the model has never seen, repeated: learning while scoring raises
    the log-probability of the later copies."""
    vocab, corpus = tiny
    model = tiny_rnn(corpus, vocab)
    sent = [vocab.id(w) for w in "the log sat on a red cat".split()] + [EOS_ID]
    ids = np.array(sent * 12, dtype=np.int32)
    offsets = np.arange(0, len(ids) + 1, len(sent), dtype=np.int64)
    static = model.score_corpus(ids, offsets)
    dyn = model.dynamic_score_corpus(ids, offsets, 0.1, bptt=4)
    last = slice(len(sent) * 6, None)
    assert dyn[last].sum() > static[last].sum() + 5.0


def test_dynamic_rejects_bad_rate(trained):
    ids, offsets = random_corpus(trained)
    with pytest.raises(OptionError, match="learning rate"):
        trained.dynamic_score_corpus(ids, offsets, -1.0)


# -- command line ---------------------------------------------------------------------------
@pytest.fixture
def text_files(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(TINY_TEXT * 3) + "\n")
    valid = tmp_path / "valid.txt"
    valid.write_text("the cat sat on the log\na dog saw the mat\n")
    return train, valid


def test_cli_train_evaluate_generate(text_files, tmp_path):
    train, valid = text_files
    out = tmp_path / "rnn.npz"
    r = CliRunner().invoke(main, ["train", str(train), "--model", "rnn", "--emb", "6",
                                  "--no-tie", "--hidden", "10", "--bptt", "4", "--batch-size", "2",
                                  "--epochs", "2", "--softmax", "class", "--valid", str(valid),
                                  "--tokenizer", "char", "-q", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "valid perplexity" in r.output
    model = load(out)
    assert isinstance(model, RNNModel) and model.vocab.tokenizer == "char"
    assert model.training["bptt"] == 4 and model.hidden_size == 10
    r = CliRunner().invoke(main, ["evaluate", str(out), str(valid), "--json"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["generate", str(out), "-n", "2", "--seed", "1"])
    assert r.exit_code == 0, r.output


def test_cli_dynamic_evaluation(text_files, tmp_path):
    train, valid = text_files
    out = tmp_path / "rnn.npz"
    r = CliRunner().invoke(main, ["train", str(train), "--model", "rnn", "--hidden", "8",
                                  "--epochs", "1", "-q", "-o", str(out)])
    assert r.exit_code == 0, r.output
    import json
    static = json.loads(CliRunner().invoke(main, ["evaluate", str(out), str(valid),
                                                  "--json"]).output)
    r = CliRunner().invoke(main, ["evaluate", str(out), str(valid), "--json", "--dynamic",
                                  "--dynamic-lr", "0"])
    assert r.exit_code == 0, r.output
    dyn = json.loads(r.output)
    assert dyn["perplexity"] == pytest.approx(static["perplexity"], rel=1e-9)
    r = CliRunner().invoke(main, ["evaluate", str(out), str(valid), "--dynamic",
                                  "--dynamic-lr", "0.05"])
    assert r.exit_code == 0, r.output and "perplexity" in r.output


def test_cli_dynamic_needs_a_model_that_can_learn(text_files, tmp_path):
    train, valid = text_files
    out = tmp_path / "addk.npz"
    r = CliRunner().invoke(main, ["train", str(train), "--model", "add-k", "--order", "2",
                                  "-q", "-o", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["evaluate", str(out), str(valid), "--dynamic"])
    assert r.exit_code != 0
    assert "dynamic evaluation" in r.output and "Traceback" not in r.output


def test_cli_rnn_options_are_checked(text_files, tmp_path):
    train, _ = text_files
    r = CliRunner().invoke(main, ["train", str(train), "--model", "rnn", "--bptt", "0",
                                  "-q", "-o", str(tmp_path / "x.npz")])
    assert r.exit_code != 0 and "bptt" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["train", str(train), "--model", "add-k", "--bptt", "5",
                                  "-q", "-o", str(tmp_path / "x.npz")])
    assert r.exit_code != 0 and "--bptt" in r.output


def test_kernel_blas_runs_kernels_single_threaded_and_restores():
    from nlm.neural import kernel_blas
    control = kernel_blas._find_thread_control()
    if control is None:
        pytest.skip("the BLAS behind numba's np.dot exposes no OpenBLAS thread control")
    get, set_ = control
    original = get()
    try:
        set_(2)
        seen = []

        def kernel(x):
            seen.append(get())
            return x + 1
        assert kernel_blas.single_threaded(kernel, 41) == 42
        assert seen == [1] and get() == 2

        def failing():
            raise ValueError("boom")
        with pytest.raises(ValueError):
            kernel_blas.single_threaded(failing)
        assert get() == 2
    finally:
        set_(original)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpys_blas_in_kernels_equals_the_np_dot_fallback(dtype, monkeypatch):
    """The recurrence kernels call numpy's BLAS through a function pointer where the
    build allows it, else np.dot (SciPy's BLAS): both give the same states and gradients."""
    from nlm.neural import blas, rnn as rnn_module
    if blas.kernel_gemm(dtype) is None:
        pytest.skip("numpy's BLAS exposes no ILP64 cblas gemm here: only the fallback runs")
    net, rng = random_network("class", "tanh", dtype=dtype, V=17, m=6, n=9, seed=5)
    inputs, targets, resets, h0 = random_chunk(rng, net.V, T=7, B=4, n=net.n)
    h0 = h0.astype(dtype)

    def run():
        loss, _, h_last = net.loss_and_grads(inputs, targets, h0, resets, scale=1.0)
        return loss, h_last, {k: g.copy() for k, g in net.grads.items()}, net.dh0.copy()
    with_gemm = run()
    monkeypatch.setattr(rnn_module, "kernel_gemm", lambda dt: None)
    fallback = run()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert with_gemm[0] == pytest.approx(fallback[0], rel=tol)
    np.testing.assert_allclose(with_gemm[1], fallback[1], rtol=tol, atol=tol)
    for k in with_gemm[2]:
        np.testing.assert_allclose(with_gemm[2][k], fallback[2][k], rtol=tol, atol=tol, err_msg=k)
    np.testing.assert_allclose(with_gemm[3], fallback[3], rtol=tol, atol=tol)
    assert np.abs(with_gemm[2]["Wh"]).max() > 1e-3     # a real gradient was compared


def test_threads_for_small_products_restores_the_count():
    from nlm.neural import blas
    if blas._get_threads is None:
        pytest.skip("numpy's BLAS exposes no OpenBLAS thread control")
    original = blas._get_threads()
    try:
        blas._set_threads(2)
        with blas.threads_for(10):
            assert blas._get_threads() == 1
        assert blas._get_threads() == 2
        with blas.threads_for(blas.SMALL):
            assert blas._get_threads() == 2
        with pytest.raises(ValueError):
            with blas.threads_for(10):
                raise ValueError("boom")
        assert blas._get_threads() == 2
    finally:
        blas._set_threads(original)


# -- carried state ----------------------------------------------------------------------------
def test_carried_state_reads_like_training_without_resets(tiny):
    """Carried-state scoring reads the text as training does without reset_sentences:
    one stream from the zero state, <s> read at each sentence start, </s> never read.
    Its scores equal the training network's forward pass over the same stream."""
    vocab, corpus = tiny
    model = RNNModel.fit(corpus, vocab, **{**TINY_RNN, "epochs": 1})
    carried = model.score_corpus_carried(corpus.ids, corpus.offsets)
    net = model.net
    inputs, _ = previous_tokens(corpus.ids, corpus.offsets)
    H, _ = net.forward(inputs.reshape(-1, 1), np.zeros((1, net.n)))
    want = net.output.target_logprobs(net.params, H.reshape(len(inputs), net.n),
                                      np.ascontiguousarray(corpus.ids, dtype=np.int32))
    np.testing.assert_allclose(carried, want, rtol=0, atol=1e-12)
    per_sentence = model.score_corpus(corpus.ids, corpus.offsets)
    second = slice(corpus.offsets[1], corpus.offsets[2])
    assert np.abs(carried[second] - per_sentence[second]).max() > 1e-6


def test_evaluate_states_the_protocol(tiny):
    from nlm.evaluate import evaluate
    vocab, corpus = tiny
    model = RNNModel.fit(corpus, vocab, **{**TINY_RNN, "epochs": 1})
    per = evaluate(model, corpus)
    carried = evaluate(model, corpus, carry_state=True)
    assert per.protocol == "per-sentence" and carried.protocol == "carried-state"
    assert carried.to_dict()["protocol"] == "carried-state"
    assert carried.logprob == pytest.approx(
        model.score_corpus_carried(corpus.ids, corpus.offsets).sum(), abs=1e-9)
    assert carried.logprob != pytest.approx(per.logprob, abs=1e-6)
    dyn = evaluate(model, corpus, dynamic_lr=0.0, carry_state=True)
    assert dyn.protocol == "carried-state+dynamic"
    assert dyn.logprob == pytest.approx(carried.logprob, abs=1e-9)   # rate 0: no learning


def test_cli_evaluate_carry_state(tmp_path):
    (tmp_path / "t.txt").write_text("\n".join(TINY_TEXT) + "\n")
    runner = CliRunner()
    r = runner.invoke(main, ["train", str(tmp_path / "t.txt"), "--model", "rnn", "--carry-sentences",
                             "--hidden", "5", "--epochs", "1", "-q", "-o",
                             str(tmp_path / "r.npz")])
    assert r.exit_code == 0, r.output
    out = {}
    for flag in ([], ["--carry-state"]):
        r = runner.invoke(main, ["evaluate", str(tmp_path / "r.npz"), str(tmp_path / "t.txt"),
                                 "--json", *flag])
        assert r.exit_code == 0, r.output
        out[bool(flag)] = json.loads(r.output)
    assert out[False]["protocol"] == "per-sentence"
    assert out[True]["protocol"] == "carried-state"
    assert out[True]["perplexity"] != out[False]["perplexity"]


def test_rnn_unk_dropout_resumes_exactly(tiny, tmp_path):
    vocab, corpus = tiny
    ckpt = tmp_path / "c.npz"
    opts = {**TINY_RNN, "unk_dropout": 1.0, "dropout": 0.2}
    full = RNNModel.fit(corpus, vocab, **{**opts, "epochs": 4})
    RNNModel.fit(corpus, vocab, **{**opts, "epochs": 2}, checkpoint=str(ckpt))
    resumed = RNNModel.fit(corpus, vocab, **{**opts, "epochs": 4}, checkpoint=str(ckpt),
                           resume=True)
    for k in full.params:
        np.testing.assert_array_equal(full.params[k], resumed.params[k])
    plain = RNNModel.fit(corpus, vocab, **{**opts, "unk_dropout": 0.0, "epochs": 4})
    s = full.initial_state()
    assert full.next_logprobs(s)[0] > plain.next_logprobs(plain.initial_state())[0]


def test_validation_follows_the_training_protocol(tiny):
    """With sentence resets the trainer validates per sentence; carrying the state across
    sentences, it validates with carried state (the best weights and the schedule follow
    the protocol the model is trained for)."""
    vocab, corpus = tiny
    for reset in (True, False):
        m = tiny_rnn(corpus, vocab, reset_sentences=reset, epochs=2, valid=corpus)
        best = m.training["best_valid_ppl"]
        scores = (m.score_corpus if reset else m.score_corpus_carried)(corpus.ids,
                                                                       corpus.offsets)
        assert best == pytest.approx(math.exp(-scores.mean()), rel=1e-4)


# -- NT-ASGD ------------------------------------------------------------------------------
def test_asgd_triggers_on_a_non_monotonic_validation_loss_and_averages():
    from nlm.neural.optim import ASGD, make_optimizer
    opt = make_optimizer("asgd")
    assert isinstance(opt, ASGD) and opt.NONMONO == 5
    for loss in (6.0, 5.0, 4.0, 3.9, 3.8, 3.7, 4.1):
        opt.observe(loss)      # 4.1: worse than the last five's best, not than 6.0 before them
    assert opt.k == 0
    opt.observe(5.5)           # worse than 5.0, the best before the last five
    assert opt.k == -1
    w = {"W": np.zeros((2, 3)), "b": np.zeros(3)}
    seen = []
    with opt.averaged(w):
        assert not w["W"].any()                          # nothing averaged yet
    for i in range(4):
        g = {"W": np.full((2, 3), float(i + 1)), "b": np.full(3, -1.0)}
        opt.step(w, g, 0.5)
        seen.append({k: v.copy() for k, v in w.items()})
    assert opt.k == 4
    before = {k: v.copy() for k, v in w.items()}
    with opt.averaged(w):
        for k in w:
            np.testing.assert_allclose(w[k], np.mean([s[k] for s in seen], axis=0))
    for k in w:
        np.testing.assert_array_equal(w[k], before[k])  # the weights come back
    scalars, arrays = opt.state_dict()
    again = make_optimizer("asgd")
    again.load_state_dict(scalars, arrays, w)
    assert again.k == 4 and again.logs == opt.logs
    np.testing.assert_array_equal(again.state["avg"]["W"], opt.state["avg"]["W"])


def test_asgd_validates_and_keeps_the_average(tiny, monkeypatch):
    """Once triggered, the validation loss the trainer records is the averaged weights'
    (forced here by a trigger after the first epoch)."""
    from nlm.neural.optim import ASGD
    monkeypatch.setattr(ASGD, "NONMONO", 0)
    monkeypatch.setattr(ASGD, "observe", lambda self, loss: setattr(self, "k", self.k or -1))
    vocab, corpus = tiny
    checked = []

    def callback(trainer, event):
        opt = trainer.optimizer
        if event == "epoch" and opt.k > 0:
            with opt.averaged(trainer.task.params):
                nats, tokens = trainer.task.validation_loss()
            assert nats / tokens == trainer.state.history[-1]["valid_loss"]
            checked.append(opt.k)
    model = tiny_rnn(corpus, vocab, optimizer="asgd", epochs=4, valid=corpus,
                     lr_schedule="constant", callbacks=[callback])
    assert len(checked) == 3 and checked[0] > 0
    assert model.training["optimizer"] == "asgd" and model.training["lr"] == 1.0
