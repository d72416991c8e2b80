"""nlm.kenlm against the kenlm module, in the same run: ARPA load time, BaseFullScore per
call, score() per sentence, and process start-up (``import nlm``, ``import kenlm``).
Prints medians and nlm/kenlm ratios. The machine may be shared: run it idle if you can.

    python scripts/bench/kenlm_compat.py ARPA TEXT [--repeat 3]
    python scripts/bench/kenlm_compat.py ARPA TEXT --nlm-model m.nlmbin --kenlm-model m.probing \
        --no-load        # the binaries' query speed (ARPA load and start-up not timed)
"""
from __future__ import annotations

import argparse
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


def _start(code: str, repeat: int) -> float:
    return _median_time(lambda: subprocess.run([sys.executable, "-c", code], check=True,
                                               capture_output=True), repeat)


def _per_call(model, state_cls, sentences) -> float:
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
    rows.append(("import (s)", _start("import kenlm", args.repeat),
                 _start("import nlm", args.repeat)))
    code = "import {m}; m = {m}.Model({p!r}); m.score('the cat')"
    rows.append(("start + load + score (s)",
                 _start(code.format(m="kenlm", p=args.arpa), args.repeat),
                 _start("import warnings; warnings.simplefilter('ignore'); "
                        + code.format(m="nlm.kenlm", p=args.arpa), args.repeat)))
    _print(rows, args.repeat)


def _print(rows, repeat: int) -> None:
    print(f"{'':34s}{'kenlm':>12s}{'nlm':>12s}{'ratio':>8s}   (medians of {repeat})")
    for name, k, n in rows:
        print(f"{name:34s}{k:12.4g}{n:12.4g}" + (f"{n / k:8.2f}" if k else ""))


if __name__ == "__main__":
    main()
