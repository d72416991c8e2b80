"""BackoffModel: the conformance suite on a hand-built model, its queries against the
defining formulas, and the Numba kernels against a plain numpy implementation."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conformance import LanguageModelConformance, random_contexts, random_corpus
from conftest import MORE_TEXT, TINY_TEXT, AbsoluteDiscounting

from nlm.errors import ModelFileError
from nlm.modelfile import load, save
from nlm.ngram.backoff import BackoffModel
from nlm.ngram.counts import ngram_rows, padded_stream
from nlm.vocab import BOS_ID, EOS_ID

@pytest.fixture(scope="module")
def reference3():
    return AbsoluteDiscounting(MORE_TEXT, 3)


class TestHandBuiltTrigram(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, reference3):
        return reference3.backoff_model()


class TestHandBuiltBigram(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls):
        return AbsoluteDiscounting(MORE_TEXT, 2, D=0.3).backoff_model()


class TestHandBuiltUnigram(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls):
        return AbsoluteDiscounting(TINY_TEXT, 1).backoff_model()


class TestHandBuiltFivegram(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls):
        return AbsoluteDiscounting(MORE_TEXT, 5, D=0.8).backoff_model()


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_backoff_form_equals_interpolated_formula(order):
    ref = AbsoluteDiscounting(MORE_TEXT, order)
    model = ref.backoff_model()
    for ctx in random_contexts(model, n=30, seed=order):
        lp = model.next_logprobs(model.state_after(ctx))
        expected = [ref.prob(w, (BOS_ID,) + tuple(ctx)) for w in range(ref.V)]
        np.testing.assert_allclose(np.exp(lp), expected, rtol=1e-12, atol=1e-15)
    assert np.isneginf(model.next_logprobs(model.initial_state())[BOS_ID])


def test_hand_checked_numbers(reference3):
    """A few probabilities worked out on paper for the trigram model."""
    m = reference3.backoff_model()
    v = reference3.vocab
    D = 0.6
    C = reference3.total[()]
    T = reference3.types[()]
    U = len(v) - 1
    # 9 sentences, 55 words + 9 </s>; "cat" 6 times, "the" 11 times
    assert reference3.counts[(v.id("cat"),)] == 6 and C == 64
    assert reference3.counts[(v.id("the"),)] == 11
    p_cat = (6 - D + D * T / U) / C
    assert math.exp(m.next_logprobs(())[v.id("cat")]) == pytest.approx(p_cat, rel=1e-12)
    # no sentence starts with "cat": all of P(cat | <s>) comes from the unigram
    assert math.exp(m.logprob("cat")) == pytest.approx(D * 3 / 9 * p_cat, rel=1e-12)
    # "<s> the": 5 of the 9 sentences start with "the"; 3 distinct words start one
    p_the = (5 - D + D * 3 * (11 - D + D * T / U) / C) / 9
    assert math.exp(m.logprob("the", [])) == pytest.approx(p_the, rel=1e-12)
    # unseen context "mat red": back off to "red", followed once by "cat", once by </s>
    p_cat_red = (1 - D + D * 2 * p_cat) / 2
    assert math.exp(m.logprob("cat", ["mat", "red"])) == pytest.approx(p_cat_red, rel=1e-12)


# -- the kernels against a plain numpy version ------------------------------------
def numpy_score_corpus(model, ids, offsets):
    """Every token's ln P with whole-array numpy operations (the pre-kernel version)."""
    padded, depth = padded_stream(ids, offsets)
    rows = ngram_rows(model.tables, padded, depth)
    N = model.order
    scored = np.flatnonzero(depth >= 1)
    ctx_len = np.minimum(depth[scored], N - 1)
    lp = np.full(len(scored), np.nan)
    longest = np.zeros(len(scored), dtype=np.int64)
    for j in range(1, N + 1):
        r = rows[j - 1][scored]
        ok = (r >= 0) & (j <= ctx_len + 1)
        lp[ok] = model.logprobs[j - 1][r[ok]]
        longest[ok] = j
    for m in range(1, N):
        r = rows[m - 1][scored - 1]
        use = (m >= longest) & (m <= ctx_len) & (r >= 0)
        lp[use] += model.logbows[m - 1][r[use]]
    return lp


def numpy_next_logprobs(model, state):
    h = tuple(state)[-(model.order - 1):] if model.order > 1 else ()
    lp = model.logprobs[0].copy()
    for j in range(1, len(h) + 1):
        row = model.tables.find(h[-j:])
        if row < 0:
            continue
        lp += model.logbows[j - 1][row]
        start = model.tables.child_start(j + 1)
        a, b = start[row], start[row + 1]
        lp[model.tables.keys[j][a:b] % model.vocab_size] = model.logprobs[j][a:b]
    return lp


def check_kernels_equal_numpy(model, ids, offsets, contexts):
    """Every scoring path against the numpy version: the probing table, and for
    suffix-closed models the table without early stops."""
    expected = numpy_score_corpus(model, ids, offsets)
    fresh = BackoffModel(model.vocab, model.tables.keys, model.logprobs, model.logbows)
    np.testing.assert_array_equal(fresh.score_corpus(ids, offsets), expected)
    meta, ints, vals, closed = fresh.query_table()
    if closed:
        fresh._query = (meta, ints, vals, False)
        np.testing.assert_array_equal(fresh.score_corpus(ids, offsets), expected)
    for ctx in contexts:
        state = model.state_after(ctx)
        np.testing.assert_array_equal(model.next_logprobs(state), numpy_next_logprobs(model, state))


def is_suffix_closed(model):
    grams = [{tuple(g) for g in model.ngram_words(k)} for k in range(1, model.order + 1)]
    return all(g[1:] in grams[k - 2] for k in range(2, model.order + 1) for g in grams[k - 1])


def test_suffix_closure(tmp_path):
    from nlm.ngram.arpa import read_arpa
    model = AbsoluteDiscounting(MORE_TEXT, 4).backoff_model()
    assert model.query_table()[3] is True and is_suffix_closed(model)
    # "<s> a </s>" without "a </s>": a lookup that fails must not end the search
    path = tmp_path / "open.arpa"
    path.write_text("\\data\\\nngram 1=4\nngram 2=1\nngram 3=1\n\n\\1-grams:\n"
                    "-1\t<unk>\n-99\t<s>\t-0.2\n-0.5\t</s>\n-0.6\ta\t-0.1\n\n"
                    "\\2-grams:\n-0.3\t<s> a\t-0.05\n\n\\3-grams:\n-0.01\t<s> a </s>\n\n"
                    "\\end\\\n")
    open_model = read_arpa(path)
    assert open_model.query_table()[3] is False and not is_suffix_closed(open_model)
    ids, offsets = np.array([3, 2, 3, 3, 2]), np.array([0, 2, 5])
    lp = open_model.score_corpus(ids, offsets)
    np.testing.assert_array_equal(lp, numpy_score_corpus(open_model, ids, offsets))
    ln10 = math.log(10)
    np.testing.assert_allclose(lp, np.array([-0.3, -0.01, -0.3, -0.05 - 0.1 - 0.6, -0.1 - 0.5]) * ln10)
    # after entropy pruning a model may lose closure; the flag follows
    from nlm.ngram.prune import prune_entropy
    five = AbsoluteDiscounting(MORE_TEXT, 5, D=0.8).backoff_model()
    flags = set()
    for t in (1e-3, 3e-3, 1e-2):
        pruned = prune_entropy(five, t)
        assert pruned.query_table()[3] == is_suffix_closed(pruned)
        flags.add(pruned.query_table()[3])
        ref = AbsoluteDiscounting(MORE_TEXT, 5)
        check_kernels_equal_numpy(pruned, ref.corpus.ids, ref.corpus.offsets, [])
    assert False in flags


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_kernels_equal_numpy_exactly(order):
    model = AbsoluteDiscounting(MORE_TEXT, order).backoff_model()
    ids, offsets = random_corpus(model, sentences=40, max_len=12)
    # and the training text itself, where long n-grams are found
    ref = AbsoluteDiscounting(MORE_TEXT, order)
    check_kernels_equal_numpy(model, ids, offsets, random_contexts(model, n=40))
    check_kernels_equal_numpy(model, ref.corpus.ids, ref.corpus.offsets, [])


def test_kernels_equal_numpy_on_kenlm_model():
    from conftest import shared_path
    from nlm.corpus import read_corpus
    from nlm.ngram.arpa import read_arpa
    model = read_arpa(shared_path("reference", "kenlm", "ts-small.o3.arpa.gz"))
    corpus = read_corpus(shared_path("reference", "kenlm", "ts-small.train.txt"), model.vocab)
    n = corpus.offsets[300]
    contexts = [list(corpus.ids[i:i + L]) for i, L in zip(range(0, 600, 7), range(100))]
    check_kernels_equal_numpy(model, corpus.ids[:n], corpus.offsets[:301], contexts)


def test_ngram_logprobs_agree_with_next_logprobs(reference3):
    model = reference3.backoff_model()
    rng = np.random.default_rng(5)
    grams = rng.integers(0, model.vocab_size, size=(200, 4))
    lengths = rng.integers(1, 5, size=200)
    got = model.ngram_logprobs(grams, lengths)
    for g, n, lp in zip(grams, lengths, got):
        # the context as it stands (no <s> added), cut to the last N-1 words
        want = model.next_logprobs(tuple(g[:n - 1]))[g[n - 1]]
        assert lp == want or (np.isneginf(lp) and np.isneginf(want))


def test_empty_corpus_and_empty_sentences(reference3):
    model = reference3.backoff_model()
    assert model.score_corpus(np.zeros(0, np.int32), np.zeros(1, np.int64)).shape == (0,)
    lp = model.score_corpus(np.array([EOS_ID, EOS_ID], np.int32), np.array([0, 1, 2]))
    assert lp[0] == lp[1] == model.next_logprobs(model.initial_state())[EOS_ID]


def test_bad_queries_are_refused(reference3):
    model = reference3.backoff_model()
    V = model.vocab_size
    with pytest.raises(ValueError):
        model.score_corpus(np.array([V, EOS_ID], np.int32), np.array([0, 2]))
    with pytest.raises(ValueError):
        model.score_corpus(np.array([3, EOS_ID], np.int32), np.array([0, 3]))
    with pytest.raises(ValueError):
        model.next_logprobs((BOS_ID, -1))


def test_damaged_tables_are_refused(reference3, tmp_path):
    model = reference3.backoff_model()
    keys = [k.copy() for k in model.tables.keys]
    keys[1][[0, 1]] = keys[1][[1, 0]]
    with pytest.raises(ValueError, match="sorted"):
        BackoffModel(model.vocab, keys, model.logprobs, model.logbows)
    keys = [k.copy() for k in model.tables.keys]
    keys[2][-1] = (len(keys[1]) + 5) * model.vocab_size
    with pytest.raises(ValueError, match="context"):
        BackoffModel(model.vocab, keys, model.logprobs, model.logbows)
    # the same damage in a model file is a ModelFileError, not a crash
    path = tmp_path / "m.npz"
    save(model, path)
    arrays = dict(np.load(path))
    arrays["keys.3"] = keys[2]
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError):
        load(path)


def test_describe_and_words(reference3):
    model = reference3.backoff_model()
    assert model.describe()["ngrams"] == [len(k) for k in model.tables.keys]
    words = model.ngram_words(3)
    assert words.shape == (len(model.tables.keys[2]), 3)
    for g, row in zip(words[:20], range(20)):
        assert model.tables.find(tuple(g)) == row
