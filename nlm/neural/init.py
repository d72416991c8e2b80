"""Weight initialization: uniform, normal and Xavier/Glorot, from an explicit generator.

Every function draws from the ``numpy.random.Generator`` it is given, in
float64, then casts: the same seed gives the same weights in float32 and in
float64 (up to the cast), whatever the training dtype.

    uniform   U(-scale, scale)
    normal    N(0, scale^2)
    xavier    U(-a, a),  a = sqrt(6 / (fan_in + fan_out))   (Glorot & Bengio 2010)
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import OptionError

INITS = ("uniform", "normal", "xavier")


def initialize(rng: np.random.Generator, shape: tuple, method: str = "xavier",
               scale: float = 0.1, fan_in: int | None = None, fan_out: int | None = None,
               dtype=np.float32) -> np.ndarray:
    """A new array of ``shape``; ``fan_in``/``fan_out`` default to the first/last dimension."""
    if method == "uniform":
        w = rng.uniform(-scale, scale, size=shape)
    elif method == "normal":
        w = rng.normal(0.0, scale, size=shape)
    elif method == "xavier":
        fi = fan_in if fan_in is not None else shape[0]
        fo = fan_out if fan_out is not None else shape[-1]
        a = math.sqrt(6.0 / (fi + fo))
        w = rng.uniform(-a, a, size=shape)
    else:
        raise OptionError(f"unknown initialization {method!r}; choose from {', '.join(INITS)}")
    return np.ascontiguousarray(w, dtype=dtype)


def check_init(method: str, scale: float) -> None:
    if method not in INITS:
        raise OptionError(f"unknown initialization {method!r}; choose from {', '.join(INITS)}")
    if not (scale > 0) or not math.isfinite(scale):
        raise OptionError(f"init scale must be a positive number, got {scale}")
