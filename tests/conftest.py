"""Shared fixtures: small corpora written here, and paths into ../shared when present."""
from __future__ import annotations

import math
import os
from contextlib import contextmanager
from collections import Counter
from pathlib import Path

import numpy as np

import pytest
from click.testing import CliRunner

from nlm.cli import main
from nlm.corpus import Corpus
from nlm.ngram.backoff import BackoffModel
from nlm.vocab import BOS_ID, Vocabulary

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

TINY_TEXT = """\
the cat sat on the mat
the dog sat on the log
a cat and a dog
the cat saw the dog
a dog saw a cat on the mat
the mat was red
""".splitlines()


def corpus_from_lines(lines, min_count=1, tokenizer="whitespace"):
    sents = [line.split() if tokenizer == "whitespace" else list(line) for line in lines]
    vocab = Vocabulary.build(Counter(w for s in sents for w in s), len(sents),
                             min_count=min_count, tokenizer=tokenizer)
    return vocab, Corpus.from_sentences(sents, vocab)


@pytest.fixture(scope="session")
def tiny():
    """(vocab, corpus) of six short sentences."""
    return corpus_from_lines(TINY_TEXT)


def shared_path(*parts) -> Path:
    """A path under ../shared, skipping the test when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


@pytest.fixture(scope="session")
def shakespeare_dir():
    p = ROOT / "corpora" / "shakespeare"
    assert p.exists(), "the shipped corpus is missing"
    return p


# -- the command line ----------------------------------------------------------------
@contextmanager
def working_directory(path):
    """Run the block in ``path`` (Click's isolated_filesystem is deprecated in Click 9)."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)


@pytest.fixture
def runner():
    return CliRunner()


def run(runner, args, ok=True, **kw):
    """Invoke ``nlm ARGS``; with ``ok``, assert that it succeeded."""
    result = runner.invoke(main, [str(a) for a in args], **kw)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def assert_resume_equals_fresh(runner, args):
    """Training resumed from ``m.ckpt.npz`` to 3 epochs (``m3.npz``) gives exactly the
    parameters of 3 epochs at once (``fresh.npz``); ``args(epochs, *extra)`` builds the
    ``nlm train`` command line."""
    from nlm.modelfile import load
    r = runner.invoke(main, args(3, "--resume", "--checkpoint", "m.ckpt.npz", "-o", "m3.npz"))
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, args(3, "-o", "fresh.npz"))
    assert r.exit_code == 0, r.output
    a, b = load("m3.npz"), load("fresh.npz")
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def assert_one_line_error(result, *needles):
    """A failed command: non-zero exit, no traceback, an ``Error:`` line naming ``needles``."""
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    assert lines and lines[-1].startswith("Error:"), result.output
    for needle in needles:
        assert needle in result.output, result.output


# -- a reference n-gram model written with dicts and loops -----------------------------
MORE_TEXT = TINY_TEXT + """\
the red cat sat on a log
a mat and a log and a dog
on the mat the cat sat
""".splitlines()


class AbsoluteDiscounting:
    """Interpolated absolute discounting written with plain dicts and loops: the
    reference the hand-built BackoffModel is folded from.

    p(w)     = (max(c(w) - D, 0) + D * T / U) / C      (uniform over the U = V-1 words
                                                        other than <s>; T seen types)
    p(w | h) = (max(c(h w) - D, 0) + D * T(h) * p(w | h')) / c(h .)   if c(h .) > 0
             = p(w | h')                                              otherwise
    """

    def __init__(self, lines, order, D=0.6):
        self.vocab, self.corpus = corpus_from_lines(lines)
        self.order, self.D, self.V = order, D, len(self.vocab)
        self.counts = Counter()  # n-gram tuple -> count, all orders
        for s in range(self.corpus.sentences):
            padded = [BOS_ID] + [int(t) for t in self.corpus.sentence(s)]
            for i in range(1, len(padded)):
                for k in range(1, order + 1):
                    if i - k + 1 >= 0:
                        self.counts[tuple(padded[i - k + 1:i + 1])] += 1
        self.total = Counter()   # context -> c(h .)
        self.types = Counter()   # context -> T(h)
        for g, c in self.counts.items():
            self.total[g[:-1]] += c
            self.types[g[:-1]] += 1

    def prob(self, w, h=()) -> float:
        h = tuple(h)[len(h) - min(len(h), self.order - 1):]
        D = self.D
        if not h:
            if w == BOS_ID:
                return 0.0
            return ((max(self.counts[(w,)] - D, 0.0) + D * self.types[()] / (self.V - 1))
                    / self.total[()])
        if self.total[h] == 0:
            return self.prob(w, h[1:])
        return ((max(self.counts[h + (w,)] - D, 0.0) + D * self.types[h] * self.prob(w, h[1:]))
                / self.total[h])

    def backoff_model(self) -> BackoffModel:
        """Fold into ARPA form: every seen n-gram keeps its interpolated probability;
        bow(h) = (1 - sum of p(w|h) over stored h w) / (1 - sum of p(w|h') over them)."""
        N, V = self.order, self.V
        grams = [sorted(g for g in self.counts if len(g) == k) for k in range(1, N + 1)]
        grams[0] = [(w,) for w in range(V)]
        row = {g: g[0] for g in grams[0]}
        keys, logprob, logbow = [], [], []
        for k in range(1, N + 1):
            if k > 1:
                keyed = sorted((row[g[:-1]] * V + g[-1], g) for g in grams[k - 1])
                grams[k - 1] = [g for _, g in keyed]
                row.update({g: i for i, g in enumerate(grams[k - 1])})
                keys.append(np.array([key for key, _ in keyed], dtype=np.int64))
            else:
                keys.append(np.arange(V, dtype=np.int64))
            with np.errstate(divide="ignore"):
                logprob.append(np.log([self.prob(g[-1], g[:-1]) for g in grams[k - 1]]))
            if k < N:
                bows = []
                for h in grams[k - 1]:
                    nexts = [g[-1] for g in self.counts if len(g) == k + 1 and g[:-1] == h]
                    num = 1.0 - sum(self.prob(w, h) for w in nexts)
                    den = 1.0 - sum(self.prob(w, h[1:]) for w in nexts)
                    bows.append(math.log(num / den) if nexts else 0.0)
                logbow.append(np.array(bows))
        return BackoffModel(self.vocab, keys, logprob, logbow, method="absolute-test")


@pytest.fixture(scope="module")
def kn4():
    """A modified Kneser-Ney 4-gram of MORE_TEXT (binary-format and start-up tests)."""
    from nlm.ngram.estimate.methods import fit_modified_kneser_ney
    vocab, corpus = corpus_from_lines(MORE_TEXT)
    return fit_modified_kneser_ney(corpus, vocab, order=4, discount="0.5,1,1.5")


@pytest.fixture(scope="module")
def binary_path(kn4, tmp_path_factory):
    """:func:`kn4` written as an .nlmbin file."""
    from nlm.ngram.binary import write_binary
    path = tmp_path_factory.mktemp("bin") / "kn4.nlmbin"
    write_binary(kn4, path)
    return path
