"""Limiting a model to a word list (``nlm train --limit-vocab-file FILE``, as lmplz's
``--limit_vocab_file``).

Input: an estimated backoff n-gram model and the listed words (:func:`nlm.corpus.read_vocab_file`).
Output: a new model that keeps only the n-grams whose words are all listed: the
unlisted words leave the vocabulary (they read as ``<unk>`` afterwards), their
unigram mass goes to ``<unk>``, the n-grams that hold them are dropped, and the
backoff weights are recomputed (:func:`.prune.recompute_backoff_weights`) so that
every distribution still sums to 1. The statistics are those of the whole text;
lmplz renormalizes differently, so the numbers are nlm's own.
"""
from __future__ import annotations

import numpy as np

from ..vocab import SPECIALS, UNK_ID, Vocabulary
from .backoff import BackoffModel
from .prune import recompute_backoff_weights, require_normalized_backoff


def limit_vocabulary(model, words) -> BackoffModel:
    """``model`` (a backoff n-gram model) restricted to ``words`` (see the module
    docstring): a new, normalized model over the specials and the listed words that
    the model knows."""
    require_normalized_backoff(
        model, "--limit-vocab-file applies to backoff and interpolated n-gram models, not "
        "to {kind} models", "--limit-vocab-file: {method} scores are not probabilities, so "
        "the mass of the removed words cannot be given to <unk>")
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


__all__ = ["limit_vocabulary"]
