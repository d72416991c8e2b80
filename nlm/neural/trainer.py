"""The training loop shared by the neural models: epochs, validation, schedules,
checkpoints, interruption and divergence.

A model plugs in through a :class:`TrainingTask` (its parameters, gradients
and how to run one step); the :class:`Trainer` owns everything else:

- epochs of minibatches (the task shuffles with the trainer's generator, in
  ``start_epoch`` only, so a resumed epoch replays the same order);
- validation perplexity after every epoch and optionally every K steps; the
  parameters with the best validation loss are the ones returned;
- the learning-rate schedule and early stopping (:mod:`nlm.neural.optim`);
- a progress line (loss, words/s, ETA) and a JSONL training log;
- an atomic checkpoint (npz + JSON header, no pickle) after every epoch with
  the parameters, the best parameters, the optimizer and schedule state and
  the random generator's state; ``resume=True`` continues from it and gives
  exactly the result of an uninterrupted run;
- Ctrl-C: the current step finishes, a checkpoint is written and
  :class:`TrainingInterrupted` is raised (a second Ctrl-C aborts at once);
- a NaN, infinite or absurd (> 700 nats/token) loss stops training with
  :class:`TrainingDiverged`; no
  checkpoint is written from diverged parameters, so the last good one stays.

The trainer knows nothing about layers or vocabularies.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from ..errors import NlmError, OptionError, check_seed
from ..progress import Progress
from ..registry import Opt
from .checkpoint import TrainingLog, read_checkpoint, split_groups, write_checkpoint
from .optim import OPTIMIZERS, SCHEDULES, Schedule, all_finite, clip_scale, make_optimizer

#: A mean cross-entropy above this (nats per token) means training diverged: its
#: perplexity overflows a float64 (e^709), where a uniform guess over even a million
#: words costs 14 nats. Saturated networks can stop short of NaN with losses like 1e30.
MAX_MEAN_LOSS = 700.0


class TrainingDiverged(NlmError):
    """The loss became NaN or infinite."""


class TrainingInterrupted(NlmError):
    """Training was stopped by Ctrl-C (after writing a checkpoint when it could)."""


class TrainingTask:
    """What a model provides to the trainer (subclass and fill in).

    ``params`` and ``grads`` are dicts of arrays with the same keys; ``step``
    overwrites ``grads`` with the gradient of the mean loss of one minibatch.
    """
    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    decay_keys: frozenset = frozenset()   # keys that weight decay and L1 apply to
    has_valid: bool = False               # validation_loss() returns figures

    def config(self) -> dict:
        """The model's hyper-parameters; a checkpoint resumes only into the same config."""
        raise NotImplementedError

    def start_epoch(self, rng: np.random.Generator) -> int:
        """Prepare an epoch (shuffle with ``rng``; the only place randomness is drawn);
        return its number of steps."""
        raise NotImplementedError

    def epoch_tokens(self) -> int:
        """Tokens per epoch (for the progress line)."""
        raise NotImplementedError

    def step(self, i: int) -> tuple[float, int]:
        """Forward and backward on minibatch ``i`` of the epoch: (summed loss in nats, tokens)."""
        raise NotImplementedError

    def touched_rows(self) -> dict[str, np.ndarray]:
        """Keys whose gradient is zero outside the given rows after the last step."""
        return {}

    def validation_loss(self) -> tuple[float, int] | None:
        """(summed nats, tokens) on the validation text, or None without one."""
        return None

    def state_arrays(self) -> dict[str, np.ndarray]:
        """State carried between steps of an epoch (an RNN's hidden state), for checkpoints."""
        return {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        pass


@dataclass
class TrainSettings:
    epochs: int = 10
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0          # L2 penalty (on weights, not biases)
    l1: float = 0.0
    clip_norm: float | None = None     # clip the global gradient norm to this
    lr_schedule: str | None = None     # constant | inverse | plateau | reduce | cosine (None:
    #                                    reduce with validation text, else constant)
    warmup: int = 0                    # updates of linear warm-up (any schedule)
    lr_decay: float = 1e-4             # r of lr / (1 + r t)
    min_improvement: float = 1.003     # plateau schedule (rnnlm)
    max_halvings: int = 4              # reduce schedule: stop after this many halvings
    patience: int | None = None        # early stopping: epochs without improvement
    valid_every: int | None = None     # also validate every K steps
    time_budget: float | None = None   # seconds; stop (and keep the best) after this
    seed: int = 1
    checkpoint: str | None = None
    checkpoint_every: int | None = None  # also checkpoint every N updates (not only per epoch)
    resume: bool = False
    train_log: str | None = None
    progress: bool = False

    def check(self, has_valid: bool) -> None:
        check_seed(self.seed)
        if not isinstance(self.epochs, (int, np.integer)) or self.epochs < 1:
            raise OptionError(f"epochs must be at least 1, got {self.epochs}")
        if self.optimizer not in OPTIMIZERS:
            raise OptionError(f"unknown optimizer {self.optimizer!r}; choose from "
                              f"{', '.join(OPTIMIZERS)}")
        if self.lr_schedule not in SCHEDULES:
            raise OptionError(f"unknown learning-rate schedule {self.lr_schedule!r}; choose "
                              f"from {', '.join(SCHEDULES)}")
        if self.max_halvings < 0:
            raise OptionError(f"max-halvings must be at least 0, got {self.max_halvings}")
        if self.clip_norm is not None and not (self.clip_norm > 0):
            raise OptionError(f"clip-norm must be positive, got {self.clip_norm}")
        if self.patience is not None and self.patience < 1:
            raise OptionError(f"patience must be at least 1, got {self.patience}")
        if self.valid_every is not None and self.valid_every < 1:
            raise OptionError(f"valid-every must be at least 1, got {self.valid_every}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise OptionError(f"checkpoint-every must be at least 1, got {self.checkpoint_every}")
        if self.time_budget is not None and not (self.time_budget > 0):
            raise OptionError(f"time budget must be positive, got {self.time_budget}")
        if not has_valid:
            for name, needs in ((f"--lr-schedule {self.lr_schedule}",
                                 self.lr_schedule in ("plateau", "reduce")),
                                ("--patience", self.patience is not None),
                                ("--valid-every", self.valid_every is not None)):
                if needs:
                    raise OptionError(f"{name} needs validation text (--valid FILE)")
        if self.resume and not self.checkpoint:
            raise OptionError("--resume needs a checkpoint path")


#: Option names every neural model accepts for its trainer (the CLI passes them to ``fit``).
TRAINER_OPTIONS = frozenset(f.name for f in fields(TrainSettings)) - {"progress"}
#: Their types (int, float, str or bool), read from the dataclass.
TRAINER_TYPES = {f.name: {"int": int, "float": float, "str": str, "bool": bool}[
    f.type.replace(" | None", "")] for f in fields(TrainSettings) if f.name in TRAINER_OPTIONS}


#: Help for each trainer option (``nlm train --help``).
TRAINER_OPTION_HELP = {
    "epochs": Opt("Neural: passes over the text."),
    "optimizer": Opt("Neural: optimizer.", choices=OPTIMIZERS),
    "lr": Opt("Neural: learning rate.", none_means="by optimizer"),
    "momentum": Opt("Neural, momentum/nesterov: momentum."),
    "weight_decay": Opt("Neural: L2 penalty."),
    "l1": Opt("Neural: L1 penalty."),
    "clip_norm": Opt("Neural: clip the gradient's global norm to this.", none_means="none"),
    "lr_schedule": Opt("Neural: constant; inverse: lr/(1+rt); plateau: halve when "
                       "validation stops improving by --min-improvement, then stop at the "
                       "next such epoch (rnnlm); reduce: restore the best weights and halve "
                       "after every epoch that does not improve validation, stop after "
                       "--max-halvings (plateau and reduce need --valid); cosine: decay to a tenth "
                       "along half a cosine over the planned updates (epochs x steps).",
                       choices=SCHEDULES, none_means="reduce with --valid, else constant"),
    "lr_decay": Opt("Neural, --lr-schedule inverse: r in lr/(1+rt)."),
    "warmup": Opt("Neural: raise the learning rate linearly over this many updates "
                  "(with any schedule); 0 = none."),
    "min_improvement": Opt("Neural, --lr-schedule plateau: validation improvement "
                           "factor that counts as progress."),
    "max_halvings": Opt("Neural, --lr-schedule reduce: stop after this many halvings."),
    "patience": Opt("Neural: stop after this many epochs without improvement.",
                    none_means="none"),
    "valid_every": Opt("Neural: also validate every K updates.", none_means="each epoch"),
    "time_budget": Opt("Neural: stop after this many seconds (keeping the best model).",
                       none_means="none"),
    "seed": Opt("Neural: random seed."),
    "checkpoint": Opt("Neural: checkpoint file written after every epoch and on Ctrl-C.",
                      none_means="OUTPUT.ckpt.npz"),
    "checkpoint_every": Opt("Neural: also write the checkpoint every N updates, so that a "
                            "killed run loses at most N updates.", none_means="each epoch"),
    "resume": Opt("Neural: continue from --checkpoint."),
    "train_log": Opt("Neural: JSON Lines training log.", none_means="none"),
}


def split_settings(options: dict) -> tuple[TrainSettings, dict]:
    """(TrainSettings from the trainer options in ``options``, the remaining options)."""
    mine = {k: v for k, v in options.items() if k in TRAINER_OPTIONS or k == "progress"}
    rest = {k: v for k, v in options.items() if k not in mine}
    return TrainSettings(**mine), rest


@dataclass
class TrainState:
    epoch: int = 0                  # completed epochs
    step: int = 0                   # completed steps of the current epoch
    updates: int = 0                # total optimizer steps
    words: int = 0                  # training tokens seen over all epochs (the curves' x)
    epoch_loss: float = 0.0         # summed nats of the current epoch so far
    epoch_tokens: int = 0
    best_loss: float | None = None  # best validation loss (nats/token)
    best_at: list = field(default_factory=list)   # [epoch, step] where the best was seen
    improved_this_epoch: bool = False
    bad_epochs: int = 0
    finished: bool = False          # stopped by early stopping or the plateau schedule
    stop_reason: str = ""
    seconds: float = 0.0            # training time over all sessions
    epoch_rng: dict = field(default_factory=dict)  # generator state at the start of `epoch`
    history: list = field(default_factory=list)    # one dict per finished epoch


@dataclass
class TrainResult:
    params: dict[str, np.ndarray]   # the best-validation parameters (or the last ones)
    history: list
    best_valid_ppl: float | None
    stop_reason: str
    seconds: float                  # training time, all sessions


def _ppl(loss: float | None) -> float | None:
    if loss is None:
        return None
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


class Trainer:
    def __init__(self, task: TrainingTask, settings: TrainSettings, callbacks=(),
                 stream=None):
        self.task = task
        self.s = settings
        self.callbacks = list(callbacks)   # cb(trainer, event), event in {"step", "epoch"}
        self.stream = stream if stream is not None else sys.stderr
        self.has_valid = bool(task.has_valid)
        if settings.lr_schedule is None:
            settings.lr_schedule = "reduce" if self.has_valid else "constant"
        settings.check(self.has_valid)
        self.optimizer = make_optimizer(settings.optimizer, weight_decay=settings.weight_decay,
                                        l1=settings.l1, decay_keys=task.decay_keys,
                                        momentum=settings.momentum)
        self.schedule = Schedule(settings.lr_schedule, settings.lr, settings.lr_decay,
                                 settings.min_improvement, settings.max_halvings,
                                 settings.warmup)
        self.state = TrainState()
        self.best: dict[str, np.ndarray] | None = None
        seq = np.random.SeedSequence(settings.seed)
        self.rng = np.random.default_rng(seq.spawn(2)[1])  # [0] is the models' init stream
        self._stop_requested = False
        self._consistent = True
        self._log = None
        self._checkpoint_epoch: int | None = None

    # -- the loop ------------------------------------------------------------------
    def run(self) -> TrainResult:
        s, task = self.s, self.task
        if s.resume:
            self._load_checkpoint(s.checkpoint)   # replaces self.state
        else:
            self.state.epoch_rng = self.rng.bit_generator.state
        st = self.state
        self._open_log(append=s.resume)
        self._log_event("resume" if s.resume else "start", settings=asdict(s),
                        model=task.config(), epoch=st.epoch, step=st.step)
        old_handler = self._install_sigint()
        session_start = time.perf_counter()
        seconds_before = st.seconds
        # overflow in a diverging run is reported by the loss check, not as warnings
        errstate = np.errstate(over="ignore", invalid="ignore")
        errstate.__enter__()
        try:
            while not st.finished and st.epoch < s.epochs:
                self.rng.bit_generator.state = st.epoch_rng
                n_steps = task.start_epoch(self.rng)
                self.schedule.plan(s.epochs * n_steps)
                if st.step == 0:
                    st.epoch_loss, st.epoch_tokens = 0.0, 0
                    st.improved_this_epoch = False
                out_of_time = self._run_epoch(n_steps, session_start)
                st.seconds = seconds_before + time.perf_counter() - session_start
                epoch_done = st.step >= n_steps
                if epoch_done:
                    self._end_epoch()
                if out_of_time:
                    if not epoch_done:   # stopped mid-epoch: validate what we have
                        self._validate(where="time budget")
                    st.stop_reason = "time budget"
                    self._save_checkpoint()
                    break
        except KeyboardInterrupt:
            self._interrupted()
        finally:
            errstate.__exit__(None, None, None)
            self._restore_sigint(old_handler)
        st.seconds = seconds_before + time.perf_counter() - session_start
        if not st.stop_reason:
            st.stop_reason = "epochs"
        self._log_event("end", reason=st.stop_reason, epochs=st.epoch, updates=st.updates,
                        words=st.words,
                        best_valid_ppl=_ppl(st.best_loss), seconds=st.seconds)
        self._close_log()
        params = self.best if self.best is not None else task.params
        return TrainResult({k: v.copy() for k, v in params.items()}, list(st.history),
                           _ppl(st.best_loss), st.stop_reason, st.seconds)

    def _run_epoch(self, n_steps: int, session_start: float) -> bool:
        """Steps of the current epoch from ``state.step``; True if the time budget ran out."""
        s, st, task, opt = self.s, self.state, self.task, self.optimizer
        bar = Progress(f"epoch {st.epoch + 1}/{s.epochs}", total=task.epoch_tokens(),
                       unit="words", stream=self.stream, enabled=s.progress)
        bar.done = bar.rate_done = 0.0
        t0 = time.perf_counter()
        tokens0 = st.epoch_tokens
        try:
            for i in range(st.step, n_steps):
                if self._stop_requested:
                    raise KeyboardInterrupt
                lr = self.schedule.lr(st.updates)
                self._consistent = False
                loss, ntok = task.step(i)
                if not (loss <= MAX_MEAN_LOSS * max(ntok, 1)):   # NaN fails this test too
                    self._diverged(f"the loss is {loss / max(ntok, 1):.4g} nats per token")
                rows = task.touched_rows()
                scale = clip_scale(task.grads, s.clip_norm, rows)
                opt.step(task.params, task.grads, lr, rows, scale)
                st.step = i + 1
                st.updates += 1
                st.epoch_loss += loss
                st.epoch_tokens += ntok
                st.words += ntok
                self._consistent = True
                bar.update(ntok)
                bar.set(loss=loss / max(ntok, 1), lr=lr)
                for cb in self.callbacks:
                    cb(self, "step")
                if s.valid_every and st.updates % s.valid_every == 0 and st.step < n_steps:
                    self._validate(where="step")
                if s.checkpoint_every and st.updates % s.checkpoint_every == 0 \
                        and st.step < n_steps:
                    self._save_checkpoint()
                if s.time_budget is not None and \
                        time.perf_counter() - session_start >= s.time_budget:
                    return True
        finally:
            bar.close()
            self._epoch_seconds = time.perf_counter() - t0
            self._epoch_session_tokens = st.epoch_tokens - tokens0
        return False

    def _end_epoch(self) -> None:
        st, s = self.state, self.s
        valid_loss = self._validate(where="epoch") if self.has_valid else None
        if hasattr(self.optimizer, "observe"):      # asgd's non-monotonic trigger
            self.optimizer.observe(valid_loss)
        st.bad_epochs = 0 if st.improved_this_epoch else st.bad_epochs + 1
        restore, stop = self.schedule.end_epoch(valid_loss)
        if restore and self.best is not None:
            self._consistent = False
            for k, v in self.best.items():
                np.copyto(self.task.params[k], v)
            self._consistent = True
        if s.patience is not None and st.bad_epochs >= s.patience:
            stop, st.stop_reason = True, f"no improvement in {s.patience} epochs"
        elif stop:
            st.stop_reason = "plateau"
        train_loss = st.epoch_loss / max(st.epoch_tokens, 1)
        record = {"epoch": st.epoch + 1, "updates": st.updates, "words": st.words,
                  "train_loss": train_loss,
                  "train_ppl": _ppl(train_loss), "valid_loss": valid_loss,
                  "valid_ppl": _ppl(valid_loss), "lr": self.schedule.lr(st.updates),
                  "restored_best": bool(restore), "seconds": self._epoch_seconds,
                  "words_per_second": self._epoch_session_tokens / max(self._epoch_seconds,
                                                                       1e-9)}
        st.history.append(record)
        st.epoch += 1
        st.step = 0
        st.epoch_rng = self.rng.bit_generator.state
        st.finished = bool(stop)
        self._log_event("epoch", **record)
        if self.s.progress:
            valid = f", valid ppl {record['valid_ppl']:.2f}" if valid_loss is not None else ""
            self.stream.write(f"epoch {record['epoch']}/{s.epochs}: train ppl "
                              f"{record['train_ppl']:.2f}{valid}, lr {record['lr']:.4g}, "
                              f"{record['words_per_second']:.0f} words/s\n")
            self.stream.flush()
        self._save_checkpoint()
        for cb in self.callbacks:
            cb(self, "epoch")

    def _validate(self, where: str) -> float | None:
        if hasattr(self.optimizer, "averaged"):    # asgd: validate (and keep) the average
            with self.optimizer.averaged(self.task.params):
                return self._validate_params(where)
        return self._validate_params(where)

    def _validate_params(self, where: str) -> float | None:
        res = self.task.validation_loss()
        if res is None:
            return None
        nats, tokens = res
        loss = nats / max(tokens, 1)
        st = self.state
        if not (loss <= MAX_MEAN_LOSS):
            self._diverged(f"the validation loss is {loss:.4g} nats per token")
        if st.best_loss is None or loss < st.best_loss:
            st.best_loss = loss
            st.best_at = [st.epoch + (where == "epoch"), st.step]
            st.improved_this_epoch = True
            self._consistent = False
            if self.best is None:
                self.best = {k: v.copy() for k, v in self.task.params.items()}
            else:
                for k, v in self.task.params.items():
                    np.copyto(self.best[k], v)
            self._consistent = True
        if where != "epoch":
            self._log_event("valid", epoch=st.epoch, step=st.step, updates=st.updates,
                            words=st.words, valid_loss=loss, valid_ppl=_ppl(loss))
            if self.s.progress:
                tty = hasattr(self.stream, "isatty") and self.stream.isatty()
                self.stream.write(f"{chr(10) if tty else ''}valid ppl {_ppl(loss):.2f} after "
                                  f"{st.updates} updates "
                                  f"(epoch {st.epoch + 1}, step {st.step})\n")
                self.stream.flush()
        return loss

    # -- failure paths ---------------------------------------------------------------
    def _diverged(self, why: str) -> None:
        st = self.state
        where = f"epoch {st.epoch + 1}, step {st.step + 1}"
        if self._checkpoint_epoch is not None:
            kept = (f"the last good checkpoint ({self.s.checkpoint}, after "
                    f"{self._checkpoint_epoch} epoch(s)) is left as it was")
        else:
            kept = "no checkpoint was written"
        self._log_event("diverged", epoch=st.epoch + 1, step=st.step + 1, reason=why)
        self._close_log()
        raise TrainingDiverged(f"training diverged at {where}: {why}; {kept}. "
                               "Try a lower --lr or --clip-norm.")

    def _interrupted(self) -> None:
        st = self.state
        saved = False
        if self._consistent and self.s.checkpoint:
            self._save_checkpoint()
            saved = True
        self._log_event("interrupted", epoch=st.epoch, step=st.step, checkpoint_written=saved)
        self._close_log()
        where = f"epoch {st.epoch + 1}, step {st.step}"
        if saved:
            msg = (f"interrupted at {where}: checkpoint written to {self.s.checkpoint}; "
                   "run the same command with --resume to continue")
        elif self.s.checkpoint and self._checkpoint_epoch is not None:
            msg = (f"interrupted at {where}; the checkpoint {self.s.checkpoint} holds the "
                   f"state after {self._checkpoint_epoch} epoch(s)")
        else:
            msg = f"interrupted at {where}; no checkpoint was written"
        raise TrainingInterrupted(msg)

    def _install_sigint(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self._stop_requested:      # second Ctrl-C: stop now
                raise KeyboardInterrupt
            self._stop_requested = True   # first: finish the step, checkpoint, stop
        try:
            return signal.signal(signal.SIGINT, handler)
        except ValueError:
            return None

    @staticmethod
    def _restore_sigint(old) -> None:
        if old is not None:
            signal.signal(signal.SIGINT, old)

    # -- checkpoints -----------------------------------------------------------------
    def _save_checkpoint(self) -> None:
        path = self.s.checkpoint
        if not path:
            return
        if not all_finite(self.task.params):
            self._diverged("the parameters are not finite")
        scalars, opt_arrays = self.optimizer.state_dict()
        header = {"model": self.task.config(), "state": asdict(self.state),
                  "optimizer": scalars, "schedule": self.schedule.state_dict()}
        write_checkpoint(path, header, {"param": self.task.params, "best": self.best or {},
                                        "opt": opt_arrays, "task": self.task.state_arrays()})
        self._checkpoint_epoch = self.state.epoch
        self._log_event("checkpoint", path=os.fspath(path), epoch=self.state.epoch,
                        step=self.state.step)

    def _load_checkpoint(self, path) -> None:
        header, arrays = read_checkpoint(path)
        model = self.task.config()
        if header.get("model") != model:
            saved = header.get("model") or {}
            diff = sorted(k for k in set(saved) | set(model) if saved.get(k) != model.get(k))
            raise OptionError(f"{path}: checkpoint of a different model (differs in "
                              f"{', '.join(diff)}); use the options it was trained with")
        params = self.task.params
        groups = split_groups(arrays)
        for group in ("param", "best"):
            for key, a in groups[group].items():
                if key not in params or a.shape != params[key].shape:
                    raise OptionError(f"{path}: parameter {key!r} does not match the model")
        if set(groups["param"]) != set(params):
            raise OptionError(f"{path}: checkpoint is missing parameters")
        for key, a in groups["param"].items():
            np.copyto(params[key], a)
        best = {k: np.array(a, dtype=params[k].dtype) for k, a in groups["best"].items()}
        opt_arrays, task_arrays = groups["opt"], groups["task"]
        self.best = best or None
        self.optimizer.load_state_dict(header["optimizer"], opt_arrays, params)
        self.schedule.load_state_dict(header["schedule"])
        self.state = TrainState(**header["state"])
        self.task.load_state_arrays(task_arrays)
        self._checkpoint_epoch = self.state.epoch

    # -- log ---------------------------------------------------------------------------
    def _open_log(self, append: bool) -> None:
        self._log = TrainingLog(self.s.train_log, append)

    def _log_event(self, event: str, **fields_) -> None:
        if self._log is not None:
            self._log.write(event, **fields_)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
