#!/usr/bin/env python
"""Quality of nlm's recurrent networks (Elman by default; ``--set cell=lstm`` or
``gru`` for the gated cells) within a training-time budget, next to nlm's own
modified Kneser-Ney n-gram model estimated in the same run.

Two settings (../shared/corpora):

- ``wikitext``: WikiText-2, word level (whitespace tokens, blank lines dropped),
  class softmax; reference: nlm's MKN 5-gram (= KenLM lmplz, test ppl 224.8).
  Target: RNN test perplexity <= 0.88 x the 5-gram's (Mikolov's PTB ratio).
- ``shakespeare``: Tiny Shakespeare, character level (``--tokenizer char``: every
  character a token, a line end ``</s>``, blank lines dropped); reference: nlm's
  MKN 8-gram over the same tokens. Target: RNN valid loss <= the 8-gram's
  (KenLM's 8-gram: 1.534 nats/char counting the blank lines' ``</s>`` too).

Both sides score every line independently from its start (``<s>``), which is
what ``nlm evaluate`` does; the RNN is trained with ``--reset-sentences`` so
that training sees the same line starts. Training uses the plateau schedule
(rnnlm: halve the rate when validation stops improving, then stop) and stops
at the time budget, keeping the best-validation weights. Per-epoch figures go to
stderr and to a JSONL training log per setting.

    python scripts/bench/rnn_quality.py                       # both, 1 hour each
    python scripts/bench/rnn_quality.py --only wikitext --budget 300
    python scripts/bench/rnn_quality.py --only shakespeare --set cell=lstm --set hidden=512 \
        --set lr_schedule=reduce

The RNN row also reports the valid text scored with the state carried across lines
(``nlm evaluate --carry-state``) in its note.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("NUMBA_NUM_THREADS", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from nlm.corpus import read_corpus, read_training_corpus  # noqa: E402
from nlm.evaluate import evaluate  # noqa: E402
from nlm.modelfile import save  # noqa: E402
from nlm.ngram.estimate.methods import fit_modified_kneser_ney  # noqa: E402
from nlm.neural.rnn import RNNModel  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def parse_sets(items: list[str]) -> dict:
    """``--set KEY=VALUE`` options: VALUE read as JSON (numbers, true/false), else a string."""
    options = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options
#: ../shared/corpora from the repository, or $NLM_SHARED/corpora (a git worktree elsewhere)
CORPORA = Path(os.environ.get("NLM_SHARED", ROOT.parent / "shared")) / "corpora"

SETTINGS = {
    "wikitext": dict(
        dir="wikitext-2", tokenizer="whitespace", files=("train", "valid", "test"),
        ngram_order=5, target="test ppl <= 0.88 x MKN5",
        rnn=dict(cell="elman", emb=256, hidden=384, softmax="class", bptt=35, batch_size=64,
                 optimizer="adam", lr=0.002, clip_norm=1.0, dropout=0.35, tie=False,
                 unk_dropout=0.0)),
    "shakespeare": dict(
        dir="tinyshakespeare", tokenizer="char", files=("train", "valid", None),
        ngram_order=8, target="valid nats/char <= MKN8 (KenLM 1.534)",
        rnn=dict(cell="elman", emb=64, hidden=1024, softmax="full", bptt=50, batch_size=32,
                 optimizer="adam", lr=0.001, clip_norm=1.0, dropout=0.05, tie=False,
                 unk_dropout=0.0)),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_setting(name: str, budget: float, overrides: dict, log_dir: Path, seed: int,
                dynamic_lr: float | None, save_dir: Path | None = None) -> list[dict]:
    cfg = SETTINGS[name]
    base = CORPORA / cfg["dir"]
    train_name, valid_name, test_name = cfg["files"]
    t = time.perf_counter()
    vocab, train = read_training_corpus(base / f"{train_name}.txt", cfg["tokenizer"])
    valid = read_corpus(base / f"{valid_name}.txt", vocab)
    test = read_corpus(base / f"{test_name}.txt", vocab) if test_name else None
    log(f"[{name}] vocabulary {len(vocab)}, train {train.tokens} tokens, valid {valid.tokens}"
        f"{'' if test is None else f', test {test.tokens}'} ({time.perf_counter() - t:.1f} s)")
    rows = []

    def row(model_name, model, seconds, extra=""):
        ev_v = evaluate(model, valid)
        ev_t = evaluate(model, test) if test is not None else None
        r = {"setting": name, "model": model_name, "train_seconds": round(seconds, 1),
             "valid_ppl": ev_v.perplexity, "valid_nats": ev_v.cross_entropy_nats,
             "test_ppl": ev_t.perplexity if ev_t else None,
             "test_nats": ev_t.cross_entropy_nats if ev_t else None, "note": extra}
        log(f"[{name}] {model_name}: valid ppl {r['valid_ppl']:.3f} "
            f"({r['valid_nats']:.4f} nats/token)" +
            (f", test ppl {r['test_ppl']:.3f}" if ev_t else "") + f" [{seconds:.0f} s]")
        rows.append(r)
        return r

    t = time.perf_counter()
    ngram = fit_modified_kneser_ney(train, vocab, order=cfg["ngram_order"])
    row(f"mkn{cfg['ngram_order']}", ngram, time.perf_counter() - t)
    del ngram

    opts = {**cfg["rnn"], **overrides}
    log(f"[{name}] rnn options: {json.dumps(opts)}, budget {budget:.0f} s")
    t = time.perf_counter()
    fit_opts = dict(reset_sentences=True, lr_schedule="plateau", epochs=1000,
                    time_budget=budget, seed=seed,
                    train_log=str(log_dir / f"rnn_quality_{name}.jsonl"), progress=True)
    model = RNNModel.fit(train, vocab, valid=valid, **{**fit_opts, **opts})
    seconds = time.perf_counter() - t
    if save_dir is not None:
        save(model, save_dir / f"rnn_quality_{name}.npz")
    hist = model.training["history"]
    carried = evaluate(model, valid, carry_state=True)
    log(f"[{name}] rnn, valid with the state carried across lines: "
        f"{carried.cross_entropy_nats:.4f} nats/token (ppl {carried.perplexity:.3f})")
    r = row(opts.get("cell", "elman"), model, seconds,
            f"{len(hist)} epochs, stop: {model.training['stop']}; valid carried "
            f"{carried.cross_entropy_nats:.4f} nats (ppl {carried.perplexity:.2f})")
    r["valid_carried_nats"] = carried.cross_entropy_nats
    r["epochs"] = [{k: h[k] for k in ("epoch", "train_ppl", "valid_ppl", "lr",
                                       "words_per_second")} for h in hist]
    if dynamic_lr is not None:
        target = test if test is not None else valid
        t = time.perf_counter()
        lp = model.dynamic_score_corpus(target.ids, target.offsets, dynamic_lr)
        nats = -float(lp.sum()) / len(lp)
        which = "test" if test is not None else "valid"
        log(f"[{name}] rnn dynamic (lr {dynamic_lr}): {which} ppl {math.exp(nats):.3f} "
            f"({nats:.4f} nats/token) [{time.perf_counter() - t:.0f} s]")
        rows.append({"setting": name, "model": f"rnn dynamic lr={dynamic_lr}",
                     f"{which}_ppl": math.exp(nats), f"{which}_nats": nats})
    return rows


def table(rows: list[dict]) -> str:
    out = ["| setting | model | valid ppl | valid nats/token | test ppl | vs n-gram | "
           "train s | note |", "|---|---|---|---|---|---|---|---|"]
    ref = {}
    for r in rows:
        if r["model"].startswith("mkn"):
            ref[r["setting"]] = r
    for r in rows:
        g = ref.get(r["setting"])
        if r["setting"] == "wikitext":
            ratio = (f"{r['test_ppl'] / g['test_ppl']:.3f}x test ppl"
                     if g and r.get("test_ppl") else "-")
        else:
            ratio = (f"{r['valid_nats'] / g['valid_nats']:.3f}x nats"
                     if g and r.get("valid_nats") else "-")

        def f(x, d=2):
            return "-" if x is None else f"{x:.{d}f}"
        out.append(f"| {r['setting']} | {r['model']} | {f(r.get('valid_ppl'))} | "
                   f"{f(r.get('valid_nats'), 4)} | {f(r.get('test_ppl'))} | {ratio} | "
                   f"{f(r.get('train_seconds'), 0)} | {r.get('note', '')} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=sorted(SETTINGS), default=None)
    ap.add_argument("--budget", type=float, default=3600.0,
                    help="RNN training seconds per setting (default: one hour).")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="Override an RNN option, e.g. --set hidden=300 --set lr=0.5.")
    ap.add_argument("--dynamic-lr", type=float, default=None,
                    help="Also score the test text (valid for shakespeare) by dynamic "
                    "evaluation with this learning rate.")
    ap.add_argument("--log-dir", default=".", help="Where the JSONL training logs go.")
    ap.add_argument("--json", default=None, help="Also write the results to this JSON file.")
    ap.add_argument("--save-dir", default=None, help="Save the trained RNNs here (.npz).")
    args = ap.parse_args(argv)
    import numba
    numba.set_num_threads(int(os.environ["NUMBA_NUM_THREADS"]))
    overrides = parse_sets(args.set)
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in ([args.only] if args.only else list(SETTINGS)):
        rows += run_setting(name, args.budget, overrides, log_dir, args.seed, args.dynamic_lr,
                            Path(args.save_dir) if args.save_dir else None)
    print(f"budget {args.budget:.0f} s per setting; threads "
          f"{os.environ['OPENBLAS_NUM_THREADS']}")
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
