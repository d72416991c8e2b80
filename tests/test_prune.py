"""Entropy pruning: the closed-form entropy change against a brute-force relative
entropy, a tiny case worked by hand, SRILM's pruning rules, and normalization."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conformance import LanguageModelConformance, random_contexts
from conftest import MORE_TEXT, AbsoluteDiscounting, shared_path

from nlm.errors import OptionError
from nlm.ngram.addk import AddKModel
from nlm.ngram.backoff import BackoffModel
from nlm.ngram.prune import entropy_deltas, prune_entropy
from nlm.vocab import BOS_ID, EOS_ID, Vocabulary


@pytest.fixture(scope="module")
def tri():
    return AbsoluteDiscounting(MORE_TEXT, 3).backoff_model()


@pytest.fixture(scope="module")
def five():
    return AbsoluteDiscounting(MORE_TEXT, 5, D=0.8).backoff_model()


class TestPrunedFivegram(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, five):
        pruned = prune_entropy(five, 2e-3)
        before, after = five.describe()["ngrams"], pruned.describe()["ngrams"]
        assert all(a < b for a, b in zip(after[1:], before[1:]))  # every order lost some
        assert after[0] == before[0]
        return pruned


# -- a case small enough to do by hand -----------------------------------------------
def tiny_bigram():
    """p(<unk>, <s>, </s>, a, b) = (.1, 0, .3, .4, .2); stored bigrams p(a|a) = .2,
    p(b|a) = .5, p(a|<s>) = .6; so bow(a) = (1-.7)/(1-.6) = .75, bow(<s>) = .4/.6."""
    vocab = Vocabulary(["<unk>", "<s>", "</s>", "a", "b"], np.zeros(5, np.int64))
    V = 5
    uni = np.array([math.log(0.1), -math.inf, math.log(0.3), math.log(0.4), math.log(0.2)])
    keys = np.array([1 * V + 3, 3 * V + 3, 3 * V + 4])            # <s> a, a a, a b
    bigram = np.log([0.6, 0.2, 0.5])
    bow = np.zeros(V)
    bow[3] = math.log(0.75)
    bow[1] = math.log(0.4 / 0.6)
    return BackoffModel(vocab, [np.arange(V), keys], [uni, bigram], [bow])


def test_tiny_case_by_hand():
    m = tiny_bigram()
    d = entropy_deltas(m)[1]
    # remove "a b": bow'(a) = (.3 + .5) / (.4 + .2) = 4/3; after "a", b goes .5 -> .2 * 4/3,
    # a stays .2, </s> and <unk> (mass .3) scale from .75 to 4/3; P(a) = .4
    kl_a = 0.5 * math.log(0.5 / (0.2 * 4 / 3)) + 0.3 * math.log(0.75 / (4 / 3))
    assert d[2] == pytest.approx(0.4 * kl_a, rel=1e-12)
    assert 0.4 * kl_a == pytest.approx(0.0566781, abs=1e-7)
    # remove "a a": bow'(a) = (.3 + .2) / (.4 + .4) = 5/8; a goes .2 -> .4 * 5/8
    kl_aa = 0.2 * math.log(0.2 / (0.4 * 5 / 8)) + 0.3 * math.log(0.75 / (5 / 8))
    assert d[1] == pytest.approx(0.4 * kl_aa, rel=1e-12)
    # remove "<s> a": bow'(<s>) = 1; a goes .6 -> .4, the rest (mass .4) from 2/3 to 1;
    # P(<s>) is taken as P(</s>) = .3, as SRILM does
    kl_s = 0.6 * math.log(0.6 / 0.4) + 0.4 * math.log((0.4 / 0.6) / 1.0)
    assert d[0] == pytest.approx(0.3 * kl_s, rel=1e-12)
    # pruning keeps an n-gram exactly when exp(delta) - 1 reaches the threshold:
    # deltas are .0040 (a a) < .0243 (<s> a) < .0567 (a b)
    t = math.expm1(0.4 * kl_a)
    assert prune_entropy(m, t * 1.0001).describe()["ngrams"] == [5, 0]
    p = prune_entropy(m, t * 0.9999)
    assert p.describe()["ngrams"] == [5, 1]
    # what is left is "a b" alone: bow(a) = (1 - .5) / (1 - .2) = .625
    np.testing.assert_allclose(np.exp(p.next_logprobs((3,))),
                               [0.1 * 0.625, 0, 0.3 * 0.625, 0.4 * 0.625, 0.5], rtol=1e-12)
    np.testing.assert_allclose(np.exp(p.next_logprobs((BOS_ID,))), [0.1, 0, 0.3, 0.4, 0.2],
                               rtol=1e-12)


# -- the closed form against brute force on a real model -----------------------------
def context_prob(model, h):
    """P(h) by the chain rule over the model's own conditionals; a leading <s> is
    given the probability of </s> (the convention of SRILM's pruning)."""
    h = list(h)
    total = model.next_logprobs(())[EOS_ID if h[0] == BOS_ID else h[0]]
    for i in range(1, len(h)):
        total += model.next_logprobs(tuple(h[:i]))[h[i]]
    return math.exp(total)


def without(model, k, row):
    """The model with n-gram ``row`` of order k removed and its context's backoff
    weight renormalized, built directly (no pruning code involved)."""
    V = model.vocab_size
    keys = [x.copy() for x in model.tables.keys]
    lp = [x.copy() for x in model.logprobs]
    bow = [x.copy() for x in model.logbows]
    gram = tuple(model.ngram_words(k)[row])
    h, w = gram[:-1], gram[-1]
    h_row = model.tables.find(h)
    keys[k - 1] = np.delete(keys[k - 1], row)
    lp[k - 1] = np.delete(lp[k - 1], row)
    if k < model.order:
        bow[k - 1] = np.delete(bow[k - 1], row)
        prefix = keys[k] // V     # the rows after the removed one move up by one
        keys[k] = np.where(prefix > row, prefix - 1, prefix) * V + keys[k] % V
    siblings = [x for x in range(len(keys[k - 1])) if keys[k - 1][x] // V == h_row]
    num = 1 - sum(math.exp(lp[k - 1][x]) for x in siblings)
    den = 1 - sum(math.exp(model.next_logprobs(h[1:])[keys[k - 1][x] % V]) for x in siblings)
    bow[k - 2][h_row] = math.log(num / den)
    return BackoffModel(model.vocab, keys, lp, bow), h, w


def test_closed_form_equals_brute_force_relative_entropy(tri):
    deltas = entropy_deltas(tri)
    V = tri.vocab_size
    checked = 0
    for k in (2, 3):
        has_child = (np.zeros(len(tri.tables.keys[k - 1]), bool) if k == 3 else
                     np.bincount(tri.tables.keys[2] // V, minlength=len(tri.tables.keys[1])) > 0)
        for row in range(len(tri.tables.keys[k - 1])):
            if has_child[row]:
                continue  # removing it would orphan longer n-grams
            pruned, h, w = without(tri, k, row)
            p = np.exp(tri.next_logprobs(h))
            p2 = np.exp(pruned.next_logprobs(h))
            nz = p > 0
            kl = float(np.sum(p[nz] * np.log(p[nz] / p2[nz])))
            assert deltas[k - 1][row] == pytest.approx(context_prob(tri, h) * kl,
                                                       rel=1e-9, abs=1e-15), (h, w)
            checked += 1
    assert checked > 50


# -- the pruning rules ------------------------------------------------------------
def test_threshold_zero_prunes_nothing(five):
    same = prune_entropy(five, 0.0)
    assert same.describe()["ngrams"] == five.describe()["ngrams"]
    for ctx in random_contexts(five, n=20):
        np.testing.assert_array_equal(same.next_logprobs(same.state_after(ctx)),
                                      five.next_logprobs(five.state_after(ctx)))
    assert same.options["prune_entropy"] == 0.0


def test_larger_threshold_prunes_more(five):
    sizes = [sum(prune_entropy(five, t).describe()["ngrams"][1:])
             for t in (0.0, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1.0)]
    assert all(a >= b for a, b in zip(sizes, sizes[1:]))
    assert sizes[0] > sizes[3] > sizes[-1]
    assert sizes[-1] == 0  # everything above unigrams goes at a huge threshold


def test_decisions_follow_the_rules(five):
    """Pruned exactly when exp(delta) - 1 < threshold and no kept longer n-gram
    extends it; kept n-grams keep their probabilities."""
    t = 2e-3
    pruned = prune_entropy(five, t)
    deltas = entropy_deltas(five)
    kept_sets = []
    for k in range(1, five.order + 1):
        kept_sets.append({tuple(g) for g in pruned.ngram_words(k)})
    for k in range(five.order, 1, -1):
        words = five.ngram_words(k)
        for g, d, lp in zip(words, deltas[k - 1], five.logprobs[k - 1]):
            g = tuple(g)
            is_context = k < five.order and any(c[:-1] == g for c in kept_sets[k])
            should_keep = is_context or math.expm1(d) >= t
            assert (g in kept_sets[k - 1]) == should_keep, (g, d)
            if should_keep:
                row = pruned.tables.find(g)
                assert pruned.logprobs[k - 1][row] == lp
    assert kept_sets[0] == {(w,) for w in range(five.vocab_size)}


def test_pruned_kenlm_model_is_normalized_and_smaller():
    from nlm.corpus import read_corpus
    from nlm.evaluate import evaluate
    from nlm.ngram.arpa import read_arpa
    model = read_arpa(shared_path("reference", "kenlm", "ts-small.o3.arpa.gz"))
    unigram_error = math.fsum(np.exp(model.logprobs[0])) - 1.0  # KenLM's float32 rounding
    corpus = read_corpus(shared_path("corpora", "tinyshakespeare", "valid.txt"), model.vocab)
    ppl = evaluate(model, corpus).perplexity
    last = None
    for t in (1e-7, 1e-6, 1e-5):
        pruned = prune_entropy(model, t)
        n = pruned.describe()["ngrams"]
        assert n[0] == 3619 and sum(n[1:]) < sum(model.describe()["ngrams"][1:])
        if last is not None:
            assert sum(n) < last
        last = sum(n)
        for ctx in random_contexts(pruned, n=15):
            total = math.fsum(np.exp(pruned.next_logprobs(pruned.state_after(ctx))))
            # KenLM's unigrams sum to 1 only within float32 rounding (4e-8 here);
            # contexts inherit that error, scaled by their weights; a wrong weight
            # would be off by far more
            assert abs(total - 1.0) < 10 * abs(unigram_error)
        pruned_ppl = evaluate(pruned, corpus).perplexity
        assert ppl < pruned_ppl < 1.5 * ppl


def test_bad_input(tri, tiny):
    vocab, corpus = tiny
    for bad in (-1e-3, float("nan"), float("inf"), "x"):
        with pytest.raises(OptionError):
            prune_entropy(tri, bad)
    with pytest.raises(OptionError, match="backoff"):
        prune_entropy(AddKModel.fit(corpus, vocab, order=2, k=0.5), 1e-4)
    stupid = BackoffModel(tri.vocab, tri.tables.keys, tri.logprobs, tri.logbows,
                          method="stupid", normalized=False)
    with pytest.raises(OptionError, match="not probabilities"):
        prune_entropy(stupid, 1e-4)
