"""Static against dynamic mixtures of n-gram models (nlm mix --write-arpa).

On WikiText-2: n-gram models of different kinds are trained on train, mixed with
weights tuned by EM on valid or fixed (the dynamic mixture, nlm.mixture.MixtureModel),
merged into one backoff model over the union of their n-grams
(nlm.ngram.merge.merge_backoff, what ``nlm mix --write-arpa`` writes), and both
are evaluated on test. Prints a markdown table: perplexities, the relative
difference, the share of test tokens whose full n-gram is in the union (scored
exactly) and the largest per-token difference.

    python scripts/bench/static_mixture.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nlm.api import train  # noqa: E402
from nlm.corpus import read_corpus  # noqa: E402
from nlm.mixture import MixtureModel  # noqa: E402
from nlm.ngram.merge import merge_backoff  # noqa: E402

WIKI = ROOT.parent / "shared" / "corpora" / "wikitext-2"
# (components, weights): None = tuned by EM on valid
PAIRS = [((("mkn", 3), ("witten-bell", 3)), None),
         ((("mkn", 3), ("witten-bell", 3)), (0.5, 0.5)),
         ((("mkn", 5), ("kn", 2)), (0.7, 0.3))]


def ppl(lp: np.ndarray) -> float:
    return float(np.exp(-lp.mean()))


def main():
    if not WIKI.exists():
        sys.exit(f"{WIKI} not found")
    models = {}
    for pair, _ in PAIRS:
        for name, order in pair:
            if (name, order) not in models:
                models[(name, order)] = train(WIKI / "train.txt", name, order=order)
    vocab = next(iter(models.values())).vocab
    valid = read_corpus(WIKI / "valid.txt", vocab)
    test = read_corpus(WIKI / "test.txt", vocab)
    print("| components | weights | n-grams merged | test ppl dynamic | "
          "test ppl static (merged) | difference | tokens with their n-gram in the union | "
          "max abs diff per token (nats) | merge s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for pair, weights in PAIRS:
        comps = [models[p] for p in pair]
        if weights is None:
            mix, _ = MixtureModel(comps).tune(valid.ids, valid.offsets)
        else:
            mix = MixtureModel(comps, weights)
        t0 = time.perf_counter()
        merged = merge_backoff(comps, mix.weights)
        seconds = time.perf_counter() - t0
        d = mix.score_corpus(test.ids, test.offsets)
        s = merged.score_corpus(test.ids, test.offsets)
        # tokens whose full n-gram (context cut to the merged order) is stored: exact ones
        exact = np.abs(d - s) < 1e-9
        names = " + ".join(f"{n} {o}" for n, o in pair)
        how = "EM on valid: " if weights is None else "fixed: "
        print(f"| {names} | {how}{', '.join(f'{w:.3f}' for w in mix.weights)} | "
              f"{sum(merged.describe()['ngrams']):,} | {ppl(d):.4f} | {ppl(s):.4f} | "
              f"{100 * (ppl(s) / ppl(d) - 1):+.3f}% | {100 * exact.mean():.1f}% | "
              f"{np.abs(d - s).max():.3f} | {seconds:.1f} |")
    print("\n'tokens with their n-gram in the union': test tokens on which the two agree to "
          "1e-9 nats (those whose longest match is the full n-gram, and a few others).")


if __name__ == "__main__":
    main()
