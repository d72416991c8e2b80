"""Vectorizable elementary functions for the Numba kernels (exp, tanh, max).

Numba's np.exp and np.tanh call libm one element at a time, and a plain max()
loop does not vectorize (its NaN rules block it); the softmax of a 33k-word
vocabulary and a 500-unit tanh layer are dominated by them. The functions here
compile to SIMD code inside the kernels' loops:

- ``_exp``: reduces x = n ln2 + r (|r| <= ln2/2), evaluates a polynomial for e^r
  and builds 2^n from its bits: relative error < 4e-7 in float32 (degree 7,
  float32 rounding is 6e-8) and < 3e-16 in float64 (degree 12 Taylor). Inputs
  below the underflow limit (including -inf) give a tiny positive number, not 0:
  callers that need an exact 0 (a masked word) write it themselves. Inputs must
  be below about 88 (float32) / 709 (float64): the softmax only takes x - max <= 0.
  NaN stays NaN, so a diverging run is still seen.
- ``_tanh``: float32 uses the Cephes tanhf scheme (odd polynomial below 0.625,
  1 - 2 / (e^2|x| + 1) above; relative error ~1e-7); float64 is exact np.tanh.
- ``_sigmoid``: 1/2 + tanh(x/2)/2, which cannot overflow.
- ``_activate(v, act)`` and ``_activation_grad(y, act)``: the hidden activations
  by code (0 tanh, 1 sigmoid, 2 ReLU) and their derivatives written from the
  output y = f(v): tanh 1 - y^2, sigmoid y (1 - y), ReLU [y > 0].
- ``_maxnum``: LLVM's maxnum (the larger operand; NaN only if both are), which
  vectorizes as a reduction. A NaN logit still poisons the sum of exponentials.

Callers pick float32 or float64 by the argument's type (Numba overloads).
This module is the only source of these functions and of ``FASTMATH``.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

# The IEEE-relaxing flags that keep infinities and NaNs meaningful: no
# "nnan"/"ninf", because log-probabilities are legitimately -inf. Kernels also use
# error_model="numpy": a float division by zero gives inf/nan instead of raising,
# which removes the branch that otherwise stops LLVM from vectorizing a loop.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
# The elementary functions themselves must not be reassociated: exp's range reduction
# x - n*C1 - n*C2 (ln 2 split in two) would collapse to x - n*(C1+C2) and lose the
# precision it exists for. (Flags are per instruction, so they hold after inlining.)
_EXACT = {"nsz", "arcp", "contract", "afn"}


@intrinsic
def _int32_bits_as_float32(typingctx, x):
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return sig, codegen


@intrinsic
def _int64_bits_as_float64(typingctx, x):
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return sig, codegen


@intrinsic
def _maxnum(typingctx, a, b):
    if a != b or not isinstance(a, types.Float):
        return None
    sig = a(a, b)

    def codegen(context, builder, signature, args):
        lty = context.get_value_type(signature.return_type)
        fn = builder.module.declare_intrinsic("llvm.maxnum", [lty],
                                              ir.FunctionType(lty, [lty, lty]))
        return builder.call(fn, args)
    return sig, codegen


@njit(fastmath=_EXACT, error_model="numpy")
def _fast_exp32(x):
    if x < np.float32(-87.0):   # not max(): a NaN must stay NaN (divergence is detected)
        x = np.float32(-87.0)
    n = np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))
    r = x - n * np.float32(0.693145751953125) - n * np.float32(1.428606765330187e-06)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * r * r + r + np.float32(1.0)
    return p * _int32_bits_as_float32((np.int32(n) + np.int32(127)) << np.int32(23))


@njit(fastmath=_EXACT, error_model="numpy")
def _fast_exp64(x):
    if x < -708.0:
        x = -708.0
    n = np.floor(x * 1.4426950408889634 + 0.5)
    r = x - n * 0.693145751953125 - n * 1.42860682030941723212e-6
    p = 1.0 / 479001600.0          # 1/12!
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r * r + r + 1.0
    return p * _int64_bits_as_float64((np.int64(n) + np.int64(1023)) << np.int64(52))


def _exp(x):  # pragma: no cover - replaced by the overload inside kernels
    return np.exp(x)


@overload(_exp)
def _exp_overload(x):
    if x == types.float32:
        return lambda x: _fast_exp32(x)
    return lambda x: _fast_exp64(x)




@njit(fastmath=_EXACT, error_model="numpy")
def _fast_tanh32(x):
    ax = abs(x)
    if ax > np.float32(10.0):         # tanh(10) rounds to 1 in float32; keeps exp in range
        ax = np.float32(10.0)          # (written as a test, not min(): NaN stays NaN)
    big = np.float32(1.0) - np.float32(2.0) / (_fast_exp32(ax + ax) + np.float32(1.0))
    z = x * x
    small = ((((np.float32(-5.70498872745e-3) * z + np.float32(2.06390887954e-2)) * z
               - np.float32(5.37397155531e-2)) * z + np.float32(1.33314422036e-1)) * z
             - np.float32(3.33332819422e-1)) * z * x + x
    return small if ax < np.float32(0.625) else math.copysign(big, x)


def _tanh(x):  # pragma: no cover - replaced by the overload inside kernels
    return np.tanh(x)


@overload(_tanh)
def _tanh_overload(x):
    if x == types.float32:
        return lambda x: _fast_tanh32(x)
    return lambda x: np.tanh(x)


def _sigmoid(x):  # pragma: no cover - replaced by the overload inside kernels
    return 0.5 + 0.5 * np.tanh(0.5 * x)


@overload(_sigmoid)
def _sigmoid_overload(x):
    """The logistic sigmoid as 1/2 + tanh(x/2)/2 (no overflow), in the argument's
    dtype: the same numbers as activation code 1 of :func:`_activate`."""
    if x == types.float32:
        half32 = np.float32(0.5)
        return lambda x: half32 + half32 * _fast_tanh32(half32 * x)
    return lambda x: 0.5 + 0.5 * np.tanh(0.5 * x)


#: activation codes used by every kernel
TANH, SIGMOID, RELU = 0, 1, 2


def _make_activations(dtype):
    """f(v, act) and f'(y, act) with constants of ``dtype`` (float32 stays float32)."""
    zero, half, one = dtype(0), dtype(0.5), dtype(1)

    @njit(inline="always", fastmath=FASTMATH)
    def activate(v, act):
        if act == 0:
            return _tanh(v)
        if act == 1:
            return half + half * _tanh(half * v)     # the sigmoid, without overflow
        return max(v, zero)

    @njit(inline="always", fastmath=FASTMATH)
    def activation_grad(y, act):
        if act == 0:
            return one - y * y
        if act == 1:
            return y * (one - y)
        return one if y > zero else zero
    return activate, activation_grad


_ACT32 = _make_activations(np.float32)
_ACT64 = _make_activations(np.float64)


def _activate(v, act):  # pragma: no cover - replaced by the overload inside kernels
    """f(v) for activation code ``act`` (0 tanh, 1 sigmoid, 2 ReLU)."""


def _activation_grad(y, act):  # pragma: no cover - replaced by the overload inside kernels
    """f'(v) written from the output y = f(v)."""


@overload(_activate, inline="always")
def _activate_overload(v, act):
    fn = _ACT32[0] if v == types.float32 else _ACT64[0]
    return lambda v, act: fn(v, act)


@overload(_activation_grad, inline="always")
def _activation_grad_overload(y, act):
    fn = _ACT32[1] if y == types.float32 else _ACT64[1]
    return lambda y, act: fn(y, act)
