"""Word tokenizer benchmark: nlm.tokenize against NLTK's NLTKWordTokenizer, same run.

For each corpus (the shipped Shakespeare splits and, when ../shared is present,
WikiText-2, tinyshakespeare and names), the lines are read as ``--tokenizer word``
reads them (non-blank lines, stripped; ``--lowercase`` lowercases them first) and
tokenized by NLTK and by a fresh ``nlm.tokenize.WordTokenizer`` (cold caches, as
in one training pass; ``--warm`` adds passes on the warm caches). Printed per
corpus: words (NLTK tokens), NLTK words/s, nlm words/s, the speed ratio, whether
every line's tokens were identical (checked on an untimed cold and warm pass; the
timed passes drop the tokens, as training does), and how many lines nlm tokenized
whole with the reference rules (lines where the per-chunk caches do not apply).
Times are the process's CPU time (one core; the machine may be shared), the best
of ``--repeat`` runs for nlm, one run for NLTK.

    python scripts/bench/word_tokenizer.py [--repeat 3] [--lowercase] [--warm] [FILE ...]
"""
import sys
from pathlib import Path

# This file is named like the standard library's ``tokenize`` module, which the
# interpreter imports on demand (linecache, inspect): keep this directory off the path.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]

import argparse  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "corpora"

CORPORA = ([ROOT / "corpora" / "shakespeare" / f"{s}.txt" for s in ("train", "valid", "test")]
           + [SHARED / "wikitext-2" / f"{s}.txt" for s in ("train", "valid", "test")]
           + [SHARED / "tinyshakespeare" / f"{s}.txt" for s in ("train", "valid", "input")]
           + [SHARED / "names" / "names.txt"])


def load_module():
    """nlm/tokenize.py; loaded by path if the package itself does not import."""
    try:
        import nlm.tokenize as mod
    except ImportError:
        import importlib.util
        spec = importlib.util.spec_from_file_location("nlm_tokenize", ROOT / "nlm" / "tokenize.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    return mod


def read_lines(path, lowercase):
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.isspace():
                line = line.strip("\r\n").strip()
                lines.append(line.lower() if lowercase else line)
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lowercase", action="store_true")
    ap.add_argument("--warm", action="store_true", help="also time a second pass on warm caches")
    args = ap.parse_args()

    import nltk
    from nltk.tokenize import NLTKWordTokenizer
    mod = load_module()
    nltk_tok = NLTKWordTokenizer().tokenize

    print(f"nltk {nltk.__version__} (nlm.tokenize matches {mod.NLTK_VERSION}); "
          f"load average {os.getloadavg()[0]:.2f}")
    head = (f"{'corpus':<40} {'words':>10} {'NLTK w/s':>10} {'nlm w/s':>11} {'ratio':>7} "
            f"{'identical':>9} {'fallback':>8}")
    if args.warm:
        head += f" {'warm w/s':>11}"
    print(head)
    print("-" * len(head))
    files = args.files or [p for p in CORPORA if p.exists()]
    totals = [0, 0.0, 0.0]
    for path in files:
        lines = read_lines(path, args.lowercase)
        t0 = time.process_time()
        expected = [nltk_tok(line) for line in lines]
        t_nltk = time.process_time() - t0
        words = sum(map(len, expected))
        best = float("inf")      # timed passes drop the tokens, as training does
        for _ in range(max(1, args.repeat)):
            tok = mod.WordTokenizer().tokenize
            t0 = time.process_time()
            for line in lines:
                tok(line)
            best = min(best, time.process_time() - t0)
        warm = float("inf")
        if args.warm:
            for _ in range(max(1, args.repeat)):
                t0 = time.process_time()
                for line in lines:
                    tok(line)
                warm = min(warm, time.process_time() - t0)
        wt = mod.WordTokenizer()  # untimed: the tokens, cold and warm
        got = [wt.tokenize(line) for line in lines]
        fallback = wt.fallback_lines
        if got == expected:
            got = [wt.tokenize(line) for line in lines]
        same = got == expected
        try:
            name = str(path.resolve().relative_to(ROOT.parent))
        except ValueError:
            name = str(path)
        row = (f"{name:<40} {words:>10,} {words / t_nltk:>10,.0f} {words / best:>11,.0f} "
               f"{t_nltk / best:>6.1f}x {'yes' if same else 'NO':>9} {fallback:>8}")
        if args.warm:
            row += f" {words / warm:>11,.0f}"
        print(row, flush=True)
        totals[0] += words
        totals[1] += t_nltk
        totals[2] += best
        if not same:
            bad = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
            print(f"    first difference, line {bad + 1}: {lines[bad]!r}\n"
                  f"    nltk {expected[bad]}\n    nlm  {got[bad]}")
    if len(files) > 1:
        print(f"{'all':<40} {totals[0]:>10,} {totals[0] / totals[1]:>10,.0f} "
              f"{totals[0] / totals[2]:>11,.0f} {totals[1] / totals[2]:>6.1f}x")


if __name__ == "__main__":
    main()
