"""MLE, Witten-Bell and absolute discounting agree with nltk.lm to 1e-9.

nltk.lm is fitted on exactly the n-grams nlm counts (one <s>, one </s> per
sentence, see tests/test_addk.py). nltk's Witten-Bell and absolute
discounting end their recursion with maximum-likelihood unigrams, so nlm's
are built with ``mle_unigrams=True`` here (nlm's default interpolates the
unigrams with the uniform distribution instead, as KenLM does).

nltk's Kneser-Ney is not compared: it is known to be wrong (nltk/nltk#3211,
#3065, #2599, #2332; see tests/test_ngram_methods.py, which checks nlm's
Kneser-Ney against its formulas instead).
"""
from __future__ import annotations

import math
import numpy as np
import pytest
from conftest import ROOT, TINY_TEXT, corpus_from_lines

from nlm.ngram.estimate.methods import fit_absolute, fit_mle, fit_witten_bell
from nlm.vocab import BOS, EOS

SHAKESPEARE = (ROOT / "corpora" / "shakespeare" / "train.txt").read_text("utf-8").splitlines()
SMALL_TEXT = [line for line in SHAKESPEARE[:80] if line.strip()]


def nltk_fit(cls, order, sentences, **kw):
    lm = cls(order=order, **kw)
    grams = []
    for s in sentences:
        padded = [BOS] + s + [EOS]
        grams.append([tuple(padded[i - n + 1:i + 1]) for i in range(1, len(padded))
                      for n in range(1, order + 1) if i - n + 1 >= 0])
    lm.fit(grams, [BOS] + [w for s in sentences for w in s] + [EOS])
    return lm


def contexts_of(sentences, order, extra=(), at_most=30):
    """Contexts of length 1..order-1 seen in the text (as nlm states see them;
    a fixed sample of ``at_most`` when there are more), the empty one, and ``extra``."""
    seen = set()
    for s in sentences:
        padded = [BOS] + s
        for i in range(1, len(padded) + 1):
            for n in range(1, order):
                if i - n >= 0:
                    seen.add(tuple(padded[i - n:i]))
    seen = sorted(seen)
    if len(seen) > at_most:
        pick = np.random.default_rng(0).choice(len(seen), at_most, replace=False)
        seen = [seen[i] for i in sorted(pick)]
    return [()] + seen + list(extra)


def compare(ours, ref, vocab, contexts, words):
    checked = 0
    for ctx in contexts:
        lp = ours.next_logprobs(_state(ours, [vocab.id(w) for w in ctx]))
        for w in words:
            expected = ref.score(w, list(ctx))
            got = math.exp(lp[vocab.id(w)])
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-15), (ctx, w, got, expected)
            checked += 1
    return checked


def _state(model, ids):
    """The model state whose context is exactly ``ids`` (last order-1 of them)."""
    return tuple(ids)[-(model.order - 1):] if model.order > 1 else ()


CORPORA = {"tiny": TINY_TEXT, "shakespeare80": SMALL_TEXT}


@pytest.fixture(scope="module", params=sorted(CORPORA))
def corpus(request):
    lines = CORPORA[request.param]
    vocab, corp = corpus_from_lines(lines)
    return [line.split() for line in lines], vocab, corp


def _words(vocab):
    # every word nltk can score; "zebra" is unknown to both (nltk's <UNK>, nlm's <unk>)
    return [w for w in vocab.words if w not in ("<unk>", BOS)] + ["zebra"]


@pytest.mark.parametrize("order", [1, 2, 3])
def test_witten_bell_equals_nltk(corpus, order):
    from nltk.lm import WittenBellInterpolated
    sentences, vocab, corp = corpus
    ours = fit_witten_bell(corp, vocab, order=order, mle_unigrams=True)
    ref = nltk_fit(WittenBellInterpolated, order, sentences)
    unseen = [("zebra",) * (order - 1), ("the", "zebra")[-(order - 1):]] if order > 1 else []
    n = compare(ours, ref, vocab, contexts_of(sentences, order, unseen), _words(vocab))
    assert n >= len(_words(vocab)) * (1 + (order > 1))


@pytest.mark.parametrize("order,discount", [(1, 0.75), (2, 0.75), (3, 0.75), (3, 0.3)])
def test_absolute_discounting_equals_nltk(corpus, order, discount):
    from nltk.lm import AbsoluteDiscountingInterpolated
    sentences, vocab, corp = corpus
    ours = fit_absolute(corp, vocab, order=order, discount=discount, mle_unigrams=True)
    ref = nltk_fit(AbsoluteDiscountingInterpolated, order, sentences, discount=discount)
    unseen = [("zebra",) * (order - 1)] if order > 1 else []
    n = compare(ours, ref, vocab, contexts_of(sentences, order, unseen), _words(vocab))
    assert n >= len(_words(vocab)) * (1 + (order > 1))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_mle_equals_nltk_in_seen_contexts(corpus, order):
    from nltk.lm import MLE
    sentences, vocab, corp = corpus
    ours = fit_mle(corp, vocab, order=order)
    ref = nltk_fit(MLE, order, sentences)
    n = compare(ours, ref, vocab, contexts_of(sentences, order), _words(vocab))
    assert n >= len(_words(vocab)) * (1 + (order > 1))
    # unseen words in a seen context: probability 0 (reported, not an error)
    assert math.exp(ours.logprob("zebra", [])) == 0.0


def test_mle_unseen_context_uses_longest_seen_suffix():
    """nltk.lm's MLE gives every word probability 0 after a context it never saw
    (FreqDist.freq of an empty distribution); nlm uses the longest seen suffix of
    the context, so the distribution still sums to 1."""
    from nltk.lm import MLE
    sentences = [s.split() for s in TINY_TEXT]
    vocab, corp = corpus_from_lines(TINY_TEXT)
    ours = fit_mle(corp, vocab, order=3)
    ref = nltk_fit(MLE, 3, sentences)
    ctx = ("mat", "cat")                       # never seen; "cat" is
    assert ref.score("sat", list(ctx)) == 0.0
    lp = ours.next_logprobs(_state(ours, [vocab.id(w) for w in ctx]))
    assert math.exp(lp[vocab.id("sat")]) == pytest.approx(ref.score("sat", ["cat"]), rel=1e-12)
    assert math.fsum(np.exp(lp)) == pytest.approx(1.0, abs=1e-12)


def test_default_witten_bell_gives_unknown_words_mass(tiny):
    vocab, corp = tiny
    m = fit_witten_bell(corp, vocab, order=3)
    assert math.exp(m.logprob("<unk>", ["the", "cat"])) > 0
    nltk_like = fit_witten_bell(corp, vocab, order=3, mle_unigrams=True)
    assert nltk_like.logprob("<unk>", ["the", "cat"]) == -math.inf
    for ctx in [(), ("the",), ("the", "cat"), ("zebra", "dog")]:
        lp = m.next_logprobs(_state(m, [vocab.id(w) for w in ctx]))
        assert math.fsum(np.exp(lp)) == pytest.approx(1.0, abs=1e-12)
