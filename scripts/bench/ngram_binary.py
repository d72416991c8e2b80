"""Binary n-gram models: load time and query speed of nlm's memory-mapped format against
KenLM's build_binary + query (probing and trie), on the same model, in the same run.

The model: a modified Kneser-Ney 5-gram estimated on a synthetic corpus (WikiText-2
train sentences shuffled and repeated, 10% of tokens replaced by unigram draws, the
literal <unk> written as another word: REFERENCE.md's recipe), by ``nlm train``
(``--source nlm``, default: nlm writes the ARPA file KenLM builds from, and builds its
own binary from the .npz) or by KenLM's lmplz (``--source lmplz``: both binaries are
built from lmplz's ARPA file; nlm's ARPA reader needs about 250 bytes per n-gram, so
this suits smaller models). The test text is made the same way with another seed.

Measured (page cache warm: every file was just written; the machine's other load is
printed first):

* build: seconds and size of each binary;
* load: a fresh process that opens the model and scores nothing (KenLM ``query`` on
  empty input, default ``populate`` and ``-l lazy``; nlm ``python -c`` loading the
  file, whose interpreter and import cost is also given alone), and the in-process
  open (``nlm.load``; the kenlm Python module's ``Model``);
* query: tokens/s scoring the test text. KenLM: ``query -v summary`` wall time minus
  its wall time on empty input (reading and hashing the text included). nlm: the
  in-process ``score_corpus`` on the ids (first pass after loading, when the pages
  are faulted in, and the median of later passes), and reading + scoring;
* the perplexities both report, which must agree;
* the Python APIs sentence by sentence: ``kenlm.Model.score`` against
  ``nlm.kenlm.Model.score`` (what a decoder or rescoring script pays per call).

    nice python scripts/bench/ngram_binary.py --tokens 100000000 --workdir /tmp/nlmbin
    python scripts/bench/ngram_binary.py --tokens 2000000       # a quick run
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
KENLM = SHARED / "tools" / "kenlm"
WIKI = SHARED / "corpora" / "wikitext-2"


def synthetic_text(path: Path, tokens: int, seed: int) -> int:
    """Write about ``tokens`` tokens (words + one </s> per line) of synthetic text."""
    from nlm.corpus import read_training_corpus
    vocab, base = read_training_corpus(WIKI / "train.txt")
    words = np.array([w if w != "<unk>" else "unk_word" for w in vocab.words], dtype=object)
    rng = np.random.default_rng(seed)
    lengths = np.diff(base.offsets)                    # words + </s>
    counts = np.bincount(base.ids, minlength=len(vocab)).astype(np.float64)
    counts[:3] = 0.0                                   # never draw <unk>, <s>, </s>
    p = counts / counts.sum()
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < tokens:
            for s in rng.permutation(len(lengths)):
                ids = base.ids[base.offsets[s]:base.offsets[s + 1] - 1].copy()
                swap = rng.random(len(ids)) < 0.10
                ids[swap] = rng.choice(len(p), size=int(swap.sum()), p=p)
                f.write(" ".join(words[ids].tolist()) + "\n")
                written += len(ids) + 1
                if written >= tokens:
                    break
    return written


def wall(cmd, stdin_path=None, env=None) -> tuple[float, str]:
    """(seconds, stdout+stderr) of a command."""
    t0 = time.perf_counter()
    with open(stdin_path or os.devnull, "rb") as stdin:
        r = subprocess.run(cmd, stdin=stdin, capture_output=True, env=env)
    seconds = time.perf_counter() - t0
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    if r.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{out[-2000:]}")
    return seconds, out


def best_wall(cmd, stdin_path=None, repeat=3) -> tuple[float, str]:
    runs = [wall(cmd, stdin_path) for _ in range(repeat)]
    return min(r[0] for r in runs), runs[0][1]


def kenlm_ppl(out: str) -> float:
    for line in out.splitlines():
        if line.startswith("Perplexity including OOVs:"):
            return float(line.split()[-1])
    return float("nan")


def kenlm_rss_mb(out: str) -> float:
    for part in out.split():
        if part.startswith("RSSMax:"):
            return float(part.split(":")[1]) / 1024
    return float("nan")


BUILD = """
import resource, sys
from nlm.cli import main
try:
    main(["build-binary", *sys.argv[1:]])
except SystemExit as e:
    if e.code:
        raise
print("peak RSS KiB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

NLM_LOAD = """
import sys, time, resource
t0 = time.perf_counter()
import nlm
t1 = time.perf_counter()
m = nlm.load(sys.argv[1])
t2 = time.perf_counter()
def rss():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
before = rss()
import numpy as np
ids = np.array([m.vocab.id(w) for w in "the first query of a freshly opened model".split()] + [2])
m.score_corpus(ids[:0], np.array([0]))   # loads the compiled kernel from numba's cache
before = rss()
t3 = time.perf_counter()
m.score_corpus(ids, np.array([0, len(ids)]))
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, before, t4 - t3, rss() - before)
"""

NLM_QUERY = """
import sys, time, statistics, json
import numpy as np
import nlm
from nlm.corpus import read_corpus
from nlm.evaluate import evaluate
t0 = time.perf_counter()
m = nlm.load(sys.argv[1])
t1 = time.perf_counter()
c = read_corpus(sys.argv[2], m.vocab)
t2 = time.perf_counter()
m.query_table()      # an in-memory model builds its probing table on first use
m.score_corpus(c.ids[:10], np.array([0, 10]))   # compiled already (cache), pages not touched
t3 = time.perf_counter()
lp = m.score_corpus(c.ids, c.offsets)
t4 = time.perf_counter()
later = []
for _ in range(int(sys.argv[3])):
    a = time.perf_counter(); m.score_corpus(c.ids, c.offsets); later.append(time.perf_counter() - a)
ev = evaluate(m, c)
print(json.dumps({"load": t1 - t0, "read": t2 - t1, "first": t4 - t3,
                  "later": statistics.median(later), "tokens": int(c.tokens),
                  "ppl": ev.perplexity}))
"""

API = """
import sys, time, json
which, path, text, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if which == 'kenlm':
    import kenlm
    m = kenlm.Model(path)
else:
    import nlm.kenlm as k
    m = k.Model(path)
lines = []
n = 0
with open(text, encoding='utf-8') as f:
    for line in f:
        lines.append(line.strip())
        n += len(line.split()) + 1
        if n >= limit:
            break
m.score(lines[0])
t = time.perf_counter()
total = sum(m.score(s) for s in lines)
dt = time.perf_counter() - t
print(json.dumps({"tokens": n, "seconds": dt, "total": total}))
"""


def python(code, *args, env=None):
    seconds, out = wall([sys.executable, "-c", code, *map(str, args)], env=env)
    return seconds, out.strip().splitlines()[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=100_000_000, help="training tokens")
    ap.add_argument("--test-tokens", type=int, default=5_000_000)
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--workdir", default="/tmp/nlm_binary_bench")
    ap.add_argument("--memory", default="8G", help="lmplz -S")
    ap.add_argument("--source", choices=["nlm", "lmplz"], default="nlm",
                    help="who estimates the model (see above)")
    ap.add_argument("--no-trie", action="store_true", help="leave KenLM's trie out")
    ap.add_argument("--reuse", action="store_true",
                    help="keep binaries already built in --workdir (build times then '-')")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--api-tokens", type=int, default=300_000,
                    help="tokens scored through the Python APIs")
    args = ap.parse_args()
    if not (KENLM / "query").exists() or not WIKI.exists():
        sys.exit("this benchmark needs ../shared (KenLM binaries and WikiText-2)")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    train, test = work / f"train.{args.tokens}.txt", work / f"test.{args.test_tokens}.txt"
    arpa = work / f"model.{args.source}.{args.tokens}.o{args.order}.arpa"
    npz = work / f"model.{args.tokens}.o{args.order}.npz"
    steps = []
    if not train.exists():
        t0 = time.perf_counter()
        synthetic_text(train, args.tokens, seed=0)
        steps.append(f"synthetic training text: {time.perf_counter() - t0:.1f} s")
    if not test.exists():
        synthetic_text(test, args.test_tokens, seed=1)
    nlm_cli = [sys.executable, "-m", "nlm.cli"]
    if args.source == "lmplz" and not arpa.exists():
        (work / "lmtmp").mkdir(exist_ok=True)
        s, _ = wall([str(KENLM / "lmplz"), "-o", str(args.order), "-S", args.memory, "-T",
                     str(work / "lmtmp"), "--discount_fallback", "--text", str(train),
                     "--arpa", str(arpa)])
        steps.append(f"lmplz -o {args.order}: {s:.1f} s")
    if args.source == "nlm" and not arpa.exists():
        if not npz.exists():
            s, out = wall(nlm_cli + ["train", str(train), "--model", "mkn", "--order",
                                     str(args.order), "-q", "-o", str(npz)], env=env)
            steps.append(f"nlm train --model mkn --order {args.order}: {s:.1f} s")
        s, _ = wall(nlm_cli + ["export-arpa", str(npz), str(arpa)], env=env)
        steps.append(f"nlm export-arpa: {s:.1f} s")
    source = arpa if args.source == "lmplz" else npz
    probing, trie, nlmbin = (work / "model.probing", work / "model.trie",
                             work / "model.nlmbin")
    build = {}
    kenlm_files = [("KenLM probing", probing)] + ([] if args.no_trie else [("KenLM trie", trie)])
    for name, path in kenlm_files:
        if args.reuse and path.exists() and path.stat().st_size > 0:
            build[name] = float("nan")
            continue
        build[name], _ = wall([str(KENLM / "build_binary"), name.split()[1], str(arpa),
                               str(path)])
    nlm_build_rss, ngrams = float("nan"), "?"
    if args.reuse and nlmbin.exists():
        build["nlm"] = float("nan")
    else:
        build["nlm"], out = wall([sys.executable, "-c", BUILD, str(source), str(nlmbin)],
                                 env=env)
        nlm_build_rss = float(out.strip().splitlines()[-1].split()[-1])
        steps.append(out.strip().splitlines()[-2])
        ngrams = out.split("n-grams ")[1].split(",")[0] if "n-grams " in out else "?"

    # -- load ---------------------------------------------------------------------
    query = str(KENLM / "query")
    rows = []
    empty_py, _ = best_wall([sys.executable, "-c", "import nlm"], repeat=args.repeat)
    loads = {}
    for name, path in kenlm_files:
        for method in ("populate", "lazy"):
            s, out = best_wall([query, "-l", method, str(path)], repeat=args.repeat)
            loads[(name, method)] = (s, kenlm_rss_mb(out))
    nlm_runs = [python(NLM_LOAD, nlmbin, env=env) for _ in range(args.repeat)]
    nlm_proc = min(r[0] for r in nlm_runs)
    nlm_import, nlm_open, nlm_rss, first_query, first_query_mb = map(float, min(
        (r[1] for r in nlm_runs), key=lambda line: float(line.split()[1])).split())
    kenlm_module = {}
    try:
        import kenlm  # noqa: F401
        for name, path in [(n.split()[1], p) for n, p in kenlm_files]:
            s, line = python("import sys, time, kenlm\nt = time.perf_counter()\n"
                             "kenlm.Model(sys.argv[1])\nprint(time.perf_counter() - t)", path)
            kenlm_module[name] = float(line)
    except ImportError:
        pass

    # -- query ------------------------------------------------------------------------
    text_tokens = sum(len(line.split()) + 1 for line in open(test, encoding="utf-8"))
    speeds = {}
    for name, path in kenlm_files:
        for method in ("populate", "lazy"):
            s, out = best_wall([query, "-v", "summary", "-l", method, str(path)], test,
                               repeat=args.repeat)
            base = loads[(name, method)][0]
            speeds[(name, method)] = (text_tokens / (s - base), kenlm_ppl(out), s)
    _, line = python(NLM_QUERY, nlmbin, test, args.repeat, env=env)
    import json
    q = json.loads(line)
    q_npz = None
    if args.source == "nlm":        # the same model read whole from its .npz, for contrast
        _, line = python(NLM_QUERY, npz, test, args.repeat, env=env)
        q_npz = json.loads(line)
    api = {}
    for which, path in (("kenlm", probing), ("nlm", nlmbin)):
        try:
            _, line = python(API, which, path, test, args.api_tokens, env=env)
            api[which] = json.loads(line)
        except SystemExit as e:
            api[which] = {"error": str(e)[:200]}

    # -- report -----------------------------------------------------------------------------
    mb = lambda p: os.path.getsize(p) / 2**20  # noqa: E731
    print(f"## {args.order}-gram from {args.tokens:,} synthetic tokens (n-grams {ngrams}); "
          f"test text {text_tokens:,} tokens\n")
    for s in steps:
        print(f"- {s}")
    print(f"- nlm build-binary from {source.name}: peak RSS {nlm_build_rss / 1024:.0f} MB "
          "(reading the model included)\n")
    print("| model file | build s | size MiB | load: process on empty input s | "
          "load in-process s | RSS MiB (KenLM: query's RSSMax; nlm: after load) |")
    print("|---|---|---|---|---|---|")
    for name, path in kenlm_files:
        for method in ("populate", "lazy"):
            s, rss = loads[(name, method)]
            mod = kenlm_module.get(name.split()[1], None) if method == "populate" else None
            print(f"| {name} (`query -l {method}`) | {build[name]:.1f} | {mb(path):.0f} | "
                  f"{s:.3f} | {'-' if mod is None else f'{mod:.3f} (kenlm.Model)'} | "
                  f"{rss:.0f} |")
    print(f"| nlm .nlmbin | {build['nlm']:.1f} | {mb(nlmbin):.0f} | {nlm_proc:.3f} "
          f"(of which Python + import nlm {empty_py:.3f}) | {nlm_open:.4f} (nlm.load) | "
          f"{nlm_rss:.0f} |\n")
    print(f"nlm: the first query after opening (one 9-word sentence; the compiled kernel "
          f"loaded from numba's cache beforehand) took {first_query * 1e3:.2f} ms and added "
          f"{first_query_mb:.2f} MiB of resident memory.\n")
    ref = speeds[("KenLM probing", "populate")][0]
    print("| scorer | tokens/s | ratio to KenLM probing (populate) | perplexity |")
    print("|---|---|---|---|")
    for (name, method), (tps, ppl, _) in speeds.items():
        print(f"| {name} `query -l {method}` (text reading included) | {tps / 1e6:.2f} M | "
              f"{tps / ref:.2f} | {ppl:.4f} |")
    first = q["tokens"] / q["first"]
    later = q["tokens"] / q["later"]
    e2e = q["tokens"] / (q["read"] + q["first"])
    print(f"| nlm score_corpus, first pass after loading (pages faulted in) | "
          f"{first / 1e6:.2f} M | {first / ref:.2f} | {q['ppl']:.4f} |")
    print(f"| nlm score_corpus, later passes (median) | {later / 1e6:.2f} M | "
          f"{later / ref:.2f} | |")
    print(f"| nlm read_corpus + first pass (text reading included) | {e2e / 1e6:.2f} M | "
          f"{e2e / ref:.2f} | |")
    if q_npz is not None:
        later_npz = q_npz["tokens"] / q_npz["later"]
        print(f"| nlm .npz read whole ({q_npz['load']:.1f} s to load), hash of n-grams, later "
              f"passes | {later_npz / 1e6:.2f} M | {later_npz / ref:.2f} | "
              f"{q_npz['ppl']:.4f} |")
    print()
    if "seconds" in api.get("kenlm", {}) and "seconds" in api.get("nlm", {}):
        k, n = api["kenlm"], api["nlm"]
        print("| Python API, Model.score per sentence | tokens/s | total log10 |")
        print("|---|---|---|")
        print(f"| kenlm (probing) | {k['tokens'] / k['seconds'] / 1e3:.0f} k | {k['total']:.4f} |")
        print(f"| nlm.kenlm (.nlmbin) | {n['tokens'] / n['seconds'] / 1e3:.0f} k | "
              f"{n['total']:.4f} |")
    else:
        print(f"Python APIs: {api}")


if __name__ == "__main__":
    main()
