"""An order with no n-grams is legal (issue 20): text whose sentences are shorter than
the order leaves the highest tables empty, and, as with KenLM, the model simply has no
n-grams of those orders. Every method estimates such a model in memory and out of core,
it scores as the model of the highest order that has n-grams, and its ARPA file says
``ngram 6=0``."""
from __future__ import annotations

import numpy as np
import pytest

from nlm.api import train
from nlm.corpus import read_corpus
from nlm.modelfile import load, save
from nlm.ngram.arpa import read_arpa, write_arpa
from nlm.ngram.external import pipeline
from nlm.ngram.external.budget import Plan, parse_memory

#: one or two words a line: at most 4 tokens with <s> and </s>, so orders 5 and 6 are empty
WORDS = ["emma", "olivia", "ava", "mia", "noah", "liam", "emma", "ava", "emma", "zoe"]
LINES = WORDS + ["emma ava", "ava mia", "noah liam", "emma ava", "mia"] * 3

IN_MEMORY = ["mle", "witten-bell", "absolute", "kn", "mkn", "katz", "stupid"]
OUT_OF_CORE = ["mle", "witten-bell", "absolute", "kn", "mkn", "stupid"]
#: chunks of 10 tokens, partitions of 8 windows, buckets of 6 n-grams: many of each
TINY = Plan(1 << 20, chunk_tokens=10, partition_windows=8, bucket_ngrams=6)


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    path = tmp_path_factory.mktemp("short") / "short.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


@pytest.mark.filterwarnings("ignore::nlm.ngram.estimate.discount.DiscountWarning")
@pytest.mark.parametrize("model", IN_MEMORY)
def test_in_memory_empty_orders_score_as_the_shorter_model(text, model, tmp_path):
    full = train(text, model, order=6)
    short = train(text, model, order=4)
    assert [len(k) for k in full.tables.keys][4:] == [0, 0]
    assert [len(k) for k in full.tables.keys][:4] == [len(k) for k in short.tables.keys]
    corpus = read_corpus(text, full.vocab)
    np.testing.assert_array_equal(full.score_corpus(corpus.ids, corpus.offsets),
                                  short.score_corpus(corpus.ids, corpus.offsets))
    save(full, tmp_path / "m.npz")
    again = load(tmp_path / "m.npz")
    assert again.order == 6
    np.testing.assert_array_equal(again.score_corpus(corpus.ids, corpus.offsets),
                                  full.score_corpus(corpus.ids, corpus.offsets))


@pytest.mark.filterwarnings("ignore::nlm.ngram.estimate.discount.DiscountWarning")
@pytest.mark.parametrize("model", [m for m in IN_MEMORY if m != "stupid"])
def test_arpa_of_empty_orders_says_zero(text, model, tmp_path):
    full = train(text, model, order=6)
    write_arpa(full, tmp_path / "m.arpa")
    text_ = (tmp_path / "m.arpa").read_text(encoding="utf-8")
    head = text_[text_.index("\\data\\"):text_.index("\\1-grams:")]
    assert "ngram 5=0\nngram 6=0\n" in head
    back = read_arpa(tmp_path / "m.arpa")
    assert back.order == 6 and [len(k) for k in back.tables.keys][4:] == [0, 0]
    corpus = read_corpus(text, full.vocab)
    np.testing.assert_allclose(back.score_corpus(corpus.ids, corpus.offsets),
                               full.score_corpus(corpus.ids, corpus.offsets), rtol=0, atol=1e-6)


@pytest.mark.filterwarnings("ignore::nlm.ngram.estimate.discount.DiscountWarning")
@pytest.mark.parametrize("model", OUT_OF_CORE)
def test_out_of_core_empty_orders_equal_in_memory(text, model, tmp_path):
    arpa = None if model == "stupid" else tmp_path / "m.arpa"
    pipeline.estimate(text, model, {"order": 6}, output=tmp_path / "m.npz",
                      budget=parse_memory("1M"), temp_dir=tmp_path, arpa=arpa, plan=TINY)
    got, want = load(tmp_path / "m.npz"), train(text, model, order=6)
    assert got.order == 6 and got.method == want.method
    for k in range(6):
        np.testing.assert_array_equal(got.tables.keys[k], want.tables.keys[k])
        np.testing.assert_allclose(got.logprobs[k], want.logprobs[k], rtol=0, atol=1e-12)
        if k < 5:
            np.testing.assert_allclose(got.logbows[k], want.logbows[k], rtol=0, atol=1e-12)
    assert [len(k) for k in got.tables.keys][4:] == [0, 0]
    if arpa is not None:
        assert "ngram 6=0" in arpa.read_text(encoding="utf-8")
    # no spill directory or temp file left
    assert sorted(p.name for p in tmp_path.iterdir()) == (["m.arpa"] if arpa else []) + ["m.npz"]


def test_order_past_every_sentence_through_the_cli(text, tmp_path):
    from click.testing import CliRunner
    from nlm.cli import main
    runner = CliRunner()
    for extra in ([], ["--memory", "1M", "--temp-dir", str(tmp_path)]):
        out = tmp_path / "z.npz"
        r = runner.invoke(main, ["train", str(text), "--order", "6", "-o", str(out), *extra])
        assert r.exit_code == 0, r.output
        assert "Traceback" not in r.output
        assert [len(k) for k in load(out).tables.keys][4:] == [0, 0]
        out.unlink()
