#!/usr/bin/env python
"""A PyTorch reference trainer for nlm's Elman RNN and Bengio MLP language models.

Trains the same models with the same recipe as nlm, on the same token ids, so
that per-epoch perplexities can be compared and any quality nlm loses can be
located. PyTorch is used only here (never a dependency of nlm).

What is the same as nlm (read from nlm/neural/*.py):

- data: nlm's own reader (``read_training_corpus`` builds the vocabulary and the
  training ids, ``read_corpus`` the valid/test ids), so ids and OOVs are identical.
  A sentence is read as ``<s> w1..wk`` and predicts ``w1..wk </s>``; ``<s>`` is
  never predicted (its logit is -inf); perplexity is exp(mean nats) over every
  token, </s> and OOVs (``<unk>``, id 0) included.
- RNN: x_t = E[w(t-1)], h_t = tanh(x_t Wx + h_{t-1} Wh + bh), logits = h_t W^T + b
  (full softmax; ``--tie``: W = E, needs emb == hidden, not in nlm). Inverted dropout
  on the embeddings and on the states fed to the output layer, never on the
  recurrence. Training as nlm's RNNTask: the text cut into B contiguous streams
  (the last N mod B tokens left out), chunks of ``--bptt`` steps, the state carried
  across chunks, sentences and epochs (or zeroed at every sentence start with
  ``--reset-sentences``); the mean loss of a chunk; the global gradient norm clipped.
- MLP: x = [E[w(t-n+1)] .. E[w(t-1)]] (contexts padded with <s>), a = tanh(x H + d),
  z = a (or [a, x] with ``--direct``), logits = z W^T + b; dropout on x (what H and
  the direct connections see) and on a (as fed to the output). Minibatches of a
  fresh permutation every epoch; mean loss per batch.
- init: nlm's, drawn with numpy from the same seed (SeedSequence(seed).spawn(2)[0])
  in the same order, so the starting weights are identical: xavier U(-a, a),
  a = sqrt(6 / (fan_in + fan_out)), the embedding table counted as m -> m, output
  W as hidden -> V; biases 0 except the output bias, the log add-one unigram
  distribution (<s> count 1).
- random streams (``--rng nlm``, the default): the trainer's generator
  (SeedSequence(seed).spawn(2)[1]) draws per epoch the MLP's permutation and the
  dropout seed, and the dropout masks of step i come from default_rng((seed, i)),
  exactly as nlm draws them, so both engines see the same batches and masks.
- optimizers: nlm's Adam (b1 .9, b2 .999, eps 1e-8 outside the sqrt of the
  bias-corrected v, coupled L2 on weights only, not on biases) = torch.optim.Adam
  with those param groups; AdaGrad (acc from 0, eps 1e-8) = torch.optim.Adagrad
  with eps=1e-8; SGD. Clipping: g *= max_norm / ||g|| when ||g|| > max_norm.
- schedules: ``plateau`` is nlm's Schedule (rnnlm): after an epoch whose valid
  loss is not below the previous epoch's by the factor ``--min-improvement``, halve
  the rate every epoch; at the next such epoch stop; an epoch worse than the
  previous one is undone (best weights restored). ``worse``: halve (and restore
  the best weights) only when valid gets worse than the best so far, stop at the
  (K+1)-th such epoch (K = ``--max-halvings``) or when epochs/time run out.
  ``constant``: nlm's default. The weights kept are the best-valid ones.
- evaluation: every sentence from the zero state reading <s> (nlm's scoring) on
  valid and test after every epoch; with ``--carry-state`` also the text read as
  one stream with the state carried across sentences (second column).

``--engine nlm`` runs nlm's own trainer (RNNModel.fit / MLPModel.fit through its
Python API, with the same corpora and options) and reports the same table with
the same evaluation code, so the two engines can be put side by side.

    python scripts/bench/torch_reference.py --corpus corpora/shakespeare \\
        --tokenizer word --lower --model rnn --emb 256 --hidden 256 --batch-size 32 \\
        --dropout 0.3 --epochs 6 --schedule plateau --carry-state --json-out rnn.json
    ... same with --engine nlm
"""
from __future__ import annotations

import os
import sys

# this script imports nothing from its own folder: drop it from the path, so that a
# sibling file named like a standard module (e.g. a bench "tokenize.py") cannot
# shadow it when torch imports the standard library
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

_THREADS = "1"
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        _THREADS = sys.argv[_i + 1]
    elif _a.startswith("--threads="):
        _THREADS = _a.split("=", 1)[1]
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = _THREADS

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(int(_THREADS))

UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
NLM_DEFAULTS = {
    # nlm/neural/rnn.py RNNModel.fit + TRAIN_DEFAULTS/DEFAULT_LR, trainer TrainSettings
    "rnn": dict(emb=100, hidden=200, bptt=35, batch_size=20, dropout=0.0, optimizer="adam",
                lr=None, clip_norm=1.0, epochs=10, schedule="constant"),
    # nlm/neural/mlp.py MLPModel.fit + TRAIN_DEFAULTS
    "mlp": dict(order=5, emb=60, hidden=100, batch_size=64, dropout=0.0, optimizer="adagrad",
                lr=0.1, clip_norm=None, epochs=10, schedule="constant"),
}
RNN_DEFAULT_LR = {"sgd": 1.0, "adagrad": 0.1, "adam": 2e-3}


# ----------------------------------------------------------------------------- data
class Data:
    def __init__(self, counts, train, valid, test):
        self.counts = np.asarray(counts, dtype=np.int64)
        self.V = len(self.counts)
        self.train, self.valid, self.test = train, valid, test   # (ids, offsets) pairs


def _split_paths(corpus: str):
    paths = {}
    for split in ("train", "valid", "test"):
        cands = ([os.path.join(corpus, f"{split}.txt")] if os.path.isdir(corpus)
                 else [f"{corpus}{split}.txt", f"{corpus}.{split}.txt", f"{corpus}/{split}.txt"])
        for c in cands:
            if os.path.exists(c):
                paths[split] = c
                break
        else:
            if split != "test":
                sys.exit(f"no {split} file for --corpus {corpus} (tried {', '.join(cands)})")
    return paths


def load_data(args) -> Data:
    from nlm.corpus import read_corpus, read_training_corpus
    paths = _split_paths(args.corpus)
    key = {"paths": {k: os.path.abspath(v) for k, v in paths.items()},
           "mtimes": {k: os.path.getmtime(v) for k, v in paths.items()},
           "tokenizer": args.tokenizer, "lower": bool(args.lower),
           "min_count": args.min_count, "max_size": args.max_size}
    if args.cache and os.path.exists(args.cache):
        with np.load(args.cache, allow_pickle=False) as z:
            if json.loads(bytes(z["key"]).decode()) == key:
                def pair(s):
                    return (z[f"{s}_ids"], z[f"{s}_off"]) if f"{s}_ids" in z.files else None
                log(f"data from cache {args.cache}")
                return Data(z["counts"], pair("train"), pair("valid"), pair("test"))
    t0 = time.perf_counter()
    vocab, tr = read_training_corpus(paths["train"], args.tokenizer, args.lower,
                                     args.min_count, args.max_size, False)
    splits = {"train": (tr.ids, tr.offsets)}
    for s in ("valid", "test"):
        if s in paths:
            c = read_corpus(paths[s], vocab)
            splits[s] = (c.ids, c.offsets)
    log(f"read corpora in {time.perf_counter() - t0:.1f} s")
    if args.cache:
        arrays = {"key": np.frombuffer(json.dumps(key).encode(), dtype=np.uint8),
                  "counts": vocab.counts}
        for s, (i, o) in splits.items():
            arrays[f"{s}_ids"], arrays[f"{s}_off"] = i, o
        tmp = args.cache + ".tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, args.cache)
    return Data(vocab.counts, splits["train"], splits.get("valid"), splits.get("test"))


def previous_tokens(ids, offsets):
    """(inputs, starts): <s> at a sentence start, else the previous token."""
    ids = np.asarray(ids, dtype=np.int64)
    inputs = np.empty_like(ids)
    inputs[1:] = ids[:-1]
    starts = np.zeros(len(ids), dtype=bool)
    starts[np.asarray(offsets[:-1], dtype=np.int64)] = True
    inputs[starts] = BOS_ID
    return inputs, starts


def context_windows(ids, offsets, n):
    """(N, n) the n ids before each token within its sentence, left-padded with <s>."""
    ids = np.asarray(ids, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    start = np.repeat(offsets[:-1], np.diff(offsets))
    pos = np.arange(len(ids))
    out = np.empty((len(ids), n), dtype=np.int64)
    for j in range(n):
        src = pos - n + j
        out[:, j] = np.where(src >= start, ids[np.maximum(src, 0)], BOS_ID)
    return out


# ----------------------------------------------------------------------------- init
def _init(rng, shape, method, scale, fan_in, fan_out):
    if method == "uniform":
        w = rng.uniform(-scale, scale, size=shape)
    elif method == "normal":
        w = rng.normal(0.0, scale, size=shape)
    else:
        a = math.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-a, a, size=shape)
    return np.ascontiguousarray(w, dtype=np.float32)


def unigram_bias(counts):
    c = np.asarray(counts, dtype=np.float64) + 1.0
    c[BOS_ID] = 1.0
    return (np.log(c) - math.log(c.sum())).astype(np.float32)


def init_rnn(seed, V, m, n, counts, method="xavier", scale=0.1):
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    p = {"E": _init(rng, (V, m), method, scale, m, m),
         "Wx": _init(rng, (m, n), method, scale, m, n),
         "Wh": _init(rng, (n, n), method, scale, n, n),
         "bh": np.zeros(n, dtype=np.float32)}
    p["W"] = _init(rng, (V, n), method, scale, n, V)
    p["b"] = unigram_bias(counts)
    return p


def init_mlp(seed, V, ctx, m, h, direct, counts, method="xavier", scale=0.1):
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    nm = ctx * m
    D = h + (nm if direct else 0)
    p = {"E": _init(rng, (V, m), method, scale, m, m),
         "H": _init(rng, (nm, h), method, scale, nm, h),
         "d": np.zeros(h, dtype=np.float32)}
    p["W"] = _init(rng, (V, D), method, scale, D, V)
    p["b"] = unigram_bias(counts)
    return p


def nlm_masks(epoch_seed, step, keep, rows, widths):
    """nlm's dropout masks (nlm/neural/base.py dropout_masks), drawn the same way."""
    rng = np.random.default_rng((epoch_seed, step))
    out = []
    for w in widths:
        u = rng.random((rows, w), dtype=np.float32)
        out.append(torch.from_numpy(((u < keep) * (1.0 / keep)).astype(np.float32)))
    return out


# ----------------------------------------------------------------------------- models
def _bias_masked(b):
    mask = torch.zeros(b.shape[0], dtype=torch.bool)
    mask[BOS_ID] = True
    return b.masked_fill(mask, float("-inf"))


class RNN:
    """Parameters as torch tensors; forward written out (no nn.RNN)."""

    def __init__(self, P: dict, tie: bool = False):
        self.P = P
        self.tie = tie

    def out_w(self):
        return self.P["E"] if self.tie else self.P["W"]

    def states(self, inputs, h, resets=None, x_mask=None):
        """inputs (T, B) long, h (B, n): H (T, B, n)."""
        P = self.P
        T, B = inputs.shape
        x = P["E"][inputs]                                     # (T, B, m)
        if x_mask is not None:
            x = x * x_mask.view(T, B, -1)
        xw = torch.addmm(P["bh"], x.reshape(T * B, -1), P["Wx"]).view(T, B, -1)
        keep = None if resets is None else (~resets).to(x.dtype).unsqueeze(-1)
        hs = []
        for t in range(T):
            if keep is not None:
                h = h * keep[t]
            h = torch.tanh(torch.addmm(xw[t], h, P["Wh"]))
            hs.append(h)
        return torch.stack(hs)

    def logits(self, z):
        return torch.addmm(_bias_masked(self.P["b"]), z, self.out_w().t())


class MLP:
    def __init__(self, P: dict, direct: bool):
        self.P = P
        self.direct = direct

    def features(self, ctx, masks=None):
        P = self.P
        x = P["E"][ctx].reshape(ctx.shape[0], -1)
        if masks is not None:
            x = x * masks[0]
        a = torch.tanh(torch.addmm(P["d"], x, P["H"]))
        if masks is not None:
            a = a * masks[1]
        return torch.cat([a, x], 1) if self.direct else a

    def logits(self, z):
        return torch.addmm(_bias_masked(self.P["b"]), z, self.P["W"].t())


def _target_nll(logits_fn, Z, targets, rows=1024):
    """Summed -ln P over rows of Z (float64) and the same excluding <unk> targets."""
    total, total_known = 0.0, 0.0
    for a in range(0, Z.shape[0], rows):
        lg = logits_fn(Z[a:a + rows])
        t = targets[a:a + rows]
        nll = (torch.logsumexp(lg, 1) - lg.gather(1, t[:, None])[:, 0]).double()
        total += float(nll.sum())
        total_known += float(nll[t != UNK_ID].sum())
    return total, total_known


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def rnn_eval_sentences(model: RNN, ids, offsets, max_tokens=16384):
    """Every sentence from the zero state, reading <s> first: (ppl, ppl excl. <unk>)."""
    ids = np.asarray(ids, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    order = np.argsort(-lengths, kind="stable")
    n = model.P["Wh"].shape[0]
    nll = known = 0.0
    i = 0
    while i < len(order):
        L = int(lengths[order[i]])
        nb = max(1, min(len(order) - i, max_tokens // max(L, 1), 1024))
        sel = order[i:i + nb]
        inputs = np.full((L, nb), BOS_ID, dtype=np.int64)
        targets = np.zeros((L, nb), dtype=np.int64)
        valid = np.zeros((L, nb), dtype=bool)
        for j, s in enumerate(sel):
            seq = ids[offsets[s]:offsets[s + 1]]
            k = len(seq)
            inputs[1:k, j] = seq[:-1]
            targets[:k, j] = seq
            valid[:k, j] = True
        H = model.states(torch.from_numpy(inputs), torch.zeros(nb, n))
        vm = torch.from_numpy(valid)
        a, b = _target_nll(model.logits, H[vm], torch.from_numpy(targets)[vm])
        nll += a
        known += b
        i += nb
    N = len(ids)
    n_known = int((ids != UNK_ID).sum())
    return math.exp(nll / N), math.exp(known / max(n_known, 1))


@torch.no_grad()
def rnn_eval_carry(model: RNN, ids, offsets, chunk=4096):
    """The text as one stream, the state carried across sentences (as in training
    without --reset-sentences): ppl."""
    inputs, _ = previous_tokens(ids, offsets)
    n = model.P["Wh"].shape[0]
    h = torch.zeros(1, n)
    nll = 0.0
    tg = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    for a in range(0, len(inputs), chunk):
        x = torch.from_numpy(inputs[a:a + chunk]).view(-1, 1)
        H = model.states(x, h)
        h = H[-1]
        s, _ = _target_nll(model.logits, H.reshape(-1, n), tg[a:a + chunk])
        nll += s
    return math.exp(nll / len(ids))


@torch.no_grad()
def mlp_eval(model: MLP, windows, ids, batch=1024):
    ids_t = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    win = torch.from_numpy(windows)
    nll = known = 0.0
    for a in range(0, len(ids), batch):
        z = model.features(win[a:a + batch])
        s, k = _target_nll(model.logits, z, ids_t[a:a + batch])
        nll += s
        known += k
    n_known = int((ids_t != UNK_ID).sum())
    return math.exp(nll / len(ids)), math.exp(known / max(n_known, 1))


class Evaluator:
    """valid/test perplexities of a parameter dict (torch tensors or nlm's numpy arrays)."""

    def __init__(self, args, data: Data):
        self.args, self.data = args, data
        if args.model == "mlp":
            self.windows = {s: context_windows(*getattr(data, s), args.order - 1)
                            for s in ("valid", "test") if getattr(data, s) is not None}

    def _model(self, P):
        T = {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v.detach())
             for k, v in P.items()}
        if self.args.model == "rnn":
            return RNN(T, tie=self.args.tie and "W" not in T)
        return MLP(T, self.args.direct)

    def __call__(self, P, splits=("valid", "test"), carry=None) -> dict:
        carry = self.args.carry_state if carry is None else carry
        model = self._model(P)
        out = {}
        for s in splits:
            d = getattr(self.data, s)
            if d is None:
                continue
            if self.args.model == "rnn":
                out[s], out[s + "_known"] = rnn_eval_sentences(model, *d)
                if carry:
                    out[s + "_carry"] = rnn_eval_carry(model, *d)
            else:
                out[s], out[s + "_known"] = mlp_eval(model, self.windows[s], d[0])
        return out


# ----------------------------------------------------------------------------- schedules
class Plateau:
    """nlm's Schedule('plateau') (rnnlm): returns (restore_best, stop)."""

    def __init__(self, min_improvement):
        self.mi = min_improvement
        self.factor, self.halving, self.last = 1.0, False, math.inf

    def end_epoch(self, v):
        restore = v > self.last
        stop = False
        if v * self.mi > self.last:
            if self.halving:
                stop = True
            self.halving = True
        if self.halving and not stop:
            self.factor *= 0.5
        self.last = v
        return restore, stop


class Worse:
    """Halve (restoring the best weights) only when valid is worse than the best so far;
    stop at the (K+1)-th such epoch."""

    def __init__(self, max_halvings):
        self.K = max_halvings
        self.factor, self.best, self.halvings = 1.0, math.inf, 0

    def end_epoch(self, v):
        if v < self.best:
            self.best = v
            return False, False
        self.halvings += 1
        if self.halvings > self.K:
            return True, True
        self.factor *= 0.5
        return True, False


class Constant:
    factor = 1.0

    def end_epoch(self, v):
        return False, False


def make_schedule(args):
    if args.schedule == "plateau":
        return Plateau(args.min_improvement)
    if args.schedule == "worse":
        return Worse(args.max_halvings)
    return Constant()


# ----------------------------------------------------------------------------- torch engine
def make_optimizer(args, params: dict, decay_keys):
    dec = [p for k, p in params.items() if k in decay_keys]
    nodec = [p for k, p in params.items() if k not in decay_keys]
    groups = [{"params": dec, "weight_decay": args.weight_decay},
              {"params": nodec, "weight_decay": 0.0}]
    if args.optimizer == "adam":
        return torch.optim.Adam(groups, lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    if args.optimizer == "adagrad":
        return torch.optim.Adagrad(groups, lr=args.lr, eps=1e-8, initial_accumulator_value=0.0)
    return torch.optim.SGD(groups, lr=args.lr)


def clip_(params, max_norm):
    """nlm's clipping: scale every gradient by max_norm / ||g|| when ||g|| > max_norm."""
    total = 0.0
    for p in params:
        total += float(p.grad.double().pow(2).sum())
    norm = math.sqrt(total)
    if max_norm is not None and norm > max_norm:
        s = max_norm / norm
        for p in params:
            p.grad.mul_(s)
    return norm


class TorchRNNTask:
    def __init__(self, args, data: Data, rng):
        self.args = args
        init = init_rnn(args.seed, data.V, args.emb, args.hidden, data.counts,
                        args.init, args.init_scale)
        if args.tie:
            if args.emb != args.hidden:
                sys.exit("--tie needs --emb == --hidden")
            del init["W"]
        self.P = {k: torch.from_numpy(v).requires_grad_() for k, v in init.items()}
        self.model = RNN(self.P, tie=args.tie)
        self.decay_keys = {"E", "Wx", "Wh", "W"}
        ids, offsets = data.train
        inputs, starts = previous_tokens(ids, offsets)
        B = max(1, min(args.batch_size, len(inputs)))
        L = len(inputs) // B

        def tm(a):
            return torch.from_numpy(np.ascontiguousarray(a[:B * L].reshape(B, L).T))
        self.inputs = tm(inputs)
        self.targets = tm(np.asarray(ids, dtype=np.int64))
        self.resets = tm(starts) if args.reset_sentences else None
        self.B, self.L = B, L
        self.h = torch.zeros(B, args.hidden)
        self.keep = 1.0 - args.dropout
        self.rng = rng
        self.gen = torch.Generator().manual_seed(args.seed)

    def start_epoch(self):
        self.epoch_seed = int(self.rng.integers(2**63))       # nlm draws it every epoch
        return -(-self.L // self.args.bptt)

    def _masks(self, i, T):
        if self.keep >= 1.0:
            return None, None
        rows, m, n = T * self.B, self.args.emb, self.args.hidden
        if self.args.rng == "nlm":
            return nlm_masks(self.epoch_seed, i, self.keep, rows, (m, n))
        return tuple((torch.rand(rows, w, generator=self.gen) < self.keep).float() / self.keep
                     for w in (m, n))

    def loss(self, i):
        bptt = self.args.bptt
        a, b = i * bptt, min((i + 1) * bptt, self.L)
        T = b - a
        xm, hm = self._masks(i, T)
        resets = None if self.resets is None else self.resets[a:b]
        H = self.model.states(self.inputs[a:b], self.h, resets, xm)
        self.h = H[-1].detach()
        Z = H.reshape(T * self.B, -1)
        if hm is not None:
            Z = Z * hm
        s = F.cross_entropy(self.model.logits(Z), self.targets[a:b].reshape(-1),
                            reduction="sum")
        return s, T * self.B


class TorchMLPTask:
    def __init__(self, args, data: Data, rng):
        self.args = args
        ctx = args.order - 1
        init = init_mlp(args.seed, data.V, ctx, args.emb, args.hidden, args.direct,
                        data.counts, args.init, args.init_scale)
        self.P = {k: torch.from_numpy(v).requires_grad_() for k, v in init.items()}
        self.model = MLP(self.P, args.direct)
        self.decay_keys = {"E", "H", "W"}
        ids, offsets = data.train
        self.windows = torch.from_numpy(context_windows(ids, offsets, ctx))
        self.targets = torch.from_numpy(np.asarray(ids, dtype=np.int64))
        self.N = len(ids)
        self.keep = 1.0 - args.dropout
        self.rng = rng
        self.gen = torch.Generator().manual_seed(args.seed)

    def start_epoch(self):
        if self.args.rng == "nlm":
            self.perm = torch.from_numpy(self.rng.permutation(self.N))
            if self.keep < 1.0:
                self.epoch_seed = int(self.rng.integers(2**63))
        else:
            self.perm = torch.randperm(self.N, generator=self.gen)
        return -(-self.N // self.args.batch_size)

    def loss(self, i):
        bs = self.args.batch_size
        idx = self.perm[i * bs:(i + 1) * bs]
        B = len(idx)
        masks = None
        if self.keep < 1.0:
            widths = ((self.args.order - 1) * self.args.emb, self.args.hidden)
            if self.args.rng == "nlm":
                masks = nlm_masks(self.epoch_seed, i, self.keep, B, widths)
            else:
                masks = [(torch.rand(B, w, generator=self.gen) < self.keep).float() / self.keep
                         for w in widths]
        z = self.model.features(self.windows[idx], masks)
        s = F.cross_entropy(self.model.logits(z), self.targets[idx], reduction="sum")
        return s, B


def run_torch(args, data: Data, evaluator: Evaluator, report):
    rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(2)[1])
    task = (TorchRNNTask if args.model == "rnn" else TorchMLPTask)(args, data, rng)
    params = list(task.P.values())
    opt = make_optimizer(args, task.P, task.decay_keys)
    sched = make_schedule(args)
    best, best_loss = None, math.inf
    start = time.perf_counter()
    trace = []
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        n_steps = task.start_epoch()
        lr = args.lr * sched.factor
        for g in opt.param_groups:
            g["lr"] = lr
        tot, ntok = 0.0, 0
        out_of_time = False
        for i in range(n_steps):
            s, n = task.loss(i)
            opt.zero_grad(set_to_none=False)
            (s / n).backward()
            clip_(params, args.clip_norm)
            opt.step()
            s = s.detach()
            tot += float(s)
            ntok += n
            if len(trace) < args.trace:
                trace.append(float(s) / n)
            if not math.isfinite(float(s)):
                sys.exit(f"diverged at epoch {epoch}, step {i + 1}")
            if args.time_budget and time.perf_counter() - start >= args.time_budget:
                out_of_time = True
                break
        train_s = time.perf_counter() - t0
        ev = evaluator({k: v for k, v in task.P.items()})
        vloss = math.log(ev["valid"])
        restore, stop = sched.end_epoch(vloss)
        if vloss < best_loss:
            best_loss = vloss
            best = {k: v.detach().clone() for k, v in task.P.items()}
            best["_epoch"] = epoch
            best["_eval"] = ev
        if restore and best is not None:
            with torch.no_grad():
                for k, v in task.P.items():
                    v.copy_(best[k])
        rec = {"epoch": epoch, "train_ppl": math.exp(tot / max(ntok, 1)), **ev,
               "lr": lr, "next_lr": args.lr * sched.factor, "restored_best": bool(restore),
               "train_seconds": train_s, "seconds": time.perf_counter() - t0,
               "partial": out_of_time}
        report.epoch(rec)
        if stop:
            report.stop = "plateau" if args.schedule == "plateau" else "halvings"
            break
        if out_of_time:
            report.stop = "time budget"
            break
    report.trace = trace
    report.best_epoch = best["_epoch"] if best else None
    report.best = best["_eval"] if best else None
    report.total_seconds = time.perf_counter() - start


# ----------------------------------------------------------------------------- nlm engine
def run_nlm(args, data: Data, evaluator: Evaluator, report):
    from nlm.corpus import Corpus
    from nlm.vocab import Vocabulary

    V = data.V
    words = ["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(3, V)]
    vocab = Vocabulary(words, data.counts)

    def corpus(pair):
        if pair is None:
            return None
        ids, off = pair
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        return Corpus(ids, np.asarray(off, dtype=np.int64), np.zeros(len(ids), dtype=bool))
    train, valid = corpus(data.train), corpus(data.valid)
    # nlm's "reduce" schedule is the reference's "worse"; the reference has no unk dropout
    opts = dict(epochs=args.epochs, optimizer=args.optimizer, lr=args.lr,
                clip_norm=args.clip_norm,
                lr_schedule="reduce" if args.schedule == "worse" else args.schedule,
                max_halvings=args.max_halvings, tie=args.tie, unk_dropout=0.0,
                min_improvement=args.min_improvement, weight_decay=args.weight_decay,
                seed=args.seed, time_budget=args.time_budget, progress=args.progress,
                emb=args.emb, hidden=args.hidden, batch_size=args.batch_size,
                dropout=args.dropout, init=args.init, init_scale=args.init_scale,
                softmax="full")
    if args.model == "rnn":
        from nlm.neural.rnn import RNNModel as Model
        opts.update(bptt=args.bptt, reset_sentences=args.reset_sentences, cell="elman")
    else:
        from nlm.neural.mlp import MLPModel as Model
        opts.update(order=args.order, direct=args.direct)
    state = {"t0": time.perf_counter(), "eval": None, "last": 0.0, "trace": []}
    start = time.perf_counter()

    def steps_per_epoch(task):
        if args.model == "rnn":
            return -(-task.L // task.bptt)
        return -(-len(task.targets) // task.batch)

    def cb(trainer, event):
        st = trainer.state
        if event == "step":
            if len(state["trace"]) < args.trace:
                loss = st.epoch_loss - (state["last"] if st.step > 1 else 0.0)
                n = (trainer.task.B * min(trainer.task.bptt, trainer.task.L)
                     if args.model == "rnn" else args.batch_size)
                state["trace"].append(loss / n)
            state["last"] = st.epoch_loss
            if st.step == steps_per_epoch(trainer.task):
                # end-of-epoch weights, before the schedule may restore the best ones
                state["lr"] = trainer.schedule.lr(st.updates - 1)
                state["train_s"] = time.perf_counter() - state["t0"]
                state["eval"] = evaluator(trainer.task.params)
        elif event == "epoch":
            h = st.history[-1]
            ev = dict(state["eval"] or {})
            ev["valid_nlm"] = h["valid_ppl"]     # nlm's own validation (float32 scoring)
            rec = {"epoch": h["epoch"], "train_ppl": h["train_ppl"], **ev,
                   "lr": state["lr"], "next_lr": h["lr"], "restored_best": h["restored_best"],
                   "train_seconds": state.get("train_s"),
                   "seconds": time.perf_counter() - state["t0"], "partial": False}
            report.epoch(rec)
            state["t0"] = time.perf_counter()
            if best_epoch_valid(report.history) == h["epoch"]:
                report.best_epoch, report.best = h["epoch"], dict(ev)

    model = Model.fit(train, vocab, valid=valid, callbacks=[cb], **opts)
    report.stop = model.training.get("stop")
    report.trace = state["trace"]
    report.total_seconds = time.perf_counter() - start


def best_epoch_valid(history):
    return min(history, key=lambda r: r["valid"])["epoch"] if history else None


# ----------------------------------------------------------------------------- report
def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Report:
    def __init__(self, args):
        self.args = args
        self.history = []
        self.stop = None
        self.trace = []
        self.best_epoch = None
        self.best = None
        self.total_seconds = None
        cols = ["epoch", "train", "valid", "test"]
        if args.model == "rnn" and args.carry_state:
            cols += ["valid_carry", "test_carry"]
        cols += ["lr", "seconds"]
        self.cols = cols
        print(f"# {args.engine} {args.model}: " + " ".join(
            f"{k}={v}" for k, v in sorted(vars(args).items()) if k not in ("json_out",)),
            flush=True)
        print("  ".join(f"{c:>11}" for c in cols), flush=True)

    def epoch(self, rec):
        self.history.append(rec)

        def f(x):
            return f"{x:11.2f}" if isinstance(x, (int, float)) and x is not None else f"{'-':>11}"
        vals = [f"{rec['epoch']:>11d}", f(rec["train_ppl"]), f(rec.get("valid")),
                f(rec.get("test"))]
        if "valid_carry" in self.cols:
            vals += [f(rec.get("valid_carry")), f(rec.get("test_carry"))]
        vals += [f"{rec['lr']:11.3g}", f(rec["seconds"])]
        extra = " restored-best" if rec.get("restored_best") else ""
        print("  ".join(vals) + extra, flush=True)

    def finish(self):
        b = self.best or {}
        print(f"# stop: {self.stop or 'epochs'}; best epoch {self.best_epoch}: valid "
              f"{b.get('valid', float('nan')):.2f} test {b.get('test', float('nan')):.2f}"
              + (f" (carry: valid {b['valid_carry']:.2f} test {b['test_carry']:.2f})"
                 if "valid_carry" in b else "")
              + f"; {self.total_seconds:.0f} s", flush=True)
        if self.args.json_out:
            out = {"args": vars(self.args), "history": self.history, "stop": self.stop,
                   "best_epoch": self.best_epoch, "best": self.best,
                   "seconds": self.total_seconds, "trace": self.trace}
            with open(self.args.json_out, "w") as fh:
                json.dump(out, fh, indent=1)


# ----------------------------------------------------------------------------- main

# ----------------------------------------------------------------------------- transformer
# ``--model transformer``: nlm's decoder-only Transformer (nlm/neural/transformer.py) written
# again with torch tensor operations and torch's autograd, trained on the same batches with
# the same dropout masks, and the per-step losses of both engines printed side by side.
#
# The same: the initial weights (nlm's TransformerNetwork.init_params with the init stream
# SeedSequence(seed).spawn(2)[0], copied into torch), the windows of each epoch (offset and
# order from the trainer's stream SeedSequence(seed).spawn(2)[1], as TransformerTask draws
# them), the dropout masks of step i (default_rng((epoch seed, i)), in forward's order:
# embeddings, then per block attention weights and the two branches), GPT-2's tanh GELU,
# layer norm eps 1e-5, <s> never predicted, the full softmax tied to E (or untied W),
# AdamW (betas .9/.99, eps 1e-8 outside the sqrt, decay on Wqkv/Wo/W1/W2/W only), the
# global norm clipped as nlm does (no epsilon), linear warm-up then cosine to a tenth.
def transformer_params(args, V, counts):
    from nlm.neural.softmax import FullSoftmax
    from nlm.neural.transformer import TransformerNetwork
    rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(2)[0])
    p = TransformerNetwork.init_params(rng, V, args.dim, args.context, args.layers,
                                       FullSoftmax(V), counts, "normal", 0.02, np.float32,
                                       tie=not args.untied)
    return p


def transformer_masks(epoch_seed, step, args, B, T):
    """nlm's draw_masks, written again."""
    rng = np.random.default_rng((epoch_seed, step))
    keep, att_keep, C, H = 1 - args.dropout, 1 - args.attention_dropout, args.dim, args.heads

    def mask(shape, k):
        if k >= 1.0:
            return None
        u = rng.random(shape, dtype=np.float32)
        return torch.from_numpy(((u < k) * (1.0 / k)).astype(np.float32))
    emb = mask((B * T, C), keep)
    blocks = [(mask((B * H, T, T), att_keep), mask((B * T, C), keep), mask((B * T, C), keep))
              for _ in range(args.layers)]
    return emb, blocks


def transformer_forward(P, idx, masks, args, dtype):
    """Mean cross-entropy of the windows idx (B, T) against targets, by torch autograd."""
    B, T = idx.shape
    C, H = args.dim, args.heads
    hs = C // H

    def m(a):
        return None if a is None else a.to(dtype)
    x = P["E"][idx] + P["P"][:T]                                         # (B, T, C)
    if masks is not None and masks[0] is not None:
        x = x * m(masks[0]).view(B, T, C)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(args.layers):
        mk = masks[1][l] if masks is not None else (None, None, None)
        h = F.layer_norm(x, (C,), P[f"ln1_g.{l}"], P[f"ln1_b.{l}"], 1e-5)
        q, k, v = (h @ P[f"Wqkv.{l}"] + P[f"bqkv.{l}"]).split(C, dim=-1)
        q, k, v = (a.view(B, T, H, hs).transpose(1, 2) for a in (q, k, v))  # (B, H, T, hs)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hs)
        att = torch.softmax(att.masked_fill(~causal, float("-inf")), dim=-1)
        if mk[0] is not None:
            att = att * m(mk[0]).view(B, H, T, T)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        a = y @ P[f"Wo.{l}"] + P[f"bo.{l}"]
        x = x + (a if mk[1] is None else a * m(mk[1]).view(B, T, C))
        h = F.layer_norm(x, (C,), P[f"ln2_g.{l}"], P[f"ln2_b.{l}"], 1e-5)
        f = F.gelu(h @ P[f"W1.{l}"] + P[f"b1.{l}"], approximate="tanh") @ P[f"W2.{l}"] \
            + P[f"b2.{l}"]
        x = x + (f if mk[2] is None else f * m(mk[2]).view(B, T, C))
    z = F.layer_norm(x, (C,), P["lnf_g"], P["lnf_b"], 1e-5)
    logits = z @ P.get("W", P["E"]).T + P["b"]
    return logits.index_fill(-1, torch.tensor([BOS_ID]), float("-inf"))


def transformer_lr(args, t, total):
    warm = min(1.0, (t + 1) / args.warmup) if args.warmup else 1.0
    u = min(1.0, max(0, t - args.warmup) / max(1, total - args.warmup))
    return warm * args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * u)))


def transformer_valid_ppl(P, args, valid, dtype):
    """Perplexity of ``valid`` (ids, offsets) with each sentence read from its own window
    (nlm's validation and ``nlm evaluate``): the windows of nlm's ``window_plan`` (a
    sentence longer than T continues in windows that keep its last ceil(T/2) tokens),
    forward without dropout, log-softmax in ``dtype``, the nats summed in float64."""
    from nlm.neural.transformer import window_plan
    ids, offsets = valid
    inputs = torch.from_numpy(previous_tokens(ids, offsets)[0].astype(np.int64))
    targets = torch.from_numpy(ids.astype(np.int64))
    starts, lengths, first = window_plan(offsets[:-1], offsets[1:], args.context)
    total = 0.0
    with torch.no_grad():
        for Tw in np.unique(lengths):
            sel = np.flatnonzero(lengths == Tw)
            for i in range(0, len(sel), 256):
                w = sel[i:i + 256]
                pos = torch.from_numpy(starts[w, None] + np.arange(Tw))
                lp = torch.log_softmax(transformer_forward(P, inputs[pos], None, args, dtype),
                                       dim=-1)
                lp = lp.gather(2, targets[pos][..., None])[..., 0]        # (R, Tw)
                keep = torch.from_numpy(np.arange(Tw)[None, :] >= first[w, None])
                total += float(lp[keep].double().sum())
    return math.exp(-total / len(ids))


def transformer_torch_losses(args, ids, offsets, counts, dtype, valid=None, ppls=None):
    """The per-step losses; with ``valid`` (ids, offsets), the valid perplexity after
    every epoch appended to ``ppls``."""
    V = len(counts)
    P = {k: torch.tensor(v, dtype=dtype, requires_grad=True)
         for k, v in transformer_params(args, V, counts).items()}
    decay = [P[k] for k in P if k.split(".")[0] in ("Wqkv", "Wo", "W1", "W2", "W")]
    rest = [P[k] for k in P if k.split(".")[0] not in ("Wqkv", "Wo", "W1", "W2", "W")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=args.lr,
                            betas=(0.9, 0.99), eps=1e-8)
    inputs = torch.from_numpy(previous_tokens(ids, offsets)[0].astype(np.int64))
    targets = torch.from_numpy(ids.astype(np.int64))
    rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(2)[1])
    N, T, B = len(ids), min(args.context, len(ids)), args.batch_size
    losses, t, total = [], 0, None
    for epoch in range(args.epochs):
        offset = int(rng.integers(0, N - T + 1)) % T
        n = (N - offset) // T
        starts = offset + T * rng.permutation(n).astype(np.int64)
        epoch_seed = int(rng.integers(2**63))
        steps = -(-n // B)
        total = args.epochs * steps if total is None else total
        for i in range(steps):
            s = starts[i * B:(i + 1) * B]
            pos = torch.from_numpy(s[:, None] + np.arange(T))
            masks = (transformer_masks(epoch_seed, i, args, len(s), T)
                     if args.dropout or args.attention_dropout else None)
            logits = transformer_forward(P, inputs[pos], masks, args, dtype)
            loss = F.cross_entropy(logits.reshape(-1, V), targets[pos].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clip_(list(P.values()), args.clip_norm)
            for group in opt.param_groups:
                group["lr"] = transformer_lr(args, t, total)
            opt.step()
            losses.append(float(loss.detach()))
            t += 1
            if len(losses) >= args.trace:
                return losses
        if valid is not None:
            ppls.append(transformer_valid_ppl(P, args, valid, dtype))
    return losses


def transformer_nlm_losses(args, vocab, corpus, valid=None, ppls=None):
    from nlm.neural.transformer import TransformerModel
    losses = []
    last = [0.0, 0]

    def record(trainer, event):
        if event == "step":
            st = trainer.state
            if st.step == 1:
                last[:] = [0.0, 0]
            losses.append((st.epoch_loss - last[0]) / (st.epoch_tokens - last[1]))
            last[:] = [st.epoch_loss, st.epoch_tokens]
            if len(losses) >= args.trace:
                trainer._stop_requested = True
        elif event == "epoch" and valid is not None:
            ppls.append(trainer.state.history[-1]["valid_ppl"])
    try:
        TransformerModel.fit(corpus, vocab, layers=args.layers, heads=args.heads,
                             dim=args.dim, context=args.context, batch_size=args.batch_size,
                             tie=not args.untied, softmax="full", dropout=args.dropout,
                             attention_dropout=args.attention_dropout, unk_dropout=0.0,
                             optimizer="adamw", lr=args.lr, weight_decay=args.weight_decay,
                             clip_norm=args.clip_norm, warmup=args.warmup,
                             lr_schedule="cosine", epochs=args.epochs, seed=args.seed,
                             valid=valid, patience=None, callbacks=[record])
    except Exception as e:   # the trace stops training with an interruption
        if type(e).__name__ != "TrainingInterrupted":
            raise
    return losses[:args.trace]


def first_sentences(corpus, max_tokens):
    """The corpus cut after the last sentence ending within ``max_tokens`` tokens."""
    if not max_tokens:
        return corpus
    k = int(np.searchsorted(corpus.offsets, max_tokens, side="right")) - 1
    return type(corpus)(corpus.ids[:corpus.offsets[k]], corpus.offsets[:k + 1],
                        corpus.oov[:corpus.offsets[k]])


def transformer_trace(args):
    from nlm.corpus import read_corpus, read_training_corpus
    paths = _split_paths(args.corpus)
    vocab, corpus = read_training_corpus(paths["train"], args.tokenizer, args.lower)
    corpus = first_sentences(corpus, args.max_tokens)
    ids, offsets = corpus.ids, corpus.offsets
    valid, ours_ppl, theirs_ppl = None, [], []
    if args.valid_epochs:
        valid = first_sentences(read_corpus(paths["valid"], vocab), args.max_valid_tokens)
        args.epochs, args.trace = args.valid_epochs, 1 << 62
    log(f"V={len(vocab)} train {len(ids)} tokens; "
        + (f"{args.epochs} epochs, valid {len(valid.ids)} tokens" if valid is not None
           else f"tracing {args.trace} steps"))
    t0 = time.perf_counter()
    theirs = transformer_torch_losses(args, ids, offsets, vocab.counts, torch.float32,
                                      None if valid is None else (valid.ids, valid.offsets),
                                      theirs_ppl)
    t1 = time.perf_counter()
    ours = transformer_nlm_losses(args, vocab, corpus, valid, ours_ppl)
    t2 = time.perf_counter()
    n = min(len(theirs), len(ours))
    diff = [abs(a - b) for a, b in zip(theirs[:n], ours[:n])]
    print("| step | torch loss | nlm loss | difference |")
    print("|---:|---:|---:|---:|")
    for i in range(n):
        if i < 5 or i == n - 1 or (i + 1) % max(1, n // 10) == 0:
            print(f"| {i + 1} | {theirs[i]:.7f} | {ours[i]:.7f} | {diff[i]:.2e} |")
    print(f"max |difference| over {n} steps: {max(diff):.2e} (torch {t1 - t0:.0f} s, "
          f"nlm {t2 - t1:.0f} s; float32 both)")
    if valid is not None:
        print_valid_ppl(theirs_ppl, ours_ppl)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"torch": theirs, "nlm": ours, "torch_valid_ppl": theirs_ppl,
                       "nlm_valid_ppl": ours_ppl}, f)


def print_valid_ppl(theirs, ours):
    print("\n| epoch | torch valid ppl | nlm valid ppl | relative difference |")
    print("|---:|---:|---:|---:|")
    for e, (a, b) in enumerate(zip(theirs, ours)):
        print(f"| {e + 1} | {a:.6f} | {b:.6f} | {abs(a - b) / a:.2e} |")


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True,
                    help="directory with train/valid/test.txt, or a path prefix")
    ap.add_argument("--tokenizer", default="whitespace", choices=("whitespace", "word", "char"))
    ap.add_argument("--lower", action="store_true")
    ap.add_argument("--min-count", type=int, default=1)
    ap.add_argument("--max-size", type=int, default=None)
    ap.add_argument("--cache", default=None, help="npz cache of the read ids (e.g. under /tmp)")
    ap.add_argument("--engine", default="torch", choices=("torch", "nlm"))
    ap.add_argument("--model", default="rnn", choices=("rnn", "mlp", "transformer"))
    ap.add_argument("--layers", type=int, default=2, help="transformer: blocks")
    ap.add_argument("--heads", type=int, default=4, help="transformer: attention heads")
    ap.add_argument("--dim", type=int, default=64, help="transformer: width")
    ap.add_argument("--context", type=int, default=32, help="transformer: window")
    ap.add_argument("--attention-dropout", type=float, default=0.1, help="transformer")
    ap.add_argument("--warmup", type=int, default=10, help="transformer: warm-up updates")
    ap.add_argument("--untied", action="store_true", help="transformer: untied output")
    ap.add_argument("--valid-epochs", type=int, default=0,
                    help="transformer: train this many whole epochs on both engines and "
                         "compare the valid perplexity after each")
    ap.add_argument("--max-valid-tokens", type=int, default=None,
                    help="transformer, --valid-epochs: the first valid sentences up to "
                         "this many tokens")
    ap.add_argument("--max-tokens", type=int, default=None,
                    help="transformer: train on the first sentences up to this many tokens")
    ap.add_argument("--emb", type=int)
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--order", type=int, help="mlp: context words + 1")
    ap.add_argument("--direct", action="store_true", help="mlp: direct connections")
    ap.add_argument("--tie", action="store_true", help="rnn: W = E (emb == hidden)")
    ap.add_argument("--bptt", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--reset-sentences", action="store_true")
    ap.add_argument("--dropout", type=float)
    ap.add_argument("--optimizer", choices=("adam", "adagrad", "sgd", "adamw"))
    ap.add_argument("--lr", type=float)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--clip-norm", type=float)
    ap.add_argument("--no-clip", action="store_true")
    ap.add_argument("--init", default="xavier", choices=("xavier", "uniform", "normal"))
    ap.add_argument("--init-scale", type=float, default=0.1)
    ap.add_argument("--schedule", choices=("constant", "plateau", "worse"))
    ap.add_argument("--min-improvement", type=float, default=1.003)
    ap.add_argument("--max-halvings", type=int, default=3)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--time-budget", type=float, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rng", default="nlm", choices=("nlm", "torch"),
                    help="nlm: draw permutations and dropout masks exactly as nlm")
    ap.add_argument("--carry-state", action="store_true",
                    help="rnn: also evaluate with the state carried across sentences")
    ap.add_argument("--trace", type=int, default=0, help="record the first N step losses")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args(argv)
    if args.model == "transformer":
        for k, v in dict(batch_size=8, dropout=0.1, lr=1e-3, clip_norm=1.0, epochs=1,
                         optimizer="adamw").items():
            if getattr(args, k, None) is None:
                setattr(args, k, v)
        args.trace = args.trace or 50
        return args
    d = NLM_DEFAULTS[args.model]
    for k, v in d.items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    if args.lr is None:
        args.lr = RNN_DEFAULT_LR[args.optimizer]
    if args.no_clip:
        args.clip_norm = None
    if args.model == "mlp" and args.tie:
        ap.error("--tie is for the rnn")
    return args


def main(argv=None):
    args = parse(argv)
    if args.model == "transformer":
        transformer_trace(args)
        return
    data = load_data(args)
    log(f"V={data.V} train {len(data.train[0])} tokens, valid "
        f"{len(data.valid[0]) if data.valid else 0}, test {len(data.test[0]) if data.test else 0}")
    evaluator = Evaluator(args, data)
    report = Report(args)
    (run_torch if args.engine == "torch" else run_nlm)(args, data, evaluator, report)
    report.finish()


if __name__ == "__main__":
    main()
