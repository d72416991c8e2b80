"""Data parallelism over threads (nlm.neural.data_parallel): a training step or a
scoring pass split between replicas of the network gives the one-worker result."""
from __future__ import annotations

import numpy as np
import pytest
from test_transformer import TINY_TF, random_network

from nlm.neural import data_parallel as DP
from nlm.neural.data_parallel import DataParallel, shards, union_rows
from nlm.neural.rnn import AWDSettings, RNNNetwork, RNNTask
from nlm.neural.rnn import score_sentences as rnn_score_sentences
from nlm.neural.softmax import make_output_layer
from nlm.neural.transformer import TransformerModel, TransformerTask, score_sentences


def test_shards_cover_the_rows_once():
    assert shards(5, 2) == [(0, 2), (2, 5)]
    assert shards(7, 3) == [(0, 2), (2, 4), (4, 7)]
    assert shards(1, 4) == [(0, 1)]
    assert shards(6, 1) == [(0, 6)]


def test_union_rows_keeps_only_keys_sparse_everywhere():
    u = union_rows([{"E": np.array([3, 1]), "W": np.array([2])}, {"E": np.array([1, 5])}])
    assert list(u) == ["E"]
    np.testing.assert_array_equal(u["E"], [1, 3, 5])


def assert_same_gradients(one, many):
    """The same touched rows, and the same gradients on them (float64)."""
    r1, rk = one.touched_rows(), many.touched_rows()
    assert sorted(r1) == sorted(rk)
    for k, rows in r1.items():
        np.testing.assert_array_equal(np.unique(rows), np.unique(rk[k]))
    for k, g in one.grads.items():
        rows = r1.get(k)
        want = g if rows is None else g[rows]
        got = many.grads[k] if rows is None else many.grads[k][rows]
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14, err_msg=k)


def _task(tiny, softmax, tie, workers):
    vocab, corpus = tiny
    net, _ = random_network(softmax, tie, layers=2, heads=2, V=len(vocab), C=8, T=6, seed=1)
    task = TransformerTask(net, corpus, None, 5, {}, dropout=0.2, attention_dropout=0.1,
                           workers=workers)
    task.start_epoch(np.random.default_rng(7))
    return task


@pytest.mark.parametrize("softmax, tie, workers", [
    ("full", True, 2), ("full", False, 3), ("class", False, 2), ("class", True, 4)])
def test_split_step_equals_one_worker(tiny, softmax, tie, workers):
    """Same loss, same touched rows and the same gradients on them (float64), over two
    steps (the second one checks that the first one's rows do not linger)."""
    one, many = _task(tiny, softmax, tie, 1), _task(tiny, softmax, tie, workers)
    assert len(many.parallel.nets) == workers
    for i in range(2):
        l1, n1 = one.step(i)
        lk, nk = many.step(i)
        assert nk == n1 and lk == pytest.approx(l1, rel=1e-12)
        assert_same_gradients(one, many)


@pytest.mark.parametrize("softmax", ["full", "class"])
def test_split_scoring_equals_one_worker(tiny, softmax):
    vocab, corpus = tiny
    net, _ = random_network(softmax, True, layers=2, heads=2, V=len(vocab), C=8, T=6, seed=2)
    one = score_sentences(DataParallel(net, 1), corpus.ids, corpus.offsets)
    three = score_sentences(DataParallel(net, 3), corpus.ids, corpus.offsets)
    assert np.all(np.isfinite(one)) and len(one) == len(corpus.ids)
    np.testing.assert_allclose(three, one, rtol=1e-12)


def test_training_with_two_workers_matches_one(tiny, monkeypatch):
    """Whole training runs (float32, AdamW, dropout): the parameters after three epochs
    agree to float32 rounding, and scoring agrees."""
    vocab, corpus = tiny
    opts = {**TINY_TF, "epochs": 3, "batch_size": 4, "dropout": 0.1,
            "attention_dropout": 0.1}
    monkeypatch.setattr(DP, "default_workers", lambda: 1)
    a = TransformerModel.fit(corpus, vocab, **opts)
    lp_a = a.score_corpus(corpus.ids, corpus.offsets)
    monkeypatch.setattr(DP, "default_workers", lambda: 2)
    b = TransformerModel.fit(corpus, vocab, **opts)
    for k in a.params:
        np.testing.assert_allclose(b.params[k], a.params[k], rtol=2e-4, atol=2e-5, err_msg=k)
    np.testing.assert_allclose(b.score_corpus(corpus.ids, corpus.offsets), lp_a, rtol=1e-4,
                               atol=1e-4)


# -- the recurrent networks --------------------------------------------------------------------
def _rnn_task(tiny, cell, softmax, workers, awd):
    vocab, corpus = tiny
    rng = np.random.default_rng(3)
    tie = cell == "lstm"
    out = make_output_layer(softmax, len(vocab), counts=vocab.counts, classes=3)
    p = RNNNetwork.init_params(rng, len(vocab), 6, 6, out, vocab.counts, "xavier", 0.5,
                               np.float64, tie=tie, cell=cell, layers=2)
    net = RNNNetwork(p, "tanh", out, tie=tie, cell=cell, layers=2)
    task = RNNTask(net, corpus, None, 5, 4, True, {}, dropout=0.2, awd=awd, workers=workers)
    task.start_epoch(np.random.default_rng(5))
    return task


AWD = AWDSettings(variational=True, emb_dropout=0.1, weight_drop=0.2, ar=1.0, tar=1.0)


@pytest.mark.parametrize("cell, softmax, workers, awd", [
    ("lstm", "full", 2, AWD), ("gru", "class", 3, AWD), ("elman", "full", 2, AWDSettings()),
    ("lstm", "class", 4, AWDSettings())])
def test_split_rnn_chunk_equals_one_worker(tiny, cell, softmax, workers, awd):
    """Streams split between workers: the same loss, carried state, touched rows and
    gradients (float64), with dropout, DropConnect, AR and TAR, over two chunks."""
    one = _rnn_task(tiny, cell, softmax, 1, awd)
    many = _rnn_task(tiny, cell, softmax, workers, awd)
    assert len(many.parallel.nets) == workers
    for i in range(2):
        l1, n1 = one.step(i)
        lk, nk = many.step(i)
        assert nk == n1 and lk == pytest.approx(l1, rel=1e-12)
        np.testing.assert_allclose(many.h, one.h, rtol=1e-12, atol=1e-15)
        assert_same_gradients(one, many)


def test_split_rnn_scoring_equals_one_worker(tiny):
    vocab, corpus = tiny
    net = _rnn_task(tiny, "gru", "class", 1, AWDSettings()).net
    one = rnn_score_sentences(DataParallel(net, 1), corpus.ids, corpus.offsets)
    three = rnn_score_sentences(DataParallel(net, 3), corpus.ids, corpus.offsets)
    assert np.all(np.isfinite(one)) and len(one) == len(corpus.ids)
    np.testing.assert_allclose(three, one, rtol=1e-12)
    np.testing.assert_allclose(net.score(corpus.ids, corpus.offsets), one, rtol=1e-12)
