#!/usr/bin/env python
"""PyTorch's CPU LSTM with and without oneDNN, next to nlm's LSTM, at the character shape
of ``neural.py`` (V 65, emb 64, 512 units, 32 streams, 100 steps, SGD, one thread).

PyTorch runs ``nn.LSTM`` on CPU through oneDNN's fused RNN primitive when oneDNN is
enabled (the default), and through its own per-step path otherwise; ``nn.GRU`` and
``nn.RNN`` always take the per-step path. This prints all three as words/s and the
ratios, to show where the gap in ``neural.py``'s char-lstm row comes from.

    python scripts/bench/torch_lstm_onednn.py
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

T, B, N, M, V, STEPS = 100, 32, 512, 64, 65, 6


def torch_rate(onednn: bool) -> float:
    import torch
    torch.set_num_threads(1)
    with torch.backends.mkldnn.flags(enabled=onednn):
        torch.manual_seed(0)
        emb, lstm, out = torch.nn.Embedding(V, M), torch.nn.LSTM(M, N), torch.nn.Linear(N, V)
        params = [*emb.parameters(), *lstm.parameters(), *out.parameters()]
        opt = torch.optim.SGD(params, lr=0.1)
        x = torch.randint(0, V, (T, B))
        y = torch.randint(0, V, (T * B,))

        def step():
            o, _ = lstm(emb(x))
            loss = torch.nn.functional.cross_entropy(out(o.reshape(-1, N)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        step()
        t = time.perf_counter()
        for _ in range(STEPS):
            step()
        return T * B * STEPS / (time.perf_counter() - t)


def nlm_rate() -> float:
    from nlm.neural.optim import make_optimizer
    from nlm.neural.rnn import RNNNetwork
    from nlm.neural.softmax import make_output_layer
    rng = np.random.default_rng(0)
    out = make_output_layer("full", V)
    net = RNNNetwork(RNNNetwork.init_params(rng, V, M, N, out, cell="lstm"), "tanh", out,
                     cell="lstm")
    opt = make_optimizer("sgd")
    x = rng.integers(0, V, (T, B)).astype(np.int32)
    y = rng.integers(3, V, (T, B)).astype(np.int32)
    h = np.zeros((B, net.state_size), dtype=np.float32)

    def step():
        _, grads, _ = net.loss_and_grads(x, y, h)
        opt.step(net.params, grads, 0.1, net.touched_rows())
    step()
    t = time.perf_counter()
    for _ in range(STEPS):
        step()
    return T * B * STEPS / (time.perf_counter() - t)


def main():
    with_onednn, without = torch_rate(True), torch_rate(False)
    mine = nlm_rate()
    print("| training, words/s (1 thread) | PyTorch nn.LSTM, oneDNN | PyTorch nn.LSTM, no oneDNN "
          "| nlm LSTM | nlm / oneDNN | nlm / no oneDNN |")
    print("|---|---|---|---|---|---|")
    print(f"| char shape (V 65, 512 units, 32 x 100) | {with_onednn:,.0f} | {without:,.0f} | "
          f"{mine:,.0f} | {mine / with_onednn:.2f}x | {mine / without:.2f}x |")


if __name__ == "__main__":
    main()
