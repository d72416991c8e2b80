"""Start-up: ``import nlm``, ``nlm --version``, ``nlm --help`` and scoring a sentence from
an ``.nlmbin`` file import no Numba (each checked in a fresh interpreter: sys.modules);
the names ``import nlm`` promises still resolve; the plain-Python probing scorer that
serves short inputs gives the kernels' numbers bit for bit."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import MORE_TEXT, corpus_from_lines
from conformance import random_corpus

from nlm.modelfile import load
from nlm.ngram.arpa import read_arpa, write_arpa
from nlm.ngram.binary import write_binary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter (this checkout first on the path); it prints its
    result as the last line, which is returned with what it imported."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    wrapped = (code + "\nimport json as _j, sys as _s\n"
               "print(_j.dumps({'numba': 'numba' in _s.modules, "
               "'nlm': sorted(m for m in _s.modules if m.startswith('nlm'))}))")
    done = subprocess.run([sys.executable, "-c", wrapped], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    return {"stdout": lines[:-1], **json.loads(lines[-1])}


def _cli(*args: str) -> str:
    return ("import sys\nfrom nlm.cli import main\n"
            f"try:\n    main({list(args)!r})\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\n")


def test_import_nlm_imports_no_numba_nor_any_model():
    got = _fresh("import nlm")
    assert got["numba"] is False
    assert got["nlm"] == ["nlm", "nlm.catalog", "nlm.version"]


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_no_numba(flag):
    got = _fresh(_cli(flag))
    assert got["numba"] is False
    assert not any(m.startswith(("nlm.neural.", "nlm.ngram.estimate")) for m in got["nlm"])
    if flag == "--version":
        assert got["stdout"][0].startswith("nlm, version ")
    else:
        assert any(line.split()[:1] == ["train"] for line in got["stdout"])


def test_scoring_a_sentence_from_a_binary_file_imports_no_numba(binary_path, kn4):
    got = _fresh(_cli("score", str(binary_path), "the cat sat on the mat", "--json"))
    assert got["numba"] is False
    assert "nlm.ngram.binary_kernels" not in got["nlm"]
    scored = json.loads(got["stdout"][0])
    from nlm.corpus import Corpus
    from nlm.ngram.binary import float32_model
    words = "the cat sat on the mat".split()
    corpus = Corpus.from_sentences([words], kn4.vocab)
    # the numbers of the kernels on the model the file was built from
    want = float32_model(kn4).score_corpus(corpus.ids, corpus.offsets)
    assert scored["tokens"] == words + ["</s>"]
    assert scored["logprobs"] == want.tolist()


def test_the_names_of_import_nlm_resolve_on_first_use():
    got = _fresh("import nlm\n"
                 "print(sorted(nlm.MODELS)[:3], nlm.load.__module__, nlm.BackoffModel "
                 "if hasattr(nlm, 'BackoffModel') else None, nlm.ngram.BackoffModel.__name__,"
                 " nlm.neural.RNNModel.__name__, nlm.MixtureModel.kind)")
    assert got["stdout"] == ["['absolute', 'add-k', 'gpt'] nlm.modelfile None BackoffModel "
                             "RNNModel mixture"]
    import nlm
    assert set(nlm.__all__) <= set(dir(nlm))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        nlm.nothing     # noqa: B018


def test_a_models_kind_is_imported_when_its_file_is_loaded(tmp_path, kn4):
    from nlm.modelfile import save
    path = tmp_path / "m.npz"
    save(kn4, path)
    got = _fresh(f"from nlm.modelfile import load\nprint(load({str(path)!r}).kind)")
    assert got["stdout"] == ["backoff"] and "nlm.ngram.backoff" in got["nlm"]
    assert "nlm.neural.mlp" not in got["nlm"]


def _odd_model(kn4, tmp_path):
    """kn4 without the 3-grams that only end 4-grams (as pruning by other tools leaves
    a file): not suffix-closed, so scoring may not stop at the first n-gram not found."""
    arpa = tmp_path / "odd.arpa"
    write_arpa(kn4, arpa)
    lines = arpa.read_text().splitlines()
    four = [line.split("\t")[1].split() for line in lines[lines.index("\\4-grams:") + 1:]
            if "\t" in line]
    prefixes, suffixes = {tuple(g[:3]) for g in four}, {tuple(g[1:]) for g in four}
    start = lines.index("\\3-grams:") + 1
    end = lines.index("", start)
    drop = {i for i in range(start, end)
            if tuple(lines[i].split("\t")[1].split()) in suffixes - prefixes}
    assert drop
    n3 = end - start
    lines = [line for i, line in enumerate(lines) if i not in drop]
    lines[lines.index(f"ngram 3={n3}")] = f"ngram 3={n3 - len(drop)}"
    arpa.write_text("\n".join(lines) + "\n")
    return read_arpa(arpa)


@pytest.mark.parametrize("which", ["closed", "open"])
def test_python_scorers_give_the_kernels_numbers(kn4, tmp_path, which):
    from nlm.ngram.backoff_kernels import _score_corpus, _sentence_scores
    from nlm.ngram.probing import Probing, score_corpus, sentence_scores
    model = kn4 if which == "closed" else _odd_model(kn4, tmp_path)
    path = tmp_path / f"{which}.nlmbin"
    write_binary(model, path)
    for b in (load(path), model):     # float32 values mapped, float64 values in memory
        meta, ints, vals, closed = b.query_table()
        assert closed is (which == "closed")
        table = Probing(b.query_table())
        _, text = corpus_from_lines(MORE_TEXT)
        for ids, offsets in [(text.ids, text.offsets)] + [
                random_corpus(b, sentences=80, seed=seed) for seed in range(3)]:
            ids = np.ascontiguousarray(ids, dtype=np.int64)
            offsets = np.ascontiguousarray(offsets, dtype=np.int64)
            want, got = np.empty(len(ids)), np.empty(len(ids))
            _score_corpus(ids, offsets, meta, ints, vals, closed, want)
            score_corpus(ids, offsets, table, got)
            assert np.array_equal(want, got)
            for s in range(0, len(offsets) - 1, 7):
                sent = ids[offsets[s]:offsets[s + 1]]
                for bos in (True, False):
                    out = [np.empty(len(sent)), np.empty(len(sent), dtype=np.int64)]
                    ref = [np.empty(len(sent)), np.empty(len(sent), dtype=np.int64)]
                    _sentence_scores(sent, bos, meta, ints, vals, closed, *ref)
                    sentence_scores(sent, bos, table, *out)
                    assert np.array_equal(ref[0], out[0]) and np.array_equal(ref[1], out[1])


def test_a_binary_model_scores_its_first_tokens_in_python_then_in_the_kernels(binary_path):
    """In a fresh interpreter: the first tokens without Numba, the rest (past the budget)
    in the kernels, with the same numbers as the kernels give for all of them."""
    got = _fresh(f"""
import sys
import numpy as np
from nlm.modelfile import load
from nlm.ngram import backoff
backoff.PYTHON_TOKENS = 50
b = load({str(binary_path)!r})
rng = np.random.default_rng(9)
ids = rng.integers(3, b.vocab_size, size=200)
offsets = np.arange(0, 201, 8)
first = b.score_corpus(ids[:8], offsets[:2])
lp, matched = b.full_scores(ids[8:16])
print('numba' in sys.modules, b._python_tokens)
everything = b.score_corpus(ids, offsets)
print('numba' in sys.modules, b._python_tokens)
again = b.score_corpus(ids[:8], offsets[:2])
print(np.array_equal(first, everything[:8]), np.array_equal(again, first))
whole, whole_matched = b.full_scores(ids[8:16])
print(np.array_equal(whole, lp), np.array_equal(whole_matched, matched))
""")
    assert got["stdout"] == ["False 16", "True 16", "True True", "True True"]


def test_nlm_kenlm_scores_a_binary_file_without_numba_then_with_it(binary_path, kn4):
    """nlm.kenlm.Model(...).score: a short script loads no Numba; the numbers equal the
    compiled path's (taken after a per-word query has loaded the kernels)."""
    code = ("import nlm.kenlm as k\n"
            f"m = k.Model({str(binary_path)!r})\n"
            "print(repr(m.score('the cat sat on the mat')))\n")
    got = _fresh(code)
    assert got["numba"] is False
    compiled = _fresh(code + "s, o = k.State(), k.State()\nm.BeginSentenceWrite(s)\n"
                      "m.BaseScore(s, 'the', o)\nprint(repr(m.score('the cat sat on the mat')))\n")
    assert compiled["numba"] is True
    assert float(got["stdout"][0]) == float(compiled["stdout"][0]) == float(compiled["stdout"][1])
