"""nlm.kenlm against the kenlm module, in the same run: ARPA load time, BaseFullScore per
call, score() per sentence, and process start-up (``import nlm``, ``import kenlm``; with
binary files as ``--nlm-model`` and ``--kenlm-model``, also scoring one sentence from a
new process: ``nlm score`` (as ``python -m nlm.cli``) against KenLM's ``query``).
Prints medians and nlm/kenlm ratios; start-up as wall and as CPU time (user + sys, less
affected when the machine is shared). Run it idle if you can.

    python scripts/bench/kenlm_compat.py ARPA TEXT [--repeat 3]
    python scripts/bench/kenlm_compat.py ARPA TEXT --nlm-model m.nlmbin --kenlm-model m.probing \
        --no-load        # the binaries' query speed (ARPA load and start-up not timed)
    python scripts/bench/kenlm_compat.py ARPA TEXT --nlm-model m.nlmbin --kenlm-model m.probing \
        --query PATH     # also: KenLM's query against nlm score, from process start
"""
from __future__ import annotations

import argparse
import gc
import resource
import shutil
import statistics
import subprocess
import sys
import time
import warnings


def _median_time(fn, repeat: int) -> float:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def _start(cmd: list[str], repeat: int, stdin: bytes | None = None) -> tuple[float, float]:
    """Median wall and CPU (user + sys) seconds of ``cmd`` as a new process, after one
    run not counted."""
    walls, cpus = [], []
    for i in range(repeat + 1):
        r0, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, input=stdin)
        wall, r1 = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:
            walls.append(wall)
            cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def _start_rows(args) -> list[tuple[str, float, float]]:
    """Process start-up: import; load the ARPA file and score; with binary files, KenLM's
    query and nlm score on one sentence."""
    py = [sys.executable, "-c"]
    runs = [("import", py + ["import kenlm"], py + ["import nlm"], None)]
    code = "import {m}; m = {m}.Model({p!r}); m.score('the cat')"
    runs.append(("start + load + score", py + [code.format(m="kenlm", p=args.arpa)],
                 py + ["import warnings; warnings.simplefilter('ignore'); "
                       + code.format(m="nlm.kenlm", p=args.arpa)], None))
    query = args.query or shutil.which("query")
    if args.nlm_model and args.kenlm_model and query:
        sentence = "the cat sat on the mat"
        runs.append(("query / nlm score, binary", [query, args.kenlm_model],
                     [sys.executable, "-m", "nlm.cli", "score", args.nlm_model, sentence],
                     sentence.encode() + b"\n"))
    rows = []
    for name, k_cmd, n_cmd, stdin in runs:
        (k_wall, k_cpu), (n_wall, n_cpu) = (_start(k_cmd, args.repeat, stdin),
                                            _start(n_cmd, args.repeat))
        rows += [(f"{name} (s)", k_wall, n_wall), (f"{name}, CPU (s)", k_cpu, n_cpu)]
    return rows


def _per_call(model, state_cls, sentences) -> float:
    # a full collection now, not one owed by the set-up (importing and compiling) in the
    # middle of the timing: one took 43 ms, 0.5 us a call over these 90,000 calls
    gc.collect()
    n, t = 0, time.perf_counter()
    for s in sentences:
        a, b = state_cls(), state_cls()
        model.BeginSentenceWrite(a)
        for w in s.split() + ["</s>"]:
            model.BaseFullScore(a, w, b)
            a, b = b, a
            n += 1
    return (time.perf_counter() - t) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("arpa")
    ap.add_argument("text")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nlm-model", help="the file nlm.kenlm opens (default: ARPA)")
    ap.add_argument("--kenlm-model", help="the file kenlm opens (default: ARPA)")
    ap.add_argument("--no-load", action="store_true",
                    help="skip the ARPA load and process start-up timings")
    ap.add_argument("--query", help="KenLM's query program (default: query on PATH)")
    args = ap.parse_args()
    n_path, k_path = args.nlm_model or args.arpa, args.kenlm_model or args.arpa
    import kenlm
    import nlm.kenlm as nk
    with open(args.text, encoding="utf-8") as f:
        sentences = [line.strip() for line in f if line.strip()]
    rows = []
    warnings.simplefilter("ignore")
    if not args.no_load:
        k_load = _median_time(lambda: kenlm.Model(args.arpa), args.repeat)
        n_load = _median_time(lambda: nk.Model(args.arpa), args.repeat)
        rows.append(("ARPA load (s)", k_load, n_load))
    km, nm = kenlm.Model(k_path), nk.Model(n_path)
    t = time.perf_counter()
    _per_call(nm, nk.State, sentences[:1])
    rows.append(("first query (s)", 0.0, time.perf_counter() - t))   # kernels, blank check
    nm._cache.clear()
    rows.append(("BaseFullScore, new queries (us)", _per_call(km, kenlm.State, sentences),
                 _per_call(nm, nk.State, sentences)))
    rows.append(("BaseFullScore, repeated (us)", _per_call(km, kenlm.State, sentences),
                 _per_call(nm, nk.State, sentences)))
    rows.append(("score() all sentences (s)",
                 _median_time(lambda: [km.score(s) for s in sentences], args.repeat),
                 _median_time(lambda: [nm.score(s) for s in sentences], args.repeat)))
    if args.no_load:
        _print(rows, args.repeat)
        return
    rows += _start_rows(args)
    _print(rows, args.repeat)


def _print(rows, repeat: int) -> None:
    print(f"{'':34s}{'kenlm':>12s}{'nlm':>12s}{'ratio':>8s}   (medians of {repeat})")
    for name, k, n in rows:
        print(f"{name:34s}{k:12.4g}{n:12.4g}" + (f"{n / k:8.2f}" if k else ""))


if __name__ == "__main__":
    main()
