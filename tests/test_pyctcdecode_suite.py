"""pyctcdecode's own test suite with ``import kenlm`` resolved to ``nlm.kenlm``.

pyctcdecode's wheel and sdist (0.5.0) ship no tests, so the suite is taken from a
checkout of its repository at the installed version's tag: the directory named by
``NLM_PYCTCDECODE_SRC`` (a git checkout of github.com/kensho-technologies/pyctcdecode),
else a mirror at /work/.mirror/kensho-technologies+pyctcdecode/repo; the test skips when
neither is there. Nothing of pyctcdecode is kept in this repository: the installed
package and the tag's ``pyctcdecode/tests`` are copied into a temporary directory and run
there in a subprocess, whose ``sitecustomize`` makes ``kenlm`` name ``nlm.kenlm`` (also in
the processes pyctcdecode's tests spawn). The notebook test is left out (it needs
Jupyter and the repository's tutorials), and the Hugging Face test when
huggingface_hub is not installed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

MIRROR = Path("/work/.mirror/kensho-technologies+pyctcdecode/repo")
SHIM = "import sys\nimport nlm.kenlm\nsys.modules['kenlm'] = nlm.kenlm\n"


def _source() -> Path:
    src = Path(os.environ.get("NLM_PYCTCDECODE_SRC", MIRROR))
    if not src.exists():
        pytest.skip("no pyctcdecode checkout (set NLM_PYCTCDECODE_SRC)")
    return src


def test_pyctcdecode_suite_passes_on_nlm_kenlm(tmp_path):
    pyctcdecode = pytest.importorskip("pyctcdecode")
    pytest.importorskip("hypothesis")
    pytest.importorskip("pygtrie")
    from importlib.metadata import version
    src = _source()
    tag = "v" + version("pyctcdecode")
    pkg = tmp_path / "pyctcdecode"
    shutil.copytree(Path(pyctcdecode.__file__).parent, pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    archive = subprocess.run(["git", "--git-dir" if (src / "HEAD").exists() else "-C", str(src),
                              "archive", tag, "pyctcdecode/tests"],
                             capture_output=True, check=False)
    if archive.returncode:
        pytest.skip(f"{src} has no tag {tag}")
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
    (pkg / "tests" / "test_notebooks.py").unlink(missing_ok=True)
    (tmp_path / "sitecustomize.py").write_text(SHIM)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    from importlib.util import find_spec
    # the Hugging Face test needs huggingface_hub (not a kenlm matter)
    deselect = [] if find_spec("huggingface_hub") else [
        "--deselect", "pyctcdecode/tests/test_decoder.py::TestSerialization::"
        "test_load_from_hub_offline"]
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "no:randomly", "pyctcdecode/tests"] + deselect,
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-2000:]
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in last and "failed" not in last and "error" not in last, last
    # the suite ran against nlm.kenlm, not the real module
    probe = subprocess.run([sys.executable, "-c", "import kenlm; print(kenlm.__name__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert probe.stdout.strip() == "nlm.kenlm"
