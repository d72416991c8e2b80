"""``nlm mix``, ``nlm compare`` and ``nlm plot`` end to end, and their bad inputs."""
from __future__ import annotations

import builtins
import json
import math
import os

import pytest
from conftest import TINY_TEXT, assert_one_line_error, run

from nlm.mixture import MixtureModel
from nlm.modelfile import load

TRAIN = "\n".join(TINY_TEXT) + "\n"
VALID = "the dog sat on the mat\na cat saw the log\nthe red cat sat\n"
TEST = "a dog and a cat on the log\nthe cat sat\na zebra sat on the mat\n"


@pytest.fixture
def files(tmp_path, runner):
    (tmp_path / "train.txt").write_text(TRAIN, encoding="utf-8")
    (tmp_path / "other.txt").write_text(TRAIN + "a zebra sat\n", encoding="utf-8")
    (tmp_path / "valid.txt").write_text(VALID, encoding="utf-8")
    (tmp_path / "test.txt").write_text(TEST, encoding="utf-8")
    (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    (tmp_path / "models").mkdir()
    for name, order, k in (("uni", 1, 0.1), ("tri", 3, 0.01)):
        run(runner, ["train", tmp_path / "train.txt", "--model", "add-k", "--order", order,
                     "--k", k, "-q",
                     "-o", tmp_path / "models" / f"{name}.npz"])
    run(runner, ["train", tmp_path / "other.txt", "--model", "add-k", "--order", 2, "-q",
                 "-o", tmp_path / "models" / "other.npz"])
    return tmp_path


def table(output: str) -> dict[str, list[str]]:
    """Rows of a whitespace-aligned table, keyed by their first cell."""
    return {line.split()[0]: line.split()[1:] for line in output.splitlines() if line.strip()}


# -- nlm mix ----------------------------------------------------------------------


def test_mix_tunes_weights_and_reports_perplexities(runner, files):
    m = files / "models"
    out = run(runner, ["mix", "--valid", files / "valid.txt", m / "uni.npz", m / "tri.npz",
                       "-o", files / "mix.npz"]).output
    assert "EM converged after" in out and "(18 tokens)" in out
    rows = table(out)
    w_uni, ppl_uni = map(float, rows[str(m / "uni.npz")])
    w_tri, ppl_tri = map(float, rows[str(m / "tri.npz")])
    (ppl_mix,) = map(float, rows["mixture"])
    assert w_uni + w_tri == pytest.approx(1.0, abs=2e-4) and 0 < w_uni < 1
    assert ppl_mix < min(ppl_uni, ppl_tri)
    mix = load(files / "mix.npz")
    assert isinstance(mix, MixtureModel)
    assert mix.weights[0] == pytest.approx(w_uni, abs=1e-4)
    # the printed figures are what `nlm evaluate` says about each file
    for path, ppl in ((m / "uni.npz", ppl_uni), (files / "mix.npz", ppl_mix)):
        ev = json.loads(run(runner, ["evaluate", path, files / "valid.txt", "--json"]).output)
        assert ev["perplexity"] == pytest.approx(ppl, abs=1e-4)
    # and it is a model like any other
    run(runner, ["generate", files / "mix.npz", "-n", 2, "--seed", 1])
    assert "mixture" in run(runner, ["info", files / "mix.npz"]).output


def test_mix_with_fixed_weights(runner, files):
    m = files / "models"
    out = run(runner, ["mix", "--weights", "1,3", m / "uni.npz", m / "tri.npz",
                       "-o", files / "mix.npz"]).output
    assert "EM" not in out and "valid ppl" not in out
    assert load(files / "mix.npz").weights.tolist() == [0.25, 0.75]
    out = run(runner, ["mix", "--weights", "0.5,0.5", "--valid", files / "valid.txt",
                       m / "uni.npz", m / "tri.npz", "-o", files / "mix2.npz"]).output
    assert "EM" not in out and "mixture" in table(out)


def test_mixture_file_survives_moving_the_directory(runner, files, tmp_path_factory):
    m = files / "models"
    run(runner, ["mix", "--weights", "0.5,0.5", m / "uni.npz", m / "tri.npz",
                 "-o", m / "mix.npz"])
    moved = tmp_path_factory.mktemp("moved") / "models"
    os.rename(m, moved)
    ev = json.loads(run(runner, ["evaluate", moved / "mix.npz", files / "valid.txt",
                                 "--json"]).output)
    assert math.isfinite(ev["perplexity"])


def test_mix_missing_component(runner, files):
    m = files / "models"
    r = run(runner, ["mix", "--valid", files / "valid.txt", m / "uni.npz", m / "nope.npz",
                     "-o", files / "mix.npz"], ok=False)
    assert_one_line_error(r, "nope.npz", "no such file")
    assert not (files / "mix.npz").exists()


def test_load_mixture_whose_component_was_deleted(runner, files):
    m = files / "models"
    run(runner, ["mix", "--weights", "0.5,0.5", m / "uni.npz", m / "tri.npz",
                 "-o", files / "mix.npz"])
    os.unlink(m / "tri.npz")
    r = run(runner, ["evaluate", files / "mix.npz", files / "valid.txt"], ok=False)
    assert_one_line_error(r, "mix.npz", "component", "tri.npz", "not found")


def test_mix_vocabulary_mismatch(runner, files):
    m = files / "models"
    r = run(runner, ["mix", "--valid", files / "valid.txt", m / "uni.npz", m / "other.npz",
                     "-o", files / "mix.npz"], ok=False)
    assert_one_line_error(r, "other.npz", "different vocabulary", "'zebra'")


def test_load_mixture_whose_component_was_retrained(runner, files):
    m = files / "models"
    run(runner, ["mix", "--weights", "0.5,0.5", m / "uni.npz", m / "tri.npz",
                 "-o", files / "mix.npz"])
    run(runner, ["train", files / "other.txt", "--model", "add-k", "--order", 3, "-q",
                 "-o", m / "tri.npz"])
    r = run(runner, ["compare", files / "test.txt", files / "mix.npz"], ok=False)
    assert_one_line_error(r, "component", "tri.npz", "different vocabulary")


@pytest.mark.parametrize("valid, needle", [("missing.txt", "no such file"),
                                           ("empty.txt", "empty"),
                                           ("latin1.txt", "not valid UTF-8"),
                                           ("models", "directory")])
def test_mix_bad_valid_file(runner, files, valid, needle):
    m = files / "models"
    r = run(runner, ["mix", "--valid", files / valid, m / "uni.npz", m / "tri.npz",
                     "-o", files / "mix.npz"], ok=False)
    assert_one_line_error(r, needle)
    assert not (files / "mix.npz").exists()


@pytest.mark.parametrize("args, needle", [
    (["--valid", "valid.txt", "models/uni.npz"], "at least two"),
    (["models/uni.npz", "models/tri.npz"], "--valid"),
    (["--weights", "0.5,x", "models/uni.npz", "models/tri.npz"], "comma-separated"),
    (["--weights", "0.5", "models/uni.npz", "models/tri.npz"], "1 weight(s) given for 2"),
    (["--weights", "-1,2", "models/uni.npz", "models/tri.npz"], "non-negative"),
    (["--valid", "valid.txt", "--tol", "0", "models/uni.npz", "models/tri.npz"], "positive"),
])
def test_mix_bad_options(runner, files, args, needle, monkeypatch):
    monkeypatch.chdir(files)
    r = run(runner, ["mix", *args, "-o", "mix.npz"], ok=False)
    assert_one_line_error(r, needle)


def test_mix_will_not_overwrite_a_component(runner, files):
    m = files / "models"
    before = (m / "tri.npz").read_bytes()
    r = run(runner, ["mix", "--valid", files / "valid.txt", m / "uni.npz", m / "tri.npz",
                     "-o", m / "tri.npz"], ok=False)
    assert_one_line_error(r, "would overwrite the model")
    assert (m / "tri.npz").read_bytes() == before


def test_mix_output_directory_missing(runner, files):
    m = files / "models"
    r = run(runner, ["mix", "--valid", files / "valid.txt", m / "uni.npz", m / "tri.npz",
                     "-o", files / "no" / "mix.npz"], ok=False)
    assert_one_line_error(r, "does not exist")


# -- nlm compare --------------------------------------------------------------------


@pytest.fixture
def with_mix(runner, files):
    m = files / "models"
    run(runner, ["mix", "--valid", files / "valid.txt", m / "uni.npz", m / "tri.npz",
                 "-o", m / "mix.npz"])
    return files


def test_compare_text_table_agrees_with_evaluate(runner, with_mix):
    m = with_mix / "models"
    models = [m / "uni.npz", m / "tri.npz", m / "mix.npz", m / "other.npz"]
    out = run(runner, ["compare", with_mix / "test.txt", *models]).output
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["model", "kind", "perplexity"]
    assert "tokens/s" in lines[0]
    rows = table(out)
    for path in models:
        ev = json.loads(run(runner, ["evaluate", path, with_mix / "test.txt", "--json"]).output)
        cells = rows[str(path)]
        kind_words = 1 if cells[0] != "mixture" else 3   # "mixture (2 components)"
        ppl, ppl_excl, bits, oov_rate = cells[kind_words:kind_words + 4]
        assert float(ppl.replace(",", "")) == pytest.approx(ev["perplexity"], abs=0.006)
        assert float(ppl_excl.replace(",", "")) == pytest.approx(
            ev["perplexity_excluding_oov"], abs=0.006)
        assert float(bits) == pytest.approx(ev["bits_per_token"], abs=6e-5)
        assert oov_rate == f"{100 * ev['oov_rate']:.2f}%"
    # zebra is in other.npz's vocabulary only
    assert rows[str(m / "other.npz")][4] == "0.00%" and rows[str(m / "uni.npz")][4] != "0.00%"


def test_compare_markdown_and_json_to_files(runner, with_mix):
    m = with_mix / "models"
    md = with_mix / "table.md"
    r = run(runner, ["compare", with_mix / "test.txt", m / "uni.npz", m / "mix.npz",
                     "--format", "markdown", "-o", md])
    assert r.stdout == ""
    lines = md.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("| model | kind | perplexity |")
    assert lines[1].startswith("|---|---|---:|")
    assert len(lines) == 4 and all(line.count("|") == 8 for line in lines)
    assert "mixture (2 components)" in lines[3]
    js = with_mix / "table.json"
    run(runner, ["compare", with_mix / "test.txt", m / "uni.npz", m / "mix.npz",
                 "--format", "json", "-o", js])
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["test"] == str(with_mix / "test.txt")
    assert [d["kind"] for d in doc["models"]] == ["add-k", "mixture (2 components)"]
    ev = json.loads(run(runner, ["evaluate", m / "mix.npz", with_mix / "test.txt",
                                 "--json"]).output)
    assert doc["models"][1]["perplexity"] == pytest.approx(ev["perplexity"], rel=1e-12)
    assert doc["models"][1]["tokens_per_second"] > 0
    # printed JSON is the same document
    out = run(runner, ["compare", with_mix / "test.txt", m / "uni.npz", "--format", "json"])
    assert json.loads(out.stdout)["models"][0]["model"] == str(m / "uni.npz")
    assert not [p for p in os.listdir(with_mix) if p.startswith(".nlm-")]


def test_compare_bad_inputs(runner, with_mix):
    m = with_mix / "models"
    r = run(runner, ["compare", with_mix / "test.txt", m / "uni.npz", "--format", "html"],
            ok=False)
    assert r.exit_code != 0 and "Invalid value for '--format'" in r.output
    r = run(runner, ["compare", with_mix / "test.txt", m / "uni.npz", m / "missing.npz"],
            ok=False)
    assert_one_line_error(r, "missing.npz", "no such file")
    r = run(runner, ["compare", with_mix / "nope.txt", m / "uni.npz"], ok=False)
    assert_one_line_error(r, "nope.txt", "no such file")
    r = run(runner, ["compare", with_mix / "latin1.txt", m / "uni.npz"], ok=False)
    assert_one_line_error(r, "not valid UTF-8")
    r = run(runner, ["compare", with_mix / "test.txt"], ok=False)
    assert r.exit_code != 0 and "Missing argument" in r.output
    before = (m / "uni.npz").read_bytes()
    r = run(runner, ["compare", with_mix / "test.txt", m / "uni.npz", "-o", m / "uni.npz"],
            ok=False)
    assert_one_line_error(r, "would overwrite the model")
    assert (m / "uni.npz").read_bytes() == before


def test_compare_reports_unnormalized_models_without_perplexity(runner, with_mix, monkeypatch):
    from nlm.ngram.addk import AddKModel
    monkeypatch.setattr(AddKModel, "normalized", False)
    m = with_mix / "models"
    out = run(runner, ["compare", with_mix / "test.txt", m / "uni.npz"]).output
    assert "not probabilities" in out
    assert table(out)[str(m / "uni.npz")][1:] == ["-"] * 5


# -- nlm plot -------------------------------------------------------------------------

LOG = [
    {"event": "config", "model": "mlp", "epochs": 2},
    {"event": "step", "words": 1000, "train_loss": 6.0},
    {"event": "step", "words": 2000, "train_loss": 5.5},
    {"event": "epoch", "words": 2000, "epoch": 1, "train_ppl": 250.0, "valid_ppl": 300.0},
    {"event": "step", "words": 3000, "train_loss": 5.2},
    {"event": "valid", "words": 4000, "valid_loss": 5.6},
]


def write_log(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_plot_writes_a_png(runner, tmp_path):
    pytest.importorskip("matplotlib")
    log = write_log(tmp_path / "train.jsonl", LOG)
    out = tmp_path / "curves.png"
    run(runner, ["plot", log, "-o", out, "--title", "MLP"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "two.svg"
    run(runner, ["plot", log, write_log(tmp_path / "b.jsonl", LOG[1:3]), "-o", svg])
    assert b"<svg" in svg.read_bytes()[:500]
    # a log counting updates only (what nlm.neural.trainer writes today)
    updates_only = write_log(tmp_path / "u.jsonl", [
        {"event": "epoch", "epoch": 1, "updates": 100, "train_ppl": 300.0, "valid_ppl": 320.0},
        {"event": "epoch", "epoch": 2, "updates": 200, "train_ppl": 200.0, "valid_ppl": 250.0}])
    run(runner, ["plot", updates_only, "-o", tmp_path / "u.png"])
    assert (tmp_path / "u.png").read_bytes()[:4] == b"\x89PNG"


def hide_matplotlib(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_plot_without_matplotlib_says_how_to_install_it(runner, tmp_path, monkeypatch):
    log = write_log(tmp_path / "train.jsonl", LOG)
    hide_matplotlib(monkeypatch)
    r = run(runner, ["plot", log, "-o", tmp_path / "curves.png"], ok=False)
    assert_one_line_error(r, 'pip install "nlm[plot]"')
    assert not (tmp_path / "curves.png").exists()


@pytest.mark.parametrize("content, needle", [
    ("not json\n", "line 1 is not JSON"),
    ('{"words": 1, "train_loss": 2}\n[1, 2]\n', "line 2 is not a JSON object"),
    ('{"words": 1, "train_ppl": "high"}\n', "train_ppl is not a number"),
    ('{"event": "config"}\n', "no perplexity records"),
    ("", "no perplexity records"),
])
def test_plot_bad_logs(runner, tmp_path, content, needle):
    pytest.importorskip("matplotlib")
    log = tmp_path / "bad.jsonl"
    log.write_text(content, encoding="utf-8")
    r = run(runner, ["plot", log, "-o", tmp_path / "curves.png"], ok=False)
    assert_one_line_error(r, needle)
    assert not (tmp_path / "curves.png").exists()


def test_plot_bad_output_and_missing_log(runner, tmp_path):
    pytest.importorskip("matplotlib")
    log = write_log(tmp_path / "train.jsonl", LOG)
    r = run(runner, ["plot", log, "-o", tmp_path / "curves.xyz"], ok=False)
    assert_one_line_error(r, "image format", ".png")
    r = run(runner, ["plot", tmp_path / "nope.jsonl", "-o", tmp_path / "c.png"], ok=False)
    assert_one_line_error(r, "nope.jsonl", "no such file")
    r = run(runner, ["plot", log, "-o", tmp_path / "no" / "c.png"], ok=False)
    assert_one_line_error(r, "does not exist")
