"""How out-of-core n-gram estimation scales: nlm next to KenLM's lmplz, from 10M to 1B tokens.

    python scripts/bench/ngram_scale.py --sizes 10M 30M 100M 300M 1G [--order 5] \\
        [--memory 4G] [--tmp /tmp/nlm-scale] [--gzip-from SIZE] [--no-lmplz-from SIZE]

For each size T, a synthetic corpus of T tokens (scripts/make_big_corpus.py: WikiText-2
sentences resampled, 10% of the words redrawn; kept in --tmp between runs unless
--delete-text), then, each in its own process and one after the other:

- ``lmplz -o N -S MEMORY -T TMP --discount_fallback``: text to ARPA;
- ``build_binary`` of that ARPA (KenLM's probing binary), so that lmplz + build_binary is
  KenLM's text to binary model;
- ``nlm train --memory MEMORY --temp-dir TMP --binary OUT.nlmbin``: text to binary model;
- ``nlm train --memory MEMORY --temp-dir TMP --arpa OUT.arpa`` (``.arpa.gz`` from
  --gzip-from on). When the disk cannot hold lmplz's ARPA and nlm's at once (1B tokens:
  about 35 GB each), lmplz's is deleted before nlm's run.

For each: wall time, CPU time (user + system of the whole process tree), the peak
resident memory of all its processes together (sampled every 0.2 s from /proc, with
/usr/bin/time's largest process as a floor), and the peak disk of its temporary
directory plus its outputs: the drop of the file system's free space (sampled every
0.2 s; the machine is otherwise idle). lmplz is skipped from --no-lmplz-from
on, or when its ARPA (about 70 bytes a token at order 5) and temporary files would not
fit. A sample of nlm's ARPA entries is compared with lmplz's. The load average is
printed with every row (the machine is shared). Results also go, one JSON object per
run, to ``TMP/scale.jsonl`` as they come, with the stage times nlm printed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "scripts" / "bench"))
from ngram import tree_rss_kb  # noqa: E402  (the process tree's resident memory)

SHARED = Path(os.environ.get("NLM_SHARED", ROOT.parent / "shared"))
KENLM = SHARED / "tools" / "kenlm"


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kMG]?)", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"a size such as 30M or 1G, got {text!r}")
    return int(float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[m.group(2)])


def timed(cmd, watch, log) -> dict:
    """Run ``cmd`` under /usr/bin/time -v; wall and CPU seconds, peak RSS of the process
    tree (GB), peak disk of ``watch`` (GB)."""
    proc = subprocess.Popen(["/usr/bin/time", "-v"] + [str(c) for c in cmd],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, disk, done = [0], [0], threading.Event()
    free0 = shutil.disk_usage(watch[0]).free

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            # the file system's free space, not a walk of the files: that cost 40% of a core
            # with the 129,000 bucket files of a 1B-token run, and missed lmplz's unlinked
            # temporary files
            disk[0] = max(disk[0], free0 - shutil.disk_usage(watch[0]).free)
            done.wait(0.2)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, _ = proc.communicate()
    done.set()
    t.join()
    with open(log, "a") as f:
        f.write(" ".join(map(str, cmd)) + "\n" + out + "\n")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n{out[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", out)
    h, m, sec = wall.groups()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out).group(1))
    cpu = sum(float(re.search(rf"{what} time \(seconds\): ([\d.]+)", out).group(1))
              for what in ("User", "System"))
    return {"wall_s": int(h or 0) * 3600 + int(m) * 60 + float(sec), "cpu_s": cpu,
            "rss_gb": max(rss, peak[0]) / 1024 ** 2, "disk_gb": disk[0] / 1024 ** 3,
            "stages": re.findall(r"^([a-z][^:\n]*): ([\d.]+) s$", out, re.M)}


def run_size(T: int, args, log, jsonl) -> list:
    """The runs of one corpus size; returns (name, result) rows."""
    from make_big_corpus import write_synthetic_text
    tmp = Path(args.tmp)
    text = tmp / f"synthetic-{T}.txt"
    if not text.exists():
        t = time.perf_counter()
        write_synthetic_text(text, T, source=SHARED / "corpora" / "wikitext-2" / "train.txt")
        print(f"wrote {text} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    spill = tmp / "spill"
    spill.mkdir(exist_ok=True)
    N, mem = args.order, args.memory
    arpa_name = "nlm.arpa.gz" if T >= args.gzip_from else "nlm.arpa"
    arpa_bytes = 40 * T * (0.3 if arpa_name.endswith(".gz") else 1)   # nlm's, about
    nlm = [sys.executable, "-m", "nlm.cli", "train", text, "--order", N, "--memory", mem,
           "--temp-dir", spill]
    runs = []
    lmplz_disk = 40 * T           # its ARPA (about 34 bytes a token at order 5 and 300M tokens)
    if T < args.no_lmplz_from and lmplz_disk < shutil.disk_usage(tmp).free:
        runs.append(("lmplz (text to ARPA)", [KENLM / "lmplz", "-o", N, "-S", mem, "-T", spill,
                                              "--discount_fallback", "--text", text, "--arpa",
                                              tmp / "lmplz.arpa"], [spill, tmp / "lmplz.arpa"]))
        runs.append(("build_binary (lmplz's ARPA to probing binary)",
                      [KENLM / "build_binary", "-S", mem, "-T", spill, "probing",
                       tmp / "lmplz.arpa", tmp / "lmplz.binary"],
                      [spill, tmp / "lmplz.binary"]))
    runs.append(("nlm train --arpa " + f"({arpa_name[4:]})", nlm + ["--arpa", tmp / arpa_name],
                 [spill, tmp / arpa_name]))
    runs.append(("nlm train --binary", nlm + ["--binary", tmp / "nlm.nlmbin"],
                 [spill, tmp / "nlm.nlmbin"]))
    keys = {"lmplz": "lmplz", "build_binary": "build_binary", "nlm-arpa": "nlm train --arpa",
            "nlm-binary": "nlm train --binary"}
    runs = [r for r in runs if any(r[0].startswith(keys[k]) for k in args.runs)]
    rows = []
    for name, cmd, watch in runs:
        print(f"{T:,} {name} ...", file=sys.stderr, flush=True)
        load = os.getloadavg()
        r = timed(cmd, watch, log)
        r["load"] = [round(x, 2) for x in load]
        r["load_end"] = [round(x, 2) for x in os.getloadavg()]
        r["name"], r["tokens"] = name, T
        for path in watch[1:]:
            r.setdefault("output_gb", {})[Path(path).name] = os.path.getsize(path) / 1024 ** 3
        rows.append(r)
        with open(jsonl, "a") as f:
            f.write(json.dumps(r) + "\n")
        print(f"  {r['wall_s']:.1f} s, {r['rss_gb']:.2f} GB RSS, {r['disk_gb']:.2f} GB disk",
              file=sys.stderr, flush=True)
        if name.startswith("build_binary"):
            (tmp / "lmplz.binary").unlink(missing_ok=True)
        if name.startswith(("lmplz", "build_binary")) and \
                shutil.disk_usage(tmp).free < arpa_bytes + 20 * T:
            (tmp / "lmplz.arpa").unlink(missing_ok=True)   # room for nlm's ARPA and spill
        if name.startswith("nlm train --arpa"):
            _compare(tmp, arpa_name, rows, jsonl)
            (tmp / arpa_name).unlink(missing_ok=True)
        if name.startswith("nlm train --binary"):
            (tmp / "nlm.nlmbin").unlink(missing_ok=True)
    for f in ("lmplz.arpa", "nlm.arpa", "nlm.arpa.gz"):
        (tmp / f).unlink(missing_ok=True)
    if args.delete_text:
        text.unlink(missing_ok=True)
    return rows


def _compare(tmp: Path, arpa_name: str, rows: list, jsonl) -> None:
    """nlm's ARPA against lmplz's on a sample of entries (when both exist, uncompressed)."""
    if arpa_name.endswith(".gz") or not (tmp / "lmplz.arpa").exists() or \
            rows[0]["tokens"] > 30_000_000:     # reading two ARPA files in Python: too slow
        return
    from ngram import compare_arpa_sample
    compared, worst = compare_arpa_sample(tmp / arpa_name, tmp / "lmplz.arpa")
    with open(jsonl, "a") as f:
        f.write(json.dumps({"tokens": rows[0]["tokens"], "compared": compared,
                            "largest_log10_difference": worst}) + "\n")
    print(f"  ARPA: {compared} sampled entries, largest log10 difference {worst:.2g}",
          file=sys.stderr, flush=True)


def table(rows: list) -> str:
    """The markdown table of every run, with nlm's ratios to lmplz (text to ARPA) and to
    lmplz + build_binary (text to binary) at the same size."""
    out = ["| tokens | run | wall s | CPU s | peak RSS GB (all processes) | peak disk GB "
           "| vs KenLM wall | load (1 min) |", "|---|---|---|---|---|---|---|---|"]
    by_size: dict = {}
    for r in rows:
        by_size.setdefault(r["tokens"], {})[r["name"].split(" (")[0]] = r
    for r in rows:
        runs = by_size[r["tokens"]]
        lm, bb = runs.get("lmplz"), runs.get("build_binary")
        ratio = ""
        if r["name"].startswith("nlm train --binary") and lm and bb:
            ratio = f"{r['wall_s'] / (lm['wall_s'] + bb['wall_s']):.2f}x lmplz + build_binary"
        elif r["name"].startswith("nlm train --binary") and lm:
            ratio = f"{r['wall_s'] / lm['wall_s']:.2f}x lmplz (to ARPA)"
        elif r["name"].startswith("nlm train --arpa") and lm:
            ratio = f"{r['wall_s'] / lm['wall_s']:.2f}x lmplz"
        out.append(f"| {r['tokens'] / 1e6:,.0f}M | {r['name']} | {r['wall_s']:.1f} "
                   f"| {r['cpu_s']:.1f} | {r['rss_gb']:.2f} | {r['disk_gb']:.2f} | {ratio} "
                   f"| {r['load'][0]:.1f} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", type=parse_size, default=[parse_size("10M")])
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--memory", default="4G")
    ap.add_argument("--tmp", default="/tmp/nlm-scale")
    ap.add_argument("--gzip-from", type=parse_size, default=parse_size("100G"),
                    help="write nlm's ARPA gzip-compressed from this size on")
    ap.add_argument("--no-lmplz-from", type=parse_size, default=parse_size("100G"),
                    help="skip lmplz from this size on (its ARPA does not fit the disk)")
    ap.add_argument("--delete-text", action="store_true", help="delete each corpus after use")
    ap.add_argument("--runs", nargs="+", default=["lmplz", "build_binary", "nlm-arpa",
                                                  "nlm-binary"],
                    choices=["lmplz", "build_binary", "nlm-arpa", "nlm-binary"],
                    help="the runs to make at each size (in this order)")
    args = ap.parse_args()
    Path(args.tmp).mkdir(parents=True, exist_ok=True)
    log, jsonl = Path(args.tmp) / "scale.log", Path(args.tmp) / "scale.jsonl"
    print(f"commit {subprocess.run(['git', '-C', str(ROOT), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()}, "
          f"load {os.getloadavg()}", file=sys.stderr)
    rows = []
    for T in args.sizes:
        rows += run_size(T, args, log, jsonl)
        print(table(rows), flush=True)


if __name__ == "__main__":
    main()
