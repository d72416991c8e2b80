"""nlm.kenlm: the PyPI kenlm module's query API over nlm's n-gram files.

The comparisons with the real ``kenlm`` module skip when it is not installed
(``pip install kenlm`` builds it from source; it is not a dependency)."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from conftest import ROOT, corpus_from_lines, shared_path

import nlm.kenlm as nk
from nlm.errors import ModelFileError
from nlm.evaluate import LN10
from nlm.modelfile import save
from nlm.ngram.arpa import write_arpa
from nlm.ngram.binary import write_binary
from nlm.ngram.estimate.methods import fit_modified_kneser_ney

TOL = 1e-4


def _lines(n, start=0):
    with open(ROOT / "corpora" / "shakespeare" / "train.txt", encoding="utf-8") as f:
        lines = [line.split() for line in f if line.strip()]
    return [" ".join(w) for w in lines[start:start + n]]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The same 4-gram as .npz, .nlmbin and .arpa."""
    vocab, corpus = corpus_from_lines(_lines(3000))
    model = fit_modified_kneser_ney(corpus, vocab, order=4)
    d = tmp_path_factory.mktemp("kenlm")
    save(model, d / "m.npz")
    write_binary(model, d / "m.nlmbin")
    write_arpa(model, d / "m.arpa")
    return model, d


def sentences():
    """Held-out lines (with OOVs), edge cases: empty, all OOV, an explicit </s>."""
    return _lines(150, start=5000) + ["", "qqq zzz", "the </s> king", "<unk> and the",
                                      "a   b\tc"]


@pytest.mark.parametrize("name", ["m.npz", "m.nlmbin", "m.arpa"])
def test_scores_are_nlms_own_in_log10(files, name):
    _, d = files
    lm = nk.Model(d / name)
    model = lm._lm    # the model as read from this file (ARPA: 10 significant digits)
    assert lm.order == 4
    for s in sentences()[:40]:
        words = s.split()
        ids = model.vocab.ids(words).astype(np.int64)
        ids = np.append(ids, 2)
        own = model.score_corpus(ids, np.array([0, len(ids)]))
        full = list(lm.full_scores(s))
        assert [p for p, _, _ in full] == pytest.approx((own / LN10).tolist(), abs=1e-12)
        assert lm.score(s) == pytest.approx(float(own.sum() / LN10), abs=1e-9)
        assert [o for _, _, o in full] == [w not in model.vocab.index or w == "<unk>"
                                            for w in words] + [False]
        assert lm.perplexity(s) == pytest.approx(10 ** (-own.sum() / LN10 / len(ids)))


def test_states_carry_the_context(files):
    model, d = files
    lm = nk.Model(d / "m.nlmbin")
    a, b = nk.State(), nk.State()
    lm.BeginSentenceWrite(a)
    total = 0.0
    words = "the king is dead long live the king".split()
    for w in words:
        r = lm.BaseFullScore(a, w, b)
        assert 1 <= r.ngram_length <= 4
        total += lm.BaseScore(a, w, nk.State())
        a, b = b, a
    total += lm.BaseScore(a, "</s>", b)
    assert total == pytest.approx(lm.score(" ".join(words)), abs=1e-9)
    # a state is a value: copies compare equal and hash alike
    c = copy.copy(a)
    assert c == a and hash(c) == hash(a) and c is not a
    null = nk.State()
    lm.NullContextWrite(null)
    assert null == nk.State() and not hasattr(null, "words")
    assert lm.BaseScore(null, "the", nk.State()) == pytest.approx(
        math.log10(math.exp(model.logprobs[0][model.vocab.index["the"]])))
    assert "the" in lm and "qqqq" not in lm and "<unk>" not in lm


def test_neural_models_are_refused(tmp_path):
    from nlm.mixture import MixtureModel
    vocab, corpus = corpus_from_lines(_lines(50))
    kn = fit_modified_kneser_ney(corpus, vocab, order=2, discount="0.5,1,1.5")
    with pytest.raises(ModelFileError, match="serves n-gram models"):
        nk.Model(MixtureModel([kn, kn]))  # not a file: refused by kind all the same


def _compare(ours, theirs, texts):
    """Every number of the two modules on ``texts``, to TOL."""
    assert ours.order == theirs.order
    for s in texts:
        for bos in (True, False):
            for eos in (True, False):
                assert ours.score(s, bos=bos, eos=eos) == pytest.approx(
                    theirs.score(s, bos=bos, eos=eos), abs=TOL), (s, bos, eos)
                a = list(ours.full_scores(s, bos=bos, eos=eos))
                b = list(theirs.full_scores(s, bos=bos, eos=eos))
                assert len(a) == len(b)
                for (pa, na, oa), (pb, nb, ob) in zip(a, b):
                    assert pa == pytest.approx(pb, abs=TOL) and na == nb and oa == ob, s
        assert ours.perplexity(s) == pytest.approx(theirs.perplexity(s), rel=TOL)
        for w in s.split():
            assert (w in ours) == (w in theirs), w
    # state by state, from both starts
    import kenlm
    for start in ("BeginSentenceWrite", "NullContextWrite"):
        for s in texts[:60]:
            so, so2 = nk.State(), nk.State()
            st, st2 = kenlm.State(), kenlm.State()
            getattr(ours, start)(so)
            getattr(theirs, start)(st)
            for w in s.split() + ["</s>"]:
                ro, rt = ours.BaseFullScore(so, w, so2), theirs.BaseFullScore(st, w, st2)
                assert ro.log_prob == pytest.approx(rt.log_prob, abs=TOL), (s, w)
                assert (ro.ngram_length, ro.oov) == (rt.ngram_length, rt.oov), (s, w)
                assert ours.BaseScore(so, w, nk.State()) == pytest.approx(
                    theirs.BaseScore(st, w, kenlm.State()), abs=TOL)
                so, so2, st, st2 = so2, so, st2, st


@pytest.mark.parametrize("name", ["m.arpa", "m.nlmbin", "m.npz"])
def test_every_number_matches_the_kenlm_module(files, name):
    kenlm = pytest.importorskip("kenlm")
    _, d = files
    theirs = kenlm.Model(str(d / "m.arpa"))
    _compare(nk.Model(d / name), theirs, sentences())


def test_matches_kenlm_on_an_lmplz_arpa_file():
    kenlm = pytest.importorskip("kenlm")
    arpa = shared_path("reference", "kenlm", "ts-small.o3.arpa.gz")
    with open(shared_path("corpora", "tinyshakespeare", "valid.txt"), encoding="utf-8") as f:
        texts = [line.strip() for line in f if line.strip()][:200]
    _compare(nk.Model(arpa), kenlm.Model(str(arpa)), texts + ["", "zzz qqq"])
