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


class InputError(NlmError, ValueError):
    """A bad argument to a model's API: a state or token id outside the vocabulary,
    offsets that do not describe a corpus. (Also a ValueError, as numpy's would be.)"""


class ModelOutputError(NlmError, ValueError):
    """A model gives numbers that are not log-probabilities (NaN, or probability 0 for
    every token): its weights are damaged or training diverged. (Also a ValueError.)"""


class Terminated(SystemExit):
    """SIGTERM or SIGHUP arrived: raised (as Ctrl-C raises KeyboardInterrupt) so that every
    temporary file, spill directory and local Dask cluster is removed on the way out; the
    exit status is 128 + the signal's number."""

    def __init__(self, signum: int):
        import signal
        super().__init__(128 + signum)
        self.name = signal.Signals(signum).name


def raise_terminated(signum, frame):
    """A signal handler: raise :class:`Terminated`."""
    raise Terminated(signum)


def interrupted_hook(kind, value, tb, _previous=__import__("sys").excepthook):
    """sys.excepthook while nlm's modules import for the command line: Ctrl-C then gives
    one line, not a traceback through the import machinery (anything else as usual)."""
    import sys
    if issubclass(kind, KeyboardInterrupt):
        sys.stderr.write("Error: interrupted\n")
        return
    _previous(kind, value, tb)


def check_seed(seed, name: str = "seed") -> None:
    """A random seed is None or a whole number >= 0 (numpy refuses negative ones)."""
    import numbers
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise OptionError(f"{name} must be a whole number >= 0, got {seed!r}")
