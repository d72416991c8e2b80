"""Transformer LM: gradient checks of every parameter (layers, heads, dropout masks,
tied and untied, full and class softmax), the kernels and the whole forward pass
against plain numpy implementations of the equations, the key/value-cached step
against the full forward pass, the sliding window, conformance, exact resume and
the command line."""
from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner
from conformance import LanguageModelConformance, random_corpus
from conftest import TINY_TEXT

from nlm.cli import main
from nlm.errors import OptionError
from nlm.modelfile import load
from nlm.neural import transformer as TF
from nlm.neural import transformer_kernels as TK
from nlm.neural.gradcheck import gradient_check
from nlm.neural.softmax import make_output_layer
from nlm.neural.trainer import TrainingInterrupted
from nlm.neural.transformer import (TransformerModel, TransformerNetwork, draw_masks,
                                    window_keep, window_plan)
from nlm.vocab import BOS_ID, EOS_ID

TINY_TF = dict(layers=2, heads=2, dim=8, context=6, batch_size=3, epochs=4, seed=3,
               optimizer="adamw", lr=0.01, warmup=0, softmax="full", dropout=0.0,
               attention_dropout=0.0, unk_dropout=0.0)


def tiny_tf(corpus, vocab, **kw):
    return TransformerModel.fit(corpus, vocab, **{**TINY_TF, **kw})


def random_network(softmax="full", tie=True, layers=1, heads=2, V=11, C=8, T=5, seed=0,
                   dtype=np.float64):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 50, V)
    counts[BOS_ID] = 0
    out = make_output_layer(softmax, V, counts=counts, classes=3)
    # weights of deviation 0.3, layer-norm gains and biases moved away from 1 and 0:
    # large enough for every path to matter, small enough that the loss is smooth on
    # the finite differences' scale (h = 1e-3)
    p = TransformerNetwork.init_params(rng, V, C, T, layers, out, counts, "normal", 0.3,
                                       np.float64, tie=tie)
    for k in p:
        p[k] += rng.normal(0, 0.1, p[k].shape)
    p = {k: v.astype(dtype) for k, v in p.items()}
    return TransformerNetwork(p, layers, heads, out, tie), rng


def random_batch(rng, V, B, T):
    idx = rng.integers(0, V, (B, T)).astype(np.int32)
    targets = rng.integers(0, V, (B, T)).astype(np.int32)
    targets[targets == BOS_ID] = EOS_ID
    return idx, targets


# -- gradient checks -------------------------------------------------------------------------
@pytest.mark.parametrize("layers, heads, softmax, tie, dropout", [
    (1, 2, "full", True, False), (1, 4, "class", False, True), (2, 2, "full", False, True),
    (2, 2, "class", True, True), (2, 1, "full", True, False)])
def test_gradient_check(layers, heads, softmax, tie, dropout):
    """Every parameter against central differences in float64 (max relative error
    < 1e-6), with fixed dropout masks on the embeddings, the attention weights and both
    branches. The key bias has no effect on the loss (a softmax does not change when
    the same number is added to every score of a row): its gradient must be 0."""
    net, rng = random_network(softmax, tie, layers, heads)
    B = 2
    idx, targets = random_batch(rng, net.V, B, net.T)
    masks = draw_masks(7, 1, net, B, net.T, 0.7, 0.8) if dropout else None
    if dropout:
        assert all((m == 0).any() for m in (masks[0], *masks[1][0]))

    def loss_and_grads():
        return net.loss_and_grads(idx, targets, scale=1.0, masks=masks)
    C = net.C
    biases = [f"bqkv.{l}" for l in range(layers)]
    not_keys = np.r_[0:C, 2 * C:3 * C]
    results = gradient_check(loss_and_grads, net.params,
                             entries={k: not_keys for k in biases})
    expected = set(TransformerNetwork.param_shapes(net.V, C, net.T, layers, net.output))
    assert set(results) == expected - ({"W"} if tie else set())
    for key, r in results.items():
        assert r.max_rel_error < 1e-6, (key, r)
    _, grads = loss_and_grads()
    for k in biases:
        assert np.abs(grads[k][C:2 * C]).max() < 1e-12
        keys_only = gradient_check(loss_and_grads, net.params, keys=[k],
                                   entries={k: np.arange(C, 2 * C)})[k]
        assert abs(keys_only.numeric) < 1e-9


@pytest.mark.parametrize("block", [1, 2, 3])
def test_gradient_check_over_attention_blocks(monkeypatch, block):
    """The causal products computed over row blocks of ``block`` positions (T = 5: the
    last block partial) give the same checked gradients, with attention dropout."""
    monkeypatch.setattr(TF, "ATTENTION_BLOCK", block)
    assert len(TF.attention_blocks(5)) == -(-5 // block)
    net, rng = random_network("full", False, 2, 2)
    idx, targets = random_batch(rng, net.V, 2, net.T)
    masks = draw_masks(3, 1, net, 2, net.T, 0.7, 0.8)
    results = gradient_check(lambda: net.loss_and_grads(idx, targets, scale=1.0, masks=masks),
                             net.params, entries={f"bqkv.{l}": np.r_[0:8, 16:24]
                                                  for l in range(2)})
    for key, r in results.items():
        assert r.max_rel_error < 1e-6, (key, r)


def test_causal_block_products_equal_full_products(monkeypatch):
    """Blocked S = q k^T (lower block triangle), A v and A^T g against the full products,
    with whatever the output buffers held before (NaN) above the block diagonal."""
    monkeypatch.setattr(TF, "ATTENTION_BLOCK", 4)
    rng = np.random.default_rng(5)
    BH, T, d = 3, 10, 4
    q, k, g = (rng.normal(size=(BH, T, d)) for _ in range(3))
    A = np.tril(rng.normal(size=(BH, T, T)))
    S = np.full((BH, T, T), np.nan)
    TF.causal_scores(q, k, S)
    lower = np.tril(np.ones((T, T), bool))
    np.testing.assert_allclose(S[:, lower], (q @ k.transpose(0, 2, 1))[:, lower], rtol=1e-12)
    assert np.isnan(S[:, 0, 4:]).all()          # above the block diagonal: not computed
    out = np.full((BH, T, d), np.nan)
    TF.causal_weighted_sum(A, g, out)
    np.testing.assert_allclose(out, A @ g, rtol=1e-12)
    out[:] = np.nan
    TF.causal_key_sum(A, g, out)
    np.testing.assert_allclose(out, A.transpose(0, 2, 1) @ g, rtol=1e-12)


def test_tied_gradient_is_the_sum_of_both_uses():
    net, rng = random_network("full", tie=True, layers=1)
    untied = TransformerNetwork({**{k: v.copy() for k, v in net.params.items()},
                                 "W": net.params["E"].copy()}, 1, 2,
                                make_output_layer("full", net.V), tie=False)
    idx, targets = random_batch(rng, net.V, 2, net.T)
    _, g_t = net.loss_and_grads(idx, targets, scale=1.0)
    g_t = {k: v.copy() for k, v in g_t.items()}
    _, g_u = untied.loss_and_grads(idx, targets, scale=1.0)
    np.testing.assert_allclose(g_t["E"], g_u["E"] + g_u["W"], rtol=1e-12, atol=1e-12)


# -- kernels against numpy -----------------------------------------------------------------------
def np_layernorm(x, g, b, eps=1e-5):
    mu = x.mean(axis=1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def np_gelu(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def np_causal_softmax(S, scale):
    T = S.shape[-1]
    s = np.where(np.tril(np.ones((T, T), bool)), S * scale, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_kernels_equal_numpy():
    rng = np.random.default_rng(1)
    N, C = 7, 6
    x, dy = rng.normal(size=(N, C)), rng.normal(size=(N, C))
    g, b = rng.normal(size=C), rng.normal(size=C)
    y, mu, r = np.empty((N, C)), np.empty(N), np.empty(N)
    TK._layernorm_forward(x, g, b, 1e-5, y, mu, r)
    np.testing.assert_allclose(y, np_layernorm(x, g, b), rtol=1e-12, atol=1e-12)
    dx, dg, db = np.ones((N, C)), np.empty(C), np.empty(C)
    TK._layernorm_backward(dy, x, g, mu, r, dx, dg, db)
    xh = (x - x.mean(1, keepdims=True)) * r[:, None]
    dxh = dy * g
    ref = r[:, None] * (dxh - dxh.mean(1, keepdims=True) - xh * (dxh * xh).mean(1, keepdims=True))
    np.testing.assert_allclose(dx, 1 + ref, rtol=1e-12, atol=1e-12)   # added to dx
    np.testing.assert_allclose(dg, (dy * xh).sum(0), rtol=1e-12)
    np.testing.assert_allclose(db, dy.sum(0), rtol=1e-12)
    u, bias, out = rng.normal(size=(N, 4 * C)) * 3, rng.normal(size=4 * C), np.empty((N, 4 * C))
    u0 = u.copy()
    TK._bias_gelu_forward(u, bias, out)
    np.testing.assert_allclose(u, u0 + bias, rtol=1e-15)
    np.testing.assert_allclose(out, np_gelu(u0 + bias), rtol=1e-12, atol=1e-14)
    du = np.empty_like(u)
    dg_ = rng.normal(size=u.shape)
    TK._gelu_backward(dg_, u, du)
    h = 1e-6
    numeric = (np_gelu(u + h) - np_gelu(u - h)) / (2 * h)
    np.testing.assert_allclose(du, dg_ * numeric, rtol=1e-7, atol=1e-9)
    S = rng.normal(size=(3, 5, 5)) * 4
    P = S.copy()
    TK._causal_softmax_forward(P, 0.5)
    np.testing.assert_allclose(P, np_causal_softmax(S, 0.5), rtol=1e-12, atol=1e-15)
    dP = rng.normal(size=S.shape)
    dS = dP.copy()
    TK._causal_softmax_backward(P, dS, 0.5)
    ref = 0.5 * P * (dP - (P * dP).sum(-1, keepdims=True))
    np.testing.assert_allclose(dS, ref, rtol=1e-12, atol=1e-15)


def numpy_forward(net, idx):
    """The network's equations in plain numpy: z (B T, C), the final layer norm's output."""
    p, C, H, hs = net.params, net.C, net.H, net.hs
    B, T = idx.shape
    x = p["E"][idx] + p["P"][:T]                                          # (B, T, C)
    for l in range(net.L):
        def k(n):
            return p[f"{n}.{l}"]
        h = np_layernorm(x.reshape(-1, C), k("ln1_g"), k("ln1_b")).reshape(B, T, C)
        q, kk, v = np.split(h @ k("Wqkv") + k("bqkv"), 3, axis=-1)
        heads = lambda a: a.reshape(B, T, H, hs).transpose(0, 2, 1, 3)  # noqa: E731
        att = np_causal_softmax(heads(q) @ heads(kk).transpose(0, 1, 3, 2), 1 / math.sqrt(hs))
        y = (att @ heads(v)).transpose(0, 2, 1, 3).reshape(B, T, C)
        x = x + y @ k("Wo") + k("bo")
        h = np_layernorm(x.reshape(-1, C), k("ln2_g"), k("ln2_b")).reshape(B, T, C)
        x = x + np_gelu(h @ k("W1") + k("b1")) @ k("W2") + k("b2")
    return np_layernorm(x.reshape(-1, C), p["lnf_g"], p["lnf_b"])


@pytest.mark.parametrize("layers, heads", [(1, 1), (2, 2), (2, 4)])
def test_forward_equals_numpy(layers, heads):
    net, rng = random_network("full", True, layers, heads, T=6)
    idx, _ = random_batch(rng, net.V, 3, 6)
    np.testing.assert_allclose(net.forward(idx), numpy_forward(net, idx), rtol=1e-10,
                               atol=1e-12)
    short = idx[:, :4]          # windows shorter than the context
    np.testing.assert_allclose(net.forward(short), numpy_forward(net, short), rtol=1e-10,
                               atol=1e-12)


def test_float32_close_to_float64():
    net, rng = random_network("class", False, 2, 2)
    net32 = net.astype(np.float32)
    idx, targets = random_batch(rng, net.V, 2, net.T)
    l64, g64 = net.loss_and_grads(idx, targets)
    g64 = {k: v.copy() for k, v in g64.items()}
    l32, g32 = net32.loss_and_grads(idx, targets)
    assert l32 == pytest.approx(l64, rel=1e-5)
    for k in g64:
        np.testing.assert_allclose(g32[k], g64[k], rtol=1e-3, atol=1e-5)


# -- the state machine, the cache and the window ---------------------------------------------
@pytest.fixture(scope="module")
def trained(tiny):
    vocab, corpus = tiny
    return tiny_tf(corpus, vocab, context=5, dropout=0.1, attention_dropout=0.1)


def test_cached_step_equals_full_forward(trained):
    """The next-token distribution after reading a prefix through the key/value cache
    equals the full forward pass over the same window."""
    net = trained.net
    rng = np.random.default_rng(2)
    tokens = [BOS_ID] + [int(t) for t in rng.integers(3, net.V, net.T - 1)]
    state = trained.initial_state()
    for j, t in enumerate(tokens):
        if j:
            state = trained.advance(state, t)
        assert state.tokens == tuple(tokens[:j + 1])
        z = net.forward(np.array([tokens[:j + 1]], dtype=np.int32))[-1:]
        full = net.output.full_logprobs(net.out_params, np.ascontiguousarray(z))[0]
        np.testing.assert_allclose(trained.next_logprobs(state), full, rtol=0, atol=1e-12)


def test_branching_states_do_not_share_cache_rows(trained):
    s0 = trained.state_after([4, 5])
    a = trained.advance(s0, 6)
    before = trained.next_logprobs(a).copy()
    b = trained.advance(s0, 7)        # writes row 3 of a copy, not of a's cache
    trained.advance(a, 8)
    np.testing.assert_array_equal(trained.next_logprobs(a), before)
    np.testing.assert_array_equal(trained.next_logprobs(b),
                                  trained.next_logprobs(trained.state_after([4, 5, 7])))


def test_window_slides_by_half_a_context(trained):
    T = trained.context
    keep = window_keep(T)
    s = trained.state_after(list(range(3, 3 + T - 1)))      # <s> + T-1 tokens: full
    assert len(s) == T
    s2 = trained.advance(s, 4)
    assert s2.tokens == s.tokens[T + 1 - keep:] + (4,) and len(s2) == keep
    fresh = trained._read((), None, s2.tokens[0])
    for t in s2.tokens[1:]:
        fresh = trained._read(fresh.tokens, fresh.cache, t)
    np.testing.assert_array_equal(trained.next_logprobs(s2), trained.next_logprobs(fresh))


def test_window_plan_scores_every_position_once():
    for T in (1, 2, 5, 6):
        starts, lengths, first = window_plan(np.array([0, 3, 3]), np.array([3, 3, 40]), T)
        seen = np.zeros(40, int)
        for s, n, f in zip(starts, lengths, first):
            seen[s + f:s + n] += 1
            assert n <= T
        assert (seen == 1).all()


def test_long_sentences_score_like_the_state_machine(tiny):
    vocab, corpus = tiny
    m = tiny_tf(corpus, vocab, context=3, epochs=1)
    ids, offsets = random_corpus(m, sentences=4, max_len=12)
    slow = np.concatenate([m.score_sentence(ids[a:b]) for a, b in zip(offsets[:-1], offsets[1:])])
    np.testing.assert_allclose(m.score_corpus(ids, offsets), slow, rtol=0, atol=1e-9)


# -- conformance ---------------------------------------------------------------------------
class TestTransformerFull(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return tiny_tf(corpus, vocab, valid=corpus, dropout=0.1, attention_dropout=0.1)


class TestTransformerClassUntied(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return tiny_tf(corpus, vocab, softmax="class", classes=4, tie=False, layers=1,
                       heads=4, context=4)


# -- training ----------------------------------------------------------------------------------
def test_training_lowers_the_loss_and_is_seeded(tiny):
    vocab, corpus = tiny
    a = tiny_tf(corpus, vocab, epochs=30)
    b = tiny_tf(corpus, vocab, epochs=30)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    h = a.history
    assert h[-1]["train_loss"] < h[0]["train_loss"] - 0.7


def test_interrupted_training_resumes_to_the_same_model(tiny, tmp_path):
    """Ctrl-C in the middle of an epoch and --resume give exactly the parameters of an
    uninterrupted run (windows, order, dropout masks and the optimizer's state)."""
    vocab, corpus = tiny
    opts = {**TINY_TF, "epochs": 3, "batch_size": 2, "dropout": 0.2,
            "attention_dropout": 0.1, "unk_dropout": 0.5}
    full = TransformerModel.fit(corpus, vocab, **opts)
    ckpt = tmp_path / "tf.ckpt"

    def stop_at_step_4(trainer, event):
        if event == "step" and trainer.state.updates == 4:
            trainer._stop_requested = True
    with pytest.raises(TrainingInterrupted):
        TransformerModel.fit(corpus, vocab, checkpoint=str(ckpt), callbacks=[stop_at_step_4],
                             **opts)
    resumed = TransformerModel.fit(corpus, vocab, checkpoint=str(ckpt), resume=True, **opts)
    for k in full.params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k])


@pytest.mark.parametrize("bad, message", [
    (dict(heads=3), "multiple"), (dict(layers=0), "layers"), (dict(context=0), "context"),
    (dict(attention_dropout=1.0), "attention-dropout"), (dict(dropout=-0.1), "dropout"),
    (dict(nonsense=1), "nonsense")])
def test_bad_options(tiny, bad, message):
    vocab, corpus = tiny
    with pytest.raises(OptionError, match=message):
        tiny_tf(corpus, vocab, **bad)


def test_validation_is_per_sentence(tiny):
    vocab, corpus = tiny
    m = tiny_tf(corpus, vocab, epochs=2, valid=corpus)
    lp = m.score_corpus(corpus.ids, corpus.offsets)
    assert m.training["best_valid_ppl"] == pytest.approx(math.exp(-lp.mean()), rel=1e-4)


def test_cli_train_evaluate_generate_info(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(TINY_TEXT * 3) + "\n")
    out = tmp_path / "tf.npz"
    r = CliRunner().invoke(main, ["train", str(train), "--model", "gpt", "--layers", "1",
                                  "--heads", "2", "--dim", "8", "--context", "6",
                                  "--epochs", "2", "-q", "-o", str(out)])
    assert r.exit_code == 0, r.output
    m = load(out)
    assert isinstance(m, TransformerModel) and m.context == 6 and m.tie
    for args in (["evaluate", str(out), str(train)],
                 ["evaluate", str(out), str(train), "--carry-state"],
                 ["generate", str(out), "-n", "2", "--seed", "1"], ["info", str(out)]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, (args, r.output)
    r = CliRunner().invoke(main, ["info", str(out)])
    assert "transformer" in r.output and "heads" in r.output


# -- AdamW and the warm-up + cosine schedule ---------------------------------------------------
def test_adamw_step_equals_its_equations():
    """Decoupled decay on the keys in decay_keys only, then Adam's step (betas .9, .99)."""
    from nlm.neural.optim import make_optimizer
    rng = np.random.default_rng(0)
    w = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    ref = {k: v.copy() for k, v in w.items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v2 = {k: np.zeros_like(v) for k, v in w.items()}
    opt = make_optimizer("adamw", weight_decay=0.1, decay_keys={"W"})
    for t in range(1, 4):
        g = {k: rng.normal(size=a.shape) for k, a in w.items()}
        opt.step(w, g, 0.01, grad_scale=0.5)
        for k in ref:
            gs = 0.5 * g[k]
            if k == "W":
                ref[k] *= 1 - 0.01 * 0.1
            m[k] = 0.9 * m[k] + 0.1 * gs
            v2[k] = 0.99 * v2[k] + 0.01 * gs ** 2
            ref[k] -= 0.01 * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v2[k] / (1 - 0.99 ** t)) + 1e-8)
            np.testing.assert_allclose(w[k], ref[k], rtol=1e-12, atol=1e-14)


def test_warmup_then_cosine():
    from nlm.neural.optim import COSINE_FLOOR, Schedule
    s = Schedule("cosine", 1.0, warmup=4)
    s.plan(104)
    s.plan(999)                       # the first plan stays (a resumed run keeps it)
    assert [s.lr(t) for t in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert s.lr(54) == pytest.approx((1 + COSINE_FLOOR) / 2)
    assert s.lr(104) == pytest.approx(COSINE_FLOOR) and s.lr(500) == pytest.approx(COSINE_FLOOR)
    lrs = [s.lr(t) for t in range(3, 105)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    r = Schedule("constant", 2.0, warmup=2)
    assert [r.lr(0), r.lr(1), r.lr(7)] == [1.0, 2.0, 2.0]


def test_transformer_defaults_are_adamw_cosine(tiny):
    vocab, corpus = tiny
    opts = {k: v for k, v in TINY_TF.items() if k not in ("optimizer", "lr", "warmup")}
    m = TransformerModel.fit(corpus, vocab, **{**opts, "epochs": 1})
    assert m.training["optimizer"] == "adamw" and m.training["lr"] == 1e-3
    assert m.training["clip_norm"] == 1.0
    assert TransformerModel.train_settings({}).lr_schedule == "cosine"


def test_gradients_equal_torch_autograd():
    """The same network written with torch operations: loss and every gradient equal
    (float64) to nlm's hand-written ones (skipped without torch)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    net, rng = random_network("full", False, 2, 2, T=6)
    idx, targets = random_batch(rng, net.V, 3, 6)
    loss, grads = net.loss_and_grads(idx, targets, scale=1.0)
    P = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    B, T, C, H, hs = 3, 6, net.C, net.H, net.hs
    x = P["E"][torch.from_numpy(idx).long()] + P["P"][:T]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(net.L):
        h = F.layer_norm(x, (C,), P[f"ln1_g.{l}"], P[f"ln1_b.{l}"], 1e-5)
        q, k, v = (a.view(B, T, H, hs).transpose(1, 2) for a in
                   (h @ P[f"Wqkv.{l}"] + P[f"bqkv.{l}"]).split(C, dim=-1))
        att = torch.softmax((q @ k.transpose(-1, -2) / math.sqrt(hs)).masked_fill(
            ~causal, -math.inf), dim=-1)
        x = x + (att @ v).transpose(1, 2).reshape(B, T, C) @ P[f"Wo.{l}"] + P[f"bo.{l}"]
        h = F.layer_norm(x, (C,), P[f"ln2_g.{l}"], P[f"ln2_b.{l}"], 1e-5)
        x = x + F.gelu(h @ P[f"W1.{l}"] + P[f"b1.{l}"], approximate="tanh") @ P[f"W2.{l}"] \
            + P[f"b2.{l}"]
    z = F.layer_norm(x, (C,), P["lnf_g"], P["lnf_b"], 1e-5)
    logits = (z @ P["W"].T + P["b"]).index_fill(-1, torch.tensor([BOS_ID]), -math.inf)
    ref = F.cross_entropy(logits.reshape(-1, net.V), torch.from_numpy(targets).long().reshape(-1),
                          reduction="sum")
    ref.backward()
    assert loss == pytest.approx(float(ref.detach()), rel=1e-12)
    for k, p in P.items():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=k)


# -- the model in the shared machinery: mixtures and the decoders' adapter ---------------------
def test_mixture_with_an_ngram_and_the_decoder_adapter(trained, tiny):
    from nlm.decoders import UNBOUNDED_ORDER, CTCLanguageModel
    from nlm.mixture import MixtureModel
    from nlm.ngram.estimate.methods import fit_kneser_ney
    vocab, corpus = tiny
    kn = fit_kneser_ney(corpus, vocab, order=3)
    mix = MixtureModel([kn, trained], [0.3, 0.7])
    assert mix.carries_state
    ids, offsets = random_corpus(trained, sentences=5)
    expected = np.logaddexp(np.log(0.3) + kn.score_corpus(ids, offsets),
                            np.log(0.7) + trained.score_corpus(ids, offsets))
    np.testing.assert_allclose(mix.score_corpus(ids, offsets), expected, rtol=0, atol=1e-9)
    s = mix.state_after([3, 5])
    assert math.fsum(np.exp(mix.next_logprobs(s))) == pytest.approx(1.0, abs=1e-9)
    adapter = CTCLanguageModel(trained, alpha=1.0, beta=0.0)
    assert adapter.order == UNBOUNDED_ORDER
    s1, st = adapter.score(adapter.get_start_state(), "the")
    s2, _ = adapter.score(st, "cat", is_last_word=True)
    sent = [vocab.index["the"], vocab.index["cat"], EOS_ID]
    total = trained.score_corpus(np.array(sent, dtype=np.int32), np.array([0, 3])).sum()
    assert s1 + s2 == pytest.approx(total, abs=1e-9)
