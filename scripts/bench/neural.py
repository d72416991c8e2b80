#!/usr/bin/env python
"""Training and scoring speed of nlm's neural models next to PyTorch, measured in the same run.

For every benchmark case (a model family and its shapes, see ``CASES``) it
measures words/s of

- training: nlm's real training loop (``Trainer`` + the model's task: shuffled
  minibatches, forward, backward, SGD step) over one epoch of synthetic text,
  and PyTorch's equivalent model (same shapes, float32, cross-entropy, SGD);
- scoring: nlm's float32 batched scoring (the path validation uses), PyTorch's
  under ``no_grad``, and nlm's float64 ``score_corpus`` (what ``nlm evaluate`` runs).

Both sides use 2 threads (OpenBLAS and Numba for nlm, ``torch.set_num_threads(2)``;
``--threads`` changes it)
and the same synthetic tokens (Zipf-distributed ids in sentences of 20-30
words). Passes alternate nlm and PyTorch; the table shows the best pass of each.
Each PyTorch pass runs in a fresh worker process (this script with
``--torch-worker CASE``, which rebuilds the same synthetic data), so neither
side's thread pools (OpenBLAS, Numba, torch's OpenMP) are alive while the other
is timed; ``--torch-in-process`` runs both in one process instead.
torch is optional: without it only nlm's figures are printed.

Adding a model family: write a ``Family`` (four functions) and add ``Case``s
with its name; nothing else changes.

    python scripts/bench/neural.py                  # every case
    python scripts/bench/neural.py --only mlp-10k   # cases whose name contains this
"""
from __future__ import annotations

import os
import sys

# Thread counts must be fixed before numpy (OpenBLAS) and torch load: --threads N
# is read here, ahead of argparse.
THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

from nlm.corpus import Corpus  # noqa: E402
from nlm.vocab import SPECIALS, Vocabulary  # noqa: E402



# -- cases ------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    family: str                 # key of FAMILIES
    V: int
    batch: int
    shape: dict                 # family-specific: emb, hidden, direct, context, softmax, ...
    ref_train: float | None = None   # PyTorch words/s from REFERENCE.md (orientation only)
    note: str = ""


@dataclass
class Family:
    """How to train and score one model family, in nlm and in PyTorch."""
    nlm_train: Callable         # (case, data) -> words/s
    nlm_score: Callable         # (case, data) -> (f32 words/s, f64 words/s or None)
    torch_train: Callable       # (case, data) -> words/s
    torch_score: Callable       # (case, data) -> words/s
    tokens: Callable = field(default=lambda case: 20_000)  # synthetic tokens to train on


FAMILIES: dict[str, Family] = {}

CASES: list[Case] = [
    # The MLP shapes of REFERENCE.md ("MLP, 4 context words"), full softmax.
    Case("mlp-10k-e60-h100-b64", "mlp", 10_000, 64,
         dict(emb=60, hidden=100, direct=False, context=4, softmax="full"), 13_500),
    Case("mlp-10k-e60-h100-b256", "mlp", 10_000, 256,
         dict(emb=60, hidden=100, direct=False, context=4, softmax="full"), 16_150),
    Case("mlp-10k-e100-h500-direct-b256", "mlp", 10_000, 256,
         dict(emb=100, hidden=500, direct=True, context=4, softmax="full"), 2_420),
    Case("mlp-33k-e60-h100-b64", "mlp", 33_278, 64,
         dict(emb=60, hidden=100, direct=False, context=4, softmax="full"), 3_780),
    Case("mlp-33k-e100-h500-b64", "mlp", 33_278, 64,
         dict(emb=100, hidden=500, direct=False, context=4, softmax="full"), 790),
    Case("mlp-33k-e100-h500-direct-b256", "mlp", 33_278, 256,
         dict(emb=100, hidden=500, direct=True, context=4, softmax="full"), 630),
    # Class softmax at V = 33k, compared with PyTorch's *full* softmax (target: >= 10x).
    Case("mlp-33k-e60-h100-b64-class", "mlp", 33_278, 64,
         dict(emb=60, hidden=100, direct=False, context=4, softmax="class"), 3_780,
         "vs torch full"),
    Case("mlp-33k-e100-h500-b64-class", "mlp", 33_278, 64,
         dict(emb=100, hidden=500, direct=False, context=4, softmax="class"), 790,
         "vs torch full"),
    Case("mlp-33k-e100-h500-direct-b256-class", "mlp", 33_278, 256,
         dict(emb=100, hidden=500, direct=True, context=4, softmax="class"), 630,
         "vs torch full"),
]


# -- synthetic data ---------------------------------------------------------------------
@dataclass
class Data:
    vocab: Vocabulary
    train: Corpus
    score: Corpus


def synthetic_data(V: int, train_tokens: int, score_tokens: int, seed: int = 0) -> Data:
    """Sentences of Zipf(1)-distributed word ids (ids >= 3). The vocabulary's counts
    (which set the class-softmax classes) are the expected counts in a 2M-token
    corpus, at least 1, as in a vocabulary built from real text: counting the short
    synthetic sample itself would leave most words unseen and lump them into a few
    huge classes."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, V - len(SPECIALS) + 1, dtype=np.float64)
    p = 1.0 / ranks
    p /= p.sum()

    def sentences(tokens):
        ids, offsets = [], [0]
        while offsets[-1] < tokens:
            n = int(rng.integers(20, 31))
            ids.append(rng.choice(len(p), size=n, p=p) + len(SPECIALS))
            ids.append([2])
            offsets.append(offsets[-1] + n + 1)
        ids = np.concatenate(ids).astype(np.int32)
        return Corpus(ids, np.array(offsets, dtype=np.int64), np.zeros(len(ids), dtype=bool))

    train = sentences(train_tokens)
    score = sentences(score_tokens)
    counts = np.zeros(V, dtype=np.int64)
    counts[len(SPECIALS):] = np.maximum(1, np.round(p * 2_000_000)).astype(np.int64)
    counts[2] = int(counts.sum() / 25)          # </s>: one per sentence of about 25 words
    words = list(SPECIALS) + [f"w{i}" for i in range(len(SPECIALS), V)]
    return Data(Vocabulary(words, counts), train, score)


# -- the MLP family ---------------------------------------------------------------------
def _mlp_nlm_train(case: Case, data: Data) -> float:
    from nlm.neural.mlp import MLPModel
    s = case.shape
    # two epochs: the first warms up (allocation, first-call costs), the second is timed
    model = MLPModel.fit(data.train, data.vocab, order=s["context"] + 1, emb=s["emb"],
                         hidden=s["hidden"], direct=s["direct"], softmax=s["softmax"],
                         batch_size=case.batch, epochs=2, optimizer="sgd", lr=0.1, seed=1,
                         dropout=0.0, unk_dropout=0.0)   # the plain network PyTorch runs
    _mlp_nlm_train.last_model = model
    return _last_epoch_rate(model)


def _last_epoch_rate(model) -> float:
    return model.history[-1]["words_per_second"]


def _mlp_nlm_score(case: Case, data: Data) -> tuple[float, float]:
    from nlm.neural.layers import context_windows
    from nlm.vocab import BOS_ID
    model = _mlp_nlm_train.last_model
    net = model._net32
    ids, offsets = data.score.ids, data.score.offsets
    windows = context_windows(ids, offsets, model.order - 1, BOS_ID)
    net.target_logprobs(windows[:2048], ids[:2048])        # warm up
    t = time.perf_counter()
    net.target_logprobs(windows, ids)
    f32 = len(ids) / (time.perf_counter() - t)
    k = int(np.searchsorted(offsets, 2048, side="right")) - 1   # whole sentences only
    model.score_corpus(ids[:offsets[k]], offsets[:k + 1])
    t = time.perf_counter()
    model.score_corpus(ids, offsets)
    f64 = len(ids) / (time.perf_counter() - t)
    return f32, f64


def _torch_mlp(case: Case):
    import torch
    from torch import nn
    s = case.shape
    n, m, h, V = s["context"], s["emb"], s["hidden"], case.V

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, m)
            self.hidden = nn.Linear(n * m, h)
            self.out = nn.Linear(h, V)
            self.direct = nn.Linear(n * m, V, bias=False) if s["direct"] else None

        def forward(self, ctx):
            x = self.emb(ctx).view(ctx.shape[0], -1)        # (B, n m)
            y = self.out(torch.tanh(self.hidden(x)))        # (B, V)
            if self.direct is not None:
                y = y + self.direct(x)
            return y
    torch.manual_seed(1)
    return MLP()


def _mlp_torch_train(case: Case, data: Data) -> float:
    import torch
    import torch.nn.functional as F
    from nlm.neural.layers import context_windows
    from nlm.vocab import BOS_ID
    torch.set_num_threads(THREADS)
    model = _torch_mlp(case)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ids = data.train.ids
    windows = torch.from_numpy(context_windows(ids, data.train.offsets, case.shape["context"],
                                               BOS_ID).astype(np.int64))
    targets = torch.from_numpy(ids.astype(np.int64))
    B = case.batch
    rng = np.random.default_rng(1)
    rate = 0.0
    for epoch in range(2):   # the first epoch warms up, as for nlm
        perm = torch.from_numpy(rng.permutation(len(ids)))
        t = time.perf_counter()
        for i in range(0, len(ids), B):
            idx = perm[i:i + B]
            loss = F.cross_entropy(model(windows[idx]), targets[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        rate = len(ids) / (time.perf_counter() - t)
    _mlp_torch_train.last_model = model
    return rate


def _mlp_torch_score(case: Case, data: Data) -> float:
    import torch
    from nlm.neural.layers import context_windows
    from nlm.vocab import BOS_ID
    model = _mlp_torch_train.last_model
    ids = data.score.ids
    windows = torch.from_numpy(context_windows(ids, data.score.offsets, case.shape["context"],
                                               BOS_ID).astype(np.int64))
    targets = torch.from_numpy(ids.astype(np.int64))

    def score(lo, hi, batch=1024):
        with torch.no_grad():
            for i in range(lo, hi, batch):
                y = torch.log_softmax(model(windows[i:min(i + batch, hi)]), dim=1)
                y.gather(1, targets[i:min(i + batch, hi), None])
    score(0, 2048)
    t = time.perf_counter()
    score(0, len(ids))
    return len(ids) / (time.perf_counter() - t)


def _mlp_tokens(case: Case) -> int:
    """About 1.5 s of PyTorch training per epoch, and at least 8 batches: short epochs,
    several alternating passes, so that both sides meet the same machine load."""
    rate = case.ref_train or 10_000
    if case.shape.get("softmax") == "class":
        rate *= 10
    return int(max(8 * case.batch, 1.5 * rate))


FAMILIES["mlp"] = Family(_mlp_nlm_train, _mlp_nlm_score, _mlp_torch_train, _mlp_torch_score,
                         _mlp_tokens)


# -- the RNN family (issue 5): its cases and functions live in neural_rnn.py -----------------
import neural_rnn  # noqa: E402  (scripts/bench is on sys.path when this file runs)

neural_rnn.register(CASES, FAMILIES, Case, Family)
# -- end of the RNN family --------------------------------------------------------------------

# -- the Transformer family (issue 22): neural_transformer.py ---------------------------------
import neural_transformer  # noqa: E402

neural_transformer.register(CASES, FAMILIES, Case, Family)


# -- driver ---------------------------------------------------------------------------------
def _have_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def _init_torch() -> None:
    """Threads, and subnormal floats flushed to zero: without that, PyTorch's backward of
    the word-level Transformer case slowed from 0.7 s to 12 s a step after a few updates
    (measured 2026-12-07, 1 thread), which made nlm look up to 10x faster than it is.
    nlm's kernels do not flush them; its rates did not show the slowdown."""
    import torch
    torch.set_num_threads(THREADS)
    torch.set_flush_denormal(True)


def _case_data(case: Case) -> "Data":
    tokens = FAMILIES[case.family].tokens(case)
    return synthetic_data(case.V, tokens, min(tokens, 50_000))


def _torch_pass(case: Case, data: "Data", with_score: bool, in_process: bool):
    """One PyTorch pass: (train words/s, score words/s or None)."""
    fam = FAMILIES[case.family]
    if in_process:
        _init_torch()
        train = fam.torch_train(case, data)
        return train, (fam.torch_score(case, data) if with_score else None)
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", case.name,
           "--threads", str(THREADS)] + ([] if with_score else ["--no-score"])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r["train"], r["score"]


def _torch_worker(name: str, with_score: bool) -> None:
    """--torch-worker: one PyTorch pass of a case, its figures as a JSON line on stdout."""
    case = next(c for c in CASES if c.name == name)
    _init_torch()
    fam = FAMILIES[case.family]
    data = _case_data(case)
    train = fam.torch_train(case, data)
    score = fam.torch_score(case, data) if with_score else None
    print(json.dumps({"train": train, "score": score}))


# PyTorch figures by model (family, V, batch, shape without the softmax): a class-softmax
# case is compared with PyTorch's full softmax at the same shape, measured earlier in the
# same run by the matching full-softmax case when there is one.
_TORCH_SEEN: dict = {}


def _torch_key(case: Case):
    shape = {k: v for k, v in case.shape.items() if k != "softmax"}
    return case.family, case.V, case.batch, tuple(sorted(shape.items()))


def run_case(case: Case, passes: int, with_torch: bool, with_score: bool,
             torch_in_process: bool = False) -> dict:
    fam = FAMILIES[case.family]
    data = _case_data(case)
    res = {"nlm": [], "torch": [], "nlm_s32": [], "nlm_s64": [], "torch_s": []}
    reuse = _TORCH_SEEN.get(_torch_key(case)) if case.shape.get("softmax") == "class" else None
    for _ in range(passes):
        res["nlm"].append(fam.nlm_train(case, data))
        if with_score:
            s32, s64 = fam.nlm_score(case, data)
            res["nlm_s32"].append(s32)
            res["nlm_s64"].append(s64)
        if with_torch and reuse is None:
            train, score = _torch_pass(case, data, with_score, torch_in_process)
            res["torch"].append(train)
            if with_score:
                res["torch_s"].append(score)
    out = {k: (max(v) if v else None) for k, v in res.items()}
    if reuse is not None:
        out["torch"], out["torch_s"] = reuse
    elif with_torch:
        _TORCH_SEEN[_torch_key(case)] = (out["torch"], out["torch_s"])
    return out


def _fmt(x):
    return "-" if x is None else f"{x:,.0f}"


def _ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}x"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=None, help="Run the cases whose name contains this.")
    ap.add_argument("--passes", type=int, default=4, help="Alternating passes per case.")
    ap.add_argument("--no-torch", action="store_true", help="Measure nlm only.")
    ap.add_argument("--no-score", action="store_true", help="Training speed only.")
    ap.add_argument("--threads", type=int, default=2,
                    help="Threads for both sides (BLAS, Numba, torch); default 2.")
    ap.add_argument("--torch-in-process", action="store_true",
                    help="Run PyTorch in this process, not in a fresh worker per pass.")
    ap.add_argument("--torch-worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.torch_worker:
        _torch_worker(args.torch_worker, not args.no_score)
        return
    import numba
    numba.set_num_threads(THREADS)
    with_torch = not args.no_torch and _have_torch()
    if not with_torch and not args.no_torch:
        print("torch is not installed: nlm figures only (pip install torch==2.13.0)",
              file=sys.stderr)
    cases = [c for c in CASES if args.only is None or args.only in c.name]
    header = ("| case | nlm train w/s | torch train w/s | ratio | nlm score f32 w/s | "
              "torch score w/s | ratio | nlm evaluate f64 w/s |")
    rows = []
    for case in cases:
        t = time.perf_counter()
        r = run_case(case, args.passes, with_torch, not args.no_score, args.torch_in_process)
        ratio = _ratio(r["nlm"], r["torch"])
        note = f" ({case.note})" if case.note else ""
        rows.append(f"| {case.name}{note} | {_fmt(r['nlm'])} | {_fmt(r['torch'])} | {ratio} | "
                    f"{_fmt(r['nlm_s32'])} | {_fmt(r['torch_s'])} | "
                    f"{_ratio(r['nlm_s32'], r['torch_s'])} | {_fmt(r['nlm_s64'])} |")
        print(rows[-1], f"[{time.perf_counter() - t:.0f} s]", file=sys.stderr, flush=True)
    torch_where = "in process" if args.torch_in_process else "a worker process per pass"
    print(f"threads: {THREADS}; passes: {args.passes} (best of each); numpy "
          f"{np.__version__}; torch {torch_where if with_torch else 'no'}")
    print(header)
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
