"""nlm's Transformer against the PyTorch reference of scripts/bench/torch_reference.py:
the same network trained by torch's autograd and AdamW on the same ids, initial
weights, windows and dropout masks (skipped without torch)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_per_step_losses_and_per_epoch_valid_perplexity_equal_torch(tmp_path):
    """Two whole epochs of a small Transformer (2 blocks, dropout on the embeddings,
    branches and attention weights, warm-up then cosine) on the first 3,000 words of
    the shipped corpus: every step's loss within 1e-5 of torch's, and the valid
    perplexity after each epoch (each sentence from its own window) equal to float32
    rounding."""
    pytest.importorskip("torch")
    out = tmp_path / "trace.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "bench" / "torch_reference.py"),
           "--model", "transformer", "--corpus", str(ROOT / "corpora" / "shakespeare"),
           "--tokenizer", "word", "--lower", "--max-tokens", "3000",
           "--max-valid-tokens", "1500", "--layers", "2", "--dim", "16", "--heads", "2",
           "--context", "16", "--batch-size", "8", "--warmup", "5", "--valid-epochs", "2",
           "--json-out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=600)
    r = json.loads(out.read_text())
    assert len(r["torch"]) == len(r["nlm"]) > 40          # two epochs of ~23 steps
    for a, b in zip(r["torch"], r["nlm"]):
        assert abs(a - b) < 1e-5
    assert len(r["torch_valid_ppl"]) == len(r["nlm_valid_ppl"]) == 2
    for a, b in zip(r["torch_valid_ppl"], r["nlm_valid_ppl"]):
        assert 10 < a < 10_000
        assert abs(a - b) / a < 1e-6
