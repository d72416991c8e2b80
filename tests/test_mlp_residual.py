"""The MLP's residual hidden layers (``--layers``, pre-LN blocks as in Sun & Iyyer 2021):
finite-difference checks of every gradient (float64, max relative error < 1e-6), the
conformance suite, file round trips, options."""
from __future__ import annotations

import numpy as np
import pytest
from conformance import LanguageModelConformance

from nlm.errors import OptionError
from nlm.evaluate import evaluate
from nlm.modelfile import load, save
from nlm.neural.gradcheck import gradient_check
from nlm.neural.mlp import MLPModel, MLPNetwork, block_shapes
from nlm.neural.softmax import ClassSoftmax, FullSoftmax, frequency_classes
from nlm.vocab import BOS_ID

V, N_CTX, EMB, HIDDEN, B = 17, 3, 4, 5, 9
MAX_REL = 1e-6


def residual_network(softmax: str, direct: bool, layers: int, activation: str = "tanh",
                     seed: int = 0):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 60, V)
    counts[BOS_ID] = 0
    output = (FullSoftmax(V) if softmax == "full"
              else ClassSoftmax(frequency_classes(counts, 4)))
    params = MLPNetwork.init_params(rng, V, N_CTX, EMB, HIDDEN, direct, output, counts,
                                    "uniform", 0.5, np.float64, layers=layers)
    for k, p in params.items():      # non-unit gains, non-zero biases: every term exercised
        if p.ndim == 1:
            p += rng.normal(0, 0.3, p.shape)
    net = MLPNetwork(params, N_CTX, activation, direct, output, layers=layers)
    ctx = rng.integers(0, V, (B, N_CTX)).astype(np.int32)
    ctx[0] = BOS_ID
    ctx[1, 1] = ctx[1, 2]
    targets = rng.integers(2, V, B).astype(np.int32)
    return net, ctx, targets, rng


@pytest.mark.parametrize("softmax", ["full", "class"])
@pytest.mark.parametrize("direct", [False, True])
@pytest.mark.parametrize("layers", [2, 3])
@pytest.mark.parametrize("dropout", [False, True])
def test_every_residual_mlp_parameter(softmax, direct, layers, dropout):
    net, ctx, targets, rng = residual_network(softmax, direct, layers, seed=layers)
    keep = 0.6
    masks = (tuple((rng.random((B, w)) < keep) / keep for w in (N_CTX * EMB,)
                   + (HIDDEN,) * layers) if dropout else None)

    def loss_and_grads():
        return net.loss_and_grads(ctx, targets, scale=1.0, masks=masks)
    results = gradient_check(loss_and_grads, net.params)
    blocks = set(block_shapes(HIDDEN, layers))
    assert len(blocks) == 4 * (layers - 1) + 2
    assert blocks < set(results) == set(net.params)
    for key, r in results.items():
        assert r.checked == net.params[key].size
        assert r.max_rel_error < MAX_REL, (key, r)
    for key in blocks | {"E", "H", "d"}:
        assert np.abs(net.grads[key]).max() > 1e-4, key
    if dropout:       # the blocks' masks matter
        assert (net.loss_and_grads(ctx, targets, masks=masks)[0]
                != net.loss_and_grads(ctx, targets, masks=masks[:2])[0])


def test_relu_blocks():
    net, ctx, targets, _ = residual_network("full", False, 3, "relu", seed=4)

    def loss_and_grads():
        return net.loss_and_grads(ctx, targets, scale=1.0)
    results = gradient_check(loss_and_grads, net.params, h=1e-6, order=2)
    for r in results.values():
        assert r.max_rel_error < 1e-5, r


def test_one_layer_is_the_plain_mlp():
    """layers=1 has no blocks and draws the same initial weights as before they existed."""
    out = FullSoftmax(V)
    one = MLPNetwork.init_params(np.random.default_rng(0), V, N_CTX, EMB, HIDDEN, False, out)
    two = MLPNetwork.init_params(np.random.default_rng(0), V, N_CTX, EMB, HIDDEN, False, out,
                                 layers=2)
    assert set(two) - set(one) == set(block_shapes(HIDDEN, 2))
    for k in one:
        np.testing.assert_array_equal(one[k], two[k])
    assert block_shapes(HIDDEN, 1) == {}


def tiny_fit(tiny, **kw):
    vocab, corpus = tiny
    opts = dict(order=3, emb=6, hidden=10, layers=3, epochs=20, batch_size=8, lr=0.5,
                seed=2, dropout=0.0, unk_dropout=0.0, softmax="full")
    opts.update(kw)
    return MLPModel.fit(corpus, vocab, **opts)


class TestResidualMLP(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        return tiny_fit(tiny)


class TestResidualMLPClassDirectDropout(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        return tiny_fit(tiny, layers=2, softmax="class", direct=True, dropout=0.2, order=4)


def test_residual_mlp_learns_saves_and_loads(tiny, tmp_path):
    vocab, corpus = tiny
    m = tiny_fit(tiny, epochs=60, valid=corpus, optimizer="adam", lr=0.01)
    ppl = evaluate(m, corpus).perplexity
    unigram = float(np.exp(-np.mean(np.log(vocab.counts[corpus.ids] / vocab.counts.sum()))))
    assert ppl < 0.5 * unigram
    assert m.config()["layers"] == 3
    save(m, tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    assert back.layers == 3
    np.testing.assert_array_equal(back.score_corpus(corpus.ids, corpus.offsets),
                                  m.score_corpus(corpus.ids, corpus.offsets))


def test_layers_option_checked(tiny):
    vocab, corpus = tiny
    for bad in (0, 17):
        with pytest.raises(OptionError, match="layers"):
            MLPModel.fit(corpus, vocab, layers=bad)
