"""Optimizers, regularization, gradient clipping and learning-rate schedules.

Parameters and gradients are dicts of arrays with the same keys (as in
numpy-ml), so one optimizer serves every model. An optimizer keeps its state
(velocities, moment estimates) in arrays keyed the same way, which the trainer
saves in checkpoints. The learning rate is passed to every ``step`` by the
schedule; the optimizer does not own it.

Updates, with g' = s g + l2 w + l1 sign(w) (s from clipping; the penalties
apply to the keys in ``decay_keys``, the weights, not to biases):

    sgd       w -= lr g'
    momentum  buf = mu buf + g';  w -= lr buf
    nesterov  buf = mu buf + g';  w -= lr (g' + mu buf)
    adagrad   acc += g'^2;  w -= lr g' / (sqrt(acc) + eps)
    rmsprop   acc = rho acc + (1 - rho) g'^2;  w -= lr g' / (sqrt(acc) + eps)
    adam      m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2;
              w -= lr m^ / (sqrt(v^) + eps),  m^ = m / (1 - b1^t),  v^ = v / (1 - b2^t)
    adamw     w -= lr wd w (decoupled: the decay is not in g', nor in the moments), then
              adam's step on g' without l2; betas 0.9, 0.99
    asgd      sgd's step; once triggered, also avg += (w - avg) / k after the k-th step
              (NT-ASGD, Merity et al. 2017: validation uses the average, see :class:`ASGD`)

Sparse rows: when a model reports that only some rows of a gradient can be
non-zero (embeddings, class-softmax word blocks) and the update is exactly a
no-op for a zero gradient (sgd and adagrad without penalties), only those rows
are updated. Every other combination updates densely, so the result never
depends on this shortcut.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import OptionError
from . import optim_kernels as OK

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "asgd")
SCHEDULES = ("constant", "inverse", "plateau", "reduce", "cosine")
#: the cosine schedule decays the rate to this fraction of its peak
COSINE_FLOOR = 0.1


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1)


def _rows2d(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], -1)


class Optimizer:
    """Base: per-key state arrays, penalties and the dense/sparse dispatch."""
    name = ""
    slots: tuple[str, ...] = ()
    sparse_exact = False   # a zero gradient leaves w and the state unchanged

    def __init__(self, weight_decay: float = 0.0, l1: float = 0.0, decay_keys=()):
        for label, v in (("weight decay", weight_decay), ("l1", l1)):
            if not (v >= 0) or not math.isfinite(v):
                raise OptionError(f"{label} must be a number >= 0, got {v}")
        self.l2 = float(weight_decay)
        self.l1 = float(l1)
        self.decay_keys = frozenset(decay_keys)
        self.state: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self.slots}
        self.t = 0  # number of steps taken

    def _penalties(self, key: str) -> tuple[float, float]:
        return (self.l2, self.l1) if key in self.decay_keys else (0.0, 0.0)

    def _slot(self, slot: str, key: str, like: np.ndarray) -> np.ndarray:
        arr = self.state[slot].get(key)
        if arr is None:
            arr = self.state[slot][key] = np.zeros_like(like)
        return arr

    def step(self, params: dict, grads: dict, lr: float, rows: dict | None = None,
             grad_scale: float = 1.0) -> None:
        """One update of every parameter in place. ``rows`` maps keys to the rows whose
        gradient may be non-zero; ``grad_scale`` multiplies the gradients (clipping)."""
        self.t += 1
        rows = rows or {}
        for key, w in params.items():
            g = grads[key]
            l2, l1 = self._penalties(key)
            r = rows.get(key)
            if r is not None and self.sparse_exact and l2 == 0 and l1 == 0:
                self._update_rows(key, w, g, r, lr, grad_scale)
            else:
                self._update_dense(key, w, g, lr, grad_scale, l2, l1)

    def _update_dense(self, key, w, g, lr, s, l2, l1):  # pragma: no cover - abstract
        raise NotImplementedError

    def _update_rows(self, key, w, g, rows, lr, s):  # pragma: no cover - sparse_exact only
        raise NotImplementedError

    # -- checkpoints -------------------------------------------------------------
    def hyper(self) -> dict:
        return {"name": self.name, "weight_decay": self.l2, "l1": self.l1}

    def state_dict(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON scalars, arrays named ``slot/key``)."""
        arrays = {f"{slot}/{key}": a for slot, d in self.state.items() for key, a in d.items()}
        return {"t": self.t, **self.hyper()}, arrays

    def load_state_dict(self, scalars: dict, arrays: dict[str, np.ndarray], params: dict):
        if scalars.get("name") != self.name:
            raise OptionError(f"the checkpoint was trained with optimizer "
                              f"{scalars.get('name')!r}, not {self.name!r}")
        self.t = int(scalars["t"])
        for slot in self.slots:
            self.state[slot] = {}
        for name, a in arrays.items():
            slot, _, key = name.partition("/")
            if slot not in self.state or key not in params or a.shape != params[key].shape:
                raise OptionError(f"optimizer state {name!r} does not match the model")
            self.state[slot][key] = np.array(a, dtype=params[key].dtype)


class SGD(Optimizer):
    name = "sgd"
    sparse_exact = True

    def _update_dense(self, key, w, g, lr, s, l2, l1):
        OK._sgd_dense(_flat(w), _flat(g), lr, s, l2, l1)

    def _update_rows(self, key, w, g, rows, lr, s):
        OK._sgd_rows(_rows2d(w), _rows2d(g), rows, lr, s, 0.0, 0.0)


class Momentum(Optimizer):
    name = "momentum"
    slots = ("velocity",)
    nesterov = False

    def __init__(self, momentum: float = 0.9, **kw):
        super().__init__(**kw)
        if not (0 <= momentum < 1):
            raise OptionError(f"momentum must be in [0, 1), got {momentum}")
        self.mu = float(momentum)

    def hyper(self):
        return {**super().hyper(), "momentum": self.mu}

    def _update_dense(self, key, w, g, lr, s, l2, l1):
        buf = self._slot("velocity", key, w)
        OK._momentum_dense(_flat(w), _flat(g), _flat(buf), lr, s, l2, l1, self.mu,
                           self.nesterov)


class Nesterov(Momentum):
    name = "nesterov"
    nesterov = True


class AdaGrad(Optimizer):
    name = "adagrad"
    slots = ("sum_squares",)
    sparse_exact = True

    def __init__(self, eps: float = 1e-8, **kw):
        super().__init__(**kw)
        self.eps = float(eps)

    def _update_dense(self, key, w, g, lr, s, l2, l1):
        acc = self._slot("sum_squares", key, w)
        OK._adagrad_dense(_flat(w), _flat(g), _flat(acc), lr, s, l2, l1, self.eps)

    def _update_rows(self, key, w, g, rows, lr, s):
        acc = _rows2d(self._slot("sum_squares", key, w))
        OK._adagrad_rows(_rows2d(w), _rows2d(g), acc, rows, lr, s, 0.0, 0.0, self.eps)


class RMSProp(Optimizer):
    name = "rmsprop"
    slots = ("mean_square",)

    def __init__(self, rho: float = 0.9, eps: float = 1e-8, **kw):
        super().__init__(**kw)
        if not (0 <= rho < 1):
            raise OptionError(f"rmsprop decay must be in [0, 1), got {rho}")
        self.rho, self.eps = float(rho), float(eps)

    def _update_dense(self, key, w, g, lr, s, l2, l1):
        acc = self._slot("mean_square", key, w)
        OK._rmsprop_dense(_flat(w), _flat(g), _flat(acc), lr, s, l2, l1, self.rho, self.eps)


class Adam(Optimizer):
    name = "adam"
    slots = ("m", "v")

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, **kw):
        super().__init__(**kw)
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise OptionError(f"adam betas must be in [0, 1), got {beta1}, {beta2}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _update_dense(self, key, w, g, lr, s, l2, l1):
        m = self._slot("m", key, w)
        v = self._slot("v", key, w)
        c1 = 1.0 / (1.0 - self.beta1 ** self.t)
        c2 = 1.0 / (1.0 - self.beta2 ** self.t)
        OK._adam_dense(_flat(w), _flat(g), _flat(m), _flat(v), lr, s, l2, l1,
                       self.beta1, self.beta2, c1, c2, self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): the decay shrinks
    the weights in ``decay_keys`` by lr * weight_decay each step, whatever their
    gradient's scale, instead of entering the gradient (where Adam's normalization
    would undo it). beta2 = 0.99: with the small batches of a CPU the second moment
    follows the gradient's scale more closely than 0.999 allows (nanoGPT's setting
    for its character model)."""
    name = "adamw"

    def __init__(self, beta1: float = 0.9, beta2: float = 0.99, eps: float = 1e-8, **kw):
        super().__init__(beta1, beta2, eps, **kw)

    def _update_dense(self, key, w, g, lr, s, l2, l1):
        m = self._slot("m", key, w)
        v = self._slot("v", key, w)
        c1 = 1.0 / (1.0 - self.beta1 ** self.t)
        c2 = 1.0 / (1.0 - self.beta2 ** self.t)
        OK._adamw_dense(_flat(w), _flat(g), _flat(m), _flat(v), lr, s, l2, l1,
                        self.beta1, self.beta2, c1, c2, self.eps)


class ASGD(SGD):
    """Averaged SGD with the non-monotonic trigger (NT-ASGD, Merity et al. 2017): plain
    SGD until a validation loss is worse than the best of those before the last
    :attr:`NONMONO` (the trigger, fed by :meth:`observe` after every epoch's
    validation); from then on every step also updates a running average of the
    weights, and :meth:`averaged` swaps the average in (for validation: the best weights
    the trainer keeps, and returns, are averages)."""
    name = "asgd"
    slots = ("avg",)
    NONMONO = 5

    def __init__(self, **kw):
        super().__init__(**kw)
        self.logs: list[float] = []
        self.k = 0                  # steps averaged; 0 = not triggered

    def observe(self, valid_loss: float | None) -> None:
        if valid_loss is None:
            return
        n = self.NONMONO
        if self.k == 0 and len(self.logs) > n and valid_loss > min(self.logs[:-n]):
            self.k = -1             # average from the next step on
        self.logs.append(float(valid_loss))

    def step(self, params, grads, lr, rows=None, grad_scale=1.0):
        super().step(params, grads, lr, rows, grad_scale)
        if self.k == 0:
            return
        self.k = 1 if self.k < 0 else self.k + 1
        for key, w in params.items():
            avg = self._slot("avg", key, w)
            if self.k == 1:
                np.copyto(avg, w)
            else:
                avg += (w - avg) * (1.0 / self.k)

    def averaged(self, params: dict):
        """Context manager: ``params`` hold the averaged weights inside (unchanged before
        the trigger), their own values again after."""
        return _Swapped(params, self.state["avg"] if self.k > 0 else {})

    def state_dict(self):
        scalars, arrays = super().state_dict()
        return {**scalars, "k": self.k, "logs": list(self.logs)}, arrays

    def load_state_dict(self, scalars, arrays, params):
        super().load_state_dict(scalars, arrays, params)
        self.k = int(scalars.get("k", 0))
        self.logs = [float(x) for x in scalars.get("logs", [])]


class _Swapped:
    def __init__(self, params: dict, replacement: dict):
        self.params, self.replacement, self.saved = params, replacement, {}

    def __enter__(self):
        for k, v in self.replacement.items():
            self.saved[k] = self.params[k].copy()
            np.copyto(self.params[k], v)
        return self

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            np.copyto(self.params[k], v)
        return False


_CLASSES = {c.name: c for c in (SGD, Momentum, Nesterov, AdaGrad, RMSProp, Adam, AdamW, ASGD)}


def make_optimizer(name: str, *, weight_decay: float = 0.0, l1: float = 0.0,
                   decay_keys=(), momentum: float = 0.9) -> Optimizer:
    cls = _CLASSES.get(name)
    if cls is None:
        raise OptionError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    kw = {"weight_decay": weight_decay, "l1": l1, "decay_keys": decay_keys}
    if issubclass(cls, Momentum):
        kw["momentum"] = momentum
    return cls(**kw)


# -- gradient clipping ---------------------------------------------------------
def global_norm(grads: dict, rows: dict | None = None) -> float:
    """sqrt of the sum of squares of every gradient (row-sparse ones over their rows)."""
    rows = rows or {}
    total = 0.0
    for key, g in grads.items():
        r = rows.get(key)
        total += (OK._sum_squares_rows(_rows2d(g), r) if r is not None
                  else OK._sum_squares(_flat(g)))
    return math.sqrt(total)


def clip_scale(grads: dict, max_norm: float | None, rows: dict | None = None) -> float:
    """The factor that brings the global gradient norm down to ``max_norm`` (1 if below)."""
    if max_norm is None:
        return 1.0
    norm = global_norm(grads, rows)
    return max_norm / norm if norm > max_norm else 1.0


def all_finite(arrays: dict) -> bool:
    return all(OK._all_finite(_flat(a)) for a in arrays.values())


# -- learning-rate schedules ----------------------------------------------------
class Schedule:
    """The learning rate over training, and what happens at each validation.

    constant  lr
    inverse   lr / (1 + r t), t = updates so far (Bengio et al. 2003)
    plateau   rnnlm (Mikolov): after an epoch whose validation loss did not improve
              on the previous epoch's by the factor ``min_improvement``, halve the
              rate every epoch; at the next such epoch stop. An epoch that made the
              validation loss worse is undone (the best weights are restored).
    reduce    reduce on plateau: after an epoch that did not improve on the best
              validation loss so far, restore the best weights and halve the rate;
              stop after ``max_halvings`` such epochs (or when the epochs run out).
              Every improvement counts, however small, and the rate stays until
              validation stops improving, so training is not cut short by one
              noisy epoch; it suits Adam, whose steps do not shrink by themselves.
    cosine    lr (f + (1 - f) (1 + cos(pi u)) / 2), u = the fraction of the planned
              updates done after the warm-up (:meth:`plan`), f = COSINE_FLOOR
              (Loshchilov & Hutter 2017, without restarts; GPT's schedule).

    ``warmup`` > 0 multiplies the rate of update t (from 0) by min(1, (t + 1) / warmup)
    whatever the schedule: a linear warm-up, which keeps Adam's first steps, taken
    with second-moment estimates from a few batches, from throwing the weights far.
    """

    def __init__(self, kind: str = "constant", lr: float = 0.1, decay: float = 0.0,
                 min_improvement: float = 1.003, max_halvings: int = 4, warmup: int = 0):
        if kind not in SCHEDULES:
            raise OptionError(f"unknown learning-rate schedule {kind!r}; choose from "
                              f"{', '.join(SCHEDULES)}")
        if not (lr > 0) or not math.isfinite(lr):
            raise OptionError(f"learning rate must be a positive number, got {lr}")
        if not (decay >= 0) or not math.isfinite(decay):
            raise OptionError(f"learning-rate decay must be a number >= 0, got {decay}")
        if not (min_improvement >= 1):
            raise OptionError(f"min-improvement must be at least 1, got {min_improvement}")
        self.kind, self.lr0, self.decay = kind, float(lr), float(decay)
        self.min_improvement = float(min_improvement)
        self.max_halvings = int(max_halvings)
        if not isinstance(warmup, (int, np.integer)) or isinstance(warmup, bool) or warmup < 0:
            raise OptionError(f"warmup must be a whole number >= 0, got {warmup!r}")
        self.warmup = int(warmup)
        self.total: int | None = None   # cosine: the planned number of updates
        # state (saved in checkpoints)
        self.factor = 1.0        # plateau, reduce: 0.5 ** halvings
        self.halving = False
        self.last_loss = math.inf
        self.best_loss = math.inf   # reduce
        self.halvings = 0           # reduce

    def plan(self, total_updates: int) -> None:
        """The number of updates training is planned for (the cosine's length), set
        once: a resumed run keeps the plan of its checkpoint."""
        if self.total is None:
            self.total = int(total_updates)

    def lr(self, updates: int) -> float:
        warm = min(1.0, (updates + 1) / self.warmup) if self.warmup else 1.0
        if self.kind == "inverse":
            return warm * self.lr0 / (1.0 + self.decay * updates)
        if self.kind == "cosine":
            span = max(1, (self.total or 1) - self.warmup)
            u = min(1.0, max(0, updates - self.warmup) / span)
            return warm * self.lr0 * (COSINE_FLOOR + (1 - COSINE_FLOOR)
                                      * 0.5 * (1.0 + math.cos(math.pi * u)))
        return warm * self.lr0 * self.factor

    def end_epoch(self, valid_loss: float | None) -> tuple[bool, bool]:
        """Called after each epoch's validation: returns (restore_best, stop)."""
        if self.kind == "reduce" and valid_loss is not None:
            return self._reduce(valid_loss)
        if self.kind != "plateau" or valid_loss is None:
            return False, False
        restore = valid_loss > self.last_loss
        stop = False
        if valid_loss * self.min_improvement > self.last_loss:
            if self.halving:
                stop = True
            self.halving = True
        if self.halving and not stop:
            self.factor *= 0.5
        if not restore:   # after an undone epoch, the next is judged against the weights kept
            self.last_loss = valid_loss
        return restore, stop

    def _reduce(self, valid_loss: float) -> tuple[bool, bool]:
        if valid_loss < self.best_loss:
            self.best_loss = valid_loss
            return False, False
        self.halvings += 1
        if self.halvings > self.max_halvings:
            return True, True
        self.factor *= 0.5
        return True, False

    def state_dict(self) -> dict:
        def finite(x):
            return None if math.isinf(x) else x
        return {"factor": self.factor, "halving": self.halving,
                "last_loss": finite(self.last_loss), "best_loss": finite(self.best_loss),
                "halvings": self.halvings, "total": self.total}

    def load_state_dict(self, d: dict) -> None:
        self.factor = float(d["factor"])
        self.halving = bool(d["halving"])
        self.last_loss = math.inf if d["last_loss"] is None else float(d["last_loss"])
        best = d.get("best_loss")       # absent in checkpoints written before "reduce"
        self.best_loss = math.inf if best is None else float(best)
        self.halvings = int(d.get("halvings", 0))
        total = d.get("total")         # absent in checkpoints written before "cosine"
        self.total = None if total is None else int(total)
