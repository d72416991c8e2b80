#!/usr/bin/env python
"""PyTorch's CPU LSTM with and without oneDNN, next to nlm's LSTM, at the character shape
of ``neural.py`` (V 65, emb 64, 512 units, 32 streams, 100 steps, SGD, one thread):
training, and scoring (64 streams, 32 steps a call, no gradients; nlm's float32 network
scoring 25-token sentences, each from the initial state, as validation does).

PyTorch runs ``nn.LSTM`` on CPU through oneDNN's fused RNN primitive when oneDNN is
enabled (the default), and through its own per-step path otherwise; ``nn.GRU`` and
``nn.RNN`` always take the per-step path. This prints all three as words/s and the
ratios, to show where the gap in ``neural.py``'s char-lstm row comes from.

``--clock cpu`` times with the process's CPU time instead of the wall clock: on a
machine shared with other jobs a one-thread run's CPU time hardly depends on how much
of a core it got, so the ratios stay meaningful (the wall clock is the default).

    python scripts/bench/torch_lstm_onednn.py
    python scripts/bench/torch_lstm_onednn.py --clock cpu
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

T, B, N, M, V, STEPS = 100, 32, 512, 64, 65, 2
SCORE_TOKENS, SCORE_STREAMS, SCORE_CHUNK, SENTENCE = 40_000, 64, 32, 25
clock = time.perf_counter


def best_of(run, repeats: int = 3) -> float:
    """The shortest of ``repeats`` timings of ``run()``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        t = clock()
        run()
        best = min(best, clock() - t)
    return best


def torch_model():
    import torch
    torch.manual_seed(0)
    return torch.nn.Embedding(V, M), torch.nn.LSTM(M, N), torch.nn.Linear(N, V)


def torch_rate(onednn: bool) -> tuple[float, float]:
    """(training, scoring) words/s of PyTorch."""
    import torch
    torch.set_num_threads(1)
    with torch.backends.mkldnn.flags(enabled=onednn):
        emb, lstm, out = torch_model()
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

        def steps():
            for _ in range(STEPS):
                step()
        step()
        train = T * B * STEPS / best_of(steps)
        L = SCORE_TOKENS // SCORE_STREAMS
        ids = torch.randint(3, V, (L, SCORE_STREAMS))

        def score():
            h = None
            with torch.no_grad():
                for a in range(0, L, SCORE_CHUNK):
                    o, h = lstm(emb(ids[a:a + SCORE_CHUNK]), h)
                    torch.log_softmax(out(o.reshape(-1, N)), 1).gather(
                        1, ids[a:a + SCORE_CHUNK].reshape(-1, 1))
        score()
        return train, L * SCORE_STREAMS / best_of(score)


def nlm_rate() -> tuple[float, float]:
    """(training, scoring) words/s of nlm."""
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

    def steps():
        for _ in range(STEPS):
            step()
    step()
    train = T * B * STEPS / best_of(steps)
    ids = rng.integers(3, V, SCORE_TOKENS).astype(np.int32)
    offsets = np.arange(0, SCORE_TOKENS + 1, SENTENCE, dtype=np.int64)
    net.score(ids[:20 * SENTENCE], offsets[:21])
    return train, SCORE_TOKENS / best_of(lambda: net.score(ids, offsets))


def main(argv=None):
    global clock
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="time with the wall clock (default) or the process's CPU time")
    args = ap.parse_args(argv)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    rates = {"oneDNN": torch_rate(True), "no oneDNN": torch_rate(False), "nlm": nlm_rate()}
    mine = rates["nlm"]
    print(f"one thread, {args.clock} clock; words/s")
    print("| char shape (V 65, 512 units) | PyTorch nn.LSTM, oneDNN | PyTorch nn.LSTM, no oneDNN "
          "| nlm LSTM | nlm / oneDNN | nlm / no oneDNN |")
    print("|---|---:|---:|---:|---:|---:|")
    for i, what in enumerate((f"training, {B} x {T}", f"scoring, {SCORE_STREAMS} streams")):
        one, no = rates["oneDNN"][i], rates["no oneDNN"][i]
        print(f"| {what} | {one:,.0f} | {no:,.0f} | {mine[i]:,.0f} | {mine[i] / one:.2f}x | "
              f"{mine[i] / no:.2f}x |")


if __name__ == "__main__":
    main()
