"""nlm.progress: a tqdm bar only on a terminal, a line per pipeline stage."""
from __future__ import annotations

import io
import re

from conftest import TINY_TEXT, run

from nlm.progress import Progress, reporting, stage


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_bar_on_a_terminal_shows_progress_and_figures():
    out = Terminal()
    bar = Progress("epoch 1/2", total=1000, unit="words", stream=out, interval=0)
    for _ in range(10):
        bar.update(100)
        bar.set(loss=2.5)
    bar.close()
    text = out.getvalue()
    assert "epoch 1/2" in text and "100%" in text and "1.00k/1.00k" in text
    assert "loss=2.5" in text
    assert bar.done == 1000


def test_no_bar_when_stderr_is_not_a_terminal_or_when_quiet():
    for stream, enabled in ((io.StringIO(), True), (Terminal(), False)):
        bar = Progress("reading", total=10, unit="B", stream=stream, enabled=enabled)
        bar.update(10)
        bar.close()
        assert stream.getvalue() == "" and bar.done == 10


def test_stages_print_a_timed_line_only_when_reporting():
    out = io.StringIO()
    with stage("silent"):
        pass
    with reporting(True, stream=out):
        with stage("counting"):
            pass
        with reporting(False):
            with stage("quiet"):
                pass
    assert re.fullmatch(r"counting: \d+\.\d\d s\n", out.getvalue())


def test_ngram_training_reports_each_stage(runner, tmp_path):
    (tmp_path / "t.txt").write_text("\n".join(TINY_TEXT) + "\n")
    r = run(runner, ["train", tmp_path / "t.txt", "--model", "mkn", "--order", 2,
                     "-o", tmp_path / "m.npz"])
    stages = [line.rsplit(": ", 1)[0] for line in r.output.splitlines()
              if re.search(r": \d+\.\d\d s$", line)]
    assert stages == ["counting 1- to 2-grams of 40 tokens", "adjusted counts and discounts",
                      "mkn: probabilities and backoff weights", f"writing {tmp_path / 'm.npz'}"]
    quiet = run(runner, ["train", tmp_path / "t.txt", "--model", "mkn", "--order", 2, "-q",
                         "-o", tmp_path / "m.npz"])
    assert not re.search(r": \d+\.\d\d s$", quiet.output, re.M)
