"""What ``nlm train --model NAME`` can train, declared beside each model.

A model module registers its trainer next to its fit function::

    register_trainer("kn", fit_kneser_ney, "Kneser-Ney, one discount per order",
                     family="ngram", option_help=NGRAM_OPTIONS)

The options a model takes, and their defaults and types, are read from the fit
function's signature: every parameter after ``(corpus, vocab)`` except the
plumbing ones (``valid``, ``progress``, ``callbacks``). A model trained by the
neural trainer adds the trainer's settings with its own defaults
(``trainer_defaults``). ``option_help`` gives each option its help text (and,
where the type alone does not say it, its choices or flag names) as an
:class:`Opt`. The CLI builds ``nlm train``'s flags from this registry, so adding a
model or an option touches the model's file and its test only.

:data:`MODELS` imports the model modules (:data:`nlm.catalog.TRAINERS`) the first time it
is read, not before: ``import nlm`` and the commands that train nothing do not pay for
them (nor for Numba). Its entries are in the catalog's order of those modules, whatever
order they were imported in.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from . import catalog
from .model import LanguageModel

#: fit parameters that are not user options
PLUMBING = frozenset({"valid", "progress", "callbacks"})
#: model families: count-based n-gram models (estimated, in memory or out of core) and
#: neural models (trained by the neural trainer, with checkpoints)
FAMILIES = ("ngram", "neural")


@dataclass(frozen=True)
class Opt:
    """How an option is presented: help text, choices, flag names, and what a
    ``None`` default means (e.g. "sqrt(V)" or "estimated")."""
    help: str
    choices: tuple[str, ...] | None = None
    type: type | None = None        # when the signature does not say (no annotation)
    flag: str | None = None         # e.g. "--interpolate/--backoff" for a boolean
    none_means: str | None = None   # the default's meaning when it is None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    fit: Callable[..., LanguageModel]     # fit(corpus, vocab, **options [, valid, progress])
    help: str
    family: str                           # "ngram" or "neural" (FAMILIES)
    defaults: dict[str, Any]              # option name -> default
    types: dict[str, type]                # option name -> int | float | str | bool
    option_help: dict[str, Opt] = field(default_factory=dict)
    wants_valid: bool = False             # fit also takes valid=Corpus | None
    wants_progress: bool = False          # fit also takes progress=bool

    @property
    def options(self) -> frozenset[str]:
        return frozenset(self.defaults)


class _Registry(dict):
    """The registered trainers (a dict of name -> ModelSpec) that imports the catalog's
    model modules, which register theirs, when it is first read."""

    _loaded = False

    def load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        catalog.provide_all(catalog.TRAINERS)
        known = list(catalog.TRAINERS)

        def place(item):
            fit = item[1][1].fit
            module = getattr(getattr(fit, "__self__", None), "__module__", None) or getattr(
                fit, "__module__", None)
            return known.index(module) if module in known else len(known), item[0]

        ordered = sorted(((i, (name, spec)) for i, (name, spec) in enumerate(
            dict.items(self))), key=place)
        dict.clear(self)
        dict.update(self, (pair for _, pair in ordered))

    def __getitem__(self, name):
        self.load()
        return dict.__getitem__(self, name)

    def __contains__(self, name):
        self.load()
        return dict.__contains__(self, name)

    def __iter__(self):
        self.load()
        return dict.__iter__(self)

    def __len__(self):
        self.load()
        return dict.__len__(self)

    def __repr__(self):
        self.load()
        return dict.__repr__(self)

    def get(self, name, default=None):
        self.load()
        return dict.get(self, name, default)

    def keys(self):
        self.load()
        return dict.keys(self)

    def values(self):
        self.load()
        return dict.values(self)

    def items(self):
        self.load()
        return dict.items(self)


MODELS: dict[str, ModelSpec] = _Registry()

_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _option_type(param: inspect.Parameter, opt: Opt | None) -> type:
    if opt is not None and opt.type is not None:
        return opt.type
    ann = param.annotation
    if isinstance(ann, str):
        parts = [p.strip() for p in ann.split("|") if p.strip() != "None"]
        if len(parts) == 1 and parts[0] in _TYPES:
            return _TYPES[parts[0]]
    elif ann in (int, float, str, bool):
        return ann
    default = param.default
    if isinstance(default, bool):
        return bool
    if isinstance(default, (int, float)):
        return type(default)
    return str


def register_trainer(name: str, fit: Callable, help: str, *, family: str,
                     option_help: dict[str, Opt] | None = None,
                     trainer_defaults: dict[str, Any] | None = None,
                     trainer_types: dict[str, type] | None = None) -> ModelSpec:
    """Register ``fit`` as the trainer of model ``name`` (see the module docstring), a
    model of ``family`` (one of :data:`FAMILIES`)."""
    if family not in FAMILIES:
        raise ValueError(f"{name}: unknown model family {family!r}")
    option_help = dict(option_help or {})
    sig = inspect.signature(fit)
    params = list(sig.parameters.values())[2:]        # after (corpus, vocab)
    defaults: dict[str, Any] = {}
    types: dict[str, type] = {}
    for p in params:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.name in PLUMBING:
            continue
        if p.default is p.empty:
            raise TypeError(f"{name}: option {p.name!r} of {fit.__qualname__} has no default")
        defaults[p.name] = p.default
        types[p.name] = _option_type(p, option_help.get(p.name))
    for k, v in (trainer_defaults or {}).items():
        defaults[k] = v
        types[k] = (trainer_types or {}).get(k, type(v))
    spec = ModelSpec(name, fit, help, family, defaults, types, option_help,
                     wants_valid="valid" in sig.parameters,
                     wants_progress="progress" in sig.parameters or trainer_defaults is not None)
    MODELS[name] = spec
    return spec


__all__ = ["MODELS", "FAMILIES", "ModelSpec", "Opt", "register_trainer"]
