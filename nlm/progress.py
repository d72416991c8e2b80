"""A small progress reporter for long work (counting, training, scoring).

Library functions accept ``progress=None`` or a :class:`Progress`; they call
``update`` with how much work was done and ``set`` for extra figures such as
the loss. Output goes to stderr, throttled, as one rewritten line on a
terminal and as occasional plain lines otherwise.
"""
from __future__ import annotations

import sys
import time


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


class Progress:
    def __init__(self, desc: str, total: float | None = None, unit: str = "",
                 stream=None, interval: float | None = None, enabled: bool = True):
        self.desc, self.total, self.unit = desc, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval if interval is not None else (0.2 if self.tty else 10.0)
        self.enabled = enabled
        self.done = 0.0
        self.rate_done = 0.0  # work in `unit` for the rate (e.g. words when total is bytes)
        self.rate_unit = unit
        self.extra: dict[str, str] = {}
        self.start = self.last = time.perf_counter()

    def update(self, n: float = 1, rate_n: float | None = None):
        self.done += n
        self.rate_done += n if rate_n is None else rate_n
        now = time.perf_counter()
        if self.enabled and now - self.last >= self.interval:
            self.last = now
            self._write(now, end="")

    def set(self, **figures):
        self.extra.update({k: (f"{v:.4g}" if isinstance(v, float) else str(v))
                           for k, v in figures.items()})

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

    def _write(self, now: float, end: str):
        text = self.line(now)
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K" + end)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled and (self.tty or time.perf_counter() - self.start >= self.interval):
            self._write(time.perf_counter(), end="\n" if self.tty else "")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
