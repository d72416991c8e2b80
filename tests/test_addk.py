"""Add-k: the conformance suite, and agreement with nltk.lm's Laplace and Lidstone."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conformance import LanguageModelConformance
from conftest import TINY_TEXT

from nlm.ngram.addk import AddKModel
from nlm.errors import OptionError
from nlm.vocab import BOS, EOS


class TestAddKTrigram(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return AddKModel.fit(corpus, vocab, order=3, k=0.5)


class TestAddKUnigram(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return AddKModel.fit(corpus, vocab, order=1, k=1.0)


def nltk_model(cls_name, order, sentences, **kw):
    """An nltk.lm model fitted on exactly the n-grams nlm counts: one <s>, one </s>."""
    from nltk.lm import Laplace, Lidstone
    cls = {"laplace": Laplace, "lidstone": Lidstone}[cls_name]
    lm = cls(order=order, **kw) if cls_name == "laplace" else cls(kw.pop("gamma"), order, **kw)
    grams = []
    for s in sentences:
        padded = [BOS] + s + [EOS]
        sent = []
        for i in range(1, len(padded)):
            for n in range(1, order + 1):
                if i - n + 1 >= 0:
                    sent.append(tuple(padded[i - n + 1:i + 1]))
        grams.append(sent)
    vocab_text = [BOS] + [w for s in sentences for w in s] + [EOS]
    lm.fit(grams, vocab_text)
    return lm


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("k", [1.0, 0.1])
def test_agrees_with_nltk(tiny, order, k):
    vocab, corpus = tiny
    sentences = [s.split() for s in TINY_TEXT]
    ours = AddKModel.fit(corpus, vocab, order=order, k=k)
    if k == 1.0:
        ref = nltk_model("laplace", order, sentences)
    else:
        ref = nltk_model("lidstone", order, sentences, gamma=k)
    # nltk's vocabulary has <UNK> too; same size as ours
    assert len(ref.vocab) == len(vocab)
    words = [w for w in vocab.words if w not in ("<unk>", BOS)]
    contexts = [()]
    if order >= 2:
        contexts += [(BOS,), ("the",), ("cat",), ("zebra",)]
    if order >= 3:
        contexts += [(BOS, "the"), ("the", "cat"), ("sat", "on"), ("dog", "cat")]
    checked = 0
    for ctx in contexts:
        ctx_ids = tuple(vocab.id(w) for w in ctx)
        for w in words + ["zebra"]:
            expected = ref.score(w, list(ctx))
            got = math.exp(ours.ngram_logprob(vocab.id(w), ctx_ids))
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), (ctx, w)
            checked += 1
    assert checked > 10


def test_laplace_hand_computed(tiny):
    vocab, corpus = tiny
    m = AddKModel.fit(corpus, vocab, order=2, k=1.0)
    V = len(vocab)
    # "the" follows <s> in 4 of 6 sentences; c(<s>) = 6
    assert math.exp(m.logprob("the", [])) == pytest.approx((4 + 1) / (6 + V))
    # c(the cat) = 2, c(the .) = 8
    assert math.exp(m.logprob("cat", ["a", "dog", "saw", "the"])) == pytest.approx(3 / (8 + V))


def test_bad_k_and_order(tiny):
    vocab, corpus = tiny
    with pytest.raises(OptionError):
        AddKModel.fit(corpus, vocab, order=0)
    with pytest.raises(OptionError):
        AddKModel.fit(corpus, vocab, order=2, k=0.0)
    with pytest.raises(OptionError):
        AddKModel.fit(corpus, vocab, order=2, k=float("nan"))


def test_unseen_context_is_uniform(tiny):
    vocab, corpus = tiny
    m = AddKModel.fit(corpus, vocab, order=3, k=1.0)
    lp = m.next_logprobs((vocab.id("mat"), vocab.id("cat")))
    np.testing.assert_allclose(lp, -math.log(len(vocab)))
