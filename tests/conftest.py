"""Shared fixtures: small corpora written here, and paths into ../shared when present."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from nlm.corpus import Corpus
from nlm.vocab import Vocabulary

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

