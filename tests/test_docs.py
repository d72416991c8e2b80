"""The documentation tells the truth about the code: links resolve, the README's set-up
commands are the ones CI runs, the CLI reference is current, the commands the docs show
use options that exist, and what the docs say about defaults is what the code does."""
from __future__ import annotations

import importlib.util
import inspect
import re
import shlex
from pathlib import Path

import pytest

from nlm.cli import main as nlm_main
from nlm.neural.rnn import RNNModel, RNNNetwork

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", ROOT / "CONTRIBUTING.md",
         ROOT / "CHANGELOG.md", ROOT / "scripts" / "bench" / "README.md", *DOCS]
FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks, inline code removed."""
    fenced = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            yield n, re.sub(r"`[^`]*`", "", line)


def code_blocks(text: str) -> list[list[str]]:
    """The lines of every fenced code block."""
    blocks, current = [], None
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            k = seen.get(base, 0)
            seen[base] = k + 1
            out.add(base if k == 0 else f"{base}-{k}")
    return out


def test_the_readme_stays_short():
    """The README is the front page (what nlm is, set-up, quick starts, commands, API);
    the details and every measured table belong in docs/."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 300, f"README.md has {lines} lines; move details to a page of docs/"


def test_the_pages_exist():
    for page in PAGES:
        assert page.exists(), f"{_rel(page)} is missing"
    names = {p.name for p in DOCS}
    assert {"README.md", "interface.md", "ngram.md", "neural.md", "production.md",
            "mixtures.md", "benchmarks.md", "cli.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_resolve(page):
    """Every relative link names an existing file, and its #anchor an existing heading."""
    broken = []
    for n, line in prose_lines(page.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):     # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            if not dest.exists():
                broken.append(f"line {n}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"line {n}: {target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{_rel(page)}: broken links:\n" + "\n".join(broken)


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Set-up[^\n]*\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## Set-up' section"
    return [" ".join(line.strip() for line in block if line.strip())
            for block in code_blocks(section.group(1))
            if any(line.strip() for line in block)
            and "pip install" in block[0]]


def test_the_readme_has_exactly_two_setup_commands_and_ci_runs_the_second():
    commands = setup_commands()
    assert len(commands) == 2, f"README.md's Set-up section has {len(commands)} commands"
    main_job, tests = commands
    assert main_job.startswith("pip install . && nlm train corpora/shakespeare/")
    for arg in shlex.split(main_job.replace("&&", " ")):
        if arg.startswith("corpora/"):
            assert (ROOT / arg).exists(), f"the first set-up command reads {arg}, missing"
    assert "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in (line.strip() for line in ci), \
        f".ci/run must run the README's test command exactly: {tests}"


def _cli_reference():
    spec = importlib.util.spec_from_file_location("cli_reference",
                                                  ROOT / "scripts" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_is_up_to_date():
    module = _cli_reference()
    current = module.OUTPUT.read_text(encoding="utf-8")
    assert current == module.reference(), (
        "docs/cli.md differs from what `nlm COMMAND --help` prints now: run "
        "`python scripts/cli_reference.py` and commit docs/cli.md")


def shown_commands(text: str):
    """Every `nlm COMMAND ...` line of the code blocks (continuations joined, comments
    dropped) as (command, flags)."""
    for block in code_blocks(text):
        joined: list[str] = []
        for line in block:
            if joined and (joined[-1].endswith("\\") or re.match(r"^\s+[\[-]", line)):
                joined[-1] = joined[-1].rstrip("\\") + " " + line.strip()
            else:
                joined.append(line)
        for line in joined:
            m = re.match(r"^\s*(?:\$\s+)?nlm\s+([a-z][a-z-]*)(.*)$", line)
            if m:
                rest = m.group(2).split(" #")[0]
                yield m.group(1), set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest))


@pytest.mark.parametrize("page", [p for p in PAGES if p.name != "cli.md"], ids=_rel)
def test_shown_commands_and_options_exist(page):
    """A command line shown in the docs uses commands and options nlm has."""
    import click
    ctx = click.Context(nlm_main, info_name="nlm")
    wrong = []
    for name, flags in shown_commands(page.read_text(encoding="utf-8")):
        command = nlm_main.get_command(ctx, name)
        if command is None:
            wrong.append(f"nlm {name}: no such command")
            continue
        known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        wrong += [f"nlm {name} {flag}: no such option" for flag in sorted(flags - known)]
    assert not wrong, f"{_rel(page)}:\n" + "\n".join(wrong)


def test_rnn_cell_defaults_agree_with_fit():
    """Every constructor defaults to the cell `fit` (and so `nlm train`) trains."""
    cell = inspect.signature(RNNModel.fit).parameters["cell"].default
    assert cell == "lstm"
    for fn in (RNNModel.__init__, RNNNetwork.__init__, RNNNetwork.param_shapes,
               RNNNetwork.init_params):
        assert inspect.signature(fn).parameters["cell"].default == cell, fn.__qualname__


def test_the_slug_rule():
    assert slug("Static mixtures: one merged n-gram model") == \
        "static-mixtures-one-merged-n-gram-model"
    assert slug("nlm build-binary") == "nlm-build-binary"
    assert slug("The first one-hour runs (Elman and MLP, before the current defaults)") == \
        "the-first-one-hour-runs-elman-and-mlp-before-the-current-defaults"


def _named_files(text: str):
    """File names the page gives in backticks: paths (`nlm/ngram/arpa.py`,
    `tests/test_rnn.py`) and bare module files (`counts.py`)."""
    for name in re.findall(r"`([\w./-]+\.(?:py|md|toml))`", text):
        yield name


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in ("cli.md",
                                                                     "CHANGELOG.md")], ids=_rel)
def test_named_files_exist(page):
    """A file the docs name exists: a path from the repository root, or a bare module name
    somewhere in the package, the scripts or the tests (modules move; the docs follow)."""
    everywhere = {p.name for d in ("nlm", "scripts", "tests") for p in (ROOT / d).rglob("*")}
    everywhere |= {"REFERENCE.md", "STYLE.md"}          # in ../shared, outside the repository
    missing = []
    for name in _named_files(page.read_text(encoding="utf-8")):
        if "/" in name:
            if not (ROOT / name).exists() and not (page.parent / name).exists() \
                    and not name.startswith("../"):
                missing.append(name)
        elif name not in everywhere and not (ROOT / name).exists():
            missing.append(name)
    assert not missing, f"{_rel(page)} names files that do not exist: {sorted(set(missing))}"


@pytest.mark.parametrize("first", ["nlm.evaluate", "nlm.api, nlm.cli"])
def test_the_public_names_the_readme_calls_are_functions_and_classes(first):
    """`nlm.evaluate(lm, test)` in the README's Python API: a public name stays the function
    or class, whichever module is imported first (`nlm.evaluate` is also a submodule's
    name). A fresh interpreter, so that the import order is the one given."""
    import os
    import subprocess
    import sys
    code = (f"import nlm, types; nlm.__all__; import {first}\n"
            "bad = [n for n in nlm.__all__ if isinstance(getattr(nlm, n), types.ModuleType)]\n"
            "assert not bad, bad\n"
            "assert callable(nlm.evaluate) and callable(nlm.generate) and callable(nlm.train)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
