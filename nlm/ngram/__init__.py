"""Count-based n-gram language models.

The names below are imported from their modules on first use; the model kinds and file
formats are registered when a file of theirs is first read (:mod:`nlm.catalog`).
"""
from ..catalog import lazy_attributes as _lazy_attributes

__getattr__ = _lazy_attributes(__name__, {"AddKModel": ".addk", "BackoffModel": ".backoff",
                                          "read_arpa": ".arpa",
                                          "methods": ".estimate.methods"})

__all__ = ["AddKModel", "BackoffModel", "read_arpa", "methods"]
