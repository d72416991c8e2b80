"""ARPA files: write then read, KenLM's files against an independent scorer and the
reference perplexities, malformed files, and the CLI."""
from __future__ import annotations

import gzip
import math
import re

import numpy as np
import pytest
from click.testing import CliRunner
from conformance import LanguageModelConformance, random_contexts, random_corpus
from conftest import MORE_TEXT, AbsoluteDiscounting, corpus_from_lines, shared_path, working_directory

from nlm.cli import main
from nlm.corpus import read_corpus
from nlm.errors import ModelFileError, NlmError
from nlm.evaluate import evaluate
from nlm.modelfile import load, save
from nlm.ngram.addk import AddKModel
from nlm.ngram.arpa import read_arpa, write_arpa
from nlm.ngram.backoff import BackoffModel

KENLM = ("reference", "kenlm")


@pytest.fixture(scope="module")
def hand3():
    return AbsoluteDiscounting(MORE_TEXT, 3).backoff_model()


# -- write then read ---------------------------------------------------------------
class TestWrittenThenRead(LanguageModelConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, hand3, tmp_path_factory):
        path = tmp_path_factory.mktemp("arpa") / "hand3.arpa"
        write_arpa(hand3, path)
        return read_arpa(path)


@pytest.mark.parametrize("name", ["m.arpa", "m.arpa.gz"])
@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_write_read_preserves_scores(tmp_path, name, order):
    model = AbsoluteDiscounting(MORE_TEXT, order, D=0.7).backoff_model()
    path = tmp_path / name
    write_arpa(model, path)
    with open(path, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == name.endswith(".gz")
    back = load(path)  # through the registered loader
    assert isinstance(back, BackoffModel) and back.order == order
    assert back.vocab.words == model.vocab.words  # nlm writes words in id order
    for a, b in zip(model.tables.keys, back.tables.keys):
        np.testing.assert_array_equal(a, b)
    ids, offsets = random_corpus(model, sentences=30)
    np.testing.assert_allclose(back.score_corpus(ids, offsets), model.score_corpus(ids, offsets),
                               rtol=0, atol=1e-6)
    for ctx in random_contexts(model, n=10):
        a = model.next_logprobs(model.state_after(ctx))
        b = back.next_logprobs(back.state_after(ctx))
        assert np.array_equal(np.isinf(a), np.isinf(b))
        np.testing.assert_allclose(b[np.isfinite(b)], a[np.isfinite(a)], rtol=0, atol=1e-6)


def test_written_file_layout(hand3, tmp_path):
    path = tmp_path / "m.arpa"
    write_arpa(hand3, path)
    lines = path.read_text().splitlines()
    n = [len(k) for k in hand3.tables.keys]
    # the tokenizer comment, which ARPA readers skip, then the ARPA file proper
    assert lines[:2] == ["# nlm: tokenizer=whitespace lowercase=0", ""]
    lines = lines[2:]
    assert lines[:5] == ["\\data\\", f"ngram 1={n[0]}", f"ngram 2={n[1]}", f"ngram 3={n[2]}", ""]
    assert lines[-1] == "\\end\\"
    uni = lines[lines.index("\\1-grams:") + 1:lines.index("\\2-grams:") - 1]
    tri = lines[lines.index("\\3-grams:") + 1:-2]
    assert len(uni) == n[0] and len(tri) == n[2]
    assert uni[1].split("\t")[:2] == ["-99", "<s>"]        # <s> has probability 0
    assert all(len(x.split("\t")) == 3 for x in uni)       # lower orders: with backoff
    assert all(len(x.split("\t")) == 2 for x in tri)       # highest order: none
    p, word, b = uni[5].split("\t")
    i = hand3.vocab.id(word)
    assert float(p) == pytest.approx(hand3.logprobs[0][i] / math.log(10), abs=1e-9)
    assert float(b) == pytest.approx(hand3.logbows[0][i] / math.log(10), abs=1e-9)


def test_write_is_atomic_and_refuses_other_models(hand3, tmp_path, tiny):
    vocab, corpus = tiny
    path = tmp_path / "m.arpa"
    path.write_text("old")
    with pytest.raises(NlmError, match="no backoff form"):
        write_arpa(AddKModel.fit(corpus, vocab, order=2, k=0.5), path)
    stupid = BackoffModel(hand3.vocab, hand3.tables.keys, hand3.logprobs, hand3.logbows,
                          method="stupid", normalized=False)
    with pytest.raises(NlmError, match="not probabilities"):
        write_arpa(stupid, path)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.arpa"]  # no temp file left


def test_words_with_spaces_are_refused(tmp_path):
    vocab, corpus = corpus_from_lines(["ab c", "ca b"], tokenizer="char")
    model = BackoffModel(vocab, [np.arange(len(vocab))], [np.log(np.full(len(vocab), 0.25))],
                         [])
    assert " " in vocab.words
    with pytest.raises(NlmError, match="whitespace"):
        write_arpa(model, tmp_path / "c.arpa")


# -- KenLM's files -----------------------------------------------------------------
def arpa_dict(path):
    """An independent reading of an ARPA file: n-gram tuple -> (log10 p, log10 bow)."""
    table, order = {}, 0
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("\\") and line.endswith("-grams:"):
                order = int(line[1:line.index("-")])
            elif line == "\\end\\":
                break
            elif order and line:
                parts = line.split("\t")
                words = tuple(parts[1].split(" "))
                table[words] = (float(parts[0]), float(parts[2]) if len(parts) > 2 else 0.0)
    return table, order


def dict_log10prob(table, order, history, word):
    """log10 P(word | history) by the ARPA backoff rule, recursively."""
    history = tuple(history[-(order - 1):]) if order > 1 else ()
    if history + (word,) in table:
        return table[history + (word,)][0]
    return table.get(history, (0.0, 0.0))[1] + dict_log10prob(table, order, history[1:], word)


@pytest.fixture(scope="module")
def ts_small():
    path = shared_path(*KENLM, "ts-small.o3.arpa.gz")
    return path, read_arpa(path)


class TestKenLMFile(LanguageModelConformance):
    # KenLM stores float32 values and writes them with about 7 digits, so its
    # distributions sum to 1 within a few 1e-7, not 1e-9.
    sum_tolerance = 1e-6

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, ts_small):
        return ts_small[1]


def test_kenlm_file_against_independent_scorer(ts_small):
    path, model = ts_small
    table, order = arpa_dict(path)
    assert order == 3 and model.order == 3
    assert model.vocab.words[:3] == ["<unk>", "<s>", "</s>"]
    assert len(model.vocab) == sum(1 for g in table if len(g) == 1)
    assert model.describe()["ngrams"] == [sum(1 for g in table if len(g) == k) for k in (1, 2, 3)]
    lines = [line for line in shared_path(*KENLM, "ts-small.train.txt").read_text(
        encoding="utf-8").splitlines(keepends=True) if line.strip()][:40]
    valid = [line for line in shared_path("corpora", "tinyshakespeare", "valid.txt").read_text(
        encoding="utf-8").splitlines(keepends=True) if line.strip()][:40]
    sentences = [s.split() for s in lines + valid]
    total, tokens = 0.0, 0
    for words in sentences:
        history = ["<s>"]
        for w in words + ["</s>"]:
            w = w if (w,) in table else "<unk>"
            total += dict_log10prob(table, order, history, w)
            history.append(w)
            tokens += 1
    from nlm.corpus import Corpus
    corpus = Corpus.from_sentences(sentences, model.vocab)
    assert corpus.oov.sum() > 0
    ev = evaluate(model, corpus)
    assert ev.tokens == tokens
    assert ev.perplexity == pytest.approx(10 ** (-total / tokens), rel=1e-9)
    # every stored n-gram's probability, as read
    for g, (p, b) in list(table.items())[::97]:
        row = model.tables.find(tuple(model.vocab.id(w) for w in g))
        if g == ("<s>",):
            assert np.isneginf(model.logprobs[0][row])
            continue
        assert model.logprobs[len(g) - 1][row] == pytest.approx(p * math.log(10), rel=1e-12)
        if len(g) < order:
            assert model.logbows[len(g) - 1][row] == pytest.approx(b * math.log(10), rel=1e-12)


@pytest.mark.parametrize("order, ppl, ppl_excl", [(3, 575.3289, 286.2126),
                                                  (5, 574.1910, 285.7166)])
def test_reference_perplexities_of_kenlm_files(order, ppl, ppl_excl):
    """REFERENCE.md: KenLM's own query on Tiny Shakespeare valid with these files."""
    model = read_arpa(shared_path(*KENLM, f"ts-words.o{order}.arpa.gz"))
    corpus = read_corpus(shared_path("corpora", "tinyshakespeare", "valid.txt"), model.vocab)
    ev = evaluate(model, corpus)
    assert (corpus.sentences, ev.tokens, ev.oov) == (3535, 23687, 2360)
    assert ev.perplexity == pytest.approx(ppl, abs=6e-5)
    assert ev.perplexity_excluding_oov == pytest.approx(ppl_excl, abs=6e-5)


def test_kenlm_file_write_read_round_trip(ts_small, tmp_path):
    _, model = ts_small
    write_arpa(model, tmp_path / "again.arpa.gz")
    back = read_arpa(tmp_path / "again.arpa.gz")
    for a, b in zip(model.logprobs + model.logbows, back.logprobs + back.logbows):
        np.testing.assert_array_equal(a, b)  # KenLM's 8 digits survive exactly


# -- malformed files -----------------------------------------------------------------
GOOD = """\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.0\t<unk>
-99\t<s>\t-0.3
-0.5\t</s>
-0.6\ta\t-0.2

\\2-grams:
-0.2\t<s> a
-0.1\ta </s>

\\end\\
"""


def write(tmp_path, text, name="x.arpa"):
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return p


def test_small_file_reads_as_written(tmp_path):
    m = read_arpa(write(tmp_path, GOOD))
    assert m.vocab.words == ["<unk>", "<s>", "</s>", "a"]
    ln10 = math.log(10)
    assert m.logprob("a") == pytest.approx(-0.2 * ln10)
    assert m.logprob("</s>", ["a"]) == pytest.approx(-0.1 * ln10)
    assert m.logprob("a", ["a"]) == pytest.approx((-0.2 - 0.6) * ln10)
    assert m.logprob("<unk>") == pytest.approx((-0.3 - 1.0) * ln10)
    # SRILM's leading blank line, a byte-order mark, CRLF line ends: the same model
    other = read_arpa(write(tmp_path, "\ufeff\n" + GOOD.replace("\n", "\r\n"), "crlf.arpa"))
    assert other.vocab.words == m.vocab.words
    for a, b in zip(m.logprobs + m.logbows, other.logprobs + other.logbows):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("text, line, message", [
    ("hello\n" + GOOD, 1, "expected \\data\\"),
    (GOOD.replace("ngram 2=2", "ngram 2=x"), 3, "ngram N=COUNT"),
    (GOOD.replace("ngram 2=2", "ngram 3=2"), 3, "order 3 after order 1"),
    (GOOD.replace("ngram 1=4", "ngram 1=5"), 11, "has 4 entries but the header says 5"),
    (GOOD.replace("ngram 2=2", "ngram 2=3"), 15, "has 2 entries but the header says 3"),
    (GOOD.replace("-0.6\ta", "-0.6x\ta"), 9, "bad log10 probability '-0.6x'"),
    (GOOD.replace("a\t-0.2", "a\tnan"), 9, "bad log10 backoff weight"),
    (GOOD.replace("-0.6\ta", "0.6\ta"), 9, "above 0"),
    (GOOD.replace("-0.2\t<s> a", "-0.2\t<s> a a"), 12, "2 words"),
    (GOOD.replace("-0.1\ta </s>", "-0.1\ta </s>\t-0.5"), 13, "got 4 fields"),
    (GOOD.replace("-0.1\ta </s>", "-0.1\ta b"), 13, "word 'b' is not in the unigram section"),
    (GOOD.replace("\\2-grams:", "\\bigrams:"), 11, "unknown section"),
    (GOOD.replace("\\2-grams:", "\\3-grams:"), 11, "where \\2-grams: was expected"),
    (GOOD.replace("\\end\\\n", ""), 14, "without \\end\\"),
    (GOOD.replace("-0.1\ta </s>", "-0.1\t<s> a"), 13, "2-gram listed twice (first on line 12)"),
    (GOOD.replace("-0.6\ta", "-0.6\t<unk>"), 9, "unigram '<unk>' listed twice"),
    (GOOD.replace("\\2-grams:\n", ""), 11, "bad log10 backoff weight 'a'"),
    (b"\\data\\\nngram 1=1\n\n\\1-grams:\n-1\t\xff\n\\end\\\n", 5, "not valid UTF-8"),
    (GOOD.replace("-0.6\ta\t-0.2", "-0.6"), 9, "got 1 field"),
])
def test_malformed_files_name_the_line(tmp_path, text, line, message):
    with pytest.raises(ModelFileError) as e:
        read_arpa(write(tmp_path, text))
    assert f"line {line}: " in str(e.value)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_empty_missing_and_truncated_gzip(tmp_path):
    with pytest.raises(ModelFileError, match="empty file"):
        read_arpa(write(tmp_path, "\n\n"))
    with pytest.raises(ModelFileError, match="no such file"):
        read_arpa(tmp_path / "nope.arpa")
    data = gzip.compress((GOOD * 1).encode() + b"\n" * 5000)
    with pytest.raises(ModelFileError, match=r"line \d+: file ends early \(truncated gzip\)"):
        read_arpa(write(tmp_path, data[:len(data) // 2], "t.arpa.gz"))
    with pytest.raises(ModelFileError, match="gzip"):
        read_arpa(write(tmp_path, b"\x1f\x8b" + b"garbage" * 10, "g.arpa.gz"))
    # a .gz name holding plain text is read as text (the magic bytes decide)
    assert read_arpa(write(tmp_path, GOOD, "plain.arpa.gz")).order == 2


def test_missing_contexts_are_added_as_kenlm_does(tmp_path):
    """The trigram "a b </s>" is listed without its context "a b"; the reader adds
    "a b" with backoff weight 1 and the probability backing off gives it."""
    text = """\\data\\
ngram 1=5
ngram 2=2
ngram 3=1

\\1-grams:
-2\t<unk>
-99\t<s>\t-0.1
-0.7\t</s>
-0.6\ta\t-0.25
-0.9\tb\t-0.05

\\2-grams:
-0.3\t<s> a\t-0.2
-0.4\tb </s>

\\3-grams:
-0.01\ta b </s>

\\end\\
"""
    with pytest.warns(UserWarning, match="1 n-gram context"):
        m = read_arpa(write(tmp_path, text))
    ln10 = math.log(10)
    assert m.describe()["ngrams"] == [5, 3, 1]
    assert m.logprob("</s>", ["a", "b"]) == pytest.approx(-0.01 * ln10)
    # P(b | <s> a): "<s> a b" absent -> bow(<s> a) + P(b | a); "a b" added = bow(a) + P(b)
    assert m.logprob("b", ["a"]) == pytest.approx((-0.2 - 0.25 - 0.9) * ln10)
    row = m.tables.find((m.vocab.id("a"), m.vocab.id("b")))
    assert m.logbows[1][row] == 0.0
    assert m.logprobs[1][row] == pytest.approx((-0.25 - 0.9) * ln10)
    # a context that is in the file is not added again
    assert m.tables.find((m.vocab.id("b"), m.vocab.id("</s>"))) >= 0


def test_missing_unk_and_specials(tmp_path):
    text = "\\data\\\nngram 1=2\n\n\\1-grams:\n-0.3\t</s>\n-0.2\tx\n\n\\end\\\n"
    with pytest.warns(UserWarning, match="no <unk> in the file.*-100, as KenLM"):
        m = read_arpa(write(tmp_path, text))
    assert m.vocab.words == ["<unk>", "<s>", "</s>", "x"]
    # an unknown word gets log10 p = -100, as KenLM gives it; <s> stays context only
    assert m.logprob("<unk>") == pytest.approx(-100 * np.log(10))
    assert np.isneginf(m.next_logprobs(())[1])
    assert m.order == 1


# -- command line --------------------------------------------------------------------
def test_cli_export_arpa_then_use_it(hand3, tmp_path):
    runner = CliRunner()
    with working_directory(tmp_path):
        save(hand3, "m.npz")
        r = runner.invoke(main, ["export-arpa", "m.npz", "m.arpa.gz"])
        assert r.exit_code == 0, r.output
        assert "3-gram" in r.output and "m.arpa.gz" in r.output
        with open("text.txt", "w") as f:
            f.write("\n".join(MORE_TEXT[:4]) + "\n")
        a = runner.invoke(main, ["evaluate", "m.npz", "text.txt", "--json"])
        b = runner.invoke(main, ["evaluate", "m.arpa.gz", "text.txt", "--json"])
        import json
        pa, pb = json.loads(a.output)["perplexity"], json.loads(b.output)["perplexity"]
        assert pb == pytest.approx(pa, rel=1e-8)
        r = runner.invoke(main, ["info", "m.arpa.gz"])
        assert r.exit_code == 0 and "backoff" in r.output
        r = runner.invoke(main, ["generate", "m.arpa.gz", "-n", "2", "--seed", "3"])
        assert r.exit_code == 0 and len(r.output.splitlines()) == 2


def test_cli_export_arpa_errors(tmp_path, tiny):
    vocab, corpus = tiny
    runner = CliRunner()
    with working_directory(tmp_path):
        save(AddKModel.fit(corpus, vocab, order=2, k=0.5), "addk.npz")
        r = runner.invoke(main, ["export-arpa", "addk.npz", "out.arpa"])
        assert r.exit_code != 0 and "no backoff form" in r.output
        assert "Traceback" not in r.output
        with open("bad.arpa", "w") as f:
            f.write("\\data\\\nngram 1=1\n\n\\1-grams:\n-1\t<unk>\n")
        r = runner.invoke(main, ["evaluate", "bad.arpa", "bad.arpa"])
        assert r.exit_code != 0 and "line 5" in r.output and "\\end\\" in r.output


# -- tokenization travels with the model -----------------------------------------------------
TOKENIZED = ["The cat's mat, red.", "A dog (the DOG) sat.", "the cat sat on the mat"]


@pytest.fixture
def word_lower_model(tmp_path):
    from conftest import run
    from click.testing import CliRunner
    (tmp_path / "t.txt").write_text("\n".join(TOKENIZED * 3) + "\n")
    runner = CliRunner()
    run(runner, ["train", tmp_path / "t.txt", "--model", "kn", "--order", 2, "--tokenizer",
                 "word", "--lower", "-q", "-o", tmp_path / "m.npz"])
    run(runner, ["export-arpa", tmp_path / "m.npz", tmp_path / "m.arpa"])
    return tmp_path


def test_arpa_export_records_the_tokenizer_and_the_reader_restores_it(word_lower_model):
    d = word_lower_model
    assert (d / "m.arpa").read_text().startswith("# nlm: tokenizer=word lowercase=1\n\n\\data\\\n")
    model = read_arpa(d / "m.arpa")
    assert (model.vocab.tokenizer, model.vocab.lowercase) == ("word", True)
    plain = read_arpa(d / "m.arpa", tokenizer="whitespace", lowercase=False)
    assert (plain.vocab.tokenizer, plain.vocab.lowercase) == ("whitespace", False)
    with pytest.raises(NlmError, match="unknown tokenizer"):
        read_arpa(d / "m.arpa", tokenizer="bpe")


def test_evaluate_an_arpa_file_as_its_model_and_override_its_tokenizer(word_lower_model):
    import json
    from conftest import assert_one_line_error, run
    from click.testing import CliRunner
    d, runner = word_lower_model, CliRunner()
    (d / "test.txt").write_text("The DOG sat.\nA cat's mat.\n")

    def ppl(model, *extra):
        out = run(runner, ["evaluate", model, d / "test.txt", "--json", *extra]).output
        return json.loads(out)
    npz, arpa = ppl(d / "m.npz"), ppl(d / "m.arpa")
    assert arpa["tokens"] == npz["tokens"] == 5 + 6 and arpa["oov"] == npz["oov"] == 0
    assert arpa["perplexity"] == pytest.approx(npz["perplexity"], rel=1e-8)
    raw = ppl(d / "m.arpa", "--tokenizer", "whitespace", "--no-lower")
    assert raw["tokens"] == 4 + 4 and raw["oov"] > 0
    assert ppl(d / "m.arpa", "--lower")["perplexity"] == arpa["perplexity"]
    scored = run(runner, ["score", d / "m.arpa", "--tokenizer", "whitespace", "The DOG"]).output
    assert scored.startswith("the ") and "dog " in scored    # the file's lower-casing stays
    scored = run(runner, ["score", d / "m.arpa", "--tokenizer", "whitespace", "--no-lower",
                          "The DOG"]).output
    assert scored.startswith("The(OOV) ")
    sample = run(runner, ["generate", d / "m.arpa", "--seed", 1, "--prompt", "THE",
                          "--tokenizer", "char"]).output
    assert sample.strip()
    assert_one_line_error(run(runner, ["evaluate", d / "m.npz", d / "test.txt", "--tokenizer",
                                       "word"], ok=False), "apply to ARPA files")


def test_comment_lines_before_data_are_skipped_and_checked(tmp_path):
    m = read_arpa(write(tmp_path, "# made by hand\n#\n" + GOOD))
    assert (m.vocab.tokenizer, m.vocab.lowercase) == ("whitespace", False)
    with pytest.raises(ModelFileError, match=r"line 1: unknown tokenizer 'bpe'"):
        read_arpa(write(tmp_path, "# nlm: tokenizer=bpe lowercase=1\n" + GOOD))
    with pytest.raises(ModelFileError, match="lowercase must be 0 or 1"):
        read_arpa(write(tmp_path, "# nlm: tokenizer=word lowercase=yes\n" + GOOD))


def test_kenlm_reads_an_arpa_file_with_the_comment_block(word_lower_model):
    """KenLM's query (../shared/tools/kenlm) loads the exported file, comment block and
    all, without a warning, and agrees with nlm on the same (whitespace) tokens."""
    import subprocess
    query = shared_path("tools", "kenlm", "query")
    d = word_lower_model
    text = "the cat sat on the mat\na dog sat .\n"
    r = subprocess.run([str(query), "-v", "summary", str(d / "m.arpa")], input=text,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr and "looking for" not in r.stderr
    kenlm_ppl = float(re.search(r"Perplexity including OOVs:\s*(\S+)", r.stdout).group(1))
    (d / "q.txt").write_text(text)
    from nlm.corpus import read_corpus
    from nlm.evaluate import evaluate
    model = read_arpa(d / "m.arpa", tokenizer="whitespace", lowercase=False)
    assert evaluate(model, read_corpus(d / "q.txt", model.vocab)).perplexity == \
        pytest.approx(kenlm_ppl, rel=1e-5)


def test_the_one_pass_reader_equals_the_line_reader(tmp_path):
    """Reading an ARPA file's bytes in one pass (arpa_kernels) gives the tables the line
    by line reader gives, quirks included (CRLF, tabs and spaces, blank lines, -99,
    missing weights, non-ASCII words, 1e-3 notation); unusual files go line by line."""
    from nlm.ngram import arpa
    text = ("\\data\\\r\nngram 1=6\r\nngram 2=4\r\nngram 3=2\r\n\r\n\\1-grams:\r\n"
            "-1.5\t<unk>\t0\r\n-99\t<s>\t-0.25\r\n-1e-1 </s>\r\n-0.7\tcafé\t-0.125\r\n"
            "\r\n-0.3333333333\tthé  -1.5E-2\r\n-2.0\tx\t0\r\n\r\n\\2-grams:\r\n"
            "-0.5\t<s> café\t-0.2\r\n-0.25\tcafé thé\r\n-0.125\tthé </s>\r\n"
            "-0.0625\t<s> x\t0\r\n\r\n\\3-grams:\r\n-0.1\t<s> café thé\r\n-0.05  café thé </s>\r\n"
            "\r\n\\end\\\r\n")
    path = tmp_path / "q.arpa"
    path.write_bytes(text.encode("utf-8"))
    models = []
    for fast in (True, False):      # the one-pass reader does not decline this file
        lines = arpa._Lines(str(path))
        try:
            models.append(arpa._read(lines, fast))
        finally:
            lines.close()
    fast, slow = models
    assert fast.vocab.words == slow.vocab.words == ["<unk>", "<s>", "</s>", "café", "thé", "x"]
    for a, b in zip(fast.tables.keys + fast.logprobs + fast.logbows,
                    slow.tables.keys + slow.logprobs + slow.logbows):
        assert np.array_equal(a, b)
    assert fast.logbows[0][4] == pytest.approx(-1.5e-2 * np.log(10))
