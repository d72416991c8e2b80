"""The model registry: every model's options come from its fit signature, and every
option has a flag and a documented default in ``nlm train --help``."""
from __future__ import annotations

import inspect

import click
import pytest
from click.testing import CliRunner

from nlm.cli import _default_text, main
from nlm.registry import MODELS, PLUMBING, Opt, register_trainer

EXPECTED_MODELS = {"add-k", "mle", "witten-bell", "absolute", "kn", "mkn", "katz", "stupid",
                   "mlp", "rnn", "transformer", "gpt"}


def train_command() -> click.Command:
    return main.commands["train"]


def test_every_model_is_registered_when_nlm_is_imported():
    assert set(MODELS) == EXPECTED_MODELS


@pytest.mark.parametrize("name", sorted(EXPECTED_MODELS))
def test_options_are_the_fit_signature(name):
    spec = MODELS[name]
    sig = inspect.signature(spec.fit)
    declared = {p.name: p.default for p in list(sig.parameters.values())[2:]
                if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD}
    for k, default in declared.items():
        if k in PLUMBING:
            assert k not in spec.defaults
        else:
            assert spec.defaults[k] == default, k


@pytest.mark.parametrize("name", sorted(EXPECTED_MODELS))
def test_every_option_has_a_cli_flag_and_a_documented_default(name):
    params = {p.name: p for p in train_command().params}
    help_text = CliRunner().invoke(main, ["train", "--help"], terminal_width=1000).output
    for option, default in MODELS[name].defaults.items():
        assert option in params, f"{name}: option {option} has no flag on nlm train"
        p = params[option]
        assert p.help, option
        text = _default_text(option)
        assert text.startswith("[default: ") and text in p.help
        assert " ".join(text.split()) in " ".join(help_text.split()), option
        # the value shown is this model's real default
        opt = MODELS[name].option_help.get(option)
        if isinstance(default, bool):
            shown = "yes" if default else "no"
        else:
            shown = str(default) if default is not None else getattr(opt, "none_means", None)
        assert shown and shown in text, (option, text)


def test_neural_defaults_are_the_models_own():
    assert MODELS["mlp"].defaults["optimizer"] == "adagrad"
    assert MODELS["rnn"].defaults["optimizer"] == "adam"
    assert MODELS["rnn"].defaults["clip_norm"] == 1.0
    assert MODELS["mlp"].defaults["clip_norm"] is None
    assert MODELS["rnn"].defaults["lr"] is None    # chosen by optimizer
    assert "progress" not in MODELS["rnn"].defaults


def test_help_shows_grouped_defaults():
    assert _default_text("optimizer") == "[default: mlp: adagrad; rnn: adam; transformer, gpt: adamw]"
    assert _default_text("bptt") == "[default: 35]"


def test_register_trainer_reads_types_and_refuses_options_without_defaults():
    def fit(corpus, vocab, *, size: int = 3, rate: float | None = None, name="x",
            flag=False, valid=None):
        return None
    spec = register_trainer("__test__", fit, "test", family="ngram",
                            option_help={"rate": Opt("r")})
    try:
        assert spec.family == "ngram"
        assert spec.defaults == {"size": 3, "rate": None, "name": "x", "flag": False}
        assert spec.types == {"size": int, "rate": float, "name": str, "flag": bool}
        assert spec.wants_valid and not spec.wants_progress
    finally:
        MODELS.pop("__test__")

    def bad(corpus, vocab, needed):
        return None
    with pytest.raises(TypeError, match="no default"):
        register_trainer("__bad__", bad, "bad", family="ngram")
    assert "__bad__" not in MODELS
    with pytest.raises(ValueError, match="family"):
        register_trainer("__bad__", fit, "bad", family="symbolic")
    assert "__bad__" not in MODELS


def test_every_model_declares_its_family():
    """The family is declared at registration, not inferred from the options: n-gram
    models are estimated, neural ones trained with checkpoints."""
    families = {name: spec.family for name, spec in MODELS.items()}
    assert {families[m] for m in ("mkn", "kn", "katz", "stupid", "add-k", "witten-bell")} == {"ngram"}
    assert {families[m] for m in ("mlp", "rnn")} == {"neural"}
    for spec in MODELS.values():
        assert ("checkpoint" in spec.options) == (spec.family == "neural"), spec.name


def test_an_option_of_another_model_is_refused_with_its_flag(tmp_path):
    import nlm
    from nlm.errors import OptionError
    (tmp_path / "t.txt").write_text("a b c\n")
    with pytest.raises(OptionError, match="--bptt does not apply to --model mlp"):
        nlm.train(tmp_path / "t.txt", "mlp", bptt=3)
