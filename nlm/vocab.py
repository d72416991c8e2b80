"""The vocabulary: word strings <-> int ids, saved with every model.

Ids are frequency ordered after three fixed specials: 0 = ``<unk>``,
1 = ``<s>``, 2 = ``</s>``. A literal ``<unk>`` in a corpus (WikiText-2, PTB)
*is* the unknown word: it maps to id 0 and its training count is kept.
The vocabulary also remembers how its text was tokenized, so a saved model
tokenizes evaluation text the same way it tokenized its training text.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .errors import OptionError
from .options import OptionBundle, flag

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
SPECIALS = (UNK, BOS, EOS)
TOKENIZERS = ("whitespace", "word", "char")


@dataclass(frozen=True)
class TextOptions(OptionBundle):
    """How a training text becomes words and a vocabulary (``nlm train``'s text flags)."""
    tokenizer: str = flag("--tokenizer", default="whitespace", choices=TOKENIZERS,
                          show_default=True, help="whitespace: pre-tokenized text; word: NLTK "
                          "word tokenizer; char: every character is a token.")
    lowercase: bool = flag("--lower", default=False, is_flag=True, help="Lower-case the text.")
    min_count: int = flag("--min-count", default=1, type=int, show_default=True,
                          check="positive", help="Words seen fewer times become <unk>.")
    max_size: int | None = flag("--max-size", type=int, help="Keep at most this many "
                                "vocabulary entries (specials included).")
    vocab_file: str | None = flag("--vocab", help="Closed vocabulary: the words this file "
                                  "lists (whitespace-separated); every other word becomes "
                                  "<unk>.")
    limit_vocab_file: str | None = flag(
        "--limit-vocab-file", help="N-gram models, as lmplz: keep only the n-grams whose "
        "words this file lists; other words leave the vocabulary (their mass goes to <unk>).")


def make_tokenizer(name: str, lowercase: bool = False) -> Callable[[str], list[str]]:
    """The function that splits one line of text into words, by tokenizer name: the one
    place a tokenizer is chosen."""
    if name == "whitespace":
        split = str.split
    elif name == "word":
        # The tokens of NLTK's NLTKWordTokenizer (behind word_tokenize, without
        # sentence splitting), computed by nlm.tokenize at millions of words/s.
        from .tokenize import word_tokenize as split
    elif name == "char":
        def split(line: str) -> list[str]:
            return list(line)
    else:
        raise OptionError(f"unknown tokenizer {name!r}; choose from {', '.join(TOKENIZERS)}")
    if lowercase:
        return lambda line: split(line.lower())
    return split


@dataclass
class Vocabulary:
    words: list[str]
    counts: np.ndarray  # (V,) int64 training counts; <s> counts 0, </s> one per sentence
    tokenizer: str = "whitespace"
    lowercase: bool = False
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self):
        if list(self.words[:3]) != list(SPECIALS):
            raise OptionError("vocabulary must start with <unk>, <s>, </s>")
        self.counts = np.asarray(self.counts, dtype=np.int64)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise OptionError("vocabulary has duplicate words")

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def id(self, word: str) -> int:
        return self.index.get(word, UNK_ID)

    def ids(self, words) -> np.ndarray:
        get = self.index.get
        return np.fromiter((get(w, UNK_ID) for w in words), dtype=np.int32)

    def word(self, i: int) -> str:
        return self.words[i]

    def tokenize(self, text: str) -> list[str]:
        """One sentence of text, tokenized as this vocabulary's training text was."""
        return make_tokenizer(self.tokenizer, self.lowercase)(text.strip())

    def detokenize(self, words: list[str]) -> str:
        return "".join(words) if self.tokenizer == "char" else " ".join(words)

    @classmethod
    def build(cls, word_counts: Counter, sentences: int, *, min_count: int = 1,
              max_size: int | None = None, tokenizer: str = "whitespace",
              lowercase: bool = False) -> "Vocabulary":
        """Vocabulary from training word counts (specials excluded from ``word_counts``,
        except a literal ``<unk>``, whose count goes to the unknown word)."""
        if min_count < 1:
            raise OptionError(f"min-count must be at least 1, got {min_count}")
        if max_size is not None and max_size < len(SPECIALS) + 1:
            raise OptionError(f"max-size must be at least {len(SPECIALS) + 1}, got {max_size}")
        if tokenizer not in TOKENIZERS:
            raise OptionError(f"unknown tokenizer {tokenizer!r}; choose from {', '.join(TOKENIZERS)}")
        unk_count = word_counts.get(UNK, 0)
        kept = sorted(((w, c) for w, c in word_counts.items()
                       if w not in SPECIALS and c >= min_count),
                      key=lambda wc: (-wc[1], wc[0]))
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        kept_words = {w for w, _ in kept}
        # Everything cut by min-count or max-size is mass of the unknown word.
        unk_count += sum(c for w, c in word_counts.items()
                         if w not in SPECIALS and w not in kept_words)
        words = list(SPECIALS) + [w for w, _ in kept]
        counts = np.array([unk_count, 0, sentences] + [c for _, c in kept], dtype=np.int64)
        return cls(words, counts, tokenizer=tokenizer, lowercase=lowercase)

    @classmethod
    def closed(cls, words: list[str], word_counts: Counter, sentences: int, *,
               tokenizer: str = "whitespace", lowercase: bool = False) -> "Vocabulary":
        """A closed vocabulary (``nlm train --vocab FILE``): exactly ``words`` (plus the
        specials), frequency ordered by the training counts ``word_counts``; every other
        word's count goes to ``<unk>``. Listed words absent from the text keep count 0."""
        listed = set(words)
        unk = word_counts.get(UNK, 0) + sum(
            c for w, c in word_counts.items() if w not in listed and w not in SPECIALS)
        kept = sorted(((w, word_counts.get(w, 0)) for w in words), key=lambda wc: (-wc[1], wc[0]))
        return cls(list(SPECIALS) + [w for w, _ in kept],
                   np.array([unk, 0, sentences] + [c for _, c in kept], dtype=np.int64),
                   tokenizer=tokenizer, lowercase=lowercase)

    def to_json(self) -> dict:
        return {"words": self.words, "tokenizer": self.tokenizer, "lowercase": self.lowercase}

    @classmethod
    def from_json(cls, obj: dict, counts: np.ndarray) -> "Vocabulary":
        return cls(list(obj["words"]), counts, tokenizer=obj.get("tokenizer", "whitespace"),
                   lowercase=bool(obj.get("lowercase", False)))
