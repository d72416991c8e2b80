"""KenLM's query semantics, ported from what its model tests and Python module document
(state minimization, ngram_length on "blank" n-grams, state equality and hashing,
files without <unk>, <s> as a word, bytes input, the module's names, errors, pickling),
checked on nlm.kenlm over an ARPA file and its .nlmbin, and against the real ``kenlm``
module when it is installed. The ARPA files are written here, by hand."""
from __future__ import annotations

import copy
import itertools
import math
import pickle
import warnings

import pytest

import nlm.kenlm as nk
from nlm.ngram.arpa import read_arpa
from nlm.ngram.binary import write_binary

# A 5-gram with the shapes KenLM's tests exercise: a chain from <s> up to the 5th order,
# n-grams that cannot be continued, non-zero backoffs, and a 5-gram whose suffixes
# ("higher looking", "consider higher looking", "would consider higher looking") are not
# listed: KenLM's "blanks".
UNIGRAMS = [(-2.0, "<unk>", 0.0), (0.0, "<s>", -0.5), (-1.2, "</s>", 0.0),
            (-1.3, "looking", -0.4), (-1.5, "on", -0.2), (-1.1, "a", -0.3),
            (-1.6, "little", -0.25), (-1.9, "more", -0.1), (-2.1, "loin", 0.0),
            (-1.7, "also", 0.0), (-1.8, "would", -0.15), (-1.85, "consider", -0.35),
            (-2.2, "higher", -0.3), (-1.4, ".", 0.0), (-1.0, "the", -0.6)]
BIGRAMS = [(-0.5, "<s> looking", -0.1), (-0.6, "looking on", -0.05), (-0.7, "on a", 0.0),
           (-0.3, "a little", -0.2), (-0.9, "little more", 0.0), (-1.1, "more loin", 0.0),
           (-0.4, "loin .", 0.0), (-0.2, ". </s>", 0.0), (-0.8, "also would", -0.1),
           (-0.6, "would consider", -0.2), (-1.0, "the little", 0.0), (-0.9, "<s> the", 0.0)]
TRIGRAMS = [(-0.35, "<s> looking on", -0.12), (-0.45, "looking on a", 0.0),
            (-0.25, "on a little", -0.05), (-0.55, "a little more", 0.0),
            (-0.65, "also would consider", -0.2), (-0.3, "loin . </s>", 0.0),
            (-0.5, "little more loin", 0.0)]
FOURGRAMS = [(-0.02, "<s> looking on a", 0.0), (-0.05, "looking on a little", -0.1),
             (-0.04, "little more loin .", 0.0), (-1.5, "also would consider higher", 0.0)]
FIVEGRAMS = [(-0.003, "<s> looking on a little"), (-0.04, "looking on a little more"),
             (-2.5, "also would consider higher looking")]
# filler chains w0 w1 w2 ...: KenLM's probing tables find room for the blanks only in
# tables of some size
FILL = [f"w{i}" for i in range(12)]
UNIGRAMS += [(-2.5, w, -0.1) for w in FILL]
for k, section in ((2, BIGRAMS), (3, TRIGRAMS), (4, FOURGRAMS)):
    section += [(-0.5, " ".join(FILL[i:i + k]), -0.1) for i in range(len(FILL) - k + 1)]
SECTIONS = [UNIGRAMS, BIGRAMS, TRIGRAMS, FOURGRAMS, FIVEGRAMS]

TEXTS = ["looking on a little more loin . </s>", "looking on a little the little more",
         "also would consider higher looking", "higher looking consider", "higher looking qq",
         "would consider higher looking on", "not_found not_found2 a little",
         "the little more loin", "looking <s> on", "<s>", ". </s> . </s>", "loin",
         "more loin . the", "w0 w1 w2 w3 w4 w5", "w3 w4 looking on", ""]


def _arpa(with_unk: bool = True) -> str:
    sections = [[e for e in UNIGRAMS if with_unk or e[1] != "<unk>"]] + SECTIONS[1:]
    out = ["\\data\\"] + [f"ngram {k + 1}={len(s)}" for k, s in enumerate(sections)] + [""]
    for k, section in enumerate(sections):
        out.append(f"\\{k + 1}-grams:")
        for entry in section:
            out.append("\t".join(str(x) for x in entry))
        out.append("")
    return "\n".join(out + ["\\end\\", ""])


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    d = tmp_path_factory.mktemp("port")
    (d / "t.arpa").write_text(_arpa())
    (d / "nounk.arpa").write_text(_arpa(with_unk=False))
    write_binary(read_arpa(d / "t.arpa"), d / "t.nlmbin")
    return d


def _kenlm():
    return pytest.importorskip("kenlm")


def _walk(model, state_cls, start, words):
    """[(log10 p, ngram_length, oov, state after)] reading ``words`` from ``start``."""
    s = state_cls()
    getattr(model, start)(s)
    out = []
    for w in words:
        o = state_cls()
        r = model.BaseFullScore(s, w, o)
        out.append((r.log_prob, r.ngram_length, r.oov, o))
        s = o
    return out


def _states(model, state_cls):
    """Every state reached on TEXTS from both starts, with how it was reached."""
    out = []
    for start in ("BeginSentenceWrite", "NullContextWrite"):
        for text in TEXTS:
            for i, step in enumerate(_walk(model, state_cls, start, text.split())):
                out.append(((start, text, i), step))
    return out


@pytest.mark.parametrize("name", ["t.arpa", "t.nlmbin"])
def test_minimal_states(paths, name):
    m = nk.Model(paths / name)
    null = nk.State()
    m.NullContextWrite(null)
    walk = _walk(m, nk.State, "BeginSentenceWrite", "looking on a little more loin".split())
    assert [n for _, n, _, _ in walk] == [2, 3, 4, 5, 5, 3]
    # after "loin" only "little more loin" can be continued: the state holds those words
    assert walk[-1][3] == _walk(m, nk.State, "NullContextWrite",
                                "little more loin".split())[-1][3]
    # "a little more" extends nothing and has backoff 1: "little more" is kept
    assert walk[-2][3] == _walk(m, nk.State, "NullContextWrite", ["little", "more"])[-1][3]
    # nothing follows </s>: the state is the null context, equal to a fresh State
    end = _walk(m, nk.State, "BeginSentenceWrite", ["looking", ".", "</s>"])[-1][3]
    assert end == null == nk.State() and hash(end) == hash(nk.State())
    # "the little" extends nothing and has backoff 1: only "little" is kept
    a = _walk(m, nk.State, "BeginSentenceWrite", ["the", "little"])[-1][3]
    b = _walk(m, nk.State, "NullContextWrite", ["little"])[-1][3]
    assert a == b and hash(a) == hash(b) and copy.copy(a) == a and copy.deepcopy(a) == a


@pytest.mark.parametrize("name", ["t.arpa", "t.nlmbin"])
def test_blanks_count_in_ngram_length(paths, name):
    m = nk.Model(paths / name)
    walk = _walk(m, nk.State, "NullContextWrite", ["higher", "looking"])
    # "higher looking" is not listed but ends a listed 5-gram: KenLM counts it
    assert walk[1][1] == 2
    assert walk[1][0] == pytest.approx(-1.3 - 0.3)      # p(looking) * bow(higher)
    walk = _walk(m, nk.State, "NullContextWrite", "also would consider higher looking".split())
    assert [n for _, n, _, _ in walk] == [1, 2, 3, 4, 5]
    assert walk[-1][0] == pytest.approx(-2.5)


def test_a_file_without_unk_warns_and_uses_minus_100(paths):
    with pytest.warns(UserWarning, match="no <unk>"):
        m = nk.Model(paths / "nounk.arpa")
    r = m.BaseFullScore(nk.State(), "not_found", nk.State())
    assert r.log_prob == pytest.approx(-100.0) and r.oov and r.ngram_length == 1
    assert math.isfinite(m.score("a not_found b"))
    config = nk.Config()
    config.arpa_complain = nk.ARPALoadComplain.NONE
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nk.Model(paths / "nounk.arpa", config)


@pytest.mark.parametrize("name", ["t.arpa", "t.nlmbin"])
def test_bos_as_a_word_is_finite(paths, name):
    m = nk.Model(paths / name)
    walk = _walk(m, nk.State, "BeginSentenceWrite", ["<s>"])
    assert walk[0][0] == pytest.approx(0.0 - 0.5) and walk[0][1] == 1   # p(<s>) = 1 in file
    assert math.isfinite(m.score("looking <s> on"))


@pytest.mark.parametrize("name", ["t.arpa", "t.nlmbin"])
def test_bytes_and_str(paths, name):
    m = nk.Model(str(paths / name).encode())
    assert isinstance(m.path, bytes) and m.path == str(paths / name).encode()
    assert m.score(b"looking on a") == m.score("looking on a") != m.score("qq qq qq")
    assert b"looking" in m and "looking" in m and b"zzz" not in m and "<unk>" not in m
    assert list(m.full_scores(b"a little")) == list(m.full_scores("a little"))
    assert m.perplexity(b"a little") == m.perplexity("a little")
    with pytest.raises(TypeError):
        m.BaseScore(nk.State(), b"looking", nk.State())
    with pytest.raises(TypeError):
        m.score(3)


def test_names_and_config_defaults():
    assert (nk.LoadMethod.LAZY, nk.LoadMethod.POPULATE_OR_LAZY, nk.LoadMethod.POPULATE_OR_READ,
            nk.LoadMethod.READ, nk.LoadMethod.PARALLEL_READ) == (0, 1, 2, 3, 4)
    assert (nk.ARPALoadComplain.ALL, nk.ARPALoadComplain.EXPENSIVE,
            nk.ARPALoadComplain.NONE) == (0, 1, 2)
    c = nk.Config()
    assert (c.load_method, c.show_progress, c.arpa_complain) == (2, True, 0)
    assert issubclass(nk.LanguageModel, nk.Model)


def test_errors_are_oserrors(paths, tmp_path):
    with pytest.raises(OSError, match="Cannot read model"):
        nk.Model(tmp_path / "nowhere.arpa")
    (tmp_path / "bad.arpa").write_text("\\data\\\nngram 1=zz\n")
    with pytest.raises(IOError):
        nk.Model(tmp_path / "bad.arpa")


def test_pickles_by_path(paths):
    m = nk.Model(paths / "t.nlmbin")
    blob = pickle.dumps(m)
    assert len(blob) < 400
    again = pickle.loads(blob)
    assert again.path == m.path and again.score("looking on a") == m.score("looking on a")


def test_states_are_opaque_and_belong_to_their_model(paths):
    m, other = nk.Model(paths / "t.arpa"), nk.Model(paths / "t.nlmbin")
    s = nk.State()
    with pytest.raises(AttributeError):
        s.words = (10 ** 9,)
    m.BeginSentenceWrite(s)
    with pytest.raises(ValueError, match="another Model"):
        other.BaseScore(s, "looking", nk.State())
    with pytest.raises(TypeError, match="State"):
        m.BaseScore(("not", "a state"), "looking", nk.State())


@pytest.mark.parametrize("name", ["t.arpa", "t.nlmbin"])
def test_every_check_agrees_with_kenlm(paths, name):
    kenlm = _kenlm()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = nk.Model(paths / name)
    theirs = kenlm.Model(str(paths / "t.arpa"))
    a, b = _states(ours, nk.State), _states(theirs, kenlm.State)
    for (where, (pa, na, oa, _)), (_, (pb, nb, ob, _)) in zip(a, b):
        assert pa == pytest.approx(pb, abs=1e-5) and (na, oa) == (nb, ob), where
    # the same states compare equal (and hash alike) in both modules
    pairs = [(sa, sb) for (_, (_, _, _, sa)), (_, (_, _, _, sb)) in zip(a, b)]
    assert len(pairs) == len(a) == len(b) > 100
    for (sa1, sb1), (sa2, sb2) in itertools.combinations(pairs, 2):
        assert (sa1 == sa2) == (sb1 == sb2)
        if sa1 == sa2:
            assert hash(sa1) == hash(sa2)
    for text in TEXTS:
        for bos, eos in itertools.product((True, False), repeat=2):
            assert ours.score(text, bos, eos) == pytest.approx(theirs.score(text, bos, eos),
                                                               abs=1e-5)
            assert [(n, o) for _, n, o in ours.full_scores(text, bos, eos)] == \
                [(n, o) for _, n, o in theirs.full_scores(text, bos, eos)]


def test_real_kenlm_states_are_accepted(paths):
    kenlm = _kenlm()
    ours = nk.Model(paths / "t.nlmbin")
    mine, real = _states(ours, nk.State), _states(ours, kenlm.State)
    for (where, (pa, na, oa, sa)), (_, (pb, nb, ob, sb)) in zip(mine, real):
        assert (pa, na, oa) == (pb, nb, ob), where
    states = [s for _, (_, _, _, s) in real]
    mine_states = [s for _, (_, _, _, s) in mine]
    for i, j in itertools.combinations(range(len(states)), 2):
        assert (states[i] == states[j]) == (mine_states[i] == mine_states[j])


def test_agrees_with_kenlm_on_a_file_without_unk(paths):
    kenlm = _kenlm()
    with pytest.warns(UserWarning):
        ours = nk.Model(paths / "nounk.arpa")
    theirs = kenlm.Model(str(paths / "nounk.arpa"))
    for text in TEXTS + ["not_found a", "qq"]:
        assert ours.score(text) == pytest.approx(theirs.score(text), abs=1e-4)


# -- nlm evaluate --kenlm-compatible: query's perplexity ------------------------------------
QUERY_TEXT = "looking on a little more\n\n<unk> the little\nqq looking\n\n   \nloin .\n"


def test_kenlm_compatible_reading_counts_blank_lines_and_unk(paths, tmp_path):
    from nlm.evaluate import evaluate, read_query_text
    text = tmp_path / "q.txt"
    text.write_text(QUERY_TEXT)
    m = read_arpa(paths / "t.arpa")
    c = read_query_text(text, m.vocab)
    assert c.sentences == 7 and c.tokens == 6 + 1 + 4 + 3 + 1 + 1 + 3
    assert int(c.oov.sum()) == 2          # the literal <unk> and qq
    ev = evaluate(m, c)
    km = nk.Model(paths / "t.arpa")
    total = sum(km.score(line) for line in QUERY_TEXT.splitlines())
    assert ev.logprob / math.log(10) == pytest.approx(total, abs=1e-9)


def test_kenlm_compatible_evaluate_reproduces_query(paths, tmp_path):
    import json
    import subprocess
    from conftest import shared_path
    from click.testing import CliRunner
    from nlm.cli import main
    query = shared_path("tools", "kenlm", "query")
    text = tmp_path / "q.txt"
    text.write_text(QUERY_TEXT * 3)
    with open(text) as f:
        out = subprocess.run([str(query), "-v", "summary", str(paths / "t.arpa")], stdin=f,
                             capture_output=True, text=True, check=True).stdout
    want = {line.split(":")[0]: float(line.split()[-1]) for line in out.splitlines()
            if line.startswith("Perplexity")}
    r = CliRunner().invoke(main, ["evaluate", str(paths / "t.arpa"), str(text), "--json",
                                  "--kenlm-compatible"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output.splitlines()[-1])
    assert got["perplexity"] == pytest.approx(want["Perplexity including OOVs"], rel=1e-6)
    assert got["perplexity_excluding_oov"] == pytest.approx(
        want["Perplexity excluding OOVs"], rel=1e-6)
