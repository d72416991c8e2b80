"""Query speed of backoff n-gram models, and ARPA reading/writing, against KenLM.

Reads the ARPA files that KenLM's lmplz wrote for Tiny Shakespeare (words,
orders 3 and 5; ../shared/reference/kenlm), scores the validation text with
them (blank lines removed, whitespace tokens, as REFERENCE.md), and prints:

* load time and the peak resident memory ``read_arpa`` adds;
* scoring speed (tokens/s, median of several passes, searching the sorted
  tables and with the hash of all n-grams) and the ratio to KenLM's ``query``
  (REFERENCE.md: 5.2 M tokens/s for order 3, 4.2 M for order 5, one thread);
* the perplexities, checked against the ones KenLM reported for these files;
* the cost of one ``next_logprobs`` call (what the sampler pays per token),
  ARPA writing and entropy pruning;
* with part of the estimators in place (``mkn`` registered), the same scoring
  figures for a modified Kneser-Ney model fitted on WikiText-2.

KenLM is not installed here, so its figures come from REFERENCE.md (measured on
this kind of machine); they are not re-measured in this run. The machine is
shared: rerun when the load average is high.

    python scripts/bench/ngram_query.py [--repeat 7] [--no-wikitext]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nlm.corpus import read_corpus  # noqa: E402
from nlm.evaluate import evaluate  # noqa: E402
from nlm.ngram.arpa import read_arpa, write_arpa  # noqa: E402
from nlm.ngram.prune import prune_entropy  # noqa: E402

SHARED = ROOT.parent / "shared"
KENLM_QUERY = {3: 5.2e6, 5: 4.2e6}            # tokens/s, REFERENCE.md
TS_PPL = {3: (575.3289, 286.2126), 5: (574.1910, 285.7166)}   # incl. / excl. OOVs
WT_PPL = {3: (247.6563, 230.8863), 5: (239.9840, 224.8116)}   # valid / test


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def median_speed(model, corpus, repeat):
    times = [timed(model.score_corpus, corpus.ids, corpus.offsets)[1] for _ in range(repeat)]
    return corpus.tokens / statistics.median(times)


def scoring_speed(model, corpus, repeat):
    """Seconds of the first call (what one ``nlm evaluate`` pays, the probing table's
    build included), nan (the sorted tables are no longer searched: kept for the
    columns), seconds to build the probing table (and whether the model is
    suffix-closed), median tokens/s."""
    _, first = timed(model.score_corpus, corpus.ids, corpus.offsets)
    model._query = None     # bench only: time the build alone
    _, build = timed(model.query_table)
    return (first, float("nan"), build, model.query_table()[3],
            median_speed(model, corpus, repeat))


def next_logprobs_us(model, corpus, calls=3000):
    ids = corpus.ids
    states = [tuple(int(t) for t in ids[i:i + model.order - 1]) for i in range(calls)]
    model.next_logprobs(states[0])
    t0 = time.perf_counter()
    for s in states:
        model.next_logprobs(s)
    return (time.perf_counter() - t0) / calls * 1e6


def rss_peak_since_reset():
    """(reset, read) pair for the process's peak resident memory (Linux): writing 5 to
    /proc/self/clear_refs resets VmHWM; returns None where that is unavailable."""
    def field(name):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
        return None

    def reset():
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return field("VmRSS")
        except OSError:
            return None

    def read(base):
        return None if base is None else field("VmHWM") - base
    return reset, read


def table_bytes(model):
    return sum(a.nbytes for a in (model._keys, model._lp, model._bow))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="timed scoring passes (median)")
    ap.add_argument("--no-wikitext", action="store_true", help="skip the WikiText-2 model")
    args = ap.parse_args()
    kenlm_dir = SHARED / "reference" / "kenlm"
    valid = SHARED / "corpora" / "tinyshakespeare" / "valid.txt"
    if not kenlm_dir.exists():
        sys.exit(f"{kenlm_dir} not found: this benchmark needs ../shared")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
          "(timings are perturbed when it exceeds the core count)\n")

    rows, checks = [], []
    for order in (3, 5):
        path = kenlm_dir / f"ts-words.o{order}.arpa.gz"
        reset, read = rss_peak_since_reset()
        base = reset()
        model, load_s = timed(read_arpa, path)
        peak = read(base)
        corpus = read_corpus(valid, model.vocab)
        first, sorted_tps, build, closed, tps = scoring_speed(model, corpus, args.repeat)
        ev = evaluate(model, corpus)
        want = TS_PPL[order]
        ok = abs(ev.perplexity - want[0]) < 6e-5 and abs(ev.perplexity_excluding_oov - want[1]) < 6e-5
        checks.append(f"ts-words o{order}: ppl {ev.perplexity:.4f} / excl. OOVs "
                      f"{ev.perplexity_excluding_oov:.4f}; KenLM {want[0]} / {want[1]} -> "
                      f"{'reproduced' if ok else 'MISMATCH'}")
        us = next_logprobs_us(model, corpus)
        with tempfile.TemporaryDirectory() as tmp:
            _, write_s = timed(write_arpa, model, os.path.join(tmp, "m.arpa"))
        pruned, prune_s = timed(prune_entropy, model, 1e-7)
        rows.append((f"ts-words o{order} (ARPA)", f"{sum(model.describe()['ngrams']):,}",
                     f"{load_s:.2f}", "-" if peak is None else f"{peak / 2**20:.0f}",
                     f"{table_bytes(model) / 2**20:.0f}", f"{corpus.tokens:,}",
                     f"{first * 1e3:.1f}", f"{sorted_tps / 1e6:.2f}",
                     f"{build:.2f}{'' if closed else ' (not closed)'}", f"{tps / 1e6:.2f}",
                     f"{KENLM_QUERY[order] / 1e6:.1f}", f"{tps / KENLM_QUERY[order]:.2f}",
                     f"{us:.1f}", f"{write_s:.2f}",
                     f"{prune_s:.2f} ({sum(pruned.describe()['ngrams']):,})"))

    if not args.no_wikitext:
        from nlm.api import MODELS, train
        if "mkn" not in MODELS:
            checks.append("WikiText-2: skipped (no mkn estimator registered)")
        else:
            wt = SHARED / "corpora" / "wikitext-2"
            for order in (3, 5):
                model, fit_s = timed(train, wt / "train.txt", "mkn", order=order)
                v = read_corpus(wt / "valid.txt", model.vocab)
                t = read_corpus(wt / "test.txt", model.vocab)
                first, sorted_tps, build, closed, tps = scoring_speed(model, v, args.repeat)
                pv, pt = evaluate(model, v).perplexity, evaluate(model, t).perplexity
                want = WT_PPL[order]
                checks.append(f"WikiText-2 mkn o{order}: valid {pv:.4f} test {pt:.4f}; lmplz "
                              f"{want[0]} / {want[1]} (fit {fit_s:.1f} s)")
                rows.append((f"WikiText-2 mkn o{order}", f"{sum(model.describe()['ngrams']):,}",
                             "-", "-", f"{table_bytes(model) / 2**20:.0f}", f"{v.tokens:,}",
                             f"{first * 1e3:.1f}", f"{sorted_tps / 1e6:.2f}",
                             f"{build:.2f}{'' if closed else ' (not closed)'}",
                             f"{tps / 1e6:.2f}",
                             f"{KENLM_QUERY[order] / 1e6:.1f}",
                             f"{tps / KENLM_QUERY[order]:.2f}", f"{next_logprobs_us(model, v):.1f}",
                             "-", "-"))

    head = ("model", "n-grams", "load s", "load peak +RSS MiB", "tables MiB", "tokens",
            "1st pass ms", "sorted M tok/s", "hash build s", "hash M tok/s", "KenLM M tok/s",
            "ratio (hash)", "next_logprobs us",
            "write s", "prune 1e-7 s (n-grams left)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    for c in checks:
        print(c)
    print("\n1st pass: a fresh model's first score_corpus (sorted search; what one `nlm "
          "evaluate` pays). sorted / hash M tok/s: medians of later passes searching the "
          "sorted tables / the hash of all n-grams (score_corpus switches to the hash once "
          "the tokens it scored reach a quarter of the n-grams; it stops a search early when "
          "the model is suffix-closed). KenLM: `query` on a binary model, REFERENCE.md, "
          "not re-measured here.")


if __name__ == "__main__":
    main()
