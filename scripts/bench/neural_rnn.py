"""The RNN family of ``scripts/bench/neural.py``: nlm's recurrent networks (Elman,
LSTM, GRU) next to PyTorch's ``nn.Embedding -> nn.RNN(tanh) | nn.LSTM | nn.GRU ->
nn.Linear`` with cross-entropy, same shapes. (PyTorch's GRU applies its reset gate
after the recurrent product, nlm's (Cho et al. 2014) before it: the same products
per step, 3n columns, in nlm as a 2n and an n column product.)

Both sides train with truncated BPTT over ``batch`` parallel streams of the
synthetic text, ``bptt`` steps per update, the hidden state carried from chunk
to chunk (detached), SGD with the gradient norm clipped to 1, float32, 2
threads. Scoring runs 64 parallel streams under ``no_grad`` for PyTorch; nlm
scores with its float32 network (what validation runs, sentences from the
initial state) and with ``score_corpus`` in float64 (what ``nlm evaluate`` runs).

``neural.py`` calls :func:`register` to add these cases to its table; this file
is not meant to be run alone.
"""
from __future__ import annotations

import time

import numpy as np

LR = 1.0
CLIP = 1.0
SCORE_STREAMS = 64
SCORE_CHUNK = 32


def cases(Case) -> list:
    """The RNN shapes of ../shared/REFERENCE.md (PyTorch words/s there for orientation)."""
    def rnn(name, V, emb, hidden, batch, bptt, ref, softmax="full", note="", cell="elman",
            expect=None):
        return Case(name, "rnn", V, batch, dict(emb=emb, hidden=hidden, bptt=bptt,
                                                softmax=softmax, cell=cell, expect=expect),
                    ref, note)
    gated = []
    # issue 13's shapes; REFERENCE.md has no PyTorch figure for them, so ``expect`` (about
    # PyTorch's words/s at one thread on this machine) only sizes the timed text
    for cell in ("lstm", "gru"):
        gated += [
            rnn(f"{cell}-10k-e200-h200-b20", 10_000, 200, 200, 20, 35, None, cell=cell,
                expect=6_000),
            rnn(f"{cell}-10k-e200-h650-b20", 10_000, 200, 650, 20, 35, None, cell=cell,
                expect=2_000),
            rnn(f"{cell}-33k-e200-h650-b20-class", 33_278, 200, 650, 20, 35, None, "class",
                "vs torch full", cell=cell, expect=300),
            rnn(f"char-{cell}-65-e64-h512-b32", 65, 64, 512, 32, 100, None, cell=cell,
                expect=12_000)]
    return gated + [
        rnn("rnn-10k-e200-h200-b20", 10_000, 200, 200, 20, 35, 9_240),
        rnn("rnn-10k-e200-h650-b20", 10_000, 200, 650, 20, 35, 3_300),
        rnn("rnn-33k-e200-h200-b20", 33_278, 200, 200, 20, 35, 2_190),
        rnn("rnn-33k-e200-h650-b20", 33_278, 200, 650, 20, 35, 930),
        rnn("char-rnn-65-e64-h512-b32", 65, 64, 512, 32, 100, 57_000),
        # class softmax at V = 33k against PyTorch's full softmax (target: >= 10x)
        rnn("rnn-33k-e200-h200-b20-class", 33_278, 200, 200, 20, 35, 2_190, "class",
            "vs torch full"),
        rnn("rnn-33k-e200-h650-b20-class", 33_278, 200, 650, 20, 35, 930, "class",
            "vs torch full"),
    ]


# -- nlm ------------------------------------------------------------------------------------
_last = {}


def nlm_train(case, data) -> float:
    from nlm.neural.rnn import RNNModel
    s = case.shape
    # two epochs: the first warms up (compilation, allocation), the second is timed
    model = RNNModel.fit(data.train, data.vocab, emb=s["emb"], hidden=s["hidden"],
                         bptt=s["bptt"], batch_size=case.batch, softmax=s["softmax"],
                         epochs=2, optimizer="sgd", lr=LR, clip_norm=CLIP, seed=1,
                         # the plain network PyTorch runs: not nlm's quality defaults
                         tie=False, dropout=0.0, unk_dropout=0.0, reset_sentences=False,
                         cell=s.get("cell", "elman"))
    _last["nlm"] = model
    return model.training["history"][-1]["words_per_second"]


def nlm_score(case, data) -> tuple[float, float]:
    from nlm.neural.data_parallel import DataParallel
    from nlm.neural.rnn import score_sentences
    model = _last["nlm"]
    workers = DataParallel(model._net32)      # one per BLAS thread, as nlm evaluate
    ids, offsets = data.score.ids, data.score.offsets
    head = offsets[offsets <= 2048]
    score_sentences(workers, ids[:head[-1]], head)            # warm up
    t = time.perf_counter()
    score_sentences(workers, ids, offsets)
    f32 = len(ids) / (time.perf_counter() - t)
    model.score_corpus(ids[:head[-1]], head)
    t = time.perf_counter()
    model.score_corpus(ids, offsets)
    f64 = len(ids) / (time.perf_counter() - t)
    return f32, f64


# -- PyTorch --------------------------------------------------------------------------------
def _torch_model(case):
    import torch
    from torch import nn
    s = case.shape

    class RNNLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(case.V, s["emb"])
            cell = s.get("cell", "elman")
            if cell == "lstm":
                self.rnn = nn.LSTM(s["emb"], s["hidden"])
            elif cell == "gru":
                self.rnn = nn.GRU(s["emb"], s["hidden"])
            else:
                self.rnn = nn.RNN(s["emb"], s["hidden"], nonlinearity="tanh")
            self.out = nn.Linear(s["hidden"], case.V)

        def forward(self, x, h):                       # x (T, B)
            y, h = self.rnn(self.emb(x), h)            # y (T, B, n)
            return self.out(y.reshape(-1, y.shape[-1])), h   # (T B, V)
    torch.manual_seed(1)
    return RNNLM()


def _streams(ids: np.ndarray, B: int):
    """(L, B) int64 time-major streams as PyTorch's word_language_model batchifies."""
    import torch
    L = len(ids) // B
    return torch.from_numpy(np.ascontiguousarray(ids[:L * B].reshape(B, L).T.astype(np.int64)))


def _zero_state(case, B):
    import torch
    h = torch.zeros(1, B, case.shape["hidden"])
    return (h, torch.zeros_like(h)) if case.shape.get("cell") == "lstm" else h


def _detach(h):
    return tuple(x.detach() for x in h) if isinstance(h, tuple) else h.detach()


def torch_train(case, data) -> float:
    import torch
    import torch.nn.functional as F
    model = _torch_model(case)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    B, k, n = case.batch, case.shape["bptt"], case.shape["hidden"]
    ids = data.train.ids
    inputs = _streams(np.concatenate([[1], ids[:-1]]).astype(np.int32), B)
    targets = _streams(ids, B)
    rate = 0.0
    h = _zero_state(case, B)
    for epoch in range(2):   # the first epoch warms up, as for nlm
        t = time.perf_counter()
        for a in range(0, inputs.shape[0], k):
            x, y = inputs[a:a + k], targets[a:a + k]
            logits, h = model(x, _detach(h))
            loss = F.cross_entropy(logits, y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opt.step()
        rate = inputs.numel() / (time.perf_counter() - t)
    _last["torch"] = model
    return rate


def torch_score(case, data) -> float:
    import torch
    model = _last["torch"]
    ids = data.score.ids
    inputs = _streams(np.concatenate([[1], ids[:-1]]).astype(np.int32), SCORE_STREAMS)
    targets = _streams(ids, SCORE_STREAMS)

    def score(steps):
        h = _zero_state(case, SCORE_STREAMS)
        with torch.no_grad():
            for a in range(0, steps, SCORE_CHUNK):
                logits, h = model(inputs[a:a + SCORE_CHUNK], h)
                torch.log_softmax(logits, dim=1).gather(
                    1, targets[a:a + SCORE_CHUNK].reshape(-1, 1))
    score(min(64, inputs.shape[0]))
    t = time.perf_counter()
    score(inputs.shape[0])
    return inputs.numel() / (time.perf_counter() - t)


def tokens(case) -> int:
    """About 3 s of training per epoch at the expected speed (PyTorch's for the full
    softmax, 10x that for the class softmax), and at least 8 updates. A class case
    reuses the PyTorch figures of the full case with its shapes when that ran first."""
    rate = ((case.ref_train or case.shape.get("expect") or 10_000)
            * (10 if case.shape["softmax"] == "class" else 1))
    return int(max(8 * case.batch * case.shape["bptt"], 3.0 * rate))


def register(CASES: list, FAMILIES: dict, Case, Family) -> None:
    FAMILIES["rnn"] = Family(nlm_train, nlm_score, torch_train, torch_score, tokens)
    CASES.extend(cases(Case))
