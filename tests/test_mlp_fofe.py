"""The MLP's FOFE input (``--fofe alpha``: the fixed-size ordinally-forgetting encoding of
the last FOFE_SPAN words, Zhang et al. 2015): its value, finite-difference checks of every
gradient (float64, max relative error < 1e-6), the conformance suite, state and files."""
from __future__ import annotations

import numpy as np
import pytest
from conformance import LanguageModelConformance

from nlm.errors import OptionError
from nlm.modelfile import load, save
from nlm.neural.gradcheck import gradient_check
from nlm.neural.mlp import FOFE_SPAN, MLPModel, MLPNetwork
from nlm.neural.softmax import ClassSoftmax, FullSoftmax, frequency_classes
from nlm.vocab import BOS_ID

V, N_CTX, EMB, HIDDEN, B = 17, 3, 4, 5, 9
MAX_REL = 1e-6


def fofe_network(softmax: str, direct: bool, layers: int = 1, alpha: float = 0.8,
                 seed: int = 0):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 60, V)
    counts[BOS_ID] = 0
    output = (FullSoftmax(V) if softmax == "full"
              else ClassSoftmax(frequency_classes(counts, 4)))
    params = MLPNetwork.init_params(rng, V, N_CTX, EMB, HIDDEN, direct, output, counts,
                                    "uniform", 0.5, np.float64, layers=layers, fofe=True)
    for p in params.values():
        if p.ndim == 1:
            p += rng.normal(0, 0.3, p.shape)
    net = MLPNetwork(params, N_CTX, "tanh", direct, output, layers=layers, fofe=alpha)
    ctx = rng.integers(0, V, (B, FOFE_SPAN)).astype(np.int32)
    ctx[0, :-2] = BOS_ID
    targets = rng.integers(2, V, B).astype(np.int32)
    return net, ctx, targets, rng


def test_the_encoding():
    """x = [E[w(t-3)], E[w(t-2)], E[w(t-1)], sum_k alpha^k E[w(t-1-k)]]."""
    net, ctx, _, _ = fofe_network("full", False, alpha=0.6)
    assert net.n == FOFE_SPAN and net.nw == N_CTX and net.xw == (N_CTX + 1) * EMB
    assert net.params["H"].shape == ((N_CTX + 1) * EMB, HIDDEN)
    x = np.zeros((B, net.xw))
    net._inputs(ctx, x, 0)
    E = net.params["E"]
    for b in range(B):
        np.testing.assert_array_equal(x[b, :N_CTX * EMB], E[ctx[b, -N_CTX:]].reshape(-1))
        expected = sum(0.6 ** k * E[ctx[b, FOFE_SPAN - 1 - k]] for k in range(FOFE_SPAN))
        np.testing.assert_allclose(x[b, N_CTX * EMB:], expected, rtol=1e-12)


@pytest.mark.parametrize("softmax", ["full", "class"])
@pytest.mark.parametrize("direct", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("dropout", [False, True])
def test_every_fofe_mlp_parameter(softmax, direct, layers, dropout):
    net, ctx, targets, rng = fofe_network(softmax, direct, layers, seed=3 + layers)
    keep = 0.6
    masks = (tuple((rng.random((B, w)) < keep) / keep for w in (net.xw,) + (HIDDEN,) * layers)
             if dropout else None)

    def loss_and_grads():
        return net.loss_and_grads(ctx, targets, scale=1.0, masks=masks)
    results = gradient_check(loss_and_grads, net.params)
    assert set(results) == set(net.params)
    for key, r in results.items():
        assert r.checked == net.params[key].size
        assert r.max_rel_error < MAX_REL, (key, r)
    # a word seen only in the FOFE's part of the context (not in the window) gets a gradient
    far = np.setdiff1d(ctx[:, :-N_CTX], ctx[:, -N_CTX:])
    far = far[np.isin(far, np.arange(V))]
    assert len(far) and np.abs(net.grads["E"][far]).max() > 1e-6
    assert set(far) <= set(net.touched_rows()["E"].tolist())


def tiny_fit(tiny, **kw):
    vocab, corpus = tiny
    opts = dict(order=3, emb=6, hidden=10, fofe=0.7, epochs=20, batch_size=8, lr=0.5,
                seed=2, dropout=0.0, unk_dropout=0.0, softmax="full")
    opts.update(kw)
    return MLPModel.fit(corpus, vocab, **opts)


class TestFOFEMLP(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        return tiny_fit(tiny)


class TestFOFEResidualClassDirect(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        return tiny_fit(tiny, layers=2, softmax="class", direct=True, dropout=0.2)


def test_state_keeps_the_span_and_files_round_trip(tiny, tmp_path):
    vocab, corpus = tiny
    m = tiny_fit(tiny, epochs=3)
    assert m.initial_state() == (BOS_ID,) * FOFE_SPAN
    s = m.state_after([5, 6, 7])
    assert s[-3:] == (5, 6, 7) and len(s) == FOFE_SPAN
    # words before the window still change the distribution
    assert not np.allclose(m.next_logprobs(m.state_after([4, 5, 6, 7])),
                           m.next_logprobs(m.state_after([3, 5, 6, 7])))
    save(m, tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    assert back.fofe == 0.7
    np.testing.assert_array_equal(back.score_corpus(corpus.ids, corpus.offsets),
                                  m.score_corpus(corpus.ids, corpus.offsets))


def test_fofe_option_checked(tiny):
    vocab, corpus = tiny
    for bad in (-0.1, 1.0):
        with pytest.raises(OptionError, match="fofe"):
            MLPModel.fit(corpus, vocab, fofe=bad)


def test_cli_layers_and_fofe_train_resume_and_evaluate(tmp_path):
    """``nlm train --model mlp --layers 2 --fofe 0.6``: trained, saved, evaluated, and
    resumed from a checkpoint to the same weights as an uninterrupted run."""
    import json

    from click.testing import CliRunner
    from conftest import TINY_TEXT, assert_resume_equals_fresh, working_directory

    from nlm.cli import main
    runner = CliRunner()
    with working_directory(tmp_path):
        with open("train.txt", "w") as f:
            f.write("\n".join(TINY_TEXT * 3) + "\n")

        def args(epochs, *extra):
            return ["train", "train.txt", "--model", "mlp", "--order", "3", "--emb", "8",
                    "--hidden", "12", "--layers", "2", "--fofe", "0.6", "--epochs",
                    str(epochs), "--batch-size", "16", "--seed", "4", "--valid", "train.txt",
                    "-q", *extra]
        r = runner.invoke(main, args(2, "--keep-checkpoint", "-o", "m.npz"))
        assert r.exit_code == 0, r.output
        m = load("m.npz")
        assert m.layers == 2 and m.fofe == 0.6 and m.params["H"].shape == (3 * 8, 12)
        r = runner.invoke(main, ["evaluate", "m.npz", "train.txt", "--json"])
        assert r.exit_code == 0, r.output
        assert 1 < json.loads(r.output)["perplexity"] < 30
        assert_resume_equals_fresh(runner, args)
