"""Exceptions nlm raises for problems the user can fix.

Library code raises these; only the CLI turns them into click errors. Anything
else escaping is a bug in nlm.
"""


class NlmError(Exception):
    """A user-facing error: bad input file, bad option value, bad model file."""


class CorpusError(NlmError):
    """A text file that cannot be read as a corpus (missing, not UTF-8, empty)."""


class ModelFileError(NlmError):
    """A model file that is missing, corrupt, truncated, foreign or too new."""


class OptionError(NlmError):
    """An option value out of range or not applicable to the chosen model."""
