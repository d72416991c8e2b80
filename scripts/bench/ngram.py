"""N-gram estimation benchmark on WikiText-2: nlm against nltk.lm (measured in the
same run) and KenLM's lmplz (figures from ../shared/REFERENCE.md).

For nlm's modified Kneser-Ney (and Kneser-Ney, Witten-Bell for comparison), orders
3 and 5, each in its own process: fit time from the text file (reading and
vocabulary included, as lmplz's wall time includes them; Numba kernels warmed up
on a tiny corpus first), the process's peak resident memory after fitting
(ru_maxrss, interpreter and libraries included, like lmplz's peak RSS), valid and
test perplexity, and scoring speed (median of 3 passes over valid + test).

nltk.lm (KneserNeyInterpolated with discount 0.75, and WittenBellInterpolated,
trigrams, its own padding pipeline) is fitted on the whole training text and
scores the first ``--nltk-tokens`` validation tokens (Witten-Bell) or
``--nltk-kn-tokens`` (Kneser-Ney, which rescans the counts on every query); the
time nltk would need for fit + perplexity of the whole validation set is
extrapolated from that rate, and compared with nlm's fit + perplexity.

KenLM is not installed here: its figures (fit time, peak RSS, query speed,
perplexities) are REFERENCE.md's, measured on this kind of machine, and the
ratios use them. The machine is shared by several jobs: timings are noisy (the
load average is printed).

    python scripts/bench/ngram.py [--orders 3 5] [--skip-nltk]
    python scripts/bench/ngram.py --scale 100000000 [--order 5]

``--scale T`` instead counts (and estimates modified Kneser-Ney on) a synthetic
corpus of T tokens: WikiText-2 training sentences, shuffled, repeated, with 10%
of the tokens replaced by words drawn from the unigram distribution (so that the
count tables keep growing instead of repeating WikiText's n-grams). It prints
time, the distinct n-grams per order and peak memory at T/4, T/2 and T.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared"
WIKI = SHARED / "corpora" / "wikitext-2"

# ../shared/REFERENCE.md: lmplz -o N -S 1G on WikiText-2 train, and query on a binary model
KENLM = {3: {"fit": 1.50, "rss_mb": 287, "valid": 247.6563, "test": 230.8863, "tok_s": 5.2e6},
         5: {"fit": 3.39, "rss_mb": 258, "valid": 239.9840, "test": 224.8116, "tok_s": 4.2e6}}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # Linux: KiB


# -- workers (each runs in a fresh process) ----------------------------------------

def worker_nlm(spec):
    import numpy as np

    from nlm.corpus import Corpus, read_corpus, read_training_corpus
    from nlm.evaluate import evaluate
    from nlm.ngram import methods
    from nlm.vocab import Vocabulary

    fit = {"mkn": methods.fit_modified_kneser_ney, "kn": methods.fit_kneser_ney,
           "witten-bell": methods.fit_witten_bell}[spec["method"]]
    order = spec["order"]
    # warm the Numba kernels (loading them from the cache takes a moment the first time)
    words = ["a", "b", "c", "d"]
    tiny_vocab = Vocabulary.build({w: 3 for w in words}, 3)
    tiny = Corpus.from_sentences([words, words[::-1], words[1:]], tiny_vocab)
    warm = fit(tiny, tiny_vocab, order=order)
    warm.score_corpus(tiny.ids, tiny.offsets)
    rss_before = peak_rss_mb()

    t0 = time.perf_counter()
    vocab, corpus = read_training_corpus(WIKI / "train.txt")
    t1 = time.perf_counter()
    model = fit(corpus, vocab, order=order)
    t2 = time.perf_counter()
    rss_fit = peak_rss_mb()
    out = {"read_s": t1 - t0, "fit_s": t2 - t0, "estimate_s": t2 - t1,
           "rss_mb": rss_fit, "rss_before_mb": rss_before,
           "ngrams": [len(k) for k in model.tables.keys]}
    splits = {s: read_corpus(WIKI / f"{s}.txt", vocab) for s in ("valid", "test")}
    t3 = time.perf_counter()
    ev = evaluate(model, splits["valid"])
    out["valid_eval_s"] = time.perf_counter() - t3
    out["valid"] = ev.perplexity
    out["test"] = evaluate(model, splits["test"]).perplexity
    ids = np.concatenate([splits["valid"].ids, splits["test"].ids])
    offsets = np.concatenate([splits["valid"].offsets,
                              splits["test"].offsets[1:] + splits["valid"].offsets[-1]])
    times = []
    for _ in range(3):
        t = time.perf_counter()
        model.score_corpus(ids, offsets)
        times.append(time.perf_counter() - t)
    out["tok_s"] = len(ids) / statistics.median(times)
    return out


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.split() for line in f if line.strip()]


def worker_nltk(spec):
    from nltk.lm import KneserNeyInterpolated, WittenBellInterpolated
    from nltk.lm.preprocessing import padded_everygram_pipeline

    order = spec["order"]
    cls = {"kn": KneserNeyInterpolated, "witten-bell": WittenBellInterpolated}[spec["method"]]
    kwargs = {"discount": 0.75} if spec["method"] == "kn" else {}
    t0 = time.perf_counter()
    sentences = _lines(WIKI / "train.txt")
    grams, vocab_text = padded_everygram_pipeline(order, sentences)
    lm = cls(order, **kwargs)
    lm.fit(grams, vocab_text)
    fit_s = time.perf_counter() - t0
    rss = peak_rss_mb()
    valid = _lines(WIKI / "valid.txt")
    valid_tokens = sum(len(s) + 1 for s in valid)
    # score the first `tokens` tokens (each sentence's words and its </s>)
    todo, logp, n = spec["tokens"], 0.0, 0
    t1 = time.perf_counter()
    for words in valid:
        context = ["<s>"] * (order - 1)
        for w in words + ["</s>"]:
            p = lm.score(w, context[-(order - 1):])
            logp += math.log(p) if p > 0 else -math.inf
            context.append(w)
            n += 1
            if n >= todo:
                break
        if n >= todo:
            break
    score_s = time.perf_counter() - t1
    rate = n / score_s
    return {"fit_s": fit_s, "rss_mb": rss, "scored": n, "tok_s": rate,
            "subset_ppl": math.exp(-logp / n) if math.isfinite(logp) else math.inf,
            "valid_tokens": valid_tokens, "fit_plus_valid_s": fit_s + valid_tokens / rate}


def worker_scale(spec):
    """Count (or fit) a synthetic corpus of spec['tokens'] tokens."""
    import numpy as np

    from nlm.corpus import Corpus, read_training_corpus
    from nlm.ngram.counts import count_ngrams
    from nlm.ngram.methods import fit_modified_kneser_ney

    vocab, base = read_training_corpus(WIKI / "train.txt")
    rng = np.random.default_rng(spec.get("seed", 0))
    lengths = np.diff(base.offsets)
    counts = np.bincount(base.ids, minlength=len(vocab)).astype(np.float64)
    counts[2] = 0.0                                   # never draw </s>
    p_unigram = counts / counts.sum()
    target = spec["tokens"]
    parts, lens, total = [], [], 0
    while total < target:
        order = rng.permutation(len(lengths))
        starts = base.offsets[:-1][order]
        idx = np.repeat(starts - np.cumsum(np.r_[0, lengths[order][:-1]]), lengths[order]) \
            + np.arange(lengths[order].sum())
        ids = base.ids[idx].copy()
        swap = (rng.random(len(ids)) < 0.10) & (ids != 2)
        ids[swap] = rng.choice(len(vocab), size=int(swap.sum()), p=p_unigram)
        parts.append(ids)
        lens.append(lengths[order])
        total += len(ids)
    ids = np.concatenate(parts)
    lens = np.concatenate(lens)
    keep = np.searchsorted(np.cumsum(lens), target) + 1      # whole sentences, >= target
    lens = lens[:keep]
    ids = ids[:int(lens.sum())]
    offsets = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    corpus = Corpus(ids.astype(np.int32), offsets, np.zeros(len(ids), dtype=bool))
    del parts, base
    rss_corpus = peak_rss_mb()
    t0 = time.perf_counter()
    if spec["what"] == "count":
        table = count_ngrams(corpus, spec["order"], len(vocab))
        sizes = [len(k) for k in table.keys]
    else:
        model = fit_modified_kneser_ney(corpus, vocab, order=spec["order"])
        sizes = [len(k) for k in model.tables.keys]
    seconds = time.perf_counter() - t0
    return {"tokens": int(corpus.tokens), "sentences": int(corpus.sentences),
            "seconds": seconds, "ngrams": sizes, "rss_corpus_mb": rss_corpus,
            "rss_mb": peak_rss_mb()}


def run_worker(spec, timeout=3600):
    r = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"worker {spec} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# -- the report ---------------------------------------------------------------------

def fmt(x, digits=2):
    if x is None:
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.{digits}f} M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.0f} k"
    return f"{x:.{digits}f}"


def main_benchmark(args):
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores, shared)", file=sys.stderr)
    rows = []
    nlm = {}
    for order in args.orders:
        for method in args.methods:
            print(f"nlm {method} order {order} ...", file=sys.stderr)
            nlm[method, order] = r = run_worker({"tool": "nlm", "method": method,
                                                 "order": order})
            rows.append((f"nlm {method}", order, r))
    nl = {}
    if not args.skip_nltk:
        for method, tokens in (("witten-bell", args.nltk_tokens), ("kn", args.nltk_kn_tokens)):
            print(f"nltk {method} order 3 ...", file=sys.stderr)
            nl[method] = run_worker({"tool": "nltk", "method": method, "order": 3,
                                     "tokens": tokens})
    print(f"load average at end: {os.getloadavg()[0]:.2f}", file=sys.stderr)

    print("## WikiText-2, n-gram models (train 2,088,628 tokens incl. </s>)\n")
    print("| model | order | fit s | peak RSS MB | valid ppl | test ppl | scoring tok/s "
          "| vs KenLM lmplz / query |")
    print("|---|---|---|---|---|---|---|---|")
    for name, order, r in rows:
        k = KENLM[order]
        if name == "nlm mkn":
            vs = (f"fit {r['fit_s'] / k['fit']:.2f}x, ppl {100 * (r['valid'] / k['valid'] - 1):+.4f}%"
                  f" / {100 * (r['test'] / k['test'] - 1):+.4f}%, scoring "
                  f"{r['tok_s'] / k['tok_s']:.2f}x")
        else:
            vs = f"fit {r['fit_s'] / k['fit']:.2f}x"
        print(f"| {name} | {order} | {r['fit_s']:.2f} (estimation {r['estimate_s']:.2f}) "
              f"| {r['rss_mb']:.0f} | {r['valid']:.4f} | {r['test']:.4f} | {fmt(r['tok_s'])} "
              f"| {vs} |")
    for order in args.orders:
        k = KENLM[order]
        print(f"| KenLM lmplz (REFERENCE.md) | {order} | {k['fit']:.2f} | {k['rss_mb']} "
              f"| {k['valid']:.4f} | {k['test']:.4f} | {fmt(k['tok_s'])} | 1 |")
    for method, r in nl.items():
        print(f"| nltk.lm {method} (valid subset: first {r['scored']} tokens) | 3 "
              f"| {r['fit_s']:.2f} | {r['rss_mb']:.0f} | {fmt(r['subset_ppl'])} (subset) | – "
              f"| {fmt(r['tok_s'])} | – |")
    if nl:
        print("\n## Fit + validation perplexity, nlm vs nltk.lm (trigram)\n")
        print("| model | nltk.lm s (extrapolated from its scoring rate) | nlm s | nlm faster by |")
        print("|---|---|---|---|")
        for method, r in nl.items():
            ours = nlm.get((method, 3))
            if ours is None:
                continue
            nlm_s = ours["fit_s"] + ours["valid_eval_s"]
            print(f"| {method} | {r['fit_plus_valid_s']:.0f} | {nlm_s:.2f} "
                  f"| {r['fit_plus_valid_s'] / nlm_s:.0f}x |")


def main_scale(args):
    print(f"load average at start: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print(f"## Counting a synthetic corpus, order {args.order}\n")
    print("| tokens | what | seconds | distinct n-grams per order | peak RSS MB "
          "(corpus alone) |")
    print("|---|---|---|---|---|")
    for frac in (0.25, 0.5, 1.0):
        tokens = int(args.scale * frac)
        for what in args.scale_what:
            print(f"{what} {tokens} ...", file=sys.stderr)
            r = run_worker({"tool": "scale", "tokens": tokens, "order": args.order,
                            "what": what}, timeout=7200)
            print(f"| {r['tokens']:,} | {what} | {r['seconds']:.1f} "
                  f"| {' / '.join(f'{n:,}' for n in r['ngrams'])} | {r['rss_mb']:.0f} "
                  f"({r['rss_corpus_mb']:.0f}) |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, nargs="+", default=[3, 5])
    ap.add_argument("--methods", nargs="+", default=["mkn", "kn", "witten-bell"])
    ap.add_argument("--skip-nltk", action="store_true")
    ap.add_argument("--nltk-tokens", type=int, default=10000)
    ap.add_argument("--nltk-kn-tokens", type=int, default=150)
    ap.add_argument("--scale", type=int, default=None, help="tokens of the synthetic corpus")
    ap.add_argument("--scale-what", nargs="+", default=["count", "fit"])
    ap.add_argument("--order", type=int, default=5, help="order for --scale")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        fn = {"nlm": worker_nlm, "nltk": worker_nltk, "scale": worker_scale}[spec["tool"]]
        print(json.dumps(fn(spec)))
        return
    if not WIKI.exists():
        sys.exit(f"{WIKI} not found")
    if args.scale:
        main_scale(args)
    else:
        main_benchmark(args)


if __name__ == "__main__":
    main()
