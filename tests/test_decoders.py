"""nlm.decoders: nlm models as the language model of pyctcdecode's CTC beam search
(skipped when pyctcdecode, an optional extra, is not installed)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import TINY_TEXT, corpus_from_lines

from nlm.decoders import UNBOUNDED_ORDER, CTCLanguageModel
from nlm.mixture import MixtureModel
from nlm.modelfile import save
from nlm.ngram.estimate.methods import fit_kneser_ney, fit_witten_bell
from nlm.vocab import EOS_ID

LABELS = ["", " "] + list("abcdefghijklmnopqrstuvwxyz")


def ctc_logits(text: str, ambiguous: dict[int, tuple[str, str]], lean: float = 0.55
               ) -> np.ndarray:
    """(frames, labels) log-probabilities spelling ``text``, one frame per character and a
    blank after each; at position i in ``ambiguous`` the first letter gets ``lean`` and the
    second 1 - lean."""
    idx = {c: i for i, c in enumerate(LABELS)}
    rows = []
    for pos, ch in enumerate(text):
        p = np.full(len(LABELS), 1e-4)
        if pos in ambiguous:
            a, b = ambiguous[pos]
            p[idx[a]], p[idx[b]] = lean, 1.0 - lean
        else:
            p[idx[ch]] = 1.0
        blank = np.full(len(LABELS), 1e-4)
        blank[0] = 1.0
        rows += [p / p.sum(), blank / blank.sum()]
    return np.log(np.array(rows))


@pytest.fixture(scope="module")
def tiny_lm():
    vocab, corpus = corpus_from_lines(TINY_TEXT)
    return fit_witten_bell(corpus, vocab, order=3)


def test_scores_are_pyctcdecodes_formula(tiny_lm):
    lm = CTCLanguageModel(tiny_lm, alpha=0.7, beta=1.5, unk_score_offset=-10.0)
    assert lm.order == 3
    start = lm.get_start_state()
    s1, st1 = lm.score(start, "the")
    assert s1 == pytest.approx(0.7 * tiny_lm.logprob("the") + 1.5)
    s2, st2 = lm.score(st1, "cat", is_last_word=True)
    want = tiny_lm.logprob("cat", ["the"]) + tiny_lm.logprob("</s>", ["the", "cat"])
    assert s2 == pytest.approx(0.7 * want + 1.5)
    s3, _ = lm.score(st1, "zebra")
    assert s3 == pytest.approx(0.7 * (tiny_lm.logprob("<unk>", ["the"]) - 10 * math.log(10))
                               + 1.5)
    assert lm.score_partial_token("ca") == 0.0 and lm.score_partial_token("") == 0.0
    assert lm.score_partial_token("cz") == -10.0
    assert lm.score_partial_token("zzzzzzzzzzzz") == pytest.approx(-20.0)  # 12 chars / 6


def test_the_lookup_and_the_generic_path_agree(tiny_lm):
    """Backoff models are scored by table lookup; the same numbers as next_logprobs."""
    fast = CTCLanguageModel(tiny_lm)
    slow = CTCLanguageModel(tiny_lm)
    slow._lookup = None
    a, b = fast.get_start_state(), slow.get_start_state()
    for w in "the dog saw a cat on the mat".split():
        (x, a), (y, b) = fast.score(a, w), slow.score(b, w)
        assert x == pytest.approx(y, abs=1e-12)
    assert fast.score(a, "and", is_last_word=True)[0] == pytest.approx(
        slow.score(b, "and", is_last_word=True)[0], abs=1e-12)


def test_the_language_model_changes_the_transcript(tiny_lm, tmp_path):
    pytest.importorskip("pyctcdecode")
    from nlm.decoders import build_ctcdecoder
    # acoustically "sad" (OOV) and "saw" are slightly ahead of "sat"
    for wrong in ("d", "w"):
        logits = ctc_logits("the dog sat", {10: (wrong, "t")})
        assert build_ctcdecoder(LABELS).decode(logits) == "the dog sa" + wrong
        assert build_ctcdecoder(LABELS, tiny_lm, alpha=1.0, beta=1.0).decode(logits) == \
            "the dog sat"
    # a model file works too, and an n-gram mixture
    save(tiny_lm, tmp_path / "wb.npz")
    logits = ctc_logits("the dog sat", {10: ("w", "t")})
    assert build_ctcdecoder(LABELS, str(tmp_path / "wb.npz"), alpha=1.0).decode(logits) == \
        "the dog sat"
    vocab, corpus = corpus_from_lines(TINY_TEXT)
    mix = MixtureModel([tiny_lm, fit_kneser_ney(corpus, vocab, order=2, discount="0.5")],
                       [0.5, 0.5])
    # (without </s>: "sat" is rarely a sentence's last word, which the mixture knows)
    lm = build_ctcdecoder(LABELS, mix, alpha=1.0, lm_score_boundary=False)
    assert lm._language_model.order == 3
    assert lm.decode(logits) == "the dog sat"


def test_an_rnn_drives_the_search(tiny_lm):
    """The decoder follows the RNN's own preference between two in-vocabulary words that
    the acoustics cannot tell apart, against the acoustics' slight lean."""
    pytest.importorskip("pyctcdecode")
    from nlm.decoders import build_ctcdecoder
    from nlm.neural.rnn import RNNModel
    vocab, corpus = corpus_from_lines(TINY_TEXT)
    rnn = RNNModel.fit(corpus, vocab, emb=12, hidden=12, epochs=6, seed=3)
    state = rnn.state_after([vocab.index[w] for w in "the dog".split()])
    p = rnn.next_logprobs(state)
    best, other = sorted(["sat", "saw"], key=lambda w: -p[vocab.index[w]])
    margin = p[vocab.index[best]] - p[vocab.index[other]]
    assert margin > 0.03, "the RNN hardly prefers either word: no test"
    # acoustics lean to the other word by ln(0.51/0.49) = 0.04 nats; the LM (alpha 2) by
    # 2 * margin > 0.06
    logits = ctc_logits("the dog " + other, {10: (other[-1], best[-1])}, lean=0.51)
    assert build_ctcdecoder(LABELS).decode(logits) == "the dog " + other
    decoder = build_ctcdecoder(LABELS, rnn, alpha=2.0, beta=0.0, lm_score_boundary=False)
    assert decoder._language_model.order == UNBOUNDED_ORDER
    assert decoder.decode(logits) == "the dog " + best


def test_character_models_read_spaces_between_words():
    vocab, corpus = corpus_from_lines(TINY_TEXT, tokenizer="char")
    lm = fit_witten_bell(corpus, vocab, order=4)
    adapter = CTCLanguageModel(lm, alpha=1.0, beta=0.0)
    s, st = adapter.score(adapter.get_start_state(), "the")
    s2, _ = adapter.score(st, "cat", is_last_word=True)
    ids = [vocab.index[c] for c in "the cat"] + [EOS_ID]
    total = lm.score_corpus(np.array(ids), np.array([0, len(ids)])).sum()
    assert s + s2 == pytest.approx(total)


def test_without_pyctcdecode_the_message_says_how_to_install(monkeypatch, tiny_lm):
    import builtins
    from nlm import decoders
    from nlm.errors import NlmError
    real = builtins.__import__

    def fake(name, *args, **kw):
        if name.startswith("pyctcdecode"):
            raise ImportError(name)
        return real(name, *args, **kw)
    monkeypatch.setattr(builtins, "__import__", fake)
    monkeypatch.setattr(decoders, "_ADAPTER_CLASS", None)
    with pytest.raises(NlmError, match=r"pip install \"nlm\[decoders\]\""):
        decoders.build_ctcdecoder(LABELS, tiny_lm)


# -- pyctcdecode with the real kenlm, beam for beam ---------------------------------------
def _noisy_logits(rng, text: str) -> np.ndarray:
    """CTC log-probabilities spelling ``text`` with random confusions."""
    idx = {c: i for i, c in enumerate(LABELS)}
    rows = []
    for ch in text:
        p = rng.dirichlet(np.full(len(LABELS), 0.3)) * 0.5
        p[idx[ch]] += 0.5 + rng.uniform(-0.3, 0.2)
        rows.append(p / p.sum())
        b = np.full(len(LABELS), 1e-3)
        b[0] = 1.0
        rows.append(b / b.sum())
    return np.log(np.array(rows))


@pytest.fixture(scope="module")
def arpa_file(tmp_path_factory):
    from nlm.ngram.arpa import write_arpa
    from nlm.ngram.estimate.methods import fit_modified_kneser_ney
    lines = TINY_TEXT * 3 + ["a cat and a dog sat on a log", "the mat is on the log"]
    vocab, corpus = corpus_from_lines(lines)
    path = tmp_path_factory.mktemp("dec") / "lm.arpa"
    write_arpa(fit_modified_kneser_ney(corpus, vocab, order=3, discount="0.5,1,1.5"), path)
    return path


@pytest.mark.parametrize("boundary", [True, False])
def test_beams_match_pyctcdecode_with_kenlm(arpa_file, boundary):
    pytest.importorskip("pyctcdecode")
    pytest.importorskip("kenlm")
    import pyctcdecode
    from nlm.decoders import build_ctcdecoder
    rng = np.random.default_rng(7)
    ours = build_ctcdecoder(LABELS, str(arpa_file), alpha=0.8, beta=1.2,
                            lm_score_boundary=boundary)
    theirs = pyctcdecode.build_ctcdecoder(LABELS, str(arpa_file), alpha=0.8, beta=1.2,
                                          lm_score_boundary=boundary)
    texts = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog",
             "the mat is on the log", "the cat sat on a dog"]
    compared = 0
    for t in range(20):
        logits = _noisy_logits(rng, texts[t % len(texts)])
        a = ours.decode_beams(logits, beam_width=16)
        b = theirs.decode_beams(logits, beam_width=16)
        # (text, last LM state, word frames, logit score, combined score) per beam
        assert [x[0] for x in a] == [x[0] for x in b]
        assert [x[-1] for x in a] == pytest.approx([x[-1] for x in b], abs=1e-4)
        compared += 1
    assert compared == 20


def test_bad_options_are_refused_not_dropped(arpa_file, tmp_path):
    pytest.importorskip("pyctcdecode")
    from nlm.decoders import build_ctcdecoder
    from nlm.errors import ModelFileError, OptionError
    with pytest.raises(ModelFileError, match="no such file"):
        build_ctcdecoder(LABELS, str(tmp_path / "nowhere.arpa"))
    with pytest.raises(OptionError, match="alpha must be a finite number"):
        build_ctcdecoder(LABELS, str(arpa_file), alpha="not a number")
    with pytest.raises(OptionError, match="lm_score_boundary"):
        build_ctcdecoder(LABELS, str(arpa_file), lm_score_boundary="yes")
    with pytest.raises(TypeError, match="unexpected keyword argument 'hotwords'"):
        build_ctcdecoder(LABELS, str(arpa_file), hotwords=["cat"])
    d = build_ctcdecoder(LABELS, str(arpa_file), unigrams=["cat", "dog", "zebra"])
    assert d._language_model.unigrams == {"cat", "dog"}


def test_save_and_load_from_dir(arpa_file, tiny_lm, tmp_path):
    pytest.importorskip("pyctcdecode")
    from nlm.decoders import build_ctcdecoder, load_from_dir
    logits = _noisy_logits(np.random.default_rng(3), "the cat sat on the mat")
    for i, model in enumerate((str(arpa_file), tiny_lm)):
        d = build_ctcdecoder(LABELS, model, alpha=0.7, beta=0.9, lm_score_boundary=False)
        out = tmp_path / f"saved{i}"
        out.mkdir()
        d.save_to_dir(str(out))
        again = load_from_dir(str(out))
        lm = again._language_model
        assert (lm.alpha, lm.beta, lm.score_boundary) == (0.7, 0.9, False)
        assert [b[0] for b in again.decode_beams(logits)] == \
            [b[0] for b in d.decode_beams(logits)]


def test_pyctcdecodes_own_language_model_takes_nlm_kenlm(arpa_file, tmp_path):
    """pyctcdecode.LanguageModel(nlm.kenlm.Model(path)) as it stands (it makes
    kenlm.State() objects itself: the real kenlm's when installed)."""
    pytest.importorskip("pyctcdecode")
    import pyctcdecode
    import nlm.kenlm as nk
    ours = pyctcdecode.BeamSearchDecoderCTC(
        pyctcdecode.Alphabet.build_alphabet(LABELS),
        pyctcdecode.LanguageModel(nk.Model(arpa_file), ["the", "cat", "sat", "on", "mat"]))
    logits = _noisy_logits(np.random.default_rng(5), "the cat sat on the mat")
    beams = ours.decode_beams(logits)
    assert beams and isinstance(beams[0][0], str)
    kenlm = pytest.importorskip("kenlm")
    theirs = pyctcdecode.BeamSearchDecoderCTC(
        pyctcdecode.Alphabet.build_alphabet(LABELS),
        pyctcdecode.LanguageModel(kenlm.Model(str(arpa_file)),
                                  ["the", "cat", "sat", "on", "mat"]))
    assert [b[0] for b in beams] == [b[0] for b in theirs.decode_beams(logits)]


HIDE_KENLM = '''
import sys
class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "kenlm":
            raise ImportError("hidden")
        return None
sys.meta_path.insert(0, _Hide())
'''


def test_without_kenlm_pyctcdecode_finds_nlm_kenlm(arpa_file, tmp_path):
    """With no kenlm module, pyctcdecode (imported first, so it found none) takes
    nlm.kenlm.Model as it stands: nlm.kenlm stands in for the missing module."""
    pytest.importorskip("pyctcdecode")
    import subprocess
    import sys
    from conftest import ROOT
    code = HIDE_KENLM + f'''
import pyctcdecode, numpy as np
import nlm.kenlm as nk
import kenlm
assert kenlm is nk
labels = {LABELS!r}
lm = pyctcdecode.LanguageModel(nk.Model({str(arpa_file)!r}), ["the", "cat", "sat"])
dec = pyctcdecode.BeamSearchDecoderCTC(pyctcdecode.Alphabet.build_alphabet(labels), lm)
logits = np.log(np.full((10, len(labels)), 1.0 / len(labels)))
print("beams", len(dec.decode_beams(logits)))
'''
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[0] == "beams" and int(r.stdout.split()[1]) >= 1
