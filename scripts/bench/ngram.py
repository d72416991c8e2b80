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
    python scripts/bench/ngram.py --scale 100000000 [--order 5] [--memory 8G] [--tmp /tmp]
    python scripts/bench/ngram.py --scale-counting 100000000   # the in-memory counting table

``--scale T`` writes a synthetic corpus of T tokens as a text file: WikiText-2
training sentences, shuffled, repeated, with 10% of the tokens replaced by words
drawn from the unigram distribution (so that the count tables keep growing
instead of repeating WikiText's n-grams; the literal ``<unk>`` is written as
``@unk@``, which lmplz accepts). Then, in the same run and each in its own
process under ``/usr/bin/time -v`` (wall time and peak RSS of the whole process
tree): ``lmplz -o N -S MEMORY -T TMP --discount_fallback`` (text to ARPA), ``nlm
train --memory MEMORY --temp-dir TMP --arpa`` (text to model file and ARPA; the
out-of-core path at this size), optionally nlm's in-memory path (``nlm train``
then ``nlm export-arpa``, ``--with-in-memory``) and the Dask local cluster
(``--dask local:2``, ``--with-dask``). The ARPA files of lmplz and nlm are
compared on a sample of entries. Files go to ``--tmp`` and are deleted.

``--scale-counting T`` is the earlier table: in-memory counting and fitting of a
synthetic corpus held as ids, at T/4, T/2 and T.
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

SHARED = Path(os.environ.get("NLM_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT / "scripts"))
from make_big_corpus import write_synthetic_text  # noqa: E402
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
    from nlm.ngram.estimate.methods import fit_modified_kneser_ney

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


def tree_rss_kb(root: int) -> int:
    """Resident memory (KB) of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(d))
    total, stack = 0, [root]
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page_kb
        except (OSError, ValueError, IndexError):
            pass
        stack.extend(children.get(pid, []))
    return total


def timed_command(cmd, log=None) -> dict:
    """Run ``cmd`` under /usr/bin/time -v: wall seconds, the peak RSS (GB) of its largest
    process (time -v) and of the whole process tree (sampled every 0.2 s: Dask workers
    are separate processes), and its output."""
    import re
    proc = subprocess.Popen(["/usr/bin/time", "-v"] + [str(c) for c in cmd],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import threading
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            done.wait(0.2)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    done.set()
    t.join()
    if log is not None:
        with open(log, "a") as f:
            f.write(" ".join(map(str, cmd)) + "\n" + out + err + "\n")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n{err[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", err)
    h, m, sec = wall.groups()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))
    cpu = sum(float(re.search(rf"{what} time \(seconds\): ([\d.]+)", err).group(1))
              for what in ("User", "System"))
    return {"wall_s": int(h or 0) * 3600 + int(m) * 60 + float(sec), "cpu_s": cpu,
            "rss_gb": max(rss, peak[0]) / 1024 ** 2, "out": out + err}


def compare_arpa_sample(ours, theirs, n=20000, seed=0) -> tuple[int, float]:
    """About ``n`` entries of ``theirs`` (lmplz's ARPA) looked up in ``ours``: how many were
    compared and the largest difference of a log10 probability or backoff weight (an
    entry missing from ours counts as infinitely different)."""
    import random
    rng = random.Random(seed)

    def entries(path):
        order = 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("\\") and line.rstrip().endswith("-grams:"):
                    order = int(line[1:line.index("-")])
                    continue
                parts = line.rstrip("\n").split("\t")
                if order and len(parts) >= 2:
                    yield parts

    total = 0
    with open(theirs, encoding="utf-8") as f:
        for line in f:
            if line.startswith("ngram "):
                total += int(line.split("=")[1])
            elif line.startswith("\\1-grams"):
                break
    rate = n / max(total, 1)
    ref = {p[1]: (float(p[0]), float(p[2]) if len(p) > 2 else 0.0)
           for p in entries(theirs) if p[1] != "<s>" and rng.random() < rate}
    worst = 0.0
    found = 0
    for p in entries(ours):
        if p[1] in ref:
            found += 1
            q, c = ref[p[1]]
            worst = max(worst, abs(float(p[0]) - q),
                        abs((float(p[2]) if len(p) > 2 else 0.0) - c))
    return len(ref), (worst if found == len(ref) else float("inf"))


def main_scale(args):
    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    text = tmp / f"synthetic-{args.scale}.txt"
    log = tmp / f"scale-{args.scale}.log"
    print(f"load average at start: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    if not text.exists():
        t = time.perf_counter()
        tokens = write_synthetic_text(text, args.scale, source=WIKI / "train.txt")
        print(f"wrote {tokens:,} tokens ({text.stat().st_size / 1e9:.2f} GB) in "
              f"{time.perf_counter() - t:.0f} s", file=sys.stderr)
    kenlm = SHARED / "tools" / "kenlm" / "lmplz"
    rows = []
    N, mem = args.order, args.memory
    outputs = []
    try:
        spill_dir = tmp / "spill"
        spill_dir.mkdir(exist_ok=True)
        runs = [("lmplz", [kenlm, "-o", N, "-S", mem, "-T", spill_dir, "--discount_fallback",
                           "--text", text, "--arpa", tmp / "lmplz.arpa"])]
        runs.append(("nlm", [sys.executable, "-m", "nlm.cli", "train", text, "--order", N,
                             "--memory", mem, "--temp-dir", spill_dir, "--arpa",
                             tmp / "nlm.arpa", "-o", tmp / "nlm.npz"]))
        runs.append(("nlm export-arpa (of that model file)",
                     [sys.executable, "-m", "nlm.cli", "export-arpa", tmp / "nlm.npz",
                      tmp / "export.arpa"]))
        if args.with_dask:
            runs.append(("nlm --dask local:2", [sys.executable, "-m", "nlm.cli", "train", text,
                                                "--order", N, "--memory", mem, "--temp-dir",
                                                spill_dir, "--dask", "local:2", "--arpa",
                                                tmp / "dask.arpa", "-o", tmp / "dask.npz"]))
        for name, cmd in runs:
            print(f"{name} ...", file=sys.stderr, flush=True)
            r = timed_command(cmd, log)
            rows.append((name, r))
            print(f"  {r['wall_s']:.1f} s, {r['rss_gb']:.2f} GB", file=sys.stderr, flush=True)
            if name.startswith("nlm export-arpa"):
                (tmp / "export.arpa").unlink(missing_ok=True)
                r["model_gb"] = (tmp / "nlm.npz").stat().st_size / 1024 ** 3
            if name.startswith("nlm --dask"):
                (tmp / "dask.npz").unlink(missing_ok=True)
                (tmp / "dask.arpa").unlink(missing_ok=True)
        compared, worst = compare_arpa_sample(tmp / "nlm.arpa", tmp / "lmplz.arpa")
        if args.with_in_memory:
            (tmp / "nlm.arpa").unlink(missing_ok=True)
            print("nlm in memory ...", file=sys.stderr, flush=True)
            a = timed_command([sys.executable, "-m", "nlm.cli", "train", text, "--order", N,
                               "--memory", "1000G", "-o", tmp / "mem.npz"], log)
            b = timed_command([sys.executable, "-m", "nlm.cli", "export-arpa", tmp / "mem.npz",
                               tmp / "mem.arpa"], log)
            rows.append(("nlm in memory: train", a))
            rows.append(("nlm in memory: export-arpa", b))
            rows.append(("nlm in memory: total", {"wall_s": a["wall_s"] + b["wall_s"],
                                                  "cpu_s": a["cpu_s"] + b["cpu_s"],
                                                  "rss_gb": max(a["rss_gb"], b["rss_gb"])}))
    finally:
        for f in ("lmplz.arpa", "nlm.arpa", "nlm.npz", "mem.npz", "mem.arpa", "dask.npz",
                  "dask.arpa", "export.arpa"):
            (tmp / f).unlink(missing_ok=True)
        if not args.keep_text:
            text.unlink(missing_ok=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    ref = rows[0][1]
    print(f"## {args.scale:,} synthetic tokens, order {N}, text to ARPA, memory budget {mem}\n")
    # CPU seconds (user + system, children included) as well as wall time: on a shared
    # machine a run's wall time says as much about the other jobs as about the run
    print("| run | wall s | CPU s | peak RSS GB | wall vs lmplz | CPU vs lmplz | memory vs lmplz |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        extra = f" (model file {r['model_gb']:.2f} GB)" if "model_gb" in r else ""
        cpu = r.get("cpu_s")
        cpu_text = "" if cpu is None else f"{cpu:.1f}"
        cpu_ratio = "" if cpu is None else f"{cpu / ref['cpu_s']:.2f}x"
        print(f"| {name}{extra} | {r['wall_s']:.1f} | {cpu_text} | {r['rss_gb']:.2f} | "
              f"{r['wall_s'] / ref['wall_s']:.2f}x | {cpu_ratio} | "
              f"{r['rss_gb'] / ref['rss_gb']:.2f}x |")
    print(f"\nnlm's ARPA against lmplz's on {compared:,} sampled entries: largest difference "
          f"of a log10 value {worst:.2g} (lmplz writes float32; the discounts of orders 1 "
          "and 4 come from --discount_fallback in lmplz; see the log for its output)")


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


def main_scale_counting(args):
    args.scale = args.scale_counting
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
    ap.add_argument("--scale", type=int, default=None,
                    help="tokens of the synthetic text corpus: nlm out of core next to lmplz")
    ap.add_argument("--memory", default="8G", help="--scale: the budget (lmplz -S, nlm --memory)")
    ap.add_argument("--tmp", default="/tmp/nlm-scale", help="--scale: where files go")
    ap.add_argument("--with-dask", action="store_true", help="--scale: also --dask local:2")
    ap.add_argument("--with-in-memory", action="store_true",
                    help="--scale: also nlm's in-memory train + export-arpa")
    ap.add_argument("--keep-text", action="store_true", help="--scale: keep the corpus file")
    ap.add_argument("--scale-counting", type=int, default=None,
                    help="tokens: the in-memory counting table")
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
    if args.scale_counting:
        main_scale_counting(args)
    elif args.scale:
        main_scale(args)
    else:
        main_benchmark(args)


if __name__ == "__main__":
    main()
