"""Training curves: train and valid perplexity against words seen, from training logs.

A training log is JSON Lines: one JSON object per line (blank lines skipped),
appended as training goes, as :mod:`nlm.neural.trainer` writes it (its
``train_log`` setting). The records this module reads::

    {"event": "step",  "words": 128000, "updates": 2000, "train_loss": 5.92}
    {"event": "epoch", "words": 2088628, "updates": 32635, "epoch": 1,
     "train_loss": 5.74, "train_ppl": 310.4, "valid_loss": 5.64, "valid_ppl": 282.0}
    {"event": "valid", "words": 1044314, "updates": 16317, "valid_loss": 5.80, "valid_ppl": 330.1}

* x axis: ``words`` (or ``tokens``), the training words (tokens, ``</s>``
  included) seen so far. A log whose records do not all carry it is drawn
  against ``updates`` (optimizer steps) instead; the axis says which.
* ``train_ppl`` or ``train_loss``, ``valid_ppl`` or ``valid_loss`` (``null``
  allowed): a loss is the mean cross-entropy in nats per token, drawn as
  perplexity exp(loss).
* ``event`` is optional. The train curve uses ``step`` records (running
  figures between evaluations) when any has a train figure; otherwise the
  records that have one (``epoch`` averages). Every record with a valid
  figure gives a valid point; a later one at the same x replaces it.
* Records with neither a train nor a valid figure (``start``, ``end``,
  ``checkpoint``, ``diverged``, ...) are skipped, as is anything else in a
  record, so a trainer may log more.

A line that is not a JSON object, or a figure that is not a number, is an
error naming the line. Drawing needs matplotlib (the ``plot`` extra); it is
imported only when a figure is drawn, and used through its Agg canvas, never
pyplot, so no display or global backend is involved.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

from .errors import NlmError, OptionError

INSTALL_HINT = 'plotting needs matplotlib; install it with: pip install "nlm[plot]"'


@dataclass
class Curves:
    label: str
    train: list[tuple[float, float]] = field(default_factory=list)  # (x, perplexity)
    valid: list[tuple[float, float]] = field(default_factory=list)
    x: str = "words"        # what x counts: "words" seen, or optimizer "updates"


def _figure(record: dict, name: str, where: str):
    """Perplexity from ``name_ppl`` or ``name_loss`` (nats/token), None if absent."""
    for key, to_ppl in ((f"{name}_ppl", float), (f"{name}_loss", _exp)):
        if key in record and record[key] is not None:
            value = record[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise NlmError(f"{where}: {key} is not a number ({value!r})")
            return to_ppl(value)
    return None


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _count(record: dict, keys: tuple[str, ...], where: str) -> float | None:
    for key in keys:
        value = record.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise NlmError(f"{where}: {key} is not a number ({value!r})")
            return float(value)
    return None


def read_training_log(path, label: str | None = None) -> Curves:
    """Train and valid curves of one JSONL training log (see the module docstring)."""
    path = os.fspath(path)
    if path == "-":
        raise NlmError("-: standard input cannot be a training log here; give the log "
                       "file's name (the JSON Lines file of --train-log)")
    if not os.path.exists(path):
        raise NlmError(f"{path}: no such file")
    if os.path.isdir(path):
        raise NlmError(f"{path}: is a directory, not a training log")
    points = []   # (is_step, words, updates, train_ppl, valid_ppl) of records with a figure
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise NlmError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        try:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{path}: line {lineno}"
                try:
                    record = json.loads(line)
                except ValueError:
                    raise NlmError(f"{where} is not JSON (expected one JSON object per "
                                   "line)") from None
                if not isinstance(record, dict):
                    raise NlmError(f"{where} is not a JSON object")
                train_ppl = _figure(record, "train", where)
                valid_ppl = _figure(record, "valid", where)
                if train_ppl is None and valid_ppl is None:
                    continue
                points.append((record.get("event") == "step",
                               _count(record, ("words", "tokens"), where),
                               _count(record, ("updates",), where), train_ppl, valid_ppl))
        except UnicodeDecodeError:
            raise NlmError(f"{path}: not valid UTF-8") from None
    if not points:
        raise NlmError(f"{path}: no perplexity records (expected JSON lines with one of "
                       "train_ppl, train_loss, valid_ppl, valid_loss)")
    if all(p[1] is not None for p in points):
        axis, xi = "words", 1
    elif all(p[2] is not None for p in points):
        axis, xi = "updates", 2
    else:
        raise NlmError(f"{path}: some perplexity records say neither how many words were "
                       "seen (\"words\") nor how many updates were made (\"updates\")")
    use_steps = any(p[0] and p[3] is not None for p in points)
    train = [(p[xi], p[3]) for p in points if p[3] is not None and p[0] == use_steps]
    valid = {p[xi]: p[4] for p in points if p[4] is not None}
    return Curves(label or os.path.splitext(os.path.basename(path))[0],
                  sorted(train), sorted(valid.items()), axis)


def require_matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import EngFormatter, LogFormatter
    except ImportError:
        raise NlmError(INSTALL_HINT) from None
    return Figure, FigureCanvasAgg, EngFormatter, LogFormatter


def plot_curves(curves: list[Curves], output, title: str | None = None) -> None:
    """Draw the curves (perplexity on a log scale against words seen) into ``output``;
    the format follows its suffix (png, pdf, svg, ...)."""
    from .files import atomic_output, check_writable
    Figure, FigureCanvasAgg, EngFormatter, LogFormatter = require_matplotlib()
    output = os.fspath(output)
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    canvas = FigureCanvasAgg(fig)
    fmt = os.path.splitext(output)[1].lstrip(".").lower()
    supported = canvas.get_supported_filetypes()
    if fmt not in supported:
        raise OptionError(f"{output}: cannot tell the image format from the suffix; use one of "
                          + ", ".join(f".{s}" for s in sorted(supported)))
    check_writable(output)
    ax = fig.add_subplot()
    colors = [f"C{i % 10}" for i in range(len(curves))]
    for c, color in zip(curves, colors):
        prefix = f"{c.label} " if len(curves) > 1 else ""
        train = [(w, p) for w, p in c.train if math.isfinite(p)]
        valid = [(w, p) for w, p in c.valid if math.isfinite(p)]
        if train:
            ax.plot(*zip(*train), color=color, linewidth=1.2, alpha=0.75, label=f"{prefix}train")
        if valid:
            ax.plot(*zip(*valid), color=color, linestyle="--", marker="o", markersize=4,
                    label=f"{prefix}valid")
    axes = {c.x for c in curves}
    if len(axes) > 1:
        raise NlmError("these logs cannot share an x axis: some count words seen, others only "
                       "updates (" + ", ".join(f"{c.label}: {c.x}" for c in curves) + ")")
    ax.set_yscale("log")
    ax.set_xlabel("words seen" if axes == {"words"} else "updates (the log does not count words)")
    ax.set_ylabel("perplexity")
    ax.xaxis.set_major_formatter(EngFormatter())
    # plain numbers (300, not 3 x 10^2) on the log axis, minor ticks labelled too
    ax.yaxis.set_major_formatter(LogFormatter())
    ax.yaxis.set_minor_formatter(LogFormatter(minor_thresholds=(2, 0.4)))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    with atomic_output(output) as f:
        fig.savefig(f, format=fmt, dpi=120)


__all__ = ["read_training_log", "plot_curves", "require_matplotlib", "Curves", "INSTALL_HINT"]
