#!/usr/bin/env python3
"""Benchmark: neural + n-gram mixtures on WikiText-2, against the n-gram alone.

Targets (issue 6), as ratios of test perplexity to the modified Kneser-Ney
5-gram's, measured in the same run:

* MLP + KN5 mixture: at or below 0.85x the 5-gram alone;
* RNN + KN5 mixture: at or below 0.75x (Mikolov's Penn Treebank ratio,
  105.7 / 141.2).

The n-gram model is loaded from ``--ngram FILE`` (an nlm model file or an
ARPA file), or trained here (``--ngram-model``, default ``mkn``, order 5) and
kept in ``--workdir`` for the next run. The neural models are given as files
(``--mlp``, ``--rnn``): train them with ``nlm train`` on the same training
text and vocabulary options. Each model scores valid and test once; every
mixture's weights are tuned by EM on valid (:func:`nlm.mixture.em_weights`)
and its test perplexity follows from the stored scores. The tuned mixtures
are saved in ``--workdir`` so that ``nlm evaluate`` / ``nlm compare`` can
check them; ``--check`` re-scores each one through ``MixtureModel`` and
confirms the figure.

Any models can stand in for testing the script, e.g. add-k models::

    nlm train $W/train.txt --model add-k --order 3 --k 0.01 -q -o /tmp/a3.npz
    nlm train $W/train.txt --model add-k --order 2 --k 0.01 -q -o /tmp/a2.npz
    python scripts/bench/mixture.py --ngram /tmp/a3.npz --mlp /tmp/a2.npz --check

Perplexities include OOVs (WikiText-2 has none: its ``<unk>`` is a word).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nlm import MODELS, load, read_corpus, save, train  # noqa: E402
from nlm.errors import NlmError  # noqa: E402
from nlm.evaluate import evaluate  # noqa: E402
from nlm.mixture import MixtureModel, combine_logprobs, em_weights  # noqa: E402

WIKITEXT = ROOT.parent / "shared" / "corpora" / "wikitext-2"
TARGETS = {"mlp": 0.85, "rnn": 0.75}
# KenLM lmplz -o 5 on the same text (REFERENCE.md), for orientation only
KENLM_KN5_TEST = 224.8116


def ppl(logprobs: np.ndarray) -> float:
    return math.exp(-float(np.mean(logprobs)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", default=str(WIKITEXT / "train.txt"))
    ap.add_argument("--valid", default=str(WIKITEXT / "valid.txt"))
    ap.add_argument("--test", default=str(WIKITEXT / "test.txt"))
    ap.add_argument("--ngram", help="n-gram model file (.npz or .arpa); trained if absent")
    ap.add_argument("--ngram-model", default="mkn", help="trainer for the n-gram (default mkn)")
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--mlp", help="MLP model file trained on the same text")
    ap.add_argument("--rnn", help="RNN model file trained on the same text")
    ap.add_argument("--workdir", default="/tmp/nlm-bench-mixture",
                    help="where a trained n-gram and the tuned mixtures are written")
    ap.add_argument("--check", action="store_true",
                    help="re-score each saved mixture through MixtureModel and compare")
    args = ap.parse_args(argv)
    try:
        return run(args)
    except NlmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def run(args) -> int:
    os.makedirs(args.workdir, exist_ok=True)
    for f in (args.train, args.valid, args.test):
        if not os.path.exists(f):
            raise NlmError(f"{f}: no such file (WikiText-2 lives in ../shared/corpora)")
    neural = [(name, getattr(args, name)) for name in ("mlp", "rnn") if getattr(args, name)]
    if not neural:
        raise NlmError("give at least one neural model to mix: --mlp FILE and/or --rnn FILE")
    ngram_path = args.ngram
    if ngram_path is None:
        ngram_path = os.path.join(args.workdir, f"{args.ngram_model}{args.order}.npz")
        if os.path.exists(ngram_path):
            print(f"using the n-gram trained by an earlier run: {ngram_path}")
        else:
            if args.ngram_model not in MODELS:
                raise NlmError(f"no {args.ngram_model!r} trainer in this nlm "
                               f"(have: {', '.join(sorted(MODELS))}); pass --ngram FILE")
            t0 = time.perf_counter()
            model = train(args.train, args.ngram_model, order=args.order)
            save(model, ngram_path)
            print(f"trained {args.ngram_model} order {args.order} in "
                  f"{time.perf_counter() - t0:.1f} s -> {ngram_path}")
    named = [("n-gram", ngram_path)] + neural

    # Score valid and test once per model; the mixtures reuse these scores.
    base = MixtureModel.from_files([p for _, p in named])   # checks the vocabularies agree
    valid = read_corpus(args.valid, base.vocab)
    test = read_corpus(args.test, base.vocab)
    print(f"valid {valid.tokens:,} tokens, test {test.tokens:,} tokens, "
          f"vocabulary {len(base.vocab):,}")
    scores = {}
    for i, (name, path) in enumerate(named):
        t0 = time.perf_counter()
        v = base.component_scores(i, valid.ids, valid.offsets)
        t = base.component_scores(i, test.ids, test.offsets)
        seconds = time.perf_counter() - t0
        scores[name] = (v, t)
        print(f"  {name:7s} {base.components[i].kind:10s} scored valid+test in {seconds:6.1f} s "
              f"({(valid.tokens + test.tokens) / seconds:,.0f} tokens/s)  {path}")

    ref_valid, ref_test = ppl(scores["n-gram"][0]), ppl(scores["n-gram"][1])
    rows = [("n-gram alone", "-", ref_valid, ref_test, None)]
    for name, _ in named[1:]:
        rows.append((f"{name} alone", "-", ppl(scores[name][0]), ppl(scores[name][1]), None))
    combos = [[0, i] for i in range(1, len(named))]
    if len(named) == 3:
        combos.append([0, 1, 2])
    for combo in combos:
        names = [named[i][0] for i in combo]
        V = np.stack([scores[n][0] for n in names])
        T = np.stack([scores[n][1] for n in names])
        t0 = time.perf_counter()
        em = em_weights(V)
        em_seconds = time.perf_counter() - t0
        test_ppl = ppl(combine_logprobs(T, em.weights))
        label = " + ".join(names)
        target = TARGETS.get(names[1]) if len(names) == 2 else None
        rows.append((label, "/".join(f"{w:.3f}" for w in em.weights),
                     ppl(combine_logprobs(V, em.weights)), test_ppl, target))
        print(f"EM {label}: {em.iterations} iterations, {em_seconds:.2f} s, "
              f"{'converged' if em.converged else 'NOT converged'}")
        mix_path = os.path.join(args.workdir, "mix-" + "-".join(names) + ".npz")
        mixture = MixtureModel.from_files([named[i][1] for i in combo], em.weights)
        save(mixture, mix_path)
        if args.check:
            checked = evaluate(mixture, test).perplexity
            ok = abs(checked - test_ppl) <= 1e-9 * test_ppl
            print(f"  check {mix_path}: MixtureModel test ppl {checked:.4f} "
                  f"({'same' if ok else 'DIFFERENT'})")
            if not ok:
                return 1

    print()
    print("| model | weights | valid ppl | test ppl | test / n-gram | target | met |")
    print("|---|---|---:|---:|---:|---:|---|")
    for label, weights, v, t, target in rows:
        ratio = t / ref_test
        tgt = f"<= {target:.2f}" if target else ""
        met = ("yes" if ratio <= target else "no") if target else ""
        print(f"| {label} | {weights} | {v:.2f} | {t:.2f} | {ratio:.3f} | {tgt} | {met} |")
    print(f"\n(KenLM lmplz -o 5, same text, test ppl {KENLM_KN5_TEST}: for orientation; "
          f"this run's n-gram is {ngram_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
