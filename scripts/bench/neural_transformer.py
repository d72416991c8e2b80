"""The Transformer family of ``scripts/bench/neural.py``: nlm's decoder-only Transformer
next to PyTorch's ``nn.Embedding`` + learned positions -> L x
``nn.TransformerEncoderLayer(norm_first=True, activation="gelu", batch_first=True)``
with a causal mask -> ``nn.LayerNorm`` -> the output layer tied to the embedding,
same shapes, float32, cross-entropy. (PyTorch's GELU is the erf form, nlm's the tanh
form of GPT-2: the same work.)

Both sides train on windows of ``context`` tokens of the synthetic text, B windows
per step, every position predicted, no dropout, AdamW (lr 1e-3, weight decay 0.1)
with the gradient norm clipped to 1, 2 threads. Scoring: the text cut into windows
of ``context`` tokens, every position scored, under ``no_grad`` for PyTorch; nlm
with its float32 network (the same windows) and with ``score_corpus`` in float64
(what ``nlm evaluate`` runs: every sentence from its own window).

``neural.py`` calls :func:`register` to add these cases to its table; this file is
not meant to be run alone.
"""
from __future__ import annotations

import time

import numpy as np

LR = 1e-3
WEIGHT_DECAY = 0.1
CLIP = 1.0
STEPS = 6               # timed steps per epoch
SCORE_TOKENS = 4096     # positions per scoring batch


def cases(Case) -> list:
    """Issue 22's shapes."""
    def tf(name, V, layers, dim, heads, context, batch, softmax="full", note=""):
        return Case(name, "transformer", V, batch,
                    dict(layers=layers, dim=dim, heads=heads, context=context,
                         softmax=softmax), None, note)
    return [
        tf("gpt-char-65-l4-d128-h4-t128-b32", 65, 4, 128, 4, 128, 32),
        tf("gpt-10k-l2-d256-h4-t64-b32", 10_000, 2, 256, 4, 64, 32),
        tf("gpt-10k-l2-d256-h4-t64-b32-class", 10_000, 2, 256, 4, 64, 32, "class",
           "vs torch full"),
        tf("gpt-char-65-l6-d384-h6-t256-b16", 65, 6, 384, 6, 256, 16),
    ]


def tokens(case) -> int:
    """STEPS full batches of windows per epoch."""
    return STEPS * case.batch * case.shape["context"] + 1


def nlm_train(case, data) -> float:
    from nlm.neural.transformer import TransformerModel
    s = case.shape
    # two epochs: the first warms up (compilation, allocation), the second is timed
    model = TransformerModel.fit(data.train, data.vocab, layers=s["layers"], heads=s["heads"],
                                 dim=s["dim"], context=s["context"], batch_size=case.batch,
                                 softmax=s["softmax"], epochs=2, optimizer="adamw", lr=LR,
                                 weight_decay=WEIGHT_DECAY, clip_norm=CLIP, warmup=0,
                                 dropout=0.0, attention_dropout=0.0, unk_dropout=0.0, seed=1)
    nlm_train.last_model = model
    return model.history[-1]["words_per_second"]


def _windows(ids: np.ndarray, T: int) -> np.ndarray:
    n = (len(ids) - 1) // T
    return np.arange(n, dtype=np.int64) * T


def nlm_score(case, data) -> tuple[float, float]:
    from nlm.neural.data_parallel import DataParallel
    from nlm.neural.layers import previous_tokens
    from nlm.neural.transformer import score_windows
    model = nlm_train.last_model
    workers = DataParallel(model._net32)      # one per BLAS thread, as nlm evaluate
    ids, offsets = data.score.ids, data.score.offsets
    inputs = previous_tokens(ids, offsets)[0]
    T = case.shape["context"]
    starts = _windows(ids, T)
    lengths, first = np.full(len(starts), T), np.zeros(len(starts), dtype=np.int64)
    out = np.empty(len(ids))
    score_windows(workers, inputs, ids, starts[:4], lengths[:4], first[:4], out)   # warm up
    t = time.perf_counter()
    score_windows(workers, inputs, ids, starts, lengths, first, out)
    f32 = len(starts) * T / (time.perf_counter() - t)
    k = int(np.searchsorted(offsets, 2048, side="right")) - 1
    model.score_corpus(ids[:offsets[k]], offsets[:k + 1])
    t = time.perf_counter()
    model.score_corpus(ids, offsets)
    f64 = len(ids) / (time.perf_counter() - t)
    return f32, f64


def torch_model(case):
    import torch
    from torch import nn
    s = case.shape
    V, C, T = case.V, s["dim"], s["context"]

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, C)
            self.pos = nn.Parameter(torch.zeros(T, C))
            self.blocks = nn.ModuleList(
                nn.TransformerEncoderLayer(C, s["heads"], 4 * C, dropout=0.0,
                                           activation="gelu", batch_first=True,
                                           norm_first=True) for _ in range(s["layers"]))
            self.lnf = nn.LayerNorm(C)
            self.bias = nn.Parameter(torch.zeros(V))
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(T))

        def forward(self, idx):
            T_ = idx.shape[1]
            x = self.emb(idx) + self.pos[:T_]                       # (B, T, C)
            for block in self.blocks:
                x = block(x, src_mask=self.mask[:T_, :T_], is_causal=True)
            return self.lnf(x) @ self.emb.weight.T + self.bias     # (B, T, V)
    torch.manual_seed(1)
    return GPT()


def torch_train(case, data) -> float:
    import torch
    import torch.nn.functional as F
    from nlm.neural.layers import previous_tokens
    model = torch_model(case)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY,
                            betas=(0.9, 0.99))
    ids = data.train.ids
    inputs = torch.from_numpy(previous_tokens(ids, data.train.offsets)[0].astype(np.int64))
    targets = torch.from_numpy(ids.astype(np.int64))
    T, B = case.shape["context"], case.batch
    starts = _windows(ids, T)
    rng = np.random.default_rng(1)
    rate = 0.0
    for epoch in range(2):   # the first epoch warms up, as for nlm
        perm = starts[rng.permutation(len(starts))]
        t = time.perf_counter()
        for i in range(0, len(perm), B):
            pos = torch.from_numpy(perm[i:i + B, None] + np.arange(T))
            logits = model(inputs[pos])
            loss = F.cross_entropy(logits.reshape(-1, case.V), targets[pos].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opt.step()
        rate = len(perm) * T / (time.perf_counter() - t)
    torch_train.last_model = model
    return rate


def torch_score(case, data) -> float:
    import torch
    from nlm.neural.layers import previous_tokens
    model = torch_train.last_model
    model.eval()
    ids = data.score.ids
    inputs = torch.from_numpy(previous_tokens(ids, data.score.offsets)[0].astype(np.int64))
    targets = torch.from_numpy(ids.astype(np.int64))
    T = case.shape["context"]
    starts = _windows(ids, T)
    rows = max(1, SCORE_TOKENS // T)

    def score(n):
        with torch.no_grad():
            for i in range(0, n, rows):
                pos = torch.from_numpy(starts[i:min(i + rows, n), None] + np.arange(T))
                lp = torch.log_softmax(model(inputs[pos]), dim=-1)
                lp.gather(2, targets[pos][..., None])
    score(min(4, len(starts)))
    t = time.perf_counter()
    score(len(starts))
    return len(starts) * T / (time.perf_counter() - t)


def register(CASES: list, FAMILIES: dict, Case, Family) -> None:
    FAMILIES["transformer"] = Family(nlm_train, nlm_score, torch_train, torch_score, tokens)
    CASES.extend(cases(Case))
