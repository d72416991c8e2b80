"""nlm: classic language models with one interface.

Count-based n-gram models, a Bengio-style MLP and recurrent networks (LSTM,
GRU, Elman), all behind :class:`nlm.model.LanguageModel`, so one evaluator,
one sampler and one mixture serve them all.
"""
import sys as _sys

from .version import __version__  # noqa: F401
from .errors import interrupted_hook as _interrupted_hook  # noqa: E402

_previous_hook, _sys.excepthook = _sys.excepthook, _interrupted_hook   # Ctrl-C while importing

from .errors import NlmError, CorpusError, ModelFileError, OptionError  # noqa: E402
from .vocab import Vocabulary  # noqa: E402
from .corpus import Corpus, read_corpus, build_vocab  # noqa: E402
from .model import LanguageModel  # noqa: E402
from . import ngram  # noqa: E402,F401  (registers the n-gram model kinds)
from . import neural  # noqa: E402,F401  (registers the neural model kinds)
from .mixture import MixtureModel  # noqa: E402
from .modelfile import save, load  # noqa: E402
from .evaluate import evaluate, Evaluation  # noqa: E402
from .sample import generate  # noqa: E402
from .api import train, MODELS  # noqa: E402

_sys.excepthook = _previous_hook   # (nlm.cli sets it again for the command line)

__all__ = ["NlmError", "CorpusError", "ModelFileError", "OptionError", "Vocabulary",
           "Corpus", "read_corpus", "build_vocab", "LanguageModel", "save", "load",
           "evaluate", "Evaluation", "generate", "train", "MODELS", "MixtureModel"]
