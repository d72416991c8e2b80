"""Static mixtures: n-gram models merged into one backoff model (nlm/ngram/merge.py,
nlm mix --write-arpa)."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import MORE_TEXT, assert_one_line_error, corpus_from_lines, run
from conformance import LanguageModelConformance, random_contexts, random_corpus

from nlm.errors import OptionError
from nlm.mixture import MixtureModel, combine_logprobs
from nlm.modelfile import load, save
from nlm.ngram.arpa import read_arpa, write_arpa
from nlm.ngram.merge import merge_backoff
from nlm.ngram.estimate.methods import fit_kneser_ney, fit_modified_kneser_ney, fit_witten_bell

W = [0.7, 0.3]


@pytest.fixture(scope="module")
def parts():
    vocab, corpus = corpus_from_lines(MORE_TEXT)
    return (fit_modified_kneser_ney(corpus, vocab, order=3, discount="0.5,1,1.5"),
            fit_witten_bell(corpus, vocab, order=2))


@pytest.fixture(scope="module")
def merged(parts):
    return merge_backoff(parts, W)


class TestMergedModel(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, merged):
        return merged


def test_union_of_the_ngrams(parts, merged):
    a, b = parts
    assert merged.order == 3
    for k in (1, 2, 3):
        grams = {tuple(g) for m in parts if k <= m.order for g in m.ngram_words(k).tolist()}
        assert {tuple(g) for g in merged.ngram_words(k).tolist()} == grams


def test_exact_on_every_ngram_of_the_union(parts, merged):
    for k in (1, 2, 3):
        words = merged.ngram_words(k)
        got = merged.ngram_logprobs(words)
        want = combine_logprobs([m.ngram_logprobs(words) for m in parts], np.array(W))
        finite = np.isfinite(want)
        assert np.array_equal(finite, np.isfinite(got))
        assert np.abs(got[finite] - want[finite]).max() < 1e-12


def test_backed_off_words_approximate_the_mixture(parts, merged):
    dynamic = MixtureModel(parts, W)
    ids, offsets = random_corpus(merged, sentences=60, seed=3)
    d, s = dynamic.score_corpus(ids, offsets), merged.score_corpus(ids, offsets)
    assert np.abs(d - s).max() > 1e-6      # not the same model...
    assert abs(np.exp(-s.mean()) / np.exp(-d.mean()) - 1) < 0.05   # ...but close


def test_a_model_merged_with_itself_is_itself(parts):
    a = parts[0]
    m = merge_backoff([a, a], [0.4, 0.6])
    for ctx in random_contexts(a, n=20):
        s = a.state_after(ctx)
        np.testing.assert_allclose(m.next_logprobs(s), a.next_logprobs(s), rtol=0, atol=1e-9)
    one = merge_backoff([a])
    ids, offsets = random_corpus(a, sentences=20)
    assert np.abs(one.score_corpus(ids, offsets) - a.score_corpus(ids, offsets)).max() < 1e-9


def test_components_with_other_id_orders(parts, tmp_path):
    a, b = parts
    write_arpa(b, tmp_path / "b.arpa")
    # the same file with its unigrams listed backwards: the reader numbers words in file order
    lines = (tmp_path / "b.arpa").read_text().splitlines()
    start = lines.index("\\1-grams:") + 1
    end = lines.index("", start)
    lines[start:end] = lines[start:end][::-1]
    (tmp_path / "b.arpa").write_text("\n".join(lines) + "\n")
    b2 = read_arpa(tmp_path / "b.arpa")
    assert b2.vocab.words != a.vocab.words
    m1, m2 = merge_backoff([a, b], W), merge_backoff([a, b2], W)
    ids, offsets = random_corpus(a, sentences=20)
    assert np.abs(m1.score_corpus(ids, offsets) - m2.score_corpus(ids, offsets)).max() < 1e-7


def test_only_backoff_models_merge(parts):
    from nlm.ngram.addk import AddKModel
    vocab, corpus = corpus_from_lines(MORE_TEXT)
    with pytest.raises(OptionError, match="only backoff and interpolated"):
        merge_backoff([parts[0], AddKModel.fit(corpus, vocab, order=2, k=1.0)])
    other_vocab, other = corpus_from_lines(MORE_TEXT[:3])
    with pytest.raises(OptionError, match="different vocabulary"):
        merge_backoff([parts[0], fit_kneser_ney(other, other_vocab, order=2, discount="0.5")])


def test_cli_write_arpa(parts, tmp_path, runner):
    a, b = parts
    save(a, tmp_path / "a.npz")
    save(b, tmp_path / "b.npz")
    valid = tmp_path / "valid.txt"
    valid.write_text("\n".join(MORE_TEXT[-3:]) + "\n")
    out = tmp_path / "merged.arpa"
    r = run(runner, ["mix", tmp_path / "a.npz", tmp_path / "b.npz", "--weights", "0.7,0.3",
                     "--valid", valid, "--write-arpa", out])
    assert "merged into one 3-gram model" in r.output and "the mixture's" in r.output
    written = load(out)
    want = merge_backoff(parts, W)
    ids, offsets = random_corpus(a, sentences=20)
    assert np.abs(written.score_corpus(ids, offsets) - want.score_corpus(ids, offsets)).max() \
        < 1e-7
    assert_one_line_error(run(runner, ["mix", tmp_path / "a.npz", tmp_path / "b.npz",
                                       "--weights", "1,1", "--write-arpa", tmp_path / "a.npz"],
                              ok=False), "would overwrite")
    r = run(runner, ["mix", tmp_path / "a.npz", tmp_path / "b.npz", "--weights", "1,1"],
            ok=False)
    assert r.exit_code != 0 and "--write-arpa" in r.output
