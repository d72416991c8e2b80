#!/usr/bin/env python
"""Peak resident memory of training nlm's Transformer at the benchmark shapes, and how it
grows with ``--context``.

Each measurement runs in a fresh process: synthetic text (as ``neural.py`` makes it),
then ``TransformerModel.fit`` for one epoch of 3 steps; the process reports its peak
resident set (``ru_maxrss``) and the same figure right before training (Python, numpy,
Numba and the data), so the difference is what training holds: parameters, gradients,
AdamW's two moments, and the activations kept for the backward pass, which grow with
B T (C L) and, for the attention maps, with B H T^2 L.

    python scripts/bench/transformer_memory.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

SHAPES = [  # name, V, layers, dim, heads, context, batch
    ("chars V=65, 4 x 128, 4 heads, T 128, B 32", 65, 4, 128, 4, 128, 32),
    ("words V=10k, 2 x 256, 4 heads, T 64, B 32", 10_000, 2, 256, 4, 64, 32),
    ("nanoGPT chars, 6 x 384, 6 heads, T 256, B 16", 65, 6, 384, 6, 256, 16),
]
CONTEXTS = (64, 128, 256, 512, 1024)   # 4 x 256, 4 heads, B 16, V 10k


def child(V, layers, dim, heads, context, batch):
    import resource
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from neural import synthetic_data
    from nlm.neural.transformer import TransformerModel
    data = synthetic_data(V, 3 * batch * context + 1, 100)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    TransformerModel.fit(data.train, data.vocab, layers=layers, heads=heads, dim=dim,
                         context=context, batch_size=batch, epochs=1, softmax="full",
                         unk_dropout=0.0, warmup=0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_mb": before / 1024, "peak_mb": peak / 1024}))


def measure(*shape) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                          json.dumps(shape)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(*json.loads(sys.argv[2]))
        return
    print("| shape | peak RSS MB | before training MB | training's part MB |")
    print("|---|---:|---:|---:|")
    for name, *shape in SHAPES:
        r = measure(*shape)
        print(f"| {name} | {r['peak_mb']:.0f} | {r['before_mb']:.0f} | "
              f"{r['peak_mb'] - r['before_mb']:.0f} |", flush=True)
    print()
    print("| context (4 x 256, 4 heads, B 16, V 10k) | peak RSS MB | training's part MB |")
    print("|---:|---:|---:|")
    for T in CONTEXTS:
        r = measure(10_000, 4, 256, 4, T, 16)
        print(f"| {T} | {r['peak_mb']:.0f} | {r['peak_mb'] - r['before_mb']:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
