"""Where each built-in model kind, file format and package name is defined, so that a
module is imported on first use and not before.

A model kind (``"backoff"``, ``"mlp"``...) is registered by the module that defines its
class (:func:`nlm.model.register`), a file format by the module that reads it
(:func:`nlm.modelfile.register_format`). Importing every such module up front would cost
``import nlm`` a few tenths of a second, mostly Numba's own start-up, which scoring one
sentence from an ``.nlmbin`` file never needs. This table names, for each kind, format,
suffix and container, the module that registers it; :func:`provide` imports that module
when a lookup finds nothing registered yet. Module names are strings here: this module
imports no part of nlm, and a module that is registered by hand (a user's own kind)
needs no entry.

:func:`lazy_attributes` gives a package the module ``__getattr__`` that imports the
module defining a name the first time the name is asked for (PEP 562).
"""
from __future__ import annotations

import importlib
import sys
import types

#: model kind (the ``kind`` of a model file's header) -> the module defining its class
KINDS = {
    "backoff": "nlm.ngram.backoff",
    "add-k": "nlm.ngram.addk",
    "mlp": "nlm.neural.mlp",
    "rnn": "nlm.neural.rnn",
    "transformer": "nlm.neural.transformer",
    "mixture": "nlm.mixture",
}

#: file format name (:class:`nlm.modelfile.FileFormat`) -> the module registering it
FORMATS = {
    "arpa": "nlm.ngram.arpa",
    "binary": "nlm.ngram.binary",
    "kenlm-binary": "nlm.ngram.binary",
    "mixture": "nlm.mixture",
}

#: file name suffix -> the format that claims it
SUFFIXES = {".arpa": "arpa", ".arpa.gz": "arpa", ".nlmbin": "binary"}

#: the modules that register trainers (:func:`nlm.registry.register_trainer`), in the
#: order ``nlm train --model`` lists their models
TRAINERS = ["nlm.ngram.addk", "nlm.ngram.estimate.methods", "nlm.neural.mlp",
            "nlm.neural.rnn", "nlm.neural.transformer"]

#: npz containers nlm writes that are not model files (their header array's name) -> the
#: module that says what they are (:func:`nlm.modelfile.register_other_container`)
CONTAINERS = {"__checkpoint__": "nlm.neural.checkpoint"}


def provide(table: dict[str, str], name) -> bool:
    """Import the module that ``table`` names for ``name`` (registering what it defines);
    False when the table has no entry for it."""
    module = table.get(name) if isinstance(name, str) else None
    if module is None:
        return False
    importlib.import_module(module)
    return True


def provide_all(modules) -> None:
    """Import every module of ``modules`` (a list, or a table's values), in order."""
    for module in dict.fromkeys(modules.values() if isinstance(modules, dict) else modules):
        importlib.import_module(module)


class _LazyPackage(types.ModuleType):
    """A package with :func:`lazy_attributes`. A public name that is also the name of the
    submodule defining it (``nlm.evaluate``, the function, in ``nlm/evaluate.py``) keeps
    naming the function when the submodule is imported: the import system sets the
    package's attribute to the submodule, and this puts the function there instead, as
    ``from .evaluate import evaluate`` in the package did."""

    def __setattr__(self, name: str, value) -> None:
        shadowed = self.__dict__.get("_lazy_shadowed", ())
        if (name in shadowed and isinstance(value, types.ModuleType)
                and value.__name__ == f"{self.__name__}.{name}" and hasattr(value, name)):
            value = getattr(value, name)
        super().__setattr__(name, value)


def lazy_attributes(package: str, names: dict[str, str]):
    """A module ``__getattr__`` for ``package``: ``names`` maps each public name to the
    submodule (relative to ``package``, e.g. ``".backoff"``) that defines it; the
    submodule is imported the first time the name is asked for. Any other public name
    is looked up as a submodule (``nlm.ngram.arpa`` without importing it first). A name
    whose submodule has the same name (``"evaluate": ".evaluate"``) stays the object,
    not the submodule, whoever imports the submodule first (:class:`_LazyPackage`)."""
    module_object = sys.modules[package]
    module_object.__class__ = _LazyPackage
    module_object._lazy_shadowed = frozenset(n for n, m in names.items() if m == "." + n)

    def __getattr__(name: str):
        module = names.get(name)
        if module is not None:
            found = importlib.import_module(module, package)
            # a name may be a module itself (".estimate.methods" for "methods")
            return getattr(found, name) if hasattr(found, name) else found
        if not name.startswith("_"):     # a submodule, as once imported with the package
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{package}.{name}":
                    raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__


__all__ = ["KINDS", "FORMATS", "SUFFIXES", "TRAINERS", "CONTAINERS", "provide", "provide_all",
           "lazy_attributes"]
