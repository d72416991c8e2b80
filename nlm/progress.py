"""Progress for long work: bars (reading, training) and a line per stage (n-gram estimation).

Library functions accept ``progress=None`` or a :class:`Progress`; they call
``update`` with how much work was done and ``set`` for extra figures such as
the loss. The bar is tqdm's, on stderr, and only when stderr is a terminal:
output redirected to a file or a pipe gets no bar. :func:`stage` times a named
step of a pipeline and prints one line when it ends, on a terminal or not,
inside :func:`reporting` (which ``nlm.train`` enters unless quiet).
"""
from __future__ import annotations

import contextvars
import sys
import time
from contextlib import contextmanager


def _human(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.1f}{unit}"
    return f"{x:.0f}"


def _duration(s: float) -> str:
    s = int(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """A progress bar (tqdm) on ``stream`` (stderr), shown only when it is a terminal and
    ``enabled``. ``done`` counts work in ``unit`` against ``total``; ``rate_done`` counts
    what the rate is given in (``rate_unit``, e.g. words while ``total`` is bytes)."""

    def __init__(self, desc: str, total: float | None = None, unit: str = "",
                 stream=None, interval: float | None = None, enabled: bool = True):
        self.desc, self.total, self.unit = desc, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream)
        self.interval = interval if interval is not None else 0.2
        self.enabled = enabled and self.tty
        self.done = 0.0
        self.rate_done = 0.0  # work in `unit` for the rate (e.g. words when total is bytes)
        self.rate_unit = unit
        self.extra: dict[str, str] = {}
        self.start = self.last = time.perf_counter()
        self._bar = None
        if self.enabled:
            from tqdm import tqdm
            self._bar = tqdm(total=total, desc=desc, unit=unit or "it", unit_scale=True,
                             file=self.stream, mininterval=self.interval, leave=False,
                             dynamic_ncols=True)

    def update(self, n: float = 1, rate_n: float | None = None):
        self.done += n
        self.rate_done += n if rate_n is None else rate_n
        if self._bar is not None:
            self._bar.update(n)
            now = time.perf_counter()
            if self.rate_unit != self.unit and now - self.last >= self.interval:
                self.last = now
                rate = self.rate_done / max(now - self.start, 1e-9)
                self.extra[self.rate_unit + "/s"] = _human(rate)
                self._bar.set_postfix(self.extra, refresh=False)

    def set(self, **figures):
        self.extra.update({k: (f"{v:.4g}" if isinstance(v, float) else str(v))
                           for k, v in figures.items()})
        if self._bar is not None:
            self._bar.set_postfix(self.extra, refresh=False)

    def line(self, now: float | None = None) -> str:
        now = time.perf_counter() if now is None else now
        elapsed = max(now - self.start, 1e-9)
        parts = [self.desc]
        if self.total:
            frac = min(self.done / self.total, 1.0)
            parts.append(f"{100 * frac:5.1f}%")
            if 0 < frac < 1:
                parts.append(f"ETA {_duration(elapsed * (1 - frac) / frac)}")
        parts.append(f"{_human(self.rate_done / elapsed)} {self.rate_unit}/s")
        parts += [f"{k} {v}" for k, v in self.extra.items()]
        parts.append(f"[{_duration(elapsed)}]")
        return "  ".join(parts)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- stages ------------------------------------------------------------------------------
_STAGE_STREAM: contextvars.ContextVar = contextvars.ContextVar("nlm_stage_stream", default=None)


@contextmanager
def reporting(enabled: bool = True, stream=None):
    """Within this block, :func:`stage` prints a line per finished stage to ``stream``
    (stderr); without it, or with ``enabled`` false, stages are silent."""
    token = _STAGE_STREAM.set((stream if stream is not None else sys.stderr) if enabled else None)
    try:
        yield
    finally:
        _STAGE_STREAM.reset(token)


@contextmanager
def stage(name: str):
    """Time one stage of a pipeline ("counting n-grams"); inside :func:`reporting`, print
    ``name: 1.23 s`` when it ends."""
    stream = _STAGE_STREAM.get()
    t0 = time.perf_counter()
    yield
    if stream is not None:
        stream.write(f"{name}: {time.perf_counter() - t0:.2f} s\n")
        stream.flush()


def note(text: str):
    """Inside :func:`reporting`, print one line (a choice the pipeline made, such as
    in-memory or out-of-core estimation)."""
    stream = _STAGE_STREAM.get()
    if stream is not None:
        stream.write(text + "\n")
        stream.flush()
