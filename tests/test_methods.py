"""Count-based n-gram estimation: counting, every smoothing method against a
plain-Python implementation of its formulas, the conformance suite for every
method, a hand-checked modified Kneser-Ney case, cutoffs, bad input, CLI."""
from __future__ import annotations

import math
import warnings
from collections import Counter, defaultdict

import numpy as np
import pytest
from click.testing import CliRunner
from conformance import LanguageModelConformance, random_contexts
from conftest import ROOT, TINY_TEXT, corpus_from_lines

from nlm.cli import main
from nlm.errors import NlmError, OptionError
from nlm.evaluate import evaluate
from nlm.ngram import methods as ng
from nlm.ngram.counts import count_ngrams
from nlm.ngram.estimate.discount import DiscountWarning, good_turing, mkn_discounts
from nlm.vocab import BOS_ID

SHAKESPEARE = (ROOT / "corpora" / "shakespeare" / "train.txt").read_text("utf-8").splitlines()
SMALL_TEXT = [line for line in SHAKESPEARE[:150] if line.strip()]


@pytest.fixture(scope="module")
def small():
    return corpus_from_lines(SMALL_TEXT)


# -- counting ---------------------------------------------------------------------

def brute_counts(corpus, order):
    c = Counter()
    for s in range(corpus.sentences):
        padded = [BOS_ID] + [int(t) for t in corpus.sentence(s)]
        for i in range(1, len(padded)):
            for k in range(1, order + 1):
                if i - k + 1 >= 0:
                    c[tuple(padded[i - k + 1:i + 1])] += 1
    return c


def table_words(counts, k):
    V = counts.vocab_size
    words = np.arange(V, dtype=np.int64)[:, None]
    for j in range(2, k + 1):
        key = counts.keys[j - 1]
        words = np.concatenate([words[key // V], (key % V)[:, None]], axis=1)
    return words


@pytest.mark.parametrize("seed", range(4))
def test_counts_equal_brute_force_up_to_order_9(seed):
    rng = np.random.default_rng(seed)
    words = "a b c d e".split()
    lines = [" ".join(rng.choice(words, size=int(rng.integers(1, 12)))) for _ in range(40)]
    vocab, corpus = corpus_from_lines(lines)
    order = 9
    counts = count_ngrams(corpus, order, len(vocab))
    ref = brute_counts(corpus, order)
    assert np.array_equal(counts.keys[0], np.arange(len(vocab)))
    for k in range(1, order + 1):
        w = table_words(counts, k)
        got = {tuple(int(x) for x in row): int(c) for row, c in zip(w, counts.counts[k - 1])
               if k > 1 or c > 0}
        assert got == {g: c for g, c in ref.items() if len(g) == k}, k
        if k > 1:
            assert (np.diff(counts.keys[k - 1]) > 0).all()           # sorted, distinct
            assert np.array_equal(w[:, 1:], table_words(counts, k - 1)[counts.suffix[k - 1]])


# -- a plain-Python implementation of every method ---------------------------------

class Reference:
    """Each method written directly from its formulas (see nlm/ngram/methods.py),
    with dicts and recursion: P(w | h) for any h, no tables, no folding."""

    def __init__(self, corpus, vocab, order, method, discount=None, prune=None,
                 mle_unigrams=False, interpolate=True):
        self.V, self.N, self.method = len(vocab), order, method
        self.interpolate = interpolate if method in ("kn", "mkn") else method != "katz"
        self.mle_unigrams = mle_unigrams
        raw = brute_counts(corpus, order)
        self.raw = raw
        thresholds = ng.parse_prune(prune, order)
        kn = method in ("kn", "mkn")
        left_words = defaultdict(set)         # g -> {v : c(v g) > 0}
        for g in raw:
            if len(g) > 1:
                left_words[g[1:]].add(g[0])
        self.children = defaultdict(dict)     # h -> {w: count used at that order}
        for g, c in raw.items():
            if kn and len(g) < order and g[0] != BOS_ID:
                c = len(left_words[g])
            self.children[g[:-1]][g[-1]] = c
        self._cache = {}
        self.kept = {g for g, c in raw.items() if len(g) == 1 or c > thresholds[len(g) - 1]}
        if method == "katz":
            self.gt = {}
            for k in range(1, order + 1):
                n = Counter(c for g, c in raw.items() if len(g) == k)
                self.gt[k] = self._katz_coefficients(n)
        self.D = discount

    @staticmethod
    def _katz_coefficients(n, k=5):
        d = {}
        common = (k + 1) * n[k + 1] / n[1] if n[1] else 1.0
        for r in range(1, k + 1):
            d[r] = 1.0
            if n[1] and common < 1 and n[r]:
                ratio = (r + 1) * n[r + 1] / (r * n[r])
                coeff = (ratio - common) / (1 - common)
                if 0 < coeff <= 1 and ratio <= 1:
                    d[r] = coeff
        return d

    def _discount(self, order, c):
        m = self.method
        if m == "mle":
            return 0.0
        if m == "absolute":
            return 0.0 if (order == 1 and self.mle_unigrams) else min(c, self.D)
        if m == "kn":
            return self.D if c > 0 else 0.0
        if m == "mkn":
            return self.D[min(c, 3) - 1] if c > 0 else 0.0
        if m == "katz":
            return c * (1 - self.gt[order][c]) if 0 < c <= 5 else 0.0
        raise AssertionError(m)

    def alpha_leftover(self, h):
        """({w: alpha(h w)} for every seen w, leftover(h)), cut n-grams' alpha
        moved to the leftover."""
        if h not in self._cache:
            self._cache[h] = self._alpha_leftover(h)
        return self._cache[h]

    def _alpha_leftover(self, h):
        kids = self.children.get(h, {})
        total = sum(kids.values())
        if self.method == "witten-bell":
            n_plus = 0 if (not h and self.mle_unigrams) else len([c for c in kids.values() if c])
            alpha = {w: c / (total + n_plus) for w, c in kids.items()}
            left = n_plus / (total + n_plus)
        else:
            k = len(h) + 1
            alpha = {w: (c - self._discount(k, c)) / total for w, c in kids.items()}
            left = sum(self._discount(k, c) for c in kids.values()) / total
            if self.method == "katz" and left <= 1e-12 and len(kids) < self.V - 1:
                # nothing discounted: estimate with c(h) + 1 so unseen words keep mass
                alpha = {w: c / (total + 1) for w, c in kids.items()}
                left = 1 / (total + 1)
        for w in list(alpha):
            if h + (w,) not in self.kept:
                left += alpha.pop(w)
        return alpha, left

    def uniform(self):
        return self.method in ("kn", "mkn", "katz") or (
            self.method in ("witten-bell", "absolute") and not self.mle_unigrams)

    def prob(self, w, h=()):
        h = tuple(h)[len(h) - min(len(h), self.N - 1):]
        if not h:
            if w == BOS_ID:
                return 0.0
            alpha, left = self.alpha_leftover(())
            return alpha.get(w, 0.0) + (left / (self.V - 1) if self.uniform() else 0.0)
        if not self.children.get(h):
            return self.prob(w, h[1:])
        alpha, left = self.alpha_leftover(h)
        if self.interpolate:
            return alpha.get(w, 0.0) + left * self.prob(w, h[1:])
        if w in alpha:
            return alpha[w]
        if ("room", h) not in self._cache:
            self._cache["room", h] = 1.0 - sum(self.prob(v, h[1:]) for v in alpha)
        return left / self._cache["room", h] * self.prob(w, h[1:])


# Kneser-Ney is checked here against its formulas, not against nltk.lm, whose
# KneserNeyInterpolated (nltk 3.10) is known to be wrong or unusable:
# unknown words get probability 0, so perplexity is infinite (nltk/nltk#3211);
# its unigram level gives <s> probability 0 and no uniform mass (nltk/nltk#3065,
# nltk/nltk#2599); a trigram model raises ZeroDivisionError after <s>, whose
# continuation total is 0 (the failure of nltk/nltk#2332, still there for this
# context); and it rescans the counts on every query (nltk/nltk#2727 thread; about
# 6 n-grams/s on WikiText-2 per REFERENCE.md).
METHOD_CASES = [
    ("mle", {}),
    ("witten-bell", {}),
    ("witten-bell", {"mle_unigrams": True}),
    ("absolute", {"discount": 0.6}),
    ("kn", {"discount": 0.7}),
    ("kn", {"discount": 0.7, "interpolate": False}),
    ("mkn", {"discount": (0.6, 1.1, 1.6)}),
    ("mkn", {"discount": (0.6, 1.1, 1.6), "interpolate": False}),
    ("mkn", {"discount": (0.6, 1.1, 1.6), "prune": "0,1"}),
    ("mkn", {"discount": (0.6, 1.1, 1.6), "prune": "0,1,2", "interpolate": False}),
    ("katz", {}),
    ("katz", {"prune": "0,0,1"}),
    ("witten-bell", {"prune": "0,1"}),
]
FITS = {"mle": ng.fit_mle, "witten-bell": ng.fit_witten_bell, "absolute": ng.fit_absolute,
        "kn": ng.fit_kneser_ney, "mkn": ng.fit_modified_kneser_ney, "katz": ng.fit_katz}


@pytest.mark.parametrize("method,options", METHOD_CASES,
                         ids=[f"{m}-{'-'.join(f'{k}={v}' for k, v in o.items())}"
                              for m, o in METHOD_CASES])
def test_method_equals_its_formulas(small, method, options):
    vocab, corpus = small
    order = 3
    model = FITS[method](corpus, vocab, order=order, **options)
    ref_opts = dict(options)
    if "discount" in ref_opts and method == "mkn":
        ref_opts["discount"] = tuple(ref_opts["discount"])
    ref = Reference(corpus, vocab, order, method, **ref_opts)
    states = [model.state_after(ctx) for ctx in random_contexts(model, n=6)]
    states += [g[:-1] for g in list(ref.raw)[:40] if len(g) == order][:12]   # seen contexts
    for state in states:
        got = np.exp(model.next_logprobs(state))
        expect = np.array([ref.prob(w, state) for w in range(len(vocab))])
        np.testing.assert_allclose(got, expect, rtol=1e-10, atol=1e-14, err_msg=str(state))


# -- hand-checked modified Kneser-Ney ---------------------------------------------

def test_modified_kneser_ney_by_hand():
    """Bigram MKN on "a b" / "a b" / "b a" with D1, D2, D3+ = 0.5, 1, 1.5.

    Vocabulary <unk> <s> </s> a b (V = 5; uniform share 1/(V-1) = 1/4).
    Unigram adjusted counts (distinct left neighbours): a {<s>, b} = 2,
    b {a, <s>} = 2, </s> {b, a} = 2; sum 6. Each is discounted by D2 = 1:
    alpha = 1/6, leftover = 3/6, so p(a) = p(b) = p(</s>) = 1/6 + 1/2 * 1/4 = 7/24
    and p(<unk>) = 1/8 = 3/24.
    Context <s>: c(<s> a) = 2, c(<s> b) = 1, total 3: alpha = (2-1)/3, (1-0.5)/3,
    leftover = (1 + 0.5)/3 = 1/2: p(a|<s>) = 1/3 + 7/48 = 23/48, p(b|<s>) = 15/48,
    p(</s>|<s>) = 7/48, p(<unk>|<s>) = 3/48. Contexts a and b likewise.
    """
    vocab, corpus = corpus_from_lines(["a b", "a b", "b a"])
    m = ng.fit_modified_kneser_ney(corpus, vocab, order=2, discount="0.5,1,1.5")
    assert vocab.words == ["<unk>", "<s>", "</s>", "a", "b"]
    p = {w: math.exp(lp) for w, lp in zip(vocab.words, m.next_logprobs(()))}  # no context
    assert p == pytest.approx({"<unk>": 3 / 24, "<s>": 0.0, "</s>": 7 / 24, "a": 7 / 24,
                               "b": 7 / 24}, abs=1e-15)
    # m.logprob(w, []) is the first word of a sentence: context <s>
    expect = {(): {"a": 23, "b": 15, "</s>": 7, "<unk>": 3},
              ("a",): {"b": 23, "</s>": 15, "a": 7, "<unk>": 3},
              ("b",): {"</s>": 23, "a": 15, "b": 7, "<unk>": 3}}
    for h, probs in expect.items():
        for w, n48 in probs.items():
            assert math.exp(m.logprob(w, list(h))) == pytest.approx(n48 / 48, abs=1e-15)
    assert m.logbows[0][vocab.id("<s>")] == pytest.approx(math.log(0.5))
    assert m.logbows[0][vocab.id("</s>")] == 0.0                   # never a context


def test_mkn_discount_formula_by_hand():
    # n1..n4 = 4, 3, 1, 1: Y = 4 / (4 + 6) = 0.4; D1 = 1 - 2*0.4*3/4 = 0.4,
    # D2 = 2 - 3*0.4*1/3 = 1.6, D3+ = 3 - 4*0.4*1/1 = 1.4
    d, _ = mkn_discounts(np.array([0, 4, 3, 1, 1]))
    np.testing.assert_allclose(d, [0, 0.4, 1.6, 1.4])
    assert mkn_discounts(np.array([0, 4, 0, 1, 1]))[0] is None         # n2 = 0
    # n1..n4 = 2, 1, 10, 1: Y = 0.5, D2 = 2 - 3*0.5*10/1 = -13, out of [0, 2]
    d, why = mkn_discounts(np.array([0, 2, 1, 10, 1]))
    assert d is None and "D2 = -13 is outside [0, 2]" in why


def test_good_turing_by_hand():
    # n1..n6 = 10, 4, 2, 1, 1, 0 with k = 5: common term (k+1) n6/n1 = 0, so
    # d_r = (r+1) n_{r+1} / (r n_r): d1 = 0.8, d2 = 0.75, d3 = 4/6, d4 = 2.5 > 1 -> 1,
    # d5 = 0 -> 1 (undefined coefficients mean no discount)
    d = good_turing(np.array([0, 10, 4, 2, 1, 1, 0]), 5)
    np.testing.assert_allclose(d, [1, 0.8, 0.75, 4 / 6, 1, 1])


def test_katz_leaves_mass_where_nothing_is_discounted():
    # "always" is followed only by "here", 8 times: no count <= 5 after it, so
    # plain Katz would give every other word probability 0 after "always".
    lines = ["always here"] * 8 + ["a b c", "a b", "b c a", "c a", "b a c here", "c"]
    vocab, corpus = corpus_from_lines(lines)
    model = _quiet_fit(ng.fit_katz, corpus, vocab, order=2)
    lp = model.next_logprobs((vocab.id("always"),))
    assert math.fsum(np.exp(lp)) == pytest.approx(1.0, abs=1e-12)
    # c(always here) = 8, c(always) = 8: P(here | always) = 8 / 9, the rest 1 / 9
    assert math.exp(lp[vocab.id("here")]) == pytest.approx(8 / 9, rel=1e-12)
    assert np.isfinite(lp[vocab.id("a")]) and lp[vocab.id("a")] < math.log(1 / 9)
    ref = Reference(corpus, vocab, 2, "katz")
    expect = [ref.prob(w, (vocab.id("always"),)) for w in range(len(vocab))]
    np.testing.assert_allclose(np.exp(lp), expect, rtol=1e-10, atol=1e-14)


# -- conformance: every method is a LanguageModel --------------------------------

def _quiet_fit(fit, corpus, vocab, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiscountWarning)
        return fit(corpus, vocab, **kw)


class TestMLEConformance(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return ng.fit_mle(corpus, vocab, order=3)


class TestWittenBellConformance(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, small):
        vocab, corpus = small
        return ng.fit_witten_bell(corpus, vocab, order=3)


class TestAbsoluteConformance(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, small):
        vocab, corpus = small
        return ng.fit_absolute(corpus, vocab, order=4)


class TestKneserNeyConformance(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, small):
        vocab, corpus = small
        return ng.fit_kneser_ney(corpus, vocab, order=3)


class TestKneserNeyBackoffConformance(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, small):
        vocab, corpus = small
        return ng.fit_kneser_ney(corpus, vocab, order=3, interpolate=False)


class TestModifiedKneserNeyConformance(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, small):
        vocab, corpus = small
        return _quiet_fit(ng.fit_modified_kneser_ney, corpus, vocab, order=5)


class TestModifiedKneserNeyBackoffConformance(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, small):
        vocab, corpus = small
        return _quiet_fit(ng.fit_modified_kneser_ney, corpus, vocab, order=3,
                          interpolate=False)


class TestModifiedKneserNeyTinyConformance(LanguageModelConformance):
    """Discounts fall back to 0.5/1/1.5 here (six sentences)."""
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, tiny):
        vocab, corpus = tiny
        return _quiet_fit(ng.fit_modified_kneser_ney, corpus, vocab, order=3)


class TestModifiedKneserNeyPrunedConformance(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, small):
        vocab, corpus = small
        return _quiet_fit(ng.fit_modified_kneser_ney, corpus, vocab, order=3, prune="0,1")


class TestKatzConformance(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, small):
        vocab, corpus = small
        return ng.fit_katz(corpus, vocab, order=3)


class TestKatzCharConformance(LanguageModelConformance):
    """Characters: contexts followed by the whole alphabet leave no room to back
    off; their left-over mass is shared among their children instead."""
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls):
        vocab, corpus = corpus_from_lines(["abcab", "bca", "cab", "aabbcc", "ccc", "ba"],
                                          tokenizer="char")
        return _quiet_fit(ng.fit_katz, corpus, vocab, order=2)


class TestStupidBackoffConformance(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, small):
        vocab, corpus = small
        return ng.fit_stupid_backoff(corpus, vocab, order=3)


def test_stupid_backoff_scores(tiny):
    vocab, corpus = tiny
    m = ng.fit_stupid_backoff(corpus, vocab, order=2)
    assert m.normalized is False
    # c(the cat) = 2 of c(the .) = 8
    assert math.exp(m.logprob("cat", ["the"])) == pytest.approx(2 / 8)
    # "the mat" seen, "cat mat" not: 0.4 * c(mat) / N, N = 34 words + 6 </s>
    assert math.exp(m.logprob("mat", ["cat"])) == pytest.approx(0.4 * 3 / 40)
    with pytest.raises(NlmError, match="stupid backoff scores are not probabilities"):
        evaluate(m, corpus)


# -- cutoffs, orders, bad input ---------------------------------------------------

def test_cutoffs_drop_rare_ngrams_and_stay_normalized(small):
    vocab, corpus = small
    full = _quiet_fit(ng.fit_modified_kneser_ney, corpus, vocab, order=3)
    cut = _quiet_fit(ng.fit_modified_kneser_ney, corpus, vocab, order=3, prune=[0, 1, 1])
    counts = count_ngrams(corpus, 3, len(vocab))
    for k in (2, 3):
        assert len(cut.tables.keys[k - 1]) == int((counts.counts[k - 1] > 1).sum())
    assert len(cut.tables.keys[0]) == len(full.tables.keys[0])
    for ctx in random_contexts(cut, n=10):
        total = math.fsum(np.exp(cut.next_logprobs(cut.state_after(ctx))))
        assert total == pytest.approx(1.0, abs=1e-12)


def test_high_orders(small):
    vocab, corpus = small
    m = _quiet_fit(ng.fit_modified_kneser_ney, corpus, vocab, order=9)
    assert m.order == 9 and len(m.tables.keys[8]) > 0
    lp = m.next_logprobs(m.state_after(corpus.sentence(3)[:8]))
    assert math.fsum(np.exp(lp)) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("fit,kw,match", [
    (ng.fit_modified_kneser_ney, {"order": 0}, "order must be at least 1"),
    (ng.fit_witten_bell, {"order": -2}, "order must be at least 1"),
    (ng.fit_kneser_ney, {"discount": 1.5}, "between 0 and 1"),
    (ng.fit_absolute, {"discount": -0.1}, "between 0 and 1"),
    (ng.fit_modified_kneser_ney, {"discount": "0.5,2.5,1"}, "D2 must be between 0 and 2"),
    (ng.fit_modified_kneser_ney, {"discount": "0.5,1"}, "one modified Kneser-Ney discount or three"),
    (ng.fit_modified_kneser_ney, {"discount": "x"}, "must be numbers"),
    (ng.fit_mle, {"prune": "0,2,1"}, "must not decrease"),
    (ng.fit_mle, {"prune": "1"}, "unigram prune threshold must be 0"),
    (ng.fit_katz, {"prune": "0,1,1,1"}, "4 prune thresholds given for a model of order 3"),
    (ng.fit_stupid_backoff, {"prune": "0,a"}, "whole numbers"),
    (ng.fit_mle, {"prune_entropy": -1.0}, "0 or more"),
])
def test_bad_options(tiny, fit, kw, match):
    vocab, corpus = tiny
    with pytest.raises(OptionError, match=match):
        fit(corpus, vocab, **kw)


def test_too_small_for_mkn_falls_back_with_a_warning():
    vocab, corpus = corpus_from_lines(["a b", "b a"])
    with pytest.warns(DiscountWarning) as caught:
        m = ng.fit_modified_kneser_ney(corpus, vocab, order=2)
    messages = [str(w.message) for w in caught]
    assert any("order-1 discounts" in m and "0.5/1.0/1.5" in m for m in messages), messages
    assert m.options["discounts"][0] == [0.5, 1.0, 1.5]
    total = math.fsum(np.exp(m.next_logprobs(m.initial_state())))
    assert total == pytest.approx(1.0, abs=1e-12)


# -- command line -----------------------------------------------------------------

def test_cli_trains_every_method(tmp_path):
    text = tmp_path / "train.txt"
    text.write_text("\n".join(SMALL_TEXT) + "\n", encoding="utf-8")
    runner = CliRunner()
    for args in (["--model", "mle"], ["--model", "witten-bell", "--mle-unigrams"],
                 ["--model", "absolute", "--discount", "0.8"], ["--model", "kn", "--backoff"],
                 ["--model", "mkn", "--prune", "0,1"], ["--model", "katz"],
                 ["--model", "mkn", "--interpolate", "--discount", "0.5,1,1.5"]):
        out = tmp_path / "m.npz"
        r = runner.invoke(main, ["train", str(text), "--order", "3", "-o", str(out), "-q",
                                 *args])
        assert r.exit_code == 0, (args, r.output)
        info = runner.invoke(main, ["info", str(out), "--json"])
        assert info.exit_code == 0
        if "--backoff" in args:
            assert '"interpolate": false' in info.output
        r = runner.invoke(main, ["evaluate", str(out), str(text)])
        assert r.exit_code == 0 and "perplexity" in r.output


def test_cli_stupid_backoff_refused_by_evaluate(tmp_path):
    text = tmp_path / "train.txt"
    text.write_text("\n".join(TINY_TEXT) + "\n", encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "s.npz"
    assert runner.invoke(main, ["train", str(text), "--model", "stupid", "-o", str(out),
                                "-q"]).exit_code == 0
    r = runner.invoke(main, ["evaluate", str(out), str(text)])
    assert r.exit_code != 0
    assert "stupid backoff scores are not probabilities" in r.output
    assert "Traceback" not in r.output


def test_cli_bad_ngram_options(tmp_path):
    text = tmp_path / "train.txt"
    text.write_text("a b\nb a\n", encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(main, ["train", str(text), "--model", "kn", "--discount", "2",
                             "-o", str(tmp_path / "m.npz")])
    assert r.exit_code != 0 and "between 0 and 1" in r.output
    r = runner.invoke(main, ["train", str(text), "--model", "mle", "--discount", "0.5",
                             "-o", str(tmp_path / "m.npz")])
    assert r.exit_code != 0 and "--discount does not apply" in r.output
    r = runner.invoke(main, ["train", str(text), "--model", "mkn", "-q",
                             "-o", str(tmp_path / "m.npz")])
    assert r.exit_code == 0
    assert "warning: modified Kneser-Ney: cannot estimate" in r.output


def test_entropy_pruning_option(small):
    vocab, corpus = small
    full = _quiet_fit(ng.fit_modified_kneser_ney, corpus, vocab, order=3)
    pruned = _quiet_fit(ng.fit_modified_kneser_ney, corpus, vocab, order=3, prune_entropy=1e-4)
    assert pruned.options["prune_entropy"] == 1e-4
    assert sum(map(len, pruned.tables.keys)) < sum(map(len, full.tables.keys))
    for ctx in random_contexts(pruned, n=8):
        total = math.fsum(np.exp(pruned.next_logprobs(pruned.state_after(ctx))))
        assert total == pytest.approx(1.0, abs=1e-12)
    same = _quiet_fit(ng.fit_modified_kneser_ney, corpus, vocab, order=3, prune_entropy=0.0)
    assert [len(k) for k in same.tables.keys] == [len(k) for k in full.tables.keys]
