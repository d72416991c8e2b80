"""Write a large synthetic training text: T tokens for the n-gram scale benchmarks.

    python scripts/make_big_corpus.py OUT.txt --tokens 1000000000 [--seed 0] [--swap 0.1]

The text is WikiText-2's training sentences (../shared/corpora/wikitext-2, or
$NLM_SHARED/corpora/wikitext-2 from a git worktree elsewhere), shuffled and repeated
until T tokens (``</s>`` included, whole sentences), with a fraction ``--swap`` of the
words (10% by default) replaced by words drawn from WikiText-2's unigram distribution,
so that the n-gram tables keep growing with T instead of repeating WikiText's n-grams
(at order 5, about 2.4 distinct n-grams per token). WikiText's literal ``<unk>`` is
written as ``@unk@``, which lmplz accepts. One sentence per line, about 5.6 bytes a
token (5.6 GB for a billion tokens, written in about 2 minutes); the file appears only
when complete (written under a temporary name, then renamed).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: ../shared from the repository, or $NLM_SHARED (a git worktree elsewhere)
SHARED = Path(os.environ.get("NLM_SHARED", ROOT.parent / "shared"))
WIKI = SHARED / "corpora" / "wikitext-2"


def synthetic_ids(tokens: int, seed: int = 0, swap: float = 0.10, source=None):
    """Yield the vocabulary's words, then (ids, sentence lengths) blocks of the synthetic
    corpus (see the module doc), one shuffled pass over WikiText-2 at a time, until
    ``tokens`` tokens (whole sentences) have been given."""
    import numpy as np

    from nlm.corpus import read_training_corpus
    vocab, base = read_training_corpus(source or WIKI / "train.txt")
    rng = np.random.default_rng(seed)
    lengths = np.diff(base.offsets)
    counts = np.bincount(base.ids, minlength=len(vocab)).astype(np.float64)
    counts[2] = 0.0                                   # never draw </s>
    p_unigram = counts / counts.sum()
    yield vocab.words
    total = 0
    while total < tokens:
        order = rng.permutation(len(lengths))
        lens = lengths[order]
        starts = base.offsets[:-1][order]
        idx = np.repeat(starts - np.cumsum(np.r_[0, lens[:-1]]), lens) + np.arange(lens.sum())
        ids = base.ids[idx].copy()
        swapped = (rng.random(len(ids)) < swap) & (ids != 2)
        ids[swapped] = rng.choice(len(vocab), size=int(swapped.sum()), p=p_unigram)
        need = tokens - total
        if len(ids) > need:                           # whole sentences, >= the target
            keep = int(np.searchsorted(np.cumsum(lens), need)) + 1
            lens = lens[:keep]
            ids = ids[:int(lens.sum())]
        total += len(ids)
        yield ids, lens


def _render(ids, text, off, out):
    """The words of ``ids`` as UTF-8 into ``out`` (</s>, id 2: a line end); returns the
    bytes written."""
    pos = 0
    first = True
    for t in ids:
        if t == 2:
            out[pos] = 10
            pos += 1
            first = True
            continue
        if not first:
            out[pos] = 32
            pos += 1
        for b in range(off[t], off[t + 1]):
            out[pos] = text[b]
            pos += 1
        first = False
    return pos


def write_synthetic_text(path, tokens: int, seed: int = 0, swap: float = 0.10,
                         source=None) -> int:
    """Write the synthetic corpus as text (one sentence per line) to ``path``, atomically;
    returns its tokens."""
    import numpy as np
    from numba import njit

    from nlm.files import atomic_output
    render = njit(cache=False)(_render)
    gen = synthetic_ids(tokens, seed, swap, source)
    words = list(next(gen))
    words[0] = "@unk@"                                # lmplz refuses a literal <unk>
    encoded = [w.encode("utf-8") for w in words]
    text = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    off = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=off[1:])
    longest = max(len(b) for b in encoded)
    done = 0
    with atomic_output(os.fspath(path)) as f:
        for ids, _ in gen:
            buf = np.empty(len(ids) * (longest + 1), dtype=np.uint8)
            n = render(ids.astype(np.int64), text, off, buf)
            f.write(memoryview(buf[:n]))
            done += len(ids)
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="text file to write")
    ap.add_argument("--tokens", type=float, required=True, help="tokens (</s> included)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--swap", type=float, default=0.10,
                    help="fraction of words replaced by unigram draws")
    ap.add_argument("--source", default=None, help="sentences to resample "
                    "[default: ../shared/corpora/wikitext-2/train.txt]")
    args = ap.parse_args(argv)
    source = Path(args.source) if args.source else WIKI / "train.txt"
    if not source.exists():
        sys.exit(f"{source}: no such file (set NLM_SHARED or give --source)")
    t = time.perf_counter()
    n = write_synthetic_text(args.out, int(args.tokens), args.seed, args.swap, source)
    size = os.path.getsize(args.out)
    print(f"{args.out}: {n:,} tokens, {size / 1e9:.2f} GB, {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
