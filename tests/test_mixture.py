"""Mixtures: the conformance suite, the interpolation arithmetic, EM against a grid
search and the optimality conditions, and mixture files (relative paths, checks)."""
from __future__ import annotations

import json
import math
import os
import shutil

import numpy as np
import pytest
from conformance import LanguageModelConformance, random_contexts, random_corpus
from conftest import TINY_TEXT, corpus_from_lines

from nlm.corpus import Corpus
from nlm.errors import ModelFileError, NlmError, OptionError
from nlm.evaluate import evaluate
from nlm.model import LanguageModel
from nlm.mixture import (MixtureModel, check_weights, em_weights, id_map,
                         vocabulary_difference)
from nlm.modelfile import HEADER, load, read_header, save
from nlm.ngram.addk import AddKModel
from nlm.ngram.backoff import BackoffModel
from nlm.ngram.counts import count_ngrams
from nlm.vocab import BOS_ID, Vocabulary

HELD_OUT = ["the dog sat on the mat", "a cat saw the log", "the red cat sat",
            "a dog and a cat on the log"]


def absolute_discount_bigram(corpus, vocab, D=0.5):
    """A hand-built normalized BackoffModel: absolute-discounted bigrams backing off
    to add-one unigrams (<s> has probability 0)."""
    V = len(vocab)
    counts = count_ngrams(corpus, 2, V)
    c1 = counts.counts[0].astype(np.float64)
    uni = c1 + 1.0
    uni[BOS_ID] = 0.0
    uni /= uni.sum()
    with np.errstate(divide="ignore"):
        logprob1 = np.log(uni)
    keys2, c2 = counts.keys[1], counts.counts[1].astype(np.float64)
    h, w = keys2 // V, keys2 % V
    ctx_total = np.bincount(h, weights=c2, minlength=V)
    types = np.bincount(h, minlength=V).astype(np.float64)
    p2 = (c2 - D) / ctx_total[h]
    seen_uni_mass = np.bincount(h, weights=uni[w], minlength=V)
    logbow = np.zeros(V)
    has = ctx_total > 0
    logbow[has] = np.log(D * types[has] / ctx_total[has] / (1.0 - seen_uni_mass[has]))
    return BackoffModel(vocab, [counts.keys[0], keys2], [logprob1, np.log(p2)], [logbow],
                        method="absolute-discount-test")


@pytest.fixture(scope="class")
def component_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("components")


def saved_mixture(directory, models, weights, names):
    paths = []
    for m, name in zip(models, names):
        p = directory / name
        save(m, p)
        paths.append(p)
    return MixtureModel.from_files(paths, weights)


class TestMixtureOfAddK(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny, component_dir):
        vocab, corpus = tiny
        return saved_mixture(component_dir, [AddKModel.fit(corpus, vocab, order=1, k=1.0),
                                             AddKModel.fit(corpus, vocab, order=3, k=0.1)],
                             [0.3, 0.7], ["unigram.npz", "trigram.npz"])


class TestMixtureOfAddKAndBackoff(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny, component_dir):
        vocab, corpus = tiny
        return saved_mixture(component_dir, [AddKModel.fit(corpus, vocab, order=2, k=0.5),
                                             absolute_discount_bigram(corpus, vocab)],
                             [0.45, 0.55], ["addk.npz", "backoff.npz"])


class TestNestedMixture(LanguageModelConformance):
    """A mixture whose component is itself a mixture file."""
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny, component_dir):
        vocab, corpus = tiny
        inner = saved_mixture(component_dir, [AddKModel.fit(corpus, vocab, order=1, k=1.0),
                                              AddKModel.fit(corpus, vocab, order=2, k=0.2)],
                              [0.5, 0.5], ["n1.npz", "n2.npz"])
        save(inner, component_dir / "inner-mix.npz")
        return saved_mixture(component_dir, [load(component_dir / "inner-mix.npz"),
                                             absolute_discount_bigram(corpus, vocab)],
                             [0.6, 0.4], ["inner-mix-copy.npz", "nested-backoff.npz"])


def write_arpa(model: BackoffModel, path, seed=0):
    """``model`` (a bigram BackoffModel) as an ARPA file listing its words in a
    shuffled order, so the model read back has the same words with other ids."""
    V, words = model.vocab_size, model.vocab.words

    def log10(x):
        return "-99" if x == -np.inf else repr(float(x) / math.log(10.0))

    order = list(range(3)) + list(np.random.default_rng(seed).permutation(np.arange(3, V)))
    keys2 = model.tables.keys[1]
    lines = ["\\data\\", f"ngram 1={V}", f"ngram 2={len(keys2)}", "", "\\1-grams:"]
    lines += [f"{log10(model.logprobs[0][i])}\t{words[i]}\t{log10(model.logbows[0][i])}"
              for i in order]
    lines += ["", "\\2-grams:"]
    lines += [f"{log10(lp)}\t{words[k // V]} {words[k % V]}"
              for k, lp in zip(keys2, model.logprobs[1])]
    lines += ["", "\\end\\", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class TestMixtureWithArpaComponent(LanguageModelConformance):
    """An ARPA file's words come in its own order: the mixture translates ids."""
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny, component_dir):
        vocab, corpus = tiny
        arpa = write_arpa(absolute_discount_bigram(corpus, vocab), component_dir / "bigram.arpa")
        save(AddKModel.fit(corpus, vocab, order=3, k=0.2), component_dir / "addk3.npz")
        mix = MixtureModel.from_files([component_dir / "addk3.npz", arpa], [0.5, 0.5])
        assert mix.components[1].vocab.words != vocab.words   # really another order
        return mix


def test_arpa_component_scores_as_the_original(tiny, component_dir):
    vocab, corpus = tiny
    addk = AddKModel.fit(corpus, vocab, order=3, k=0.2)
    bigram = absolute_discount_bigram(corpus, vocab)
    save(addk, component_dir / "addk3b.npz")
    arpa = write_arpa(bigram, component_dir / "bigram-b.arpa", seed=1)
    via_arpa = MixtureModel.from_files([component_dir / "addk3b.npz", arpa], [0.3, 0.7])
    direct = MixtureModel([addk, bigram], [0.3, 0.7])
    ids, offsets = random_corpus(direct, sentences=30)
    np.testing.assert_allclose(via_arpa.score_corpus(ids, offsets),
                               direct.score_corpus(ids, offsets), rtol=1e-12)
    for ctx in random_contexts(direct, n=6):
        np.testing.assert_allclose(via_arpa.next_logprobs(via_arpa.state_after(ctx)),
                                   direct.next_logprobs(direct.state_after(ctx)), rtol=1e-12)
    # and with the ARPA model first, the mixture's ids are the ARPA file's
    flipped = MixtureModel.from_files([arpa, component_dir / "addk3b.npz"], [0.7, 0.3])
    held = [s.split() for s in HELD_OUT]
    assert evaluate(flipped, Corpus.from_sentences(held, flipped.vocab)).perplexity == \
        pytest.approx(evaluate(direct, Corpus.from_sentences(held, vocab)).perplexity, rel=1e-12)


class TestMixtureOfNgramAndNeuralModels(LanguageModelConformance):
    """add-k + MLP + RNN: the states are a tuple, an n-gram context and a hidden vector."""
    n_samples = 400   # each sample runs both networks one token at a time
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny, component_dir):
        from nlm.neural.mlp import MLPModel
        from nlm.neural.rnn import RNNModel
        vocab, corpus = tiny
        return saved_mixture(component_dir, [
            AddKModel.fit(corpus, vocab, order=2, k=0.5),
            MLPModel.fit(corpus, vocab, order=3, emb=8, hidden=16, epochs=2),
            RNNModel.fit(corpus, vocab, hidden=8, bptt=5, batch_size=2, epochs=2)],
            [0.3, 0.3, 0.4], ["addk-n.npz", "mlp.npz", "rnn.npz"])


def test_hand_built_backoff_is_normalized(tiny):
    vocab, corpus = tiny
    m = absolute_discount_bigram(corpus, vocab)
    for ctx in random_contexts(m, n=10):
        assert math.fsum(np.exp(m.next_logprobs(m.state_after(ctx)))) == pytest.approx(1, abs=1e-12)


# -- the interpolation arithmetic ------------------------------------------------


@pytest.fixture(scope="module")
def pair(tiny):
    vocab, corpus = tiny
    return (AddKModel.fit(corpus, vocab, order=1, k=1.0),
            AddKModel.fit(corpus, vocab, order=3, k=0.05))


def test_next_logprobs_is_the_weighted_sum(pair):
    a, b = pair
    mix = MixtureModel([a, b], [0.25, 0.75])
    for ctx in random_contexts(a, n=8):
        expected = 0.25 * np.exp(a.next_logprobs(a.state_after(ctx))) + \
            0.75 * np.exp(b.next_logprobs(b.state_after(ctx)))
        np.testing.assert_allclose(np.exp(mix.next_logprobs(mix.state_after(ctx))), expected,
                                   rtol=1e-12)


def test_score_corpus_combines_the_components(pair):
    a, b = pair
    mix = MixtureModel([a, b], [0.9, 0.1])
    ids, offsets = random_corpus(a, sentences=20)
    expected = np.log(0.9 * np.exp(a.score_corpus(ids, offsets)) +
                      0.1 * np.exp(b.score_corpus(ids, offsets)))
    np.testing.assert_allclose(mix.score_corpus(ids, offsets), expected, rtol=1e-12)
    np.testing.assert_array_equal(mix.component_logprobs(ids, offsets),
                                  np.stack([a.score_corpus(ids, offsets),
                                            b.score_corpus(ids, offsets)]))


def test_weights_default_uniform_and_are_normalized(pair):
    assert MixtureModel(pair).weights.tolist() == [0.5, 0.5]
    assert MixtureModel(pair, [2, 6]).weights.tolist() == [0.25, 0.75]


def test_zero_weight_component_is_never_consulted(pair):
    a, b = pair
    mix = MixtureModel([a, b], [1.0, 0.0])
    state = mix.initial_state()
    assert state[1] is None
    ids, offsets = random_corpus(a)
    np.testing.assert_array_equal(mix.score_corpus(ids, offsets), a.score_corpus(ids, offsets))
    np.testing.assert_array_equal(mix.next_logprobs(mix.advance(state, 4)),
                                  a.next_logprobs(a.advance(a.initial_state(), 4)))


def test_a_zero_probability_in_one_component_is_covered_by_the_other(pair):
    a, b = pair

    class Holes(AddKModel):
        """Gives the word id 3 probability 0 everywhere (renormalizing the rest)."""
        def next_logprobs(self, state):
            lp = super().next_logprobs(state)
            lp[3] = -np.inf
            return lp - np.logaddexp.reduce(lp)

        def score_corpus(self, ids, offsets):
            return LanguageModel.score_corpus(self, ids, offsets)

    holes = Holes(a.vocab, b.counts, b.k)
    mix = MixtureModel([holes, a], [0.5, 0.5])
    lp = mix.next_logprobs(mix.initial_state())
    assert np.isfinite(lp).all()
    assert lp[3] == pytest.approx(math.log(0.5) + a.next_logprobs(a.initial_state())[3])
    ids = np.array([3, 3, 2], dtype=np.int32)
    offsets = np.array([0, 3], dtype=np.int64)
    assert np.isfinite(mix.score_corpus(ids, offsets)).all()
    # only tokens that every component gives probability 0 are left out of EM
    r = em_weights(np.array([[-np.inf, -1.0, -np.inf], [-2.0, -1.0, -np.inf]]))
    assert r.skipped == 1 and r.tokens == 2


def test_mixture_evaluates_and_samples(pair):
    from nlm.sample import generate
    a, b = pair
    mix = MixtureModel([a, b], [0.4, 0.6])
    held = Corpus.from_sentences([s.split() for s in HELD_OUT], a.vocab)
    ev = evaluate(mix, held)
    lp = np.log(0.4 * np.exp(a.score_corpus(held.ids, held.offsets)) +
                0.6 * np.exp(b.score_corpus(held.ids, held.offsets)))
    assert ev.perplexity == pytest.approx(math.exp(-lp.mean()), rel=1e-12)
    assert len(generate(mix, n=3, seed=1)) == 3


def test_vocabulary_mismatch_is_a_clear_error(pair):
    a, _ = pair
    vocab2, corpus2 = corpus_from_lines(TINY_TEXT + ["a zebra sat"])
    other = AddKModel.fit(corpus2, vocab2, order=2)
    with pytest.raises(OptionError, match="different vocabulary.*1 only in the second, "
                       "e.g. 'zebra'"):
        MixtureModel([a, other])
    vocab3, corpus3 = corpus_from_lines(TINY_TEXT)
    vocab3.lowercase = True
    with pytest.raises(OptionError, match="lowercase"):
        MixtureModel([a, AddKModel.fit(corpus3, vocab3, order=2)])
    assert vocabulary_difference(a.vocab, corpus_from_lines(TINY_TEXT)[0]) is None
    # the same words in another order can be mixed: ids are translated
    v = corpus_from_lines(TINY_TEXT)[0]
    words = list(v.words)
    words[5], words[6] = words[6], words[5]
    swapped = Vocabulary(words, v.counts)
    assert vocabulary_difference(a.vocab, swapped) is None
    m = id_map(a.vocab, swapped)
    assert m[5] == 6 and m[6] == 5 and (m[:5] == np.arange(5)).all()
    assert id_map(a.vocab, a.vocab) is None


def test_unnormalized_components_are_refused(pair):
    a, b = pair

    class Scores(AddKModel):
        normalized = False

    with pytest.raises(OptionError, match="not probabilities"):
        MixtureModel([a, Scores(b.vocab, b.counts, b.k)])


@pytest.mark.parametrize("weights, needle", [
    ([0.5], "1 weight"), ([0.5, 0.3, 0.2], "3 weight"), ([-0.1, 1.1], "non-negative"),
    ([float("nan"), 1], "finite"), ([0, 0], "positive"), (["x", 1], "numbers")])
def test_bad_weights(pair, weights, needle):
    with pytest.raises(OptionError, match=needle):
        MixtureModel(pair, weights)


def test_no_components():
    with pytest.raises(OptionError, match="at least one"):
        MixtureModel([])


# -- EM ---------------------------------------------------------------------------


def loglik(L, w):
    return float(np.logaddexp.reduce(L + np.log(np.asarray(w))[:, None], axis=0).sum())


def synthetic_logprobs(seed, K=2, V=30, T=4000, true_weights=(0.3, 0.7)):
    """(K, T) log-probs of tokens drawn from a known mixture of K random distributions."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(V, 0.3), size=K)          # (K, V)
    p_mix = np.asarray(true_weights) @ P
    tokens = rng.choice(V, size=T, p=p_mix)
    with np.errstate(divide="ignore"):
        return np.log(P[:, tokens])


def test_em_likelihood_never_decreases_and_converges(pair):
    a, b = pair
    held = Corpus.from_sentences([s.split() for s in HELD_OUT], a.vocab)
    vocab, corpus = corpus_from_lines(TINY_TEXT)
    c = AddKModel.fit(corpus, vocab, order=2, k=0.3)
    L = MixtureModel([a, b, c]).component_logprobs(held.ids, held.offsets)
    r = em_weights(L, tol=1e-10)
    assert r.converged and r.iterations > 3
    diffs = np.diff(r.loglik)
    assert (diffs >= -1e-9 * abs(r.loglik[0])).all(), diffs
    assert r.loglik[-1] > r.loglik[0] + 0.1
    assert r.loglik[-1] == pytest.approx(loglik(L, r.weights), rel=1e-12)
    assert len(r.loglik) == r.iterations + 1
    assert r.weights.sum() == pytest.approx(1.0, abs=1e-12) and (r.weights > 0).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_em_reaches_the_grid_search_optimum_for_two_weights(seed):
    L = synthetic_logprobs(seed, T=3000, true_weights=(0.35, 0.65))
    r = em_weights(L, tol=1e-12)
    # 1-D grid over w in (0, 1), then a finer grid around the best point
    grid = np.linspace(1e-4, 1 - 1e-4, 2001)
    vals = [loglik(L, (w, 1 - w)) for w in grid]
    best = grid[int(np.argmax(vals))]
    fine = np.linspace(max(best - 1e-3, 1e-6), min(best + 1e-3, 1 - 1e-6), 2001)
    vals = [loglik(L, (w, 1 - w)) for w in fine]
    w_grid = fine[int(np.argmax(vals))]
    assert r.weights[0] == pytest.approx(w_grid, abs=2e-6)
    assert r.loglik[-1] >= max(vals) - 1e-9
    # and the data were drawn from a known mixture: the optimum is near it
    assert r.weights[0] == pytest.approx(0.35, abs=0.05)


def test_em_meets_the_optimality_conditions_with_three_components():
    """At the maximum of sum_t ln sum_i w_i p_i(t) over the simplex, the gradient
    g_i = mean_t p_i(t) / p_mix(t) is 1 where w_i > 0 and at most 1 where w_i = 0."""
    L = synthetic_logprobs(5, K=3, T=5000, true_weights=(0.2, 0.5, 0.3))
    r = em_weights(L, tol=1e-13, max_iter=100_000)
    assert r.converged
    mix = np.logaddexp.reduce(L + np.log(r.weights)[:, None], axis=0)
    g = np.exp(L - mix).mean(axis=1)
    np.testing.assert_allclose(g, 1.0, atol=1e-6)
    np.testing.assert_allclose(r.weights, [0.2, 0.5, 0.3], atol=0.06)
    # no point of a simplex grid does better
    best = -np.inf
    for w0 in np.linspace(0.01, 0.98, 40):
        for w1 in np.linspace(0.01, 0.99 - w0, 40):
            best = max(best, loglik(L, (w0, w1, 1 - w0 - w1)))
    assert r.loglik[-1] >= best


def test_em_drives_a_useless_component_to_zero():
    rng = np.random.default_rng(3)
    good = np.log(rng.uniform(0.2, 0.5, size=500))
    bad = good - 3.0                           # always e^3 times less likely
    r = em_weights(np.stack([good, bad]), tol=1e-9)
    assert r.weights[1] < 1e-6 and r.converged


def test_em_single_component_and_bad_input():
    r = em_weights(np.log(np.full((1, 10), 0.1)))
    assert r.weights.tolist() == [1.0] and r.iterations == 1
    with pytest.raises(OptionError):
        em_weights(np.zeros(5))
    with pytest.raises(OptionError, match="NaN"):
        em_weights(np.array([[np.nan, -1.0]]))
    with pytest.raises(OptionError, match="positive"):
        em_weights(np.zeros((2, 3)), init=[1.0, 0.0])
    with pytest.raises(OptionError, match="no held-out token"):
        em_weights(np.full((2, 3), -np.inf))


def test_one_em_step_is_the_mean_posterior():
    L = synthetic_logprobs(11, K=3, T=200, true_weights=(0.1, 0.6, 0.3))
    w0 = np.array([0.5, 0.2, 0.3])
    joint = np.exp(L) * w0[:, None]                     # (K, T)
    expected = (joint / joint.sum(axis=0)).mean(axis=1)
    r = em_weights(L, init=w0, max_iter=1, tol=1e-15)
    np.testing.assert_allclose(r.weights, expected, rtol=1e-12)
    assert r.loglik[0] == pytest.approx(loglik(L, w0), rel=1e-12)


def test_em_stops_at_max_iter():
    L = synthetic_logprobs(7)
    r = em_weights(L, tol=1e-15, max_iter=3)
    assert r.iterations == 3 and not r.converged and len(r.loglik) == 4


def test_tune_returns_a_better_mixture(pair):
    a, b = pair
    held = Corpus.from_sentences([s.split() for s in HELD_OUT], a.vocab)
    mix = MixtureModel([a, b], [0.99, 0.01])
    tuned, r = mix.tune(held.ids, held.offsets)
    assert tuned.weights.tolist() == r.weights.tolist()
    assert evaluate(tuned, held).perplexity < evaluate(mix, held).perplexity
    # never worse than the best single component (a corner of the simplex),
    # up to how far EM's stopping tolerance leaves it from the optimum
    best_single = min(evaluate(a, held).perplexity, evaluate(b, held).perplexity)
    assert evaluate(tuned, held).perplexity < best_single * (1 + 1e-5)
    # a zero weight does not pin EM to a corner
    retuned, _ = MixtureModel([a, b], [1.0, 0.0]).tune(held.ids, held.offsets)
    np.testing.assert_allclose(retuned.weights, tuned.weights, atol=1e-4)


def test_check_weights_keeps_normalized_weights_bit_for_bit():
    w = [0.1, 0.2, 0.7000000000000001]
    assert check_weights(w, 3).tolist() == w


# -- mixture files ------------------------------------------------------------------


@pytest.fixture
def layout(tmp_path, pair):
    """models/a.npz, models/b.npz and a mixture mix.npz one directory up."""
    a, b = pair
    (tmp_path / "models").mkdir()
    save(a, tmp_path / "models" / "a.npz")
    save(b, tmp_path / "models" / "b.npz")
    mix = MixtureModel.from_files([tmp_path / "models" / "a.npz", tmp_path / "models" / "b.npz"],
                                  [0.2, 0.8])
    save(mix, tmp_path / "mix.npz")
    return tmp_path


def test_saved_mixture_is_small_and_refers_by_relative_path(layout):
    header, arrays = read_header(layout / "mix.npz")
    assert header["kind"] == "mixture"
    assert header["config"] == {"components": [os.path.join("models", "a.npz"),
                                               os.path.join("models", "b.npz")],
                                "weights": [0.2, 0.8]}
    assert set(arrays) == {"vocab.counts"}
    assert os.path.getsize(layout / "mix.npz") < 4096


def test_a_moved_directory_still_loads(layout, tmp_path_factory, pair):
    moved = tmp_path_factory.mktemp("elsewhere") / "copy"
    shutil.copytree(layout, moved)
    shutil.rmtree(layout / "models")
    mix = load(moved / "mix.npz")
    assert isinstance(mix, MixtureModel) and mix.weights.tolist() == [0.2, 0.8]
    assert mix.paths == [str(moved / "models" / "a.npz"), str(moved / "models" / "b.npz")]
    ids, offsets = random_corpus(mix)
    np.testing.assert_array_equal(mix.score_corpus(ids, offsets),
                                  MixtureModel(pair, [0.2, 0.8]).score_corpus(ids, offsets))


def test_loading_from_another_working_directory(layout, monkeypatch, tmp_path_factory):
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    assert isinstance(load(layout / "mix.npz"), MixtureModel)


def test_missing_component_names_it(layout):
    os.unlink(layout / "models" / "b.npz")
    with pytest.raises(ModelFileError, match=r"mix\.npz: component models.b\.npz not found"):
        load(layout / "mix.npz")


def test_corrupt_component_names_it(layout):
    (layout / "models" / "a.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match=r"component models.a\.npz: .*corrupt"):
        load(layout / "mix.npz")


def test_retrained_component_with_another_vocabulary_names_it(layout):
    vocab2, corpus2 = corpus_from_lines(TINY_TEXT + ["a zebra sat"])
    save(AddKModel.fit(corpus2, vocab2, order=2), layout / "models" / "b.npz")
    with pytest.raises(ModelFileError, match=r"component models.b\.npz has a different vocabulary"):
        load(layout / "mix.npz")


def test_corrupt_mixture_config(layout):
    header, arrays = read_header(layout / "mix.npz")
    for bad in ({"components": "a.npz", "weights": [1.0]},
                {"components": ["models/a.npz"], "weights": [0.5, 0.5]},
                {"components": ["models/a.npz", "models/b.npz"], "weights": [-1, 2]}):
        header["config"] = bad
        out = dict(arrays)
        out[HEADER] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        np.savez(layout / "bad.npz", **out)
        with pytest.raises(ModelFileError, match="bad.npz"):
            load(layout / "bad.npz")


def test_a_mixture_referring_to_itself_is_an_error_not_a_hang(layout):
    header, arrays = read_header(layout / "mix.npz")
    header["config"]["components"] = ["models/a.npz", "loop.npz"]
    out = dict(arrays)
    out[HEADER] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(layout / "loop.npz", **out)
    with pytest.raises(ModelFileError, match="refers to itself"):
        load(layout / "loop.npz")


def test_saving_needs_component_files(pair, tmp_path):
    with pytest.raises(NlmError, match="no model file"):
        save(MixtureModel(pair), tmp_path / "mix.npz")
    assert not (tmp_path / "mix.npz").exists()


def test_saving_onto_a_component_is_refused(layout):
    mix = load(layout / "mix.npz")
    with pytest.raises(NlmError, match="is one of the mixture's components"):
        save(mix, layout / "models" / "a.npz")
    assert isinstance(load(layout / "models" / "a.npz"), AddKModel)


# -- EM that knows when to stop ---------------------------------------------------------------
def test_em_never_returns_a_mixture_worse_than_its_best_component():
    rng = np.random.default_rng(8)
    good = np.log(rng.uniform(0.05, 0.5, size=2000))
    useless = good - 0.05 + rng.normal(0.0, 1e-3, size=2000)   # a little worse everywhere
    L = np.stack([useless, good])
    creeping = em_weights(L, tol=1e-9, loglik_tol=0.0)          # weights only: the old rule
    r = em_weights(L, tol=1e-9, loglik_tol=1e-7)
    assert creeping.iterations > 300 and r.iterations < 0.75 * creeping.iterations
    singles = [float(row.sum()) for row in L]
    assert r.final_loglik >= max(singles)
    # EM stopped short of the corner, so the good component alone is returned
    assert r.best_single == 1 and r.weights.tolist() == [0.0, 1.0]
    assert r.final_loglik == singles[1] and r.loglik[-1] < singles[1]


def test_em_keeps_its_weights_when_the_mixture_is_better():
    L = synthetic_logprobs(2, T=3000, true_weights=(0.4, 0.6))
    r = em_weights(L)
    assert r.best_single is None and 0.3 < r.weights[0] < 0.5
    assert r.final_loglik == r.loglik[-1] > max(float(row.sum()) for row in L)


@pytest.mark.parametrize("loglik_tol", [1e-5, 1e-7])
def test_em_stops_within_the_log_likelihood_tolerance_of_the_optimum(loglik_tol):
    L = synthetic_logprobs(4, K=3, T=2000, true_weights=(0.2, 0.3, 0.5))
    best = em_weights(L, tol=1e-15, loglik_tol=0.0, max_iter=100_000).loglik[-1]
    r = em_weights(L, tol=1e-15, loglik_tol=loglik_tol, max_iter=100_000)
    assert r.converged and r.best_single is None
    assert 0 <= best - r.loglik[-1] <= loglik_tol * abs(r.loglik[-1])
    assert r.iterations < em_weights(L, tol=1e-15, loglik_tol=0.0, max_iter=100_000).iterations
    with pytest.raises(OptionError, match="loglik_tol"):
        em_weights(L, loglik_tol=-1.0)
