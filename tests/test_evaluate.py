"""The evaluator's figures, checked against hand computation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nlm.corpus import Corpus
from nlm.errors import NlmError
from nlm.evaluate import evaluate
from nlm.ngram.addk import AddKModel


def test_perplexity_figures(tiny):
    vocab, corpus = tiny
    m = AddKModel.fit(corpus, vocab, order=2, k=1.0)
    test = Corpus.from_sentences([["the", "cat"], ["a", "zebra", "sat"]], vocab)
    ev = evaluate(m, test)
    lp = [m.logprob("the", []), m.logprob("cat", ["the"]), m.logprob("</s>", ["the", "cat"]),
          m.logprob("a", []), m.logprob("<unk>", ["a"]), m.logprob("sat", ["a", "<unk>"]),
          m.logprob("</s>", ["a", "<unk>", "sat"])]
    assert ev.tokens == 7 and ev.sentences == 2 and ev.oov == 1
    assert ev.logprob == pytest.approx(sum(lp), abs=1e-12)
    assert ev.perplexity == pytest.approx(math.exp(-sum(lp) / 7))
    assert ev.bits_per_token == pytest.approx(-sum(lp) / 7 / math.log(2))
    excl = sum(lp) - lp[4]
    assert ev.perplexity_excluding_oov == pytest.approx(math.exp(-excl / 6))
    np.testing.assert_allclose(ev.sentence_logprobs, [sum(lp[:3]), sum(lp[3:])])
    d = ev.to_dict(per_sentence=True)
    assert d["oov_rate"] == pytest.approx(1 / 7) and len(d["sentence_logprobs"]) == 2


def test_zero_probability_gives_infinite_perplexity_not_a_crash(tiny):
    vocab, corpus = tiny

    class Zero(AddKModel):
        def score_corpus(self, ids, offsets):
            out = super().score_corpus(ids, offsets)
            out[0] = -np.inf
            return out

    m = Zero.fit(corpus, vocab, order=1)
    ev = evaluate(m, corpus)
    assert math.isinf(ev.perplexity) and ev.zero_probability_tokens == 1
    assert ev.to_dict()["perplexity"] is None


def test_unnormalized_models_are_refused(tiny):
    vocab, corpus = tiny
    m = AddKModel.fit(corpus, vocab, order=1)
    m.normalized = False
    with pytest.raises(NlmError, match="perplexity"):
        evaluate(m, corpus)
