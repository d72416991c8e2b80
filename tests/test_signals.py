"""Ctrl-C (SIGINT), SIGTERM and SIGHUP in the middle of every command that writes: each
leaves nothing behind (no temporary file, spill directory or Dask scratch space), leaves
an output that existed before as it was, exits with one ``Error:`` line and the signal's
status (128 + its number; a neural run stopped by Ctrl-C checkpoints and exits 1).

Each command runs in a subprocess of its own session; the signal is sent once the
command is seen doing the work (its temporary output file, its spill directory, its
first checkpoint or its Dask scratch space exists), so that it always lands mid-work."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from conftest import ROOT, run

SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}
TRAIN = ROOT / "corpora" / "shakespeare" / "train.txt"
VALID = ROOT / "corpora" / "shakespeare" / "valid.txt"


def default_signals():
    """In the child: the signals the test sends at their default disposition. A runner
    that ignores some (``nohup`` ignores SIGHUP, a shell's background job SIGINT) passes
    that on, and the command would then rightly carry on."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """4-gram models of the shipped training text (big enough that writing it takes a
    while) and of its validation text (small enough to mix quickly)."""
    d = tmp_path_factory.mktemp("models")
    runner = CliRunner()
    run(runner, ["train", TRAIN, "--model", "kn", "--order", 4, "-q", "-o", d / "k.npz"])
    run(runner, ["train", VALID, "--model", "kn", "--order", 4, "-q", "-o", d / "v.npz"])
    return d


#: command -> (arguments, with {m} the models' directory; what shows the work is under way)
COMMANDS = {
    "train n-gram": (["train", str(TRAIN), "--model", "kn", "--order", "4", "-q",
                      "--arpa", "out.arpa", "-o", "out.npz"], "temp file"),
    "train neural --checkpoint": (["train", str(VALID), "--model", "rnn", "--cell", "elman",
                                   "--emb", "16", "--hidden", "16", "--epochs", "30", "-q",
                                   "--checkpoint", "ck.npz", "-o", "out.npz"], "checkpoint"),
    "train out of core": (["train", str(TRAIN), "--model", "kn", "--order", "4", "-q",
                           "--memory", "1M", "--temp-dir", "spill", "-o", "out.npz"],
                          "spill directory"),
    "mix -o --write-arpa": (["mix", "--weights", "0.5,0.5", "{m}/v.npz", "{m}/v.npz",
                             "--write-arpa", "out.arpa", "-o", "out.npz"], "temp file"),
    "build-binary": (["build-binary", "{m}/k.npz", "out.nlmbin"], "temp file"),
    "export-arpa": (["export-arpa", "{m}/k.npz", "out.arpa.gz"], "temp file"),
    "train --dask local:2": (["train", str(TRAIN), "--model", "kn", "--order", "3", "-q",
                              "--dask", "local:2", "-o", "out.npz"], "dask scratch"),
}

OUTPUTS = ("out.npz", "out.arpa", "out.nlmbin", "out.arpa.gz")


def _under_way(work, tmp, what) -> bool:
    names = os.listdir(work)
    if what == "temp file":
        return any(n.startswith(".nlm-") and n.endswith(".tmp") for n in names)
    if what == "checkpoint":
        return "ck.npz" in names
    if what == "spill directory":
        return bool(os.listdir(work / "spill"))
    return any(n.startswith(".nlm-dask-") for n in os.listdir(tmp))


def _everything(d) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() if p.is_file() else "dir"
            for p in sorted(d.rglob("*"))}


@pytest.mark.parametrize("sig", sorted(SIGNALS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_signal_mid_work_leaves_nothing_behind(models, tmp_path, command, sig):
    args, what = COMMANDS[command]
    if "--dask" in args:
        pytest.importorskip("dask.distributed")
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    (work / "spill").mkdir()
    for name in OUTPUTS:
        (work / name).write_bytes(b"the previous output")
    before = _everything(work)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp))
    p = subprocess.Popen([sys.executable, "-m", "nlm.cli", *[a.format(m=models) for a in args]],
                         cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True,
                         preexec_fn=default_signals)
    try:
        deadline = time.monotonic() + 300
        while p.poll() is None and not _under_way(work, tmp, what):
            assert time.monotonic() < deadline, "the command never got under way"
            time.sleep(0.002)
        assert p.poll() is None, f"{command} finished before the signal: make its work bigger"
        p.send_signal(SIGNALS[sig])
        _, err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = err.decode()
    lines = [line for line in err.splitlines() if line.strip()]
    neural_ctrl_c = sig == "SIGINT" and "neural" in command
    assert p.returncode == (1 if neural_ctrl_c else 128 + SIGNALS[sig]), (p.returncode, err)
    if "--dask" not in args:     # Dask's own processes may complain as they go (see README)
        assert "Traceback" not in err, err
        assert len([line for line in lines if line.startswith("Error:")]) == 1, err
    assert lines and lines[-1].startswith("Error:"), err
    after = _everything(work)
    if neural_ctrl_c:            # Ctrl-C checkpoints, so that --resume can continue
        assert "interrupted" in lines[-1] and after.pop("ck.npz", None) is not None
    elif "neural" in command:    # the checkpoint of the epochs done stays, for --resume
        after.pop("ck.npz", None)
    assert after == before, "an output was replaced or something was left behind"
    assert _everything(tmp) == {}, f"left in the temporary directory: {_everything(tmp)}"


@pytest.mark.parametrize("delay", [0.3, 0.6])
def test_ctrl_c_while_the_modules_import_is_one_line(models, tmp_path, delay):
    """Ctrl-C soon after start, while nlm's modules (numpy, numba, click...) import: one
    line, no KeyboardInterrupt traceback, the status of a Ctrl-C."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "nlm.cli", "info", str(models / "v.npz")],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True,
                         preexec_fn=default_signals)
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    err = err.decode()
    if p.returncode == 0:
        pytest.skip("the command finished before the signal")
    if "init_import_site" in err:    # Python itself was still starting: not nlm's to handle
        pytest.skip("the signal came before Python had started")
    assert p.returncode in (130, -signal.SIGINT), (p.returncode, err)
    # (nothing at all when the signal killed Python before it installed its own handler)
    assert "Traceback" not in err and err.strip() in ("Error: interrupted", ""), err
