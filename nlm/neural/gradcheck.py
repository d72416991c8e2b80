"""Gradient checking: hand-written gradients against central finite differences.

``gradient_check`` perturbs parameters one entry at a time and compares the
analytic gradient with the fourth-order central difference

    dL/dp ~ (8 (L(p+h) - L(p-h)) - (L(p+2h) - L(p-2h))) / (12 h)

whose truncation error is O(h^4): with h = 1e-3 and float64 losses of order 1
to 100 both it and the rounding error stay near 1e-11, which leaves room to
demand relative errors below 1e-6 (the second-order difference
(L(p+h) - L(p-h)) / 2h is available as ``order=2``).

The relative error of one entry is |a - n| / max(|a|, |n|, floor): entries
whose gradient is below ``floor`` in magnitude are compared in absolute terms
(floor * tolerance), which is the resolution finite differences in float64
can offer. Checks must run in float64; float32 is refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class GradCheckResult:
    key: str
    checked: int               # entries compared
    max_rel_error: float
    worst_index: tuple         # index of the worst entry
    analytic: float            # its analytic gradient
    numeric: float             # its finite-difference estimate


def relative_error(a, n, floor: float = 1e-6):
    a, n = np.asarray(a, dtype=np.float64), np.asarray(n, dtype=np.float64)
    return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)


def gradient_check(loss_and_grads: Callable[[], tuple[float, dict]], params: dict,
                   keys=None, h: float = 1e-3, order: int = 4, max_entries: int | None = None,
                   seed: int = 0, floor: float = 1e-6,
                   entries: dict | None = None) -> dict[str, GradCheckResult]:
    """Check the gradient of every parameter in ``keys`` (default: all).

    ``loss_and_grads()`` evaluates the loss (a float) and the gradients (a dict
    with the keys of ``params``) at the current values of ``params``, which this
    function perturbs in place and restores. ``max_entries`` samples that many
    entries per key (default: all); ``entries`` gives explicit flat indices per key.
    """
    if order not in (2, 4):
        raise ValueError("order must be 2 or 4")
    for key, p in params.items():
        if p.dtype != np.float64:
            raise ValueError(f"gradient checks need float64 parameters; {key} is {p.dtype}")
    _, grads = loss_and_grads()
    analytic = {k: np.array(g, dtype=np.float64) for k, g in grads.items()}
    rng = np.random.default_rng(seed)
    results = {}
    for key in (keys if keys is not None else list(params)):
        p = params[key]
        flat = p.reshape(-1)
        if not np.shares_memory(flat, p):
            raise ValueError(f"parameter {key} is not contiguous")
        if entries is not None and key in entries:
            idx = np.asarray(entries[key], dtype=np.int64)
        elif max_entries is not None and flat.size > max_entries:
            idx = np.sort(rng.choice(flat.size, size=max_entries, replace=False))
        else:
            idx = np.arange(flat.size)
        numeric = np.empty(len(idx))
        for j, i in enumerate(idx):
            numeric[j] = _central_difference(loss_and_grads, flat, int(i), h, order)
        a = analytic[key].reshape(-1)[idx]
        rel = relative_error(a, numeric, floor)
        worst = int(np.argmax(rel)) if len(rel) else 0
        results[key] = GradCheckResult(
            key=key, checked=len(idx),
            max_rel_error=float(rel[worst]) if len(rel) else 0.0,
            worst_index=np.unravel_index(int(idx[worst]), p.shape) if len(idx) else (),
            analytic=float(a[worst]) if len(a) else 0.0,
            numeric=float(numeric[worst]) if len(a) else 0.0)
    return results


def _central_difference(f, flat: np.ndarray, i: int, h: float, order: int) -> float:
    orig = flat[i]

    def at(x):
        flat[i] = x
        return float(f()[0])
    try:
        d1 = at(orig + h) - at(orig - h)
        if order == 2:
            return d1 / (2 * h)
        d2 = at(orig + 2 * h) - at(orig - 2 * h)
        return (8 * d1 - d2) / (12 * h)
    finally:
        flat[i] = orig
