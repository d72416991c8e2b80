"""Finite-difference checks of every MLP gradient (float64, max relative error < 1e-6)."""
from __future__ import annotations

import numpy as np
import pytest

from nlm.neural.gradcheck import gradient_check, relative_error
from nlm.neural.mlp import MLPNetwork
from nlm.neural.softmax import ClassSoftmax, FullSoftmax, frequency_classes
from nlm.vocab import BOS_ID

V, N_CTX, EMB, HIDDEN, B = 17, 3, 4, 5, 9
MAX_REL = 1e-6


def small_network(softmax: str, direct: bool, activation: str = "tanh", seed: int = 0):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 60, V)
    counts[BOS_ID] = 0
    output = (FullSoftmax(V) if softmax == "full"
              else ClassSoftmax(frequency_classes(counts, 4)))
    params = MLPNetwork.init_params(rng, V, N_CTX, EMB, HIDDEN, direct, output, counts,
                                    "uniform", 0.5, np.float64)
    for k in ("d", "b", "bc"):  # non-zero biases so that their gradients are exercised
        if k in params:
            params[k] += rng.normal(0, 0.3, params[k].shape)
    net = MLPNetwork(params, N_CTX, activation, direct, output)
    ctx = rng.integers(0, V, (B, N_CTX)).astype(np.int32)
    ctx[0] = BOS_ID                 # a sentence start: <s> padding
    ctx[1, 1] = ctx[1, 2]           # one word twice in a context
    targets = rng.integers(2, V, B).astype(np.int32)
    return net, ctx, targets


@pytest.mark.parametrize("softmax", ["full", "class"])
@pytest.mark.parametrize("direct", [False, True])
def test_every_mlp_parameter(softmax, direct):
    net, ctx, targets = small_network(softmax, direct)

    def loss_and_grads():
        return net.loss_and_grads(ctx, targets, scale=1.0)

    results = gradient_check(loss_and_grads, net.params)
    expected = {"E", "H", "d", "W", "b"} | ({"Wc", "bc"} if softmax == "class" else set())
    assert set(results) == expected
    for key, r in results.items():
        assert r.checked == net.params[key].size          # every entry
        assert r.max_rel_error < MAX_REL, (key, r)
    # gradients are not trivially zero: the check compares real numbers
    for key in expected:
        assert np.abs(net.grads[key]).max() > 1e-3, key
    if softmax == "class":
        # the class softmax's word rows outside the targets' classes get exactly 0
        rows = net.output.touched_rows()["W"]
        outside = np.setdiff1d(np.arange(V), rows)
        assert np.all(net.grads["W"][outside] == 0)


@pytest.mark.parametrize("softmax", ["full", "class"])
def test_direct_connections_separately(softmax):
    """The direct connections are the columns h: of W (and of Wc): check that block alone,
    with the mean loss the trainer uses (scale 1/B)."""
    net, ctx, targets = small_network(softmax, True, seed=3)
    h = HIDDEN
    keys = ["W"] + (["Wc"] if softmax == "class" else [])
    entries = {}
    for k in keys:
        rows, cols = net.params[k].shape
        idx = np.arange(rows)[:, None] * cols + np.arange(h, cols)[None, :]
        entries[k] = idx.reshape(-1)

    def loss_and_grads():   # the gradient is of the mean; the returned loss is the sum
        loss, grads = net.loss_and_grads(ctx, targets)
        return loss / B, grads
    results = gradient_check(loss_and_grads, net.params, keys=keys, entries=entries)
    for k in keys:
        assert results[k].checked == net.params[k].shape[0] * (net.params[k].shape[1] - h)
        assert results[k].max_rel_error < MAX_REL, results[k]
        assert np.abs(net.grads[k][:, h:]).max() > 1e-4


@pytest.mark.parametrize("softmax", ["full", "class"])
@pytest.mark.parametrize("direct", [False, True])
def test_every_mlp_parameter_with_dropout_masks(softmax, direct):
    """Dropout on the concatenated embeddings (seen by H and the direct connections)
    and on the hidden units fed to the output, masks held fixed."""
    net, ctx, targets = small_network(softmax, direct, seed=7)
    rng = np.random.default_rng(8)
    keep = 0.6
    masks = tuple((rng.random((B, w)) < keep) / keep for w in (N_CTX * EMB, HIDDEN))
    assert all((mk == 0).any() and (mk != 0).any() for mk in masks)

    def loss_and_grads():
        return net.loss_and_grads(ctx, targets, scale=1.0, masks=masks)
    results = gradient_check(loss_and_grads, net.params)
    for key, r in results.items():
        assert r.checked == net.params[key].size
        assert r.max_rel_error < MAX_REL, (key, r)
    # the masks matter: the loss differs from the unmasked network's
    assert net.loss_and_grads(ctx, targets, masks=masks)[0] != net.loss_and_grads(ctx, targets)[0]
    # every hidden unit dropped: H and d get no gradient; every input dropped: E none
    net.loss_and_grads(ctx, targets, masks=(masks[0], np.zeros_like(masks[1])))
    assert not net.grads["H"].any() and not net.grads["d"].any()
    net.loss_and_grads(ctx, targets, masks=(np.zeros_like(masks[0]), masks[1]))
    assert not net.grads["E"].any()


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_other_activations(activation):
    net, ctx, targets = small_network("full", False, activation, seed=5)

    def loss_and_grads():
        return net.loss_and_grads(ctx, targets, scale=1.0)
    # ReLU has kinks: a small step with the second-order formula stays on one side
    kw = dict(h=1e-6, order=2) if activation == "relu" else {}
    results = gradient_check(loss_and_grads, net.params, keys=["E", "H", "d"], **kw)
    limit = MAX_REL if activation == "sigmoid" else 1e-5
    for r in results.values():
        assert r.max_rel_error < limit, r


def test_gradient_check_catches_a_wrong_gradient():
    net, ctx, targets = small_network("full", False)

    def wrong():
        loss, g = net.loss_and_grads(ctx, targets, scale=1.0)
        g = dict(g)
        g["H"] = g["H"] * 1.001      # 0.1 % off
        return loss, g
    results = gradient_check(wrong, net.params, keys=["H"])
    assert results["H"].max_rel_error > 5e-4


def test_gradient_check_needs_float64():
    rng = np.random.default_rng(0)
    p = {"w": rng.normal(size=3).astype(np.float32)}
    with pytest.raises(ValueError):
        gradient_check(lambda: (float((p["w"] ** 2).sum()), {"w": 2 * p["w"]}), p)


def test_gradient_check_on_a_known_function():
    rng = np.random.default_rng(1)
    p = {"w": rng.normal(size=(3, 2))}

    def f():
        w = p["w"]
        return float(np.sin(w).sum() + (w ** 3).sum()), {"w": np.cos(w) + 3 * w ** 2}
    for order in (2, 4):
        r = gradient_check(f, p, h=1e-3 if order == 4 else 1e-6, order=order)["w"]
        assert r.checked == 6 and r.max_rel_error < 1e-8
    assert relative_error(1.0, 1.0 + 1e-9) == pytest.approx(1e-9, rel=1e-3)
    assert relative_error(0.0, 1e-13) < 1e-6          # below the floor: absolute


# -- weight tying: the output's word weights are the embedding table ------------------------
def tied_network(softmax: str, seed: int = 3):
    """An MLP with hidden == emb and tied weights, and the same network untied (W = E)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 60, V)
    counts[BOS_ID] = 0
    def output():
        return (FullSoftmax(V) if softmax == "full"
                else ClassSoftmax(frequency_classes(counts, 4)))
    out = output()
    params = MLPNetwork.init_params(rng, V, N_CTX, EMB, EMB, False, out, counts, "uniform",
                                    0.5, np.float64, tie=True)
    assert "W" not in params
    for k in ("d", "b", "bc"):
        if k in params:
            params[k] += rng.normal(0, 0.3, params[k].shape)
    tied = MLPNetwork(params, N_CTX, "tanh", False, out, tie=True)
    untied = MLPNetwork({**{k: v.copy() for k, v in params.items()}, "W": params["E"].copy()},
                        N_CTX, "tanh", False, output())
    ctx = rng.integers(0, V, (B, N_CTX)).astype(np.int32)
    ctx[0] = BOS_ID
    targets = rng.integers(2, V, B).astype(np.int32)
    ctx[1, 0] = targets[1] = 5      # a word both read and predicted
    return tied, untied, ctx, targets


@pytest.mark.parametrize("softmax", ["full", "class"])
def test_tied_weights_gradient_check(softmax):
    net, _, ctx, targets = tied_network(softmax)
    keep = 0.7
    rng = np.random.default_rng(1)
    masks = tuple((rng.random((B, w)) < keep) / keep for w in (N_CTX * EMB, EMB))
    for m in (None, masks):
        results = gradient_check(lambda: net.loss_and_grads(ctx, targets, scale=1.0, masks=m),
                                 net.params)
        assert set(results) == {"E", "H", "d", "b"} | ({"Wc", "bc"} if softmax == "class"
                                                       else set())
        for key, r in results.items():
            assert r.max_rel_error < MAX_REL, (key, r)


@pytest.mark.parametrize("softmax", ["full", "class"])
def test_the_tied_matrix_gets_both_gradients(softmax):
    """dE(tied) = dE + dW of the same network untied with W = E, step after step (the
    sparse bookkeeping must clear the last step's rows)."""
    tied, untied, ctx, targets = tied_network(softmax)
    rng = np.random.default_rng(5)
    for step in range(3):
        _, g_t = tied.loss_and_grads(ctx, targets, scale=1.0)
        _, g_u = untied.loss_and_grads(ctx, targets, scale=1.0)
        np.testing.assert_allclose(g_t["E"], g_u["E"] + g_u["W"], rtol=1e-12, atol=1e-12)
        assert np.abs(g_u["E"]).max() > 1e-3 and np.abs(g_u["W"]).max() > 1e-3
        rows = tied.touched_rows().get("E")
        if rows is not None:   # sparse: every non-zero row is reported
            nonzero = np.flatnonzero(np.abs(g_t["E"]).sum(axis=1))
            assert set(nonzero) <= set(rows.tolist())
        ctx = rng.integers(0, V, (B, N_CTX)).astype(np.int32)
        targets = rng.integers(2, V, B).astype(np.int32)


def test_tying_needs_matching_sizes():
    from nlm.errors import OptionError
    rng = np.random.default_rng(0)
    out = FullSoftmax(V)
    p = MLPNetwork.init_params(rng, V, N_CTX, EMB, HIDDEN, False, out, None, "uniform", 0.5,
                               np.float64, tie=True)
    with pytest.raises(OptionError, match="hidden equal to --emb"):
        MLPNetwork(p, N_CTX, "tanh", False, out, tie=True)
