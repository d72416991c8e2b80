"""The trainer's files: checkpoints and the JSON Lines training log.

A checkpoint is the npz + JSON-header container of :mod:`nlm.files` (no
pickle): the header holds the model's config, the trainer's state, the
optimizer's and the schedule's scalars; the arrays are named ``param/KEY``
(current parameters), ``best/KEY`` (best-validation parameters), ``opt/KEY``
(optimizer state) and ``task/KEY`` (state a task carries between steps, such
as an RNN's hidden state). Written atomically, so an interrupted write leaves
the previous checkpoint.

This module knows what a checkpoint holds, not how training uses it
(:mod:`nlm.neural.trainer`).
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from ..errors import NlmError, OptionError
from ..files import read_npz, write_npz
from ..modelfile import register_other_container

CHECKPOINT_FORMAT = "nlm-checkpoint"
CHECKPOINT_VERSION = 1
HEADER = "__checkpoint__"
GROUPS = ("param", "best", "opt", "task")


def write_checkpoint(path, header: dict, groups: dict[str, dict[str, np.ndarray]]) -> None:
    """Write ``groups`` (group name -> arrays by key) and ``header`` atomically."""
    header = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **header}
    arrays = {f"{group}/{k}": v for group, named in groups.items() for k, v in named.items()}
    write_npz(path, header, arrays, HEADER)


def read_checkpoint(path) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays named ``group/KEY``) of a checkpoint file, with one-line errors."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise OptionError(f"{path}: no checkpoint to resume from")
    try:
        header, arrays = read_npz(path, HEADER, "nlm checkpoint")
    except NlmError as e:
        raise NlmError(f"{path}: not a readable nlm checkpoint "
                       f"({str(e).removeprefix(path + ': ')})") from None
    if not isinstance(header, dict) or header.get("format") != CHECKPOINT_FORMAT:
        raise NlmError(f"{path}: not an nlm checkpoint")
    if header.get("version", 0) > CHECKPOINT_VERSION:
        raise NlmError(f"{path}: checkpoint written by a newer nlm")
    return header, arrays


def checkpoint_summary(path) -> dict | None:
    """What a training checkpoint holds (model kind and settings, epochs and updates done),
    or None when ``path`` is not one."""
    import zipfile
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as z:
            if HEADER + ".npy" not in z.namelist():
                return None
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return None
    try:
        header, _ = read_checkpoint(path)
        model, state = dict(header["model"]), header["state"]
        best = state.get("best_loss")
        return {"file": path, "kind": "checkpoint", "model": model.pop("kind", "?"),
                "epochs": state["epoch"], "step": state["step"], "updates": state["updates"],
                "words": state["words"],
                "best_valid_ppl": float(np.exp(best)) if best is not None else None,
                "finished": state.get("finished", False), "config": model}
    except (NlmError, KeyError, TypeError, ValueError, AttributeError):
        return None


def _not_a_model(path: str) -> str | None:
    ck = checkpoint_summary(path)
    if ck is None:
        return None
    return (f"is a training checkpoint ({ck['model']} model after {ck['epochs']} epoch(s)), "
            "not a model file; continue training with nlm train ... --resume --checkpoint FILE")


register_other_container(HEADER, _not_a_model)


def split_groups(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """``{"param/W": a, ...}`` -> ``{"param": {"W": a}, ...}`` (unknown groups dropped)."""
    out: dict[str, dict[str, np.ndarray]] = {g: {} for g in GROUPS}
    for name, a in arrays.items():
        group, _, key = name.partition("/")
        if group in out:
            out[group][key] = a
    return out


class TrainingLog:
    """The JSON Lines training log: one object per event, flushed as written."""

    def __init__(self, path, append: bool):
        self.path = path
        self._f = None
        if path:
            try:
                self._f = open(path, "a" if append else "w", encoding="utf-8")
            except OSError as e:
                raise NlmError(f"{path}: cannot write ({e.strerror})") from None

    def write(self, event: str, **fields) -> None:
        if self._f is None:
            return
        rec = {"event": event, "time": round(time.time(), 3), **fields}
        try:
            self._f.write(json.dumps(rec, default=_json_default) + "\n")
            self._f.flush()
        except OSError as e:   # disk full, permissions changed: one line, not a traceback
            self._abandon()
            raise NlmError(f"{self.path}: cannot write the training log "
                           f"({e.strerror or e})") from None

    def _abandon(self) -> None:
        f, self._f = self._f, None
        try:
            f.close()
        except OSError:
            pass

    def close(self) -> None:
        if self._f is not None:
            f, self._f = self._f, None
            try:
                f.close()
            except OSError as e:
                raise NlmError(f"{self.path}: cannot write the training log "
                               f"({e.strerror or e})") from None


def _json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    return str(x)


__all__ = ["write_checkpoint", "read_checkpoint", "checkpoint_summary", "split_groups", "TrainingLog",
           "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION"]
