"""Text generation from any LanguageModel, written once against the interface.

``<s>`` is never generated (it is context only); a sample ends at ``</s>`` or
after ``max_tokens`` tokens. Temperature, top-k and top-p reshape the model's
distribution before sampling; the random generator is seeded here, so the
same seed gives the same text.
"""
from __future__ import annotations

import numpy as np

from .errors import ModelOutputError, OptionError, check_seed
from .model import LanguageModel
from .vocab import BOS_ID, EOS_ID


def check_sampling_options(temperature: float = 1.0, top_k: int | None = None,
                           top_p: float | None = None, max_tokens: int = 50,
                           n: int = 1) -> None:
    if not (temperature >= 0.0) or not np.isfinite(temperature):
        raise OptionError(f"temperature must be a finite number >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise OptionError(f"top-k must be at least 1, got {top_k}")
    if top_p is not None and not (0.0 < top_p <= 1.0):
        raise OptionError(f"top-p must be in (0, 1], got {top_p}")
    if max_tokens < 1:
        raise OptionError(f"max-tokens must be at least 1, got {max_tokens}")
    if n < 1:
        raise OptionError(f"number of samples must be at least 1, got {n}")


def sampling_distribution(logprobs: np.ndarray, temperature: float = 1.0,
                          top_k: int | None = None, top_p: float | None = None) -> np.ndarray:
    """Probabilities to sample the next token from (``<s>`` excluded)."""
    scores = np.array(logprobs, dtype=np.float64)
    scores[BOS_ID] = -np.inf
    if np.isnan(scores).any():
        raise ModelOutputError("the model gives NaN log-probabilities (damaged weights, or "
                               "training diverged)")
    m = scores.max()
    if not np.isfinite(m):
        raise ModelOutputError("the model gives every token probability 0 (or infinite "
                               "scores: damaged weights?)")
    if temperature == 0.0:  # greedy
        p = np.zeros_like(scores)
        p[int(np.argmax(scores))] = 1.0
        return p
    # shifted before dividing, so that a tiny temperature gives 0 and -inf, never inf - inf
    with np.errstate(over="ignore"):
        scores = (scores - m) / temperature
    if top_k is not None and top_k < np.isfinite(scores).sum():
        kth = np.partition(scores, -top_k)[-top_k]
        scores[scores < kth] = -np.inf
    p = np.exp(scores)
    p /= p.sum()
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(p[order])
        keep = int(np.searchsorted(cum, top_p * cum[-1])) + 1  # smallest set reaching top_p
        mask = np.zeros(len(p), dtype=bool)
        mask[order[:keep]] = True
        p = np.where(mask, p, 0.0)
        p /= p.sum()
    return p


def generate(model: LanguageModel, n: int = 1, max_tokens: int = 50, seed: int | None = None,
             prompt: list[str] | None = None, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None) -> list[list[str]]:
    """``n`` samples, each a list of words (the prompt first, ``</s>`` not included)."""
    check_sampling_options(temperature, top_k, top_p, max_tokens, n)
    check_seed(seed)
    rng = np.random.default_rng(seed)
    vocab = model.vocab
    if isinstance(prompt, str):   # text: tokenized as the model's training text was
        from .corpus import tokenize_text
        prompt = tokenize_text(prompt, vocab)
    prompt = list(prompt or [])
    prompt_ids = [vocab.id(w) for w in prompt]
    start = model.state_after(prompt_ids)
    samples = []
    for _ in range(n):
        state, words = start, list(prompt)
        for _ in range(max_tokens):
            p = sampling_distribution(model.next_logprobs(state), temperature, top_k, top_p)
            cdf = np.cumsum(p)
            token = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
            token = min(token, len(p) - 1)
            if token == EOS_ID:
                break
            words.append(vocab.word(token))
            state = model.advance(state, token)
        samples.append(words)
    return samples
