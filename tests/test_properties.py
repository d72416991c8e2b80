"""Property-based tests (hypothesis) of the pieces every model relies on."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from nlm.corpus import Corpus
from nlm.ngram.addk import AddKModel
from nlm.sample import sampling_distribution
from nlm.vocab import BOS_ID, Vocabulary
from conftest import corpus_from_lines

finite_scores = arrays(np.float64, st.integers(3, 40),
                       elements=st.floats(-30, 0, allow_nan=False, allow_infinity=False))


def _normalize(scores):
    return scores - np.logaddexp.reduce(scores)


@settings(max_examples=200, deadline=None)
@given(finite_scores, st.floats(0.05, 5.0), st.one_of(st.none(), st.integers(1, 50)),
       st.one_of(st.none(), st.floats(0.01, 1.0)))
def test_sampling_distribution_is_a_distribution(scores, temperature, top_k, top_p):
    lp = _normalize(scores)
    p = sampling_distribution(lp, temperature, top_k, top_p)
    assert p[BOS_ID] == 0.0
    assert (p >= 0).all() and math.isclose(p.sum(), 1.0, rel_tol=1e-12)
    kept = np.flatnonzero(p)
    if top_k is not None:
        # ties at the k-th score may keep more; nothing below it is kept
        kth = np.sort(np.delete(lp, BOS_ID))[::-1][min(top_k, len(lp) - 1) - 1]
        assert (np.delete(lp, BOS_ID)[np.delete(p, BOS_ID) > 0] >= kth - 1e-12).all()
    if top_p is None and top_k is None:
        base = np.exp(np.delete(lp, BOS_ID) / temperature)
        np.testing.assert_allclose(np.delete(p, BOS_ID), base / base.sum(), rtol=1e-9)
    # what is kept is always the most likely tokens
    if len(kept) and len(kept) < len(p) - 1:
        dropped = np.setdiff1d(np.arange(len(p)), np.append(kept, BOS_ID))
        assert lp[kept].min() >= lp[dropped].max() - 1e-12


sentence = st.lists(st.sampled_from(["a", "b", "c", "d", "zz"]), min_size=0, max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(sentence, min_size=1, max_size=5), st.integers(1, 4), st.floats(0.01, 2.0))
def test_addk_scores_any_text_consistently(test_sentences, order, k):
    vocab, corpus = corpus_from_lines(["a b c", "b c d", "a a b", "d c b a"])
    model = AddKModel.fit(corpus, vocab, order=order, k=k)
    test = Corpus.from_sentences(test_sentences, vocab)
    fast = model.score_corpus(test.ids, test.offsets)
    assert len(fast) == sum(len(s) + 1 for s in test_sentences)
    slow = np.concatenate([model.score_sentence(test.sentence(i)) for i in range(test.sentences)])
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    assert (fast < 0).all() and (fast >= math.log(k / (13 + 4 + k * len(vocab))) - 1e-12).all()


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=4).filter(
           lambda w: w.strip() == w and w and w not in ("<s>", "</s>")),   # not words
                       st.integers(1, 20), min_size=1, max_size=15),
       st.integers(1, 5), st.one_of(st.none(), st.integers(4, 12)))
def test_vocabulary_cutoffs_keep_frequency_order(counts, min_count, max_size):
    from collections import Counter
    v = Vocabulary.build(Counter(counts), 3, min_count=min_count, max_size=max_size)
    kept = v.words[3:]
    assert all(counts[w] >= min_count for w in kept if w in counts)
    assert max_size is None or len(v) <= max_size
    freqs = [counts.get(w, 0) for w in kept]
    assert freqs == sorted(freqs, reverse=True)
    assert v.counts[3:].sum() + v.counts[0] == sum(counts.values())
