"""Vocabulary control: nlm train --vocab (closed vocabulary), --limit-vocab-file (as
lmplz), and nlm vocab (nlm/corpus.py read_vocab_file, nlm/ngram/limit.py)."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import MORE_TEXT, assert_one_line_error, corpus_from_lines, run
from conformance import LanguageModelConformance, random_corpus

from nlm.api import train
from nlm.modelfile import load
from nlm.ngram.estimate.methods import fit_modified_kneser_ney
from nlm.vocab import SPECIALS
from nlm.ngram.limit import limit_vocabulary

LISTED = ["the", "cat", "a", "mat", "on"]


@pytest.fixture(scope="module")
def full():
    vocab, corpus = corpus_from_lines(MORE_TEXT)
    return fit_modified_kneser_ney(corpus, vocab, order=3, discount="0.5,1,1.5")


@pytest.fixture(scope="module")
def limited(full):
    return limit_vocabulary(full, LISTED)


class TestLimitedModel(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, limited):
        return limited


def test_limit_keeps_exactly_the_ngrams_of_listed_words(full, limited):
    assert limited.vocab.words == list(SPECIALS) + [w for w in full.vocab.words if w in LISTED]
    allowed = set(SPECIALS) | set(LISTED)
    for k in (1, 2, 3):
        want = {tuple(full.vocab.words[i] for i in g) for g in full.ngram_words(k).tolist()}
        want = {g for g in want if set(g) <= allowed}
        got = {tuple(limited.vocab.words[i] for i in g) for g in limited.ngram_words(k).tolist()}
        assert got == want and len(got) > 0
    # the removed words' unigram mass is <unk>'s
    removed = [full.vocab.index[w] for w in full.vocab.words if w not in allowed]
    want_unk = np.logaddexp.reduce(full.logprobs[0][removed + [0]])
    assert limited.logprobs[0][0] == pytest.approx(want_unk)
    # the kept n-grams keep their probabilities; only the backoff weights change
    for g in limited.ngram_words(3).tolist():
        words = [limited.vocab.words[i] for i in g]
        assert limited.logprob(words[-1], words[:-1]) == pytest.approx(
            full.logprob(words[-1], words[:-1]), abs=1e-12)


def test_limit_does_not_apply_to_other_models():
    from nlm.errors import OptionError
    from nlm.ngram.addk import AddKModel
    vocab, corpus = corpus_from_lines(MORE_TEXT)
    with pytest.raises(OptionError, match="backoff and interpolated"):
        limit_vocabulary(AddKModel.fit(corpus, vocab, order=2, k=1.0), LISTED)


def test_closed_vocabulary_is_training_with_unk(tmp_path):
    """--vocab FILE trains exactly the model of the text with every unlisted word written
    as <unk> (a literal <unk> is the unknown word)."""
    text = tmp_path / "train.txt"
    text.write_text("\n".join(MORE_TEXT) + "\n")
    mapped = tmp_path / "mapped.txt"
    mapped.write_text("\n".join(" ".join(w if w in LISTED else "<unk>" for w in line.split())
                                for line in MORE_TEXT) + "\n")
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(LISTED) + "\n<s>\n")
    a = train(text, "mkn", order=3, vocab_file=vocab_file, discount="0.5,1,1.5")
    b = train(mapped, "mkn", order=3, discount="0.5,1,1.5")
    assert a.vocab.words == b.vocab.words == list(SPECIALS) + sorted(
        LISTED, key=lambda w: (-b.vocab.counts[b.vocab.index[w]], w))
    assert np.array_equal(a.vocab.counts, b.vocab.counts)
    ids, offsets = random_corpus(a, sentences=30)
    assert np.array_equal(a.score_corpus(ids, offsets), b.score_corpus(ids, offsets))


def test_listed_words_missing_from_the_text_are_kept(tmp_path):
    text = tmp_path / "train.txt"
    text.write_text("\n".join(MORE_TEXT) + "\n")
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("the cat zebra\n")
    m = train(text, "mkn", order=2, vocab_file=vocab_file, discount="0.5,1,1.5")
    assert "zebra" in m.vocab and m.vocab.counts[m.vocab.index["zebra"]] == 0
    assert np.isfinite(m.logprob("zebra", ["the"]))     # mkn gives unseen words mass


def test_cli_vocab_round_trip(tmp_path, runner):
    text = tmp_path / "train.txt"
    text.write_text("\n".join(MORE_TEXT) + "\n")
    run(runner, ["train", text, "--model", "kn", "--order", 2, "--min-count", 2, "-q",
                 "-o", tmp_path / "m.npz"])
    r = run(runner, ["vocab", tmp_path / "m.npz"])
    model = load(tmp_path / "m.npz")
    assert r.output.splitlines() == model.vocab.words
    r = run(runner, ["vocab", tmp_path / "m.npz", "--counts"])
    assert r.output.splitlines()[3] == f"the\t{model.vocab.counts[3]}"
    (tmp_path / "v.txt").write_text(run(runner, ["vocab", tmp_path / "m.npz"]).output)
    run(runner, ["train", text, "--model", "kn", "--order", 2, "-q", "--vocab",
                 tmp_path / "v.txt", "-o", tmp_path / "closed.npz"])
    assert load(tmp_path / "closed.npz").vocab.words == model.vocab.words
    run(runner, ["train", text, "--model", "mkn", "--order", 3, "-q", "--discount",
                 "0.5,1,1.5", "--limit-vocab-file", tmp_path / "v.txt", "-o",
                 tmp_path / "lim.npz"])
    assert load(tmp_path / "lim.npz").vocab.words == model.vocab.words


def test_cli_vocab_errors(tmp_path, runner):
    text = tmp_path / "train.txt"
    text.write_text("\n".join(MORE_TEXT) + "\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("<unk> <s>\n")
    out = tmp_path / "o.npz"
    assert_one_line_error(run(runner, ["train", text, "--vocab", empty, "-o", out], ok=False),
                          "empty.txt", "lists no words")
    v = tmp_path / "v.txt"
    v.write_text("the cat\n")
    assert_one_line_error(run(runner, ["train", text, "--vocab", v, "--min-count", 2, "-o",
                                       out], ok=False), "--min-count")
    assert_one_line_error(run(runner, ["train", text, "--model", "rnn", "--limit-vocab-file",
                                       v, "-o", out], ok=False), "applies to n-gram models")
    assert_one_line_error(run(runner, ["train", text, "--vocab", v, "-o", v], ok=False),
                          "would overwrite")
    assert_one_line_error(run(runner, ["train", text, "--vocab", tmp_path / "none.txt", "-o",
                                       out], ok=False), "no such file")
    assert not out.exists()
    assert_one_line_error(run(runner, ["vocab", tmp_path / "none.npz"], ok=False),
                          "no such file")


def test_limit_keeps_the_ngrams_lmplz_keeps(tmp_path):
    """The n-grams kept are those lmplz --limit_vocab_file keeps (KenLM's binary, when
    ../shared has it)."""
    import subprocess
    from conftest import ROOT, shared_path
    from nlm.ngram.arpa import read_arpa
    lmplz = shared_path("tools", "kenlm", "lmplz")
    with open(ROOT / "corpora" / "shakespeare" / "train.txt", encoding="utf-8") as f:
        lines = [line for _, line in zip(range(2000), f)]
    text = tmp_path / "train.txt"
    text.write_text("".join(lines))
    listed = tmp_path / "listed.txt"
    listed.write_text("the king and of to a my lord\nqueen , . i you\n")
    arpa = tmp_path / "lmplz.arpa"
    subprocess.run([str(lmplz), "-o", "3", "-S", "100M", "-T", str(tmp_path), "--text",
                    str(text), "--arpa", str(arpa), "--limit_vocab_file", str(listed),
                    "--discount_fallback"], check=True, capture_output=True)
    theirs = read_arpa(arpa)
    ours = train(text, "mkn", order=3, limit_vocab_file=listed)
    assert sorted(ours.vocab.words) == sorted(theirs.vocab.words)
    for k in (1, 2, 3):
        def grams(m):
            return {tuple(m.vocab.words[i] for i in g) for g in m.ngram_words(k).tolist()}
        assert grams(ours) == grams(theirs)
