"""The sampler's reshaping of distributions and its options."""
from __future__ import annotations

import numpy as np
import pytest

from nlm.errors import OptionError
from nlm.ngram.addk import AddKModel
from nlm.sample import check_sampling_options, generate, sampling_distribution
from nlm.vocab import BOS_ID


LP = np.log(np.array([0.1, 0.2, 0.3, 0.15, 0.25]))  # id 1 is <s>


def test_bos_is_never_sampled_and_rest_renormalized():
    p = sampling_distribution(LP)
    assert p[BOS_ID] == 0
    np.testing.assert_allclose(p, np.array([0.1, 0, 0.3, 0.15, 0.25]) / 0.8)


def test_temperature():
    p = sampling_distribution(LP, temperature=0.5)
    q = np.array([0.1, 0, 0.3, 0.15, 0.25]) ** 2
    np.testing.assert_allclose(p, q / q.sum())
    greedy = sampling_distribution(LP, temperature=0.0)
    assert greedy.tolist() == [0, 0, 1, 0, 0]


def test_top_k_and_top_p():
    p = sampling_distribution(LP, top_k=2)
    np.testing.assert_allclose(p, np.array([0, 0, 0.3, 0, 0.25]) / 0.55)
    # sorted (<s> excluded, renormalized by 0.8): .375 .3125 .1875 .125; 0.6 needs two tokens
    p = sampling_distribution(LP, top_p=0.6)
    np.testing.assert_allclose(p, np.array([0, 0, 0.3, 0, 0.25]) / 0.55)
    p = sampling_distribution(LP, top_p=0.7)
    np.testing.assert_allclose(p, np.array([0, 0, 0.3, 0.15, 0.25]) / 0.7)


@pytest.mark.parametrize("kw", [dict(temperature=-1), dict(top_k=0), dict(top_p=0.0),
                                dict(top_p=1.5), dict(max_tokens=0), dict(n=0),
                                dict(temperature=float("nan"))])
def test_bad_options(kw):
    with pytest.raises(OptionError):
        check_sampling_options(**kw)


def test_prompt_max_tokens_and_seed(tiny):
    vocab, corpus = tiny
    m = AddKModel.fit(corpus, vocab, order=2, k=0.01)
    out = generate(m, n=5, max_tokens=4, seed=3, prompt=["the"])
    assert all(s[0] == "the" and 1 <= len(s) <= 5 for s in out)
    assert out == generate(m, n=5, max_tokens=4, seed=3, prompt=["the"])
    # greedy decoding follows the most likely bigram: "the" -> most frequent follower
    greedy = generate(m, n=1, max_tokens=1, temperature=0, prompt=["the"])[0]
    followers = {"cat": 2, "mat": 3, "dog": 2, "log": 1}
    assert greedy == ["the", max(followers, key=followers.get)]
