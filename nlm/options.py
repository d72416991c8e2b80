"""Option bundles: small frozen dataclasses whose fields are options, declared once.

A bundle groups options that travel together (how a text is read, where the outputs
go, how n-gram estimation scales). Each field says, in its metadata (:func:`flag`),
how ``nlm train`` spells it; the CLI builds its flags from the bundle
(:func:`nlm.cli.bundle_options`) and the Python API picks the same names out of its
keyword arguments (:meth:`OptionBundle.take`), so a flat call such as
``nlm.train(path, tokenizer="word", output="m.npz")`` keeps working. Knows nothing
about models.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any


def flag(*decls: str, default: Any = None, help: str, **cli: Any):
    """A bundle field: its default, its flag names (``"--min-count"``) and help, and any
    further presentation (``choices``, ``type``, ``is_flag``, ``show_default``,
    ``required``, ``check``: the name of a CLI validator)."""
    return field(default=default, metadata={"flags": decls, "help": help, **cli})


@dataclass(frozen=True)
class OptionBundle:
    @classmethod
    def take(cls, kwargs: dict, given: "OptionBundle | None" = None):
        """The bundle ``given`` (default: all defaults) with the fields named in
        ``kwargs`` set from it; those names are removed from ``kwargs``."""
        values = {f.name: kwargs.pop(f.name) for f in fields(cls) if f.name in kwargs}
        return replace(given if given is not None else cls(), **values)


__all__ = ["OptionBundle", "flag"]
