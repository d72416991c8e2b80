"""Query speed of backoff n-gram models, and ARPA reading/writing, against KenLM.

Reads the ARPA files that KenLM's lmplz wrote for Tiny Shakespeare (words,
orders 3 and 5; ../shared/reference/kenlm), scores the validation text with
them (blank lines removed, whitespace tokens, as REFERENCE.md), and prints:

* load time and the peak resident memory ``read_arpa`` adds;
* scoring speed (tokens/s, median of several passes over the probing table)
  and the ratio to KenLM's ``query`` on a probing binary of the same ARPA file
  (``build_binary``, ../shared/tools/kenlm), measured in the same run: the text
  repeated to about 2M tokens, the time of a run on an empty input (load only)
  subtracted, median of 3;
* the perplexities, checked against the ones KenLM reported for these files;
* the cost of one ``next_logprobs`` call (what the sampler pays per token),
  ARPA writing and entropy pruning;
* with part of the estimators in place (``mkn`` registered), the same scoring
  figures for a modified Kneser-Ney model fitted on WikiText-2 (written to ARPA
  for KenLM's run).

The machine is shared: rerun when the load average is high.

    python scripts/bench/ngram_query.py [--repeat 7] [--no-wikitext]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
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
KENLM = SHARED / "tools" / "kenlm"
TS_PPL = {3: (575.3289, 286.2126), 5: (574.1910, 285.7166)}   # incl. / excl. OOVs
WT_PPL = {3: (247.6563, 230.8863), 5: (239.9840, 224.8116)}   # valid / test


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def median_speed(model, corpus, repeat):
    times = [timed(model.score_corpus, corpus.ids, corpus.offsets)[1] for _ in range(repeat)]
    return corpus.tokens / statistics.median(times)


def scoring_speed(model, fresh, corpus, repeat):
    """Seconds of the first call (what one ``nlm evaluate`` pays, the probing table's
    build included), seconds to build the probing table of ``fresh`` (an untouched
    copy of the model; whether it is suffix-closed), median tokens/s."""
    _, first = timed(model.score_corpus, corpus.ids, corpus.offsets)
    table, build = timed(fresh.query_table)
    return first, build, table[3], median_speed(model, corpus, repeat)


def kenlm_query_speed(arpa, text, tmp, target_tokens=2_000_000):
    """Tokens/s of KenLM's ``query`` over ``text`` on a probing binary of ``arpa``
    (load time subtracted), or None without ../shared/tools/kenlm."""
    if not (KENLM / "query").exists():
        return None
    binary = os.path.join(tmp, "kenlm.probing")
    subprocess.run([str(KENLM / "build_binary"), str(arpa), binary], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = [ln for ln in Path(text).read_text(encoding="utf-8").splitlines() if ln.strip()]
    per_copy = sum(len(ln.split()) + 1 for ln in lines)
    copies = max(1, target_tokens // per_copy)
    big = os.path.join(tmp, "query.txt")
    with open(big, "w", encoding="utf-8") as f:
        for _ in range(copies):
            f.write("\n".join(lines) + "\n")

    def run(path):
        with open(path, "rb") as src:
            t0 = time.perf_counter()
            subprocess.run([str(KENLM / "query"), "-v", "summary", binary], stdin=src,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return time.perf_counter() - t0
    load = statistics.median(run(os.devnull) for _ in range(3))
    full = statistics.median(run(big) for _ in range(3))
    return per_copy * copies / max(full - load, 1e-9)


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
    meta, ints, vals, _ = model.query_table()
    return sum(a.nbytes for a in (meta, ints, vals))


HEAD = ("model", "n-grams", "load s", "load peak +RSS MiB", "tables MiB", "tokens",
        "1st pass ms", "table build s", "M tok/s", "KenLM query M tok/s", "ratio",
        "next_logprobs us", "write s", "prune 1e-7 s (n-grams left)")


def speed_cells(model, fresh, corpus, arpa, text, repeat):
    """The scoring columns, KenLM's query on the same ARPA file measured alongside."""
    first, build, closed, tps = scoring_speed(model, fresh, corpus, repeat)
    with tempfile.TemporaryDirectory() as tmp:
        theirs = kenlm_query_speed(arpa, text, tmp)
    return (f"{first * 1e3:.1f}", f"{build:.2f}{'' if closed else ' (not closed)'}",
            f"{tps / 1e6:.2f}", "-" if theirs is None else f"{theirs / 1e6:.2f}",
            "-" if theirs is None else f"{tps / theirs:.2f}")


def arpa_row(order, kenlm_dir, valid, repeat, checks):
    path = kenlm_dir / f"ts-words.o{order}.arpa.gz"
    reset, read = rss_peak_since_reset()
    base = reset()
    model, load_s = timed(read_arpa, path)
    peak = read(base)
    corpus = read_corpus(valid, model.vocab)
    speed = speed_cells(model, read_arpa(path), corpus, path, valid, repeat)
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
    return (f"ts-words o{order} (ARPA)", f"{sum(model.describe()['ngrams']):,}",
            f"{load_s:.2f}", "-" if peak is None else f"{peak / 2**20:.0f}",
            f"{table_bytes(model) / 2**20:.0f}", f"{corpus.tokens:,}", *speed,
            f"{us:.1f}", f"{write_s:.2f}",
            f"{prune_s:.2f} ({sum(pruned.describe()['ngrams']):,})")


def wikitext_row(order, repeat, checks):
    from nlm.api import train
    wt = SHARED / "corpora" / "wikitext-2"
    model, fit_s = timed(train, wt / "train.txt", "mkn", order=order)
    v = read_corpus(wt / "valid.txt", model.vocab)
    t = read_corpus(wt / "test.txt", model.vocab)
    with tempfile.TemporaryDirectory() as tmp:
        arpa = os.path.join(tmp, "wt.arpa")
        write_arpa(model, arpa)
        speed = speed_cells(model, read_arpa(arpa), v, arpa, wt / "valid.txt", repeat)
    pv, pt = evaluate(model, v).perplexity, evaluate(model, t).perplexity
    want = WT_PPL[order]
    checks.append(f"WikiText-2 mkn o{order}: valid {pv:.4f} test {pt:.4f}; lmplz "
                  f"{want[0]} / {want[1]} (fit {fit_s:.1f} s)")
    return (f"WikiText-2 mkn o{order}", f"{sum(model.describe()['ngrams']):,}", "-", "-",
            f"{table_bytes(model) / 2**20:.0f}", f"{v.tokens:,}", *speed,
            f"{next_logprobs_us(model, v):.1f}", "-", "-")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="timed scoring passes (median)")
    ap.add_argument("--no-wikitext", action="store_true", help="skip the WikiText-2 model")
    args = ap.parse_args()
    kenlm_dir = SHARED / "reference" / "kenlm"
    valid = SHARED / "corpora" / "tinyshakespeare" / "valid.txt"
    if not kenlm_dir.exists():
        sys.exit(f"{kenlm_dir} not found: this benchmark needs ../shared")
    if shutil.which(str(KENLM / "query")) is None:
        print("KenLM's query not found under ../shared/tools/kenlm: its columns are '-'")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
          "(timings are perturbed when it exceeds the core count)\n")
    checks = []
    rows = [arpa_row(order, kenlm_dir, valid, args.repeat, checks) for order in (3, 5)]
    if not args.no_wikitext:
        rows += [wikitext_row(order, args.repeat, checks) for order in (3, 5)]
    print("| " + " | ".join(HEAD) + " |")
    print("|" + "---|" * len(HEAD))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    for c in checks:
        print(c)
    print("\n1st pass: a fresh model's first score_corpus (what one `nlm evaluate` pays, the "
          "probing table's build included). M tok/s: median of later passes. KenLM: `query "
          "-v summary` on a probing binary of the same ARPA file (build_binary), the text "
          "repeated to about 2M tokens, load time subtracted, median of 3, this run.")


if __name__ == "__main__":
    main()
