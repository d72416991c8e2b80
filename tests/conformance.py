"""The conformance suite every LanguageModel joins.

A model's test module subclasses :class:`LanguageModelConformance` and
provides a ``model`` fixture (a trained model, ideally class-scoped); every
test below then runs against it:

    class TestAddK(LanguageModelConformance):
        @pytest.fixture(scope="class")
        @classmethod
        def model(cls, tiny):
            vocab, corpus = tiny
            return AddKModel.fit(corpus, vocab, order=3, k=0.5)

Models whose scores are not probabilities (``normalized = False``, only
stupid backoff) skip the sums-to-1 and sampling-frequency tests.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from nlm.modelfile import load, save
from nlm.sample import generate, sampling_distribution
from nlm.vocab import BOS_ID, EOS_ID, UNK


def random_contexts(model, n=25, max_len=6, seed=1234):
    """Random token-id contexts, including <unk> and ids never seen together."""
    rng = np.random.default_rng(seed)
    V = model.vocab_size
    choices = [i for i in range(V) if i != BOS_ID]
    out = [[]]
    for _ in range(n):
        length = int(rng.integers(1, max_len + 1))
        out.append([int(x) for x in rng.choice(choices, size=length)])
    out.append([0] * 3)  # <unk> context
    return out


def random_corpus(model, sentences=12, max_len=8, seed=99):
    """(ids, offsets) of random sentences over the vocabulary, each ending in </s>."""
    rng = np.random.default_rng(seed)
    V = model.vocab_size
    choices = np.array([i for i in range(V) if i not in (BOS_ID, EOS_ID)])
    parts, offsets = [], [0]
    for _ in range(sentences):
        length = int(rng.integers(0, max_len + 1))
        parts.append(np.append(rng.choice(choices, size=length), EOS_ID))
        offsets.append(offsets[-1] + length + 1)
    return np.concatenate(parts).astype(np.int32), np.array(offsets, dtype=np.int64)


def chi_square_critical(df: int, z: float = 3.719) -> float:
    """Upper quantile of chi-square (Wilson-Hilferty); z=3.719 is p = 1e-4."""
    a = 2.0 / (9.0 * df)
    return df * (1.0 - a + z * math.sqrt(a)) ** 3


class LanguageModelConformance:
    sum_tolerance = 1e-9
    score_tolerance = 1e-9
    n_samples = 4000

    def test_has_vocabulary_and_kind(self, model):
        assert model.kind, "model class is not registered"
        assert model.vocab_size == len(model.vocab) >= 3

    def test_distribution_is_normalized(self, model):
        if not model.normalized:
            pytest.skip("unnormalized model")
        for ctx in random_contexts(model):
            lp = model.next_logprobs(model.state_after(ctx))
            assert lp.shape == (model.vocab_size,)
            assert lp.dtype == np.float64
            assert not np.isnan(lp).any()
            total = math.fsum(np.exp(lp))
            assert abs(total - 1.0) < self.sum_tolerance, (ctx, total)

    def test_advance_does_not_change_state(self, model):
        s0 = model.initial_state()
        before = model.next_logprobs(s0).copy()
        model.advance(s0, 3 % model.vocab_size)
        np.testing.assert_array_equal(model.next_logprobs(s0), before)

    def test_logprob_agrees_with_distribution(self, model):
        words = model.vocab.words
        for ctx in random_contexts(model, n=10):
            lp = model.next_logprobs(model.state_after(ctx))
            context_words = [words[i] for i in ctx]
            for target in (EOS_ID, 0, model.vocab_size - 1, 3 % model.vocab_size):
                got = model.logprob(words[target], context_words)
                assert got == pytest.approx(lp[target], abs=1e-12) or (
                    np.isneginf(got) and np.isneginf(lp[target]))
        # an out-of-vocabulary word is scored as <unk>
        assert model.logprob("never-seen-word-xyz", []) == model.logprob(UNK, [])

    def test_fast_path_equals_token_by_token(self, model):
        ids, offsets = random_corpus(model)
        fast = model.score_corpus(ids, offsets)
        assert fast.shape == ids.shape and fast.dtype == np.float64
        slow = np.concatenate([
            [model.next_logprobs(model.state_after(ids[a:a + j]))[ids[a + j]]
             for j in range(b - a)]
            for a, b in zip(offsets[:-1], offsets[1:])])
        finite = np.isfinite(slow)
        np.testing.assert_array_equal(np.isfinite(fast), finite)
        np.testing.assert_allclose(fast[finite], slow[finite], rtol=0, atol=self.score_tolerance)

    def test_carried_scoring_equals_the_state_machine(self, model):
        """Carried-state scoring (sentences in order, the state carried across their
        boundaries) equals token-by-token scoring through initial_state, advance and
        next_sentence_state; a model that does not carry state scores per sentence."""
        ids, offsets = random_corpus(model, sentences=6)
        fast = model.score_corpus_carried(ids, offsets)
        assert fast.shape == ids.shape and fast.dtype == np.float64
        slow = []
        state = model.initial_state()
        for s, (a, b) in enumerate(zip(offsets[:-1], offsets[1:])):
            if s > 0:
                state = model.next_sentence_state(state)
            for j in range(a, b):
                slow.append(model.next_logprobs(state)[ids[j]])
                state = model.advance(state, int(ids[j])) if j < b - 1 else state
        slow = np.array(slow)
        finite = np.isfinite(slow)
        np.testing.assert_array_equal(np.isfinite(fast), finite)
        np.testing.assert_allclose(fast[finite], slow[finite], rtol=0, atol=self.score_tolerance)
        per_sentence = model.score_corpus(ids, offsets)
        if not model.carries_state:
            np.testing.assert_array_equal(fast, per_sentence)
        else:   # the first sentence starts from the initial state either way
            first = slice(offsets[0], offsets[1])
            np.testing.assert_allclose(fast[first], per_sentence[first], rtol=0,
                                       atol=self.score_tolerance)

    def test_save_load_gives_identical_scores(self, model, tmp_path):
        path = tmp_path / "model.npz"
        save(model, path)
        loaded = load(path)
        assert type(loaded) is type(model)
        assert loaded.vocab.words == model.vocab.words
        ids, offsets = random_corpus(model)
        np.testing.assert_array_equal(loaded.score_corpus(ids, offsets),
                                      model.score_corpus(ids, offsets))
        for ctx in random_contexts(model, n=5):
            np.testing.assert_array_equal(loaded.next_logprobs(loaded.state_after(ctx)),
                                          model.next_logprobs(model.state_after(ctx)))

    def test_sampling_frequencies_match_probabilities(self, model):
        if not model.normalized:
            pytest.skip("unnormalized model")
        words = model.vocab.words
        prompt = [words[int(np.argmax(model.vocab.counts[3:])) + 3]] if model.vocab_size > 3 else []
        state = model.state_after([model.vocab.id(w) for w in prompt])
        p = sampling_distribution(model.next_logprobs(state))
        samples = generate(model, n=self.n_samples, max_tokens=1, seed=7, prompt=prompt)
        observed = np.zeros(model.vocab_size)
        for s in samples:
            tail = s[len(prompt):]
            observed[model.vocab.id(tail[0]) if tail else EOS_ID] += 1
        expected = p * self.n_samples
        big = expected >= 5
        obs = np.append(observed[big], observed[~big].sum())
        exp = np.append(expected[big], expected[~big].sum())
        keep = exp > 0
        assert observed[p == 0].sum() == 0, "sampled a token of probability 0"
        chi2 = float((((obs - exp) ** 2)[keep] / exp[keep]).sum())
        df = int(keep.sum()) - 1
        if df < 1:
            pytest.skip("distribution too peaked for a chi-square test")
        assert chi2 < chi_square_critical(df), (chi2, df)

    def test_same_seed_same_samples(self, model):
        a = generate(model, n=3, max_tokens=15, seed=42)
        b = generate(model, n=3, max_tokens=15, seed=42)
        assert a == b
        c = generate(model, n=3, max_tokens=15, seed=43)
        assert all(isinstance(w, str) for s in a + c for w in s)
