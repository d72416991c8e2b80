"""Gated recurrent cells (LSTM, GRU) and stacked layers: gradient checks through time
for every parameter, the kernels against a plain numpy recurrence, float32 against
float64, the state machine against the chunked forward pass, conformance of trained
models (with carried state, save/load, sampling, mixtures) and the command line. (Exact
resume of every cell is tested with the Elman cell's in test_rnn.py.)"""
from __future__ import annotations

import json

import numpy as np
import pytest
from conformance import LanguageModelConformance, random_corpus

from nlm.errors import OptionError
from nlm.modelfile import load
from nlm.neural.gradcheck import gradient_check
from nlm.neural.rnn import AWDSettings, ChunkRegularization, RNNModel, RNNNetwork, RNNTask
from nlm.neural.softmax import make_output_layer
from nlm.vocab import BOS_ID, EOS_ID

TINY_GATED = dict(emb=8, hidden=8, bptt=5, batch_size=3, epochs=6, seed=3, optimizer="adam",
                  lr=0.02, tie=False, softmax="full", dropout=0.0, unk_dropout=0.0,
                  reset_sentences=False)


def tiny_gated(corpus, vocab, **kw):
    return RNNModel.fit(corpus, vocab, **{**TINY_GATED, **kw})


def random_network(cell, layers=1, softmax="full", dtype=np.float64, V=11, m=4, n=5, seed=3,
                   tie=False):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 20, V)
    counts[BOS_ID] = 0
    out = make_output_layer(softmax, V, counts=counts, classes=3 if softmax == "class" else None)
    if tie:
        m = n
    p = RNNNetwork.init_params(rng, V, m, n, out, counts, "uniform", 0.5, dtype, tie=tie,
                               cell=cell, layers=layers)
    for k in p:   # non-zero biases; gates away from their initial values
        p[k] += rng.normal(0, 0.3, p[k].shape).astype(dtype)
    return RNNNetwork(p, "tanh", out, tie=tie, cell=cell, layers=layers), rng


def random_chunk(net, rng, T=6, B=3, reset_rate=0.2):
    inputs = rng.integers(0, net.V, (T, B)).astype(np.int32)
    targets = rng.integers(0, net.V, (T, B)).astype(np.int32)
    targets[targets == BOS_ID] = EOS_ID
    resets = rng.random((T, B)) < reset_rate
    state = rng.normal(0, 0.5, (B, net.state_size))
    return inputs, targets, resets, state


def random_masks(net, rng, T, B, keep=0.7):
    widths = (net.m, net.n) + (net.n,) * (net.layers - 1)
    return tuple((rng.random((T * B, w)) < keep) / keep for w in widths)


# -- gradient checks through time ---------------------------------------------------------
# Entries whose gradient is below FLOOR are compared in absolute terms (FLOOR x 1e-6 =
# 1e-11): the rounding of a float64 loss summed over 18 tokens (about 40 nats, 1e-14),
# divided by the step, leaves about 1e-11 of noise in every finite difference, which is
# more than 1e-6 of a gradient entry of 1e-6 (gates far from 0.5 make such entries).
FLOOR = 1e-5


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_gradient_check_with_transposed_recurrent_weights(cell, monkeypatch):
    """Chunks of TRANSPOSE_MIN_STEPS steps or more run the per-step products with
    transposed copies of the recurrent weights (of TRANSPOSE_MIN_SIZE entries or more;
    every size here): the gradient check over 10 steps."""
    from nlm.neural import rnn
    from nlm.neural.rnn import TRANSPOSE_MIN_STEPS
    monkeypatch.setattr(rnn, "TRANSPOSE_MIN_SIZE", 0)
    net, rng = random_network(cell, 2, "full")
    assert set(net.transposes()) >= {"Wh", "Wh2"}
    inputs, targets, resets, state = random_chunk(net, rng, T=10, B=2)
    assert inputs.shape[0] >= TRANSPOSE_MIN_STEPS
    params = {**net.params, "state": state}

    def loss_and_grads():
        loss, grads, _ = net.loss_and_grads(inputs, targets, state, resets, scale=1.0)
        return loss, {**grads, "state": net.dh0}
    results = gradient_check(loss_and_grads, params, h=3e-3, floor=FLOOR)
    assert len(results) == len(params)
    for key, r in results.items():
        assert r.checked == params[key].size
        assert r.max_rel_error < 1e-6, (key, r)


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_transposed_recurrent_weights_give_the_same_chunk(cell, monkeypatch):
    from nlm.neural import rnn
    net, rng = random_network(cell, 2, V=13, m=4, n=6, seed=5)
    inputs, _, resets, state = random_chunk(net, rng, T=12, B=4)
    assert net.transposes() == {}                   # below TRANSPOSE_MIN_SIZE
    monkeypatch.setattr(rnn, "TRANSPOSE_MIN_SIZE", 0)
    packed = net.transposes()
    keys = {"Wh", "Wh2"} | ({"Wn", "Wn2"} if cell == "gru" else set())
    assert set(packed) == keys
    for k, v in packed.items():
        assert v.flags.c_contiguous and np.array_equal(v, net.params[k].T)
    H0, last0 = net.forward(inputs, state, resets, packed={})      # h W as stored
    H0 = H0.copy()
    for given in (packed, None):                # None: made by forward (12 >= 8 steps)
        H, last = net.forward(inputs, state, resets, packed=given)
        np.testing.assert_allclose(H, H0, rtol=0, atol=1e-13)
        np.testing.assert_allclose(last, last0, rtol=0, atol=1e-13)


@pytest.mark.parametrize("softmax", ["full", "class"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_gradient_check_through_time(cell, layers, softmax):
    """Every parameter of every layer, and the carried state, over 6 steps of 3 streams
    with sentence resets and dropout masks (embeddings, between the layers, output):
    max relative error < 1e-6 against central differences in float64."""
    net, rng = random_network(cell, layers, softmax)
    inputs, targets, resets, state = random_chunk(net, rng)
    masks = random_masks(net, rng, *inputs.shape)
    params = {**net.params, "state": state}

    def loss_and_grads():
        loss, grads, _ = net.loss_and_grads(inputs, targets, state, resets, scale=1.0,
                                            masks=masks)
        return loss, {**grads, "state": net.dh0}
    results = gradient_check(loss_and_grads, params, h=3e-3, floor=FLOOR)
    expect = {"E", "Wx", "Wh", "bh", "W", "b", "state"} | (
        {"Wc", "bc"} if softmax == "class" else set()) | ({"Wn"} if cell == "gru" else set())
    if layers == 2:
        expect |= {"Wx2", "Wh2", "bh2"} | ({"Wn2"} if cell == "gru" else set())
    assert set(results) == expect
    for key, r in results.items():
        assert r.checked == params[key].size
        assert r.max_rel_error < 1e-6, (key, r)
    assert np.abs(net.dh0).max() > 1e-3     # the carried state's gradient is real


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_gradient_check_with_awd_regularization(cell, layers):
    """AWD-LSTM's regularizers inside the network: DropConnect on every layer's Wh,
    variational dropout masks (one per stream, the same at every step), AR and TAR. The
    gradient of loss + penalty, checked against central differences in float64."""
    net, rng = random_network(cell, layers, "class")
    T, B = 6, 3
    inputs, targets, resets, state = random_chunk(net, rng, T, B)
    masks = tuple(np.tile(m[:B], (T, 1)) for m in random_masks(net, rng, 1, B, keep=0.6))
    keys = ["Wh"] + (["Wh2"] if layers == 2 else [])
    wm = {k: (rng.random(net.params[k].shape) < 0.7) / 0.7 for k in keys}
    reg = ChunkRegularization(wm, ar=2.0, tar=1.5)
    params = {**net.params, "state": state}

    def loss_and_grads():
        loss, grads, _ = net.loss_and_grads(inputs, targets, state, resets, scale=1.0,
                                            masks=masks, reg=reg)
        return loss + net.penalty, {**grads, "state": net.dh0}
    for key, r in gradient_check(loss_and_grads, params, h=1e-3, floor=FLOOR).items():
        assert r.max_rel_error < 1e-6, (key, r)
    # the penalties are real, and a dropped recurrent weight gets no gradient
    loss, grads, _ = net.loss_and_grads(inputs, targets, state, resets, scale=1.0,
                                        masks=masks, reg=reg)
    assert net.penalty > 0.01
    for k, m in wm.items():
        assert (m == 0).any() and not grads[k][m == 0].any() and grads[k][m > 0].all()
    plain, _, _ = net.loss_and_grads(inputs, targets, state, resets, scale=1.0, masks=masks,
                                     reg=ChunkRegularization(wm))
    assert net.penalty == 0.0 and plain == loss


def test_tar_skips_pairs_across_resets():
    H = np.arange(24, dtype=np.float64).reshape(4, 2, 3)
    resets = np.zeros((4, 2), dtype=bool)
    resets[2, 1] = True
    dH = np.zeros_like(H)
    value = ChunkRegularization(tar=1.0).temporal_penalty(H, dH, resets)
    # consecutive steps differ by 6 in every unit; 5 of the 6 pairs count, mean over 6 x 3
    assert value == pytest.approx(5 * 3 * 36 / 18)
    # equal differences cancel inside a run of steps; at the reset they do not
    assert not dH[1:3, 0].any() and dH[1:3, 1].all()
    np.testing.assert_allclose(dH[1, 1], 2 * 6 / 18)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradient_check_with_tied_weights(cell):
    net, rng = random_network(cell, 1, "class", tie=True)
    inputs, targets, resets, state = random_chunk(net, rng)
    assert "W" not in net.params

    def loss_and_grads():
        loss, grads, _ = net.loss_and_grads(inputs, targets, state, resets, scale=1.0)
        return loss, grads
    for key, r in gradient_check(loss_and_grads, net.params, h=3e-3, floor=FLOOR).items():
        assert r.max_rel_error < 1e-6, (key, r)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradient_stops_at_resets(cell):
    """Where every stream resets at step 3, the state before the chunk gets no gradient
    from steps 3..; the gradient check of the state above proves the rest."""
    net, rng = random_network(cell)
    inputs, targets, _, state = random_chunk(net, rng)
    resets = np.zeros(inputs.shape, dtype=bool)
    resets[0] = True
    net.loss_and_grads(inputs, targets, state, resets, scale=1.0)
    assert not net.dh0.any()
    resets[0] = False
    net.loss_and_grads(inputs, targets, state, resets, scale=1.0)
    assert np.abs(net.dh0).max() > 1e-4


# -- the kernels against plain numpy --------------------------------------------------------
def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def numpy_layer(cell, p, s, X, state, resets, n):
    """One layer over T steps, step by step in numpy, from the equations."""
    T, B = resets.shape
    Wx, Wh, b = p["Wx" + s], p["Wh" + s], p["bh" + s]
    h = state[:, :n].copy()
    c = state[:, n:].copy() if cell == "lstm" else None
    H = np.empty((T, B, n))
    for t in range(T):
        h = np.where(resets[t][:, None], 0.0, h)
        x = X[t]
        if cell == "lstm":
            c = np.where(resets[t][:, None], 0.0, c)
            a = x @ Wx + h @ Wh + b
            i, f, o, g = (sigmoid(a[:, :n]), sigmoid(a[:, n:2 * n]), sigmoid(a[:, 2 * n:3 * n]),
                          np.tanh(a[:, 3 * n:]))
            c = f * c + i * g
            h = o * np.tanh(c)
        else:
            ax = x @ Wx
            r = sigmoid(ax[:, :n] + h @ Wh[:, :n] + b[:n])
            z = sigmoid(ax[:, n:2 * n] + h @ Wh[:, n:] + b[n:2 * n])
            cand = np.tanh(ax[:, 2 * n:] + (r * h) @ p["Wn" + s] + b[2 * n:])
            h = z * h + (1 - z) * cand
        H[t] = h
    last = np.concatenate([h, c], axis=1) if cell == "lstm" else h
    return H, last


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forward_matches_numpy(cell, layers):
    net, rng = random_network(cell, layers, "full", V=13, m=3, n=6)
    inputs, targets, resets, state = random_chunk(net, rng, T=9, B=4)
    p = net.params
    X = p["E"][inputs]
    lasts = []
    for l in range(layers):
        s = "" if l == 0 else str(l + 1)
        X, last = numpy_layer(cell, p, s, X, net.layer_state(state, l), resets, net.n)
        lasts.append(last)
    logits = X @ p["W"].T + p["b"]
    logits[..., BOS_ID] = -np.inf
    mx = logits.max(-1, keepdims=True)
    lse = np.log(np.exp(logits - mx).sum(-1)) + mx[..., 0]
    ref_loss = -(np.take_along_axis(logits, targets[..., None], -1)[..., 0] - lse).sum()
    loss, _, last = net.loss_and_grads(inputs, targets, state, resets, scale=1.0)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(last, np.concatenate(lasts, axis=1), rtol=0, atol=1e-13)
    H, _ = net.forward(inputs, state, resets)
    np.testing.assert_allclose(H, X, rtol=0, atol=1e-13)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_float32_kernels_close_to_float64(cell):
    net, rng = random_network(cell, 2, "class", V=17, m=6, n=9, seed=2)
    inputs, targets, resets, state = random_chunk(net, rng, T=12, B=5)
    net32 = net.astype(np.float32)
    loss64, _, s64 = net.loss_and_grads(inputs, targets, state, resets)
    g64 = {k: v.copy() for k, v in net.grads.items()}
    loss32, _, s32 = net32.loss_and_grads(inputs, targets, state.astype(np.float32), resets)
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(s32, s64, atol=5e-6)
    for k, g in g64.items():
        np.testing.assert_allclose(net32.grads[k], g, atol=2e-5 * max(1.0, np.abs(g).max()),
                                   err_msg=k)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_step_equals_chunk_forward(cell, layers):
    net, rng = random_network(cell, layers, seed=9)
    inputs, _, _, _ = random_chunk(net, rng, T=5, B=1)
    state = np.zeros(net.state_size)
    H, last = net.forward(inputs, state[None])
    for t in range(5):
        state = net.step(state, int(inputs[t, 0]))
        np.testing.assert_allclose(net.top_hidden(state), H[t, 0], rtol=0, atol=1e-14)
    np.testing.assert_allclose(state, last[0], rtol=0, atol=1e-14)


def test_lstm_forget_bias_starts_at_one():
    rng = np.random.default_rng(0)
    out = make_output_layer("full", 7)
    p = RNNNetwork.init_params(rng, 7, 3, 4, out, cell="lstm", layers=2)
    for b in (p["bh"], p["bh2"]):
        np.testing.assert_array_equal(b, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    assert p["Wx"].shape == (3, 16) and p["Wh"].shape == (4, 16) and p["Wx2"].shape == (4, 16)


# -- trained models -------------------------------------------------------------------------
class TestLSTM(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return tiny_gated(corpus, vocab, cell="lstm", valid=corpus)


class TestGRUClassSoftmax(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return tiny_gated(corpus, vocab, cell="gru", softmax="class", classes=4)


class TestTwoLayerLSTMTiedDropout(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return tiny_gated(corpus, vocab, cell="lstm", layers=2, tie=True, dropout=0.3,
                          reset_sentences=True, unk_dropout=0.5)


class TestTwoLayerElman(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return tiny_gated(corpus, vocab, cell="elman", layers=2, dropout=0.2)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_training_lowers_the_loss_and_is_seeded(tiny, cell):
    vocab, corpus = tiny
    a = tiny_gated(corpus, vocab, cell=cell, epochs=10)
    b = tiny_gated(corpus, vocab, cell=cell, epochs=10)
    hist = a.training["history"]
    assert hist[-1]["train_loss"] < 0.7 * hist[0]["train_loss"]
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert a.state_size == (2 if cell == "lstm" else 1) * 8
    assert len(a.initial_state()) == a.state_size


def test_dynamic_evaluation_with_an_lstm(tiny):
    vocab, corpus = tiny
    model = tiny_gated(corpus, vocab, cell="lstm", epochs=2)
    static = model.score_corpus(corpus.ids, corpus.offsets)
    np.testing.assert_allclose(model.dynamic_score_corpus(corpus.ids, corpus.offsets, 0.0),
                               static, atol=1e-10)
    text_twice = np.concatenate([corpus.ids, corpus.ids])
    offsets = np.concatenate([corpus.offsets, corpus.offsets[1:] + corpus.offsets[-1]])
    dyn = model.dynamic_score_corpus(text_twice, offsets, 0.3)
    half = len(corpus.ids)
    assert dyn[half:].sum() > dyn[:half].sum() + 1.0     # learned from the first copy


def test_old_elman_files_load_as_one_elman_layer():
    """Files written before cells existed have no "cell" or "layers" in their config."""
    from pathlib import Path
    old = load(Path(__file__).parent / "data" / "format1" / "rnn.npz")
    assert "cell" not in json.dumps(old.training)
    assert old.cell == "elman" and old.layers == 1 and old.state_size == old.hidden_size


def test_cell_and_layers_survive_save_and_load(tiny, tmp_path):
    from nlm.modelfile import save
    vocab, corpus = tiny
    model = tiny_gated(corpus, vocab, cell="gru", layers=2, epochs=1)
    save(model, tmp_path / "m.npz")
    again = load(tmp_path / "m.npz")
    assert again.cell == "gru" and again.layers == 2 and set(again.params) == set(model.params)


def test_cli_train_lstm(tmp_path, runner):
    from conftest import TINY_TEXT, run
    text = tmp_path / "train.txt"
    text.write_text("\n".join(TINY_TEXT) + "\n")
    out = tmp_path / "lstm.npz"
    run(runner, ["train", str(text), "--model", "rnn", "--cell", "lstm", "--layers", "2",
         "--hidden", "6", "--epochs", "2", "--valid", str(text), "-o", str(out)])
    model = load(out)
    assert model.cell == "lstm" and model.layers == 2 and model.state_size == 24
    ids, offsets = random_corpus(model)
    assert np.isfinite(model.score_corpus(ids, offsets)).all()
    info = json.loads(run(runner, ["info", str(out), "--json"]).output)
    assert info["config"]["cell"] == "lstm"


class TestMixtureOfNgramLSTMAndGRU(LanguageModelConformance):
    """A saved mixture of an n-gram, a two-layer LSTM (state [h c] per layer) and a GRU."""
    n_samples = 400

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny, tmp_path_factory):
        from nlm.mixture import MixtureModel
        from nlm.modelfile import save
        from nlm.ngram.addk import AddKModel
        vocab, corpus = tiny
        d = tmp_path_factory.mktemp("gated-mix")
        models = [AddKModel.fit(corpus, vocab, order=2, k=0.5),
                  tiny_gated(corpus, vocab, cell="lstm", layers=2, epochs=2),
                  tiny_gated(corpus, vocab, cell="gru", epochs=2)]
        paths = []
        for m, name in zip(models, ["addk.npz", "lstm.npz", "gru.npz"]):
            save(m, d / name)
            paths.append(d / name)
        return MixtureModel.from_files(paths, [0.3, 0.4, 0.3])


# -- AWD-LSTM regularization in training ----------------------------------------------------
AWD = dict(variational=True, emb_dropout=0.2, weight_drop=0.3, ar=1.0, tar=1.0)


class TestTwoLayerLSTMWithAWDRegularization(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return tiny_gated(corpus, vocab, cell="lstm", layers=2, dropout=0.3, **AWD)


def awd_task(tiny, **kw):
    vocab, corpus = tiny
    net, rng = random_network("lstm", 2, V=len(vocab), dtype=np.float32)
    awd = AWDSettings(**{**AWD, **kw})
    task = RNNTask(net, corpus, None, 3, 5, False, {}, 0.4, None, awd)
    task.start_epoch(np.random.default_rng(1))
    return task, net


def test_variational_masks_are_locked_across_steps(tiny):
    task, net = awd_task(tiny, emb_dropout=0.0)
    T, B = 5, 3
    masks = task._masks(0, T, task.inputs[:T])
    assert len(masks) == 3
    for m in masks:
        steps = m.reshape(T, B, -1)
        assert (steps == steps[0]).all() and (m == 0).any() and (m > 0).any()
    # without variational, masks differ from step to step
    task2, _ = awd_task(tiny, variational=False, emb_dropout=0.0)
    m = task2._masks(0, T, task2.inputs[:T])[0].reshape(T, B, -1)
    assert not (m == m[0]).all()


def test_embedding_dropout_drops_whole_words(tiny):
    task, net = awd_task(tiny, variational=False, emb_dropout=0.5)
    task.keep = 1.0                       # embedding dropout alone
    T = 5
    inputs = task.inputs[:T]
    x = task._masks(2, T, inputs)[0]
    assert set(np.unique(x)) == {0.0, 2.0}
    rows = x[:, 0]
    assert (x == rows[:, None]).all()      # a whole embedding row at once
    flat = inputs.reshape(-1)
    for w in np.unique(flat):              # a word is dropped at every position or none
        assert len(set(rows[flat == w])) == 1
    assert task._masks(2, T, inputs)[0].tolist() == x.tolist()   # from the seed and step


def test_dropconnect_masks_every_recurrent_weight(tiny):
    task, net = awd_task(tiny)
    reg = task._regularization(0)
    assert set(reg.weight_masks) == {"Wh", "Wh2"}
    for k, m in reg.weight_masks.items():
        assert m.shape == net.params[k].shape
        assert 0.5 < (m > 0).mean() < 0.9
    assert reg.ar == 1.0 and reg.tar == 1.0
    assert awd_task(tiny, weight_drop=0.0, ar=0.0, tar=0.0)[0]._regularization(0) is None


def test_awd_training_is_seeded_and_recorded(tiny):
    vocab, corpus = tiny
    a = tiny_gated(corpus, vocab, cell="lstm", epochs=3, dropout=0.3, **AWD)
    b = tiny_gated(corpus, vocab, cell="lstm", epochs=3, dropout=0.3, **AWD)
    plain = tiny_gated(corpus, vocab, cell="lstm", epochs=3, dropout=0.3)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert not np.array_equal(a.params["Wh"], plain.params["Wh"])
    assert {k: a.training[k] for k in AWD} == AWD
    hist = a.training["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]


@pytest.mark.parametrize("bad, message", [
    (dict(weight_drop=1.0), "weight-drop must be in"), (dict(emb_dropout=-0.1), "emb-dropout"),
    (dict(ar=-1.0), "ar must be"), (dict(tar=float("nan")), "tar must be")])
def test_bad_awd_options(tiny, bad, message):
    vocab, corpus = tiny
    with pytest.raises(OptionError, match=message):
        tiny_gated(corpus, vocab, cell="lstm", epochs=1, **bad)
