#!/usr/bin/env python
"""numpy's OpenBLAS sgemm against PyTorch's at the Transformer's product shapes, the same
number of threads on both sides (what limits the Transformer at nanoGPT's shape, see
docs/transformer.md): GFLOP/s of ``np.matmul`` and ``torch.mm`` on float32, best of 5 x 10
calls, and their ratio.

    python scripts/bench/gemm.py 1      # one thread
    python scripts/bench/gemm.py 2      # two threads
"""
import os, sys, time
TH = int(sys.argv[1]) if len(sys.argv) > 1 else 1
os.environ["OPENBLAS_NUM_THREADS"] = str(TH)
import numpy as np, torch
torch.set_num_threads(TH)
def best(f, n=10):
    f(); b = 1e9
    for _ in range(5):
        s = time.perf_counter()
        for _ in range(n): f()
        b = min(b, (time.perf_counter() - s) / n)
    return b
print(f"threads {TH}, numpy {np.__version__}, torch {torch.__version__}")
print("| M x K x N | numpy GF/s | torch GF/s | numpy/torch |")
print("|---|---|---|---|")
for (M, K, N) in [(4096, 384, 1152), (4096, 384, 1536), (4096, 1536, 384), (384, 4096, 1536),
                  (4096, 128, 384), (4096, 128, 512), (4096, 512, 128), (2048, 256, 1024)]:
    a = np.random.rand(M, K).astype(np.float32); b = np.random.rand(K, N).astype(np.float32)
    o = np.empty((M, N), np.float32)
    ta, tb, to = torch.from_numpy(a), torch.from_numpy(b), torch.empty(M, N)
    x = best(lambda: np.matmul(a, b, out=o)); y = best(lambda: torch.mm(ta, tb, out=to))
    g = 2 * M * K * N / 1e9
    print(f"| {M} x {K} x {N} | {g/x:.1f} | {g/y:.1f} | {y/x:.2f} |")
