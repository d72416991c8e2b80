"""Modified Kneser-Ney against KenLM's lmplz: every entry of ARPA files lmplz
wrote (../shared/reference/kenlm), lmplz's output quoted in a KenLM issue, the
discounts and WikiText-2 perplexities of ../shared/REFERENCE.md."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import corpus_from_lines, shared_path

from nlm.corpus import build_vocab, read_corpus
from nlm.evaluate import evaluate
from nlm.ngram.estimate.adjust import adjusted_counts, adjusted_counts_of_counts, counts_of_counts
from nlm.ngram.arpa import read_arpa
from nlm.ngram.counts import count_ngrams, first_positions
from nlm.ngram.estimate.discount import lmplz_counts_of_counts
from nlm.ngram.estimate.methods import fit_modified_kneser_ney

LN10 = math.log(10.0)

# kpu/kenlm issue #405: the corpus and (part of) the ARPA file lmplz -o 2 wrote for it.
ISSUE_405_TEXT = """\
I went to
I go to
You went to
You go to
Joe went to
Joe go to
Anna went ski
Anna went ski
""".splitlines()
ISSUE_405_UNIGRAMS = {  # word: (log10 p, log10 backoff)
    "<unk>": (-1.30103, 0), "<s>": (None, -0.059768215), "</s>": (-1.1249387, 0),
    "I": (-1.0579919, -0.5228788), "went": (-0.6726411, -0.022929981),
    "to": (-1.1249387, -0.30103), "go": (-0.82390875, 0), "You": (-1.0579919, -0.5228788),
    "Joe": (-1.0579919, -0.5228788), "Anna": (-1.0579919, -0.059768215),
    "ski": (-1.0579919, -0.059768215)}
ISSUE_405_BIGRAMS = {
    ("to", "</s>"): -0.26962152, ("ski", "</s>"): -0.7123581, ("<s>", "I"): -0.9649993,
    ("I", "went"): -0.383262, ("You", "went"): -0.383262, ("Joe", "went"): -0.383262,
    ("Anna", "went"): -0.50341624}


def test_issue_405_example_matches_lmplz():
    vocab, corpus = corpus_from_lines(ISSUE_405_TEXT)
    m = fit_modified_kneser_ney(corpus, vocab, order=2)
    for w, (lp, bow) in ISSUE_405_UNIGRAMS.items():
        i = vocab.id(w)
        if lp is None:
            assert m.logprobs[0][i] == -np.inf      # <s> is never predicted
        else:
            assert m.logprobs[0][i] / LN10 == pytest.approx(lp, abs=1e-6), w
        assert m.logbows[0][i] / LN10 == pytest.approx(bow, abs=1e-6), w
    for (h, w), lp in ISSUE_405_BIGRAMS.items():
        assert m.logprob(w, [h]) / LN10 == pytest.approx(lp, abs=1e-6), (h, w)


def test_lmplz_counts_of_counts_reproduce_issue_405():
    """lmplz tallies the last unigram in its suffix order ("ski", ids by first
    appearance) with its raw count 2, not its adjusted count 1, so it reports
    n1 = 4, n2 = 3 where the adjusted counts give n1 = 5, n2 = 2 (kpu/kenlm
    issues #405 and #427)."""
    vocab, corpus = corpus_from_lines(ISSUE_405_TEXT)
    counts = count_ngrams(corpus, 2, len(vocab))
    adjusted = adjusted_counts(counts)
    # continuation counts by hand: went follows I, You, Joe, Anna; go follows 3 words
    expect = {"I": 1, "You": 1, "Joe": 1, "Anna": 1, "ski": 1, "to": 2, "</s>": 2,
              "go": 3, "went": 4, "<unk>": 0, "<s>": 0}
    assert {w: int(adjusted[0][vocab.id(w)]) for w in expect} == expect
    assert list(counts_of_counts(adjusted[0], 4)[1:]) == [5, 2, 1, 1]
    coc = adjusted_counts_of_counts(counts)
    assert np.array_equal(coc[0], counts_of_counts(adjusted[0], 4))
    lmplz = lmplz_counts_of_counts(counts, coc, first_positions(corpus.ids, len(vocab)))
    assert list(lmplz[0][1:]) == [4, 3, 1, 1]
    assert np.array_equal(lmplz[1], counts_of_counts(adjusted[1], 4))  # highest order: raw


def compare_with_arpa(model, arpa_path, tol=1e-5):
    """Every n-gram of the ARPA file is in the model and vice versa; log10
    probabilities and backoff weights agree within ``tol``."""
    ref = read_arpa(arpa_path)
    assert ref.order == model.order
    V = model.vocab_size
    to_ours = np.array([model.vocab.index.get(w, -1) for w in ref.vocab.words])
    assert (to_ours >= 0).all(), "the ARPA file has words the model does not know"
    assert sorted(ref.vocab.words) == sorted(model.vocab.words)
    for k in range(1, model.order + 1):
        words = to_ours[ref.ngram_words(k)]                  # (n_k, k) in our ids
        row = words[:, 0].copy()
        for j in range(1, k):                                # walk our tables
            key = row * V + words[:, j]
            table = model.tables.keys[j]
            pos = np.minimum(np.searchsorted(table, key), len(table) - 1)
            assert (table[pos] == key).all(), f"order {k}: n-grams missing from the model"
            row = pos
        assert len(model.tables.keys[k - 1]) == len(words), f"order {k}: extra n-grams"
        ref_lp, our_lp = ref.logprobs[k - 1] / LN10, model.logprobs[k - 1][row] / LN10
        scored = words[:, -1] != 1                           # <s>: ARPA files write 0 or -99
        np.testing.assert_allclose(our_lp[scored], ref_lp[scored], rtol=0, atol=tol)
        if k < model.order:
            np.testing.assert_allclose(model.logbows[k - 1][row] / LN10,
                                       ref.logbows[k - 1] / LN10, rtol=0, atol=tol)


def test_ts_small_trigram_equals_lmplz():
    text = shared_path("reference", "kenlm", "ts-small.train.txt")
    vocab = build_vocab(text)
    m = fit_modified_kneser_ney(read_corpus(text, vocab), vocab, order=3)
    compare_with_arpa(m, shared_path("reference", "kenlm", "ts-small.o3.arpa.gz"))


@pytest.mark.parametrize("order", [3, 5])
def test_ts_words_equals_lmplz(order):
    text = shared_path("corpora", "tinyshakespeare", "train.txt")  # blank lines are skipped
    vocab = build_vocab(text)
    m = fit_modified_kneser_ney(read_corpus(text, vocab), vocab, order=order)
    compare_with_arpa(m, shared_path("reference", "kenlm", f"ts-words.o{order}.arpa.gz"))


# ../shared/REFERENCE.md, lmplz on WikiText-2 train
WIKITEXT_DISCOUNTS = {
    3: [(0.182131, 1.01294, 2.53774), (0.729716, 1.15964, 1.49569),
        (0.837583, 1.25118, 1.44388)],
    5: [(0.182131, 1.01294, 2.53774), (0.729716, 1.15964, 1.49569),
        (0.866965, 1.27126, 1.47995), (0.942337, 1.41604, 1.53705),
        (0.959168, 1.52824, 1.50737)]}
WIKITEXT_PPL = {3: (247.6563, 230.8863), 5: (239.9840, 224.8116)}


@pytest.mark.parametrize("order", [3, 5])
def test_wikitext2_discounts_and_perplexity_equal_lmplz(order):
    """lmplz's vocabulary has a 33,280th entry here: it keeps the literal <unk>
    of WikiText apart from its own <unk>, where nlm merges them. That changes
    the uniform share of the unigrams by 1/33,279; perplexities still agree to
    far better than the 0.1% asked."""
    d = shared_path("corpora", "wikitext-2")
    vocab = build_vocab(d / "train.txt")
    m = fit_modified_kneser_ney(read_corpus(d / "train.txt", vocab), vocab, order=order)
    assert len(m.tables.keys[1]) == 619_591
    np.testing.assert_allclose(m.options["discounts"], WIKITEXT_DISCOUNTS[order], atol=2e-5)
    for split, ref in zip(("valid", "test"), WIKITEXT_PPL[order]):
        ev = evaluate(m, read_corpus(d / f"{split}.txt", vocab))
        assert ev.oov == 0
        assert ev.perplexity == pytest.approx(ref, rel=1e-3)   # the issue's bar
        assert ev.perplexity == pytest.approx(ref, rel=1e-5)   # what nlm achieves


def test_no_warning_when_discounts_can_be_estimated():
    text = shared_path("reference", "kenlm", "ts-small.train.txt")
    vocab = build_vocab(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_modified_kneser_ney(read_corpus(text, vocab), vocab, order=3)
