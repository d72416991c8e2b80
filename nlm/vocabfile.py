"""Vocabulary files: a closed training vocabulary, and limiting a model to a word list.

A vocabulary file lists words separated by whitespace (one per line is the usual
layout; lmplz's ``--limit_vocab_file`` reads the same). ``<unk>``, ``<s>`` and
``</s>`` are always in the vocabulary and may be listed or not.

* ``nlm train --vocab FILE`` trains with a closed vocabulary
  (:func:`closed_vocabulary`): exactly the listed words (plus the three
  specials); every other word of the training text becomes ``<unk>`` and its
  count goes to ``<unk>``. Listed words absent from the text are kept with
  count 0 (they get the probability the method gives unseen words).
* ``nlm train --limit-vocab-file FILE`` estimates on the text as usual, then
  keeps only the n-grams whose words are all listed (:func:`limit_vocabulary`),
  as lmplz's ``--limit_vocab_file``: the unlisted words leave the vocabulary
  (they read as ``<unk>`` afterwards), their unigram mass goes to ``<unk>``, the
  n-grams that hold them are dropped, and the backoff weights are recomputed so
  that every distribution still sums to 1. The statistics are those of the
  whole text; lmplz renormalizes differently, so the numbers are nlm's own.
"""
from __future__ import annotations

import os
from collections import Counter

import numpy as np

from .errors import CorpusError, OptionError
from .vocab import SPECIALS, UNK_ID, Vocabulary


def read_vocab_file(path, lowercase: bool = False) -> list[str]:
    """The distinct words of a vocabulary file, in file order (specials left out)."""
    from .corpus import iter_lines
    words, seen = [], set(SPECIALS)
    for line in iter_lines(path):
        for w in line.split():
            if lowercase:
                w = w.lower()
            if w not in seen:
                seen.add(w)
                words.append(w)
    if not words:
        raise CorpusError(f"{os.fspath(path)}: the vocabulary file lists no words")
    return words


def closed_vocabulary(words: list[str], word_counts: Counter, sentences: int, *,
                      tokenizer: str = "whitespace", lowercase: bool = False) -> Vocabulary:
    """A vocabulary of exactly ``words`` (plus the specials), frequency ordered by the
    training counts ``word_counts``; every other word's count goes to ``<unk>``."""
    listed = set(words)
    unk = word_counts.get(SPECIALS[0], 0) + sum(
        c for w, c in word_counts.items() if w not in listed and w not in SPECIALS)
    kept = sorted(((w, word_counts.get(w, 0)) for w in words), key=lambda wc: (-wc[1], wc[0]))
    return Vocabulary(list(SPECIALS) + [w for w, _ in kept],
                      np.array([unk, 0, sentences] + [c for _, c in kept], dtype=np.int64),
                      tokenizer=tokenizer, lowercase=lowercase)


def limit_vocabulary(model, words) -> "BackoffModel":  # noqa: F821
    """``model`` (a backoff n-gram model) restricted to ``words`` (see the module
    docstring): a new, normalized model over the specials and the listed words that
    the model knows."""
    from .ngram.backoff import BackoffModel
    from .ngram.prune import recompute_backoff_weights
    if not isinstance(model, BackoffModel):
        raise OptionError(f"--limit-vocab-file applies to backoff and interpolated n-gram "
                          f"models, not to {model.kind} models")
    if not model.normalized:
        raise OptionError(f"--limit-vocab-file: {model.method} scores are not probabilities, "
                          "so the mass of the removed words cannot be given to <unk>")
    old = model.vocab
    V, N = len(old), model.order
    allowed = np.zeros(V, dtype=bool)
    allowed[:len(SPECIALS)] = True
    for w in words:
        i = old.index.get(w)
        if i is not None:
            allowed[i] = True
    # kept words keep their relative order, so the new ids rise with the old ones and
    # the re-keyed tables stay sorted
    new_id = np.cumsum(allowed) - 1
    V2 = int(allowed.sum())
    vocab = Vocabulary([w for w, a in zip(old.words, allowed) if a], old.counts[allowed],
                       tokenizer=old.tokenizer, lowercase=old.lowercase)
    vocab.counts[UNK_ID] += int(old.counts[~allowed].sum())
    lp1 = model.logprobs[0][allowed].copy()
    lp1[UNK_ID] = np.logaddexp.reduce(np.append(model.logprobs[0][~allowed],
                                                model.logprobs[0][UNK_ID]))
    keys, logprob, logbow = [np.arange(V2, dtype=np.int64)], [lp1], []
    if N > 1:
        logbow.append(model.logbows[0][allowed].copy())
    keep_prev = allowed
    for k in range(2, N + 1):
        key = model.tables.keys[k - 1]
        prefix, last = key // V, key % V
        keep = keep_prev[prefix] & allowed[last]
        new_row = np.cumsum(keep_prev) - 1
        keys.append(new_row[prefix[keep]] * V2 + new_id[last[keep]])
        logprob.append(model.logprobs[k - 1][keep].copy())
        if k < N:
            logbow.append(model.logbows[k - 1][keep].copy())
        keep_prev = keep
    limited = BackoffModel(vocab, keys, logprob, logbow, method=model.method,
                           options={**model.options, "limit_vocab": V2})
    recompute_backoff_weights(limited)
    return limited


__all__ = ["read_vocab_file", "closed_vocabulary", "limit_vocabulary"]
