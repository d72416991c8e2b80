"""nlm: classic language models with one interface.

Count-based n-gram models, a Bengio-style MLP and recurrent networks (LSTM,
GRU, Elman), all behind :class:`nlm.model.LanguageModel`, so one evaluator,
one sampler and one mixture serve them all.

``import nlm`` imports nothing else: each name below is imported from its module the
first time it is used (a model kind's module, and Numba's kernels, only when a model
needs them; :mod:`nlm.catalog`).
"""
from .version import __version__  # noqa: F401
from .catalog import lazy_attributes as _lazy_attributes

_NAMES = {
    "NlmError": ".errors", "CorpusError": ".errors", "ModelFileError": ".errors",
    "OptionError": ".errors", "Vocabulary": ".vocab", "Corpus": ".corpus",
    "read_corpus": ".corpus", "build_vocab": ".corpus", "LanguageModel": ".model",
    "save": ".modelfile", "load": ".modelfile", "evaluate": ".evaluate",
    "Evaluation": ".evaluate", "generate": ".sample", "train": ".api", "MODELS": ".api",
    "MixtureModel": ".mixture",
}

__getattr__ = _lazy_attributes(__name__, _NAMES)

__all__ = ["NlmError", "CorpusError", "ModelFileError", "OptionError", "Vocabulary",
           "Corpus", "read_corpus", "build_vocab", "LanguageModel", "save", "load",
           "evaluate", "Evaluation", "generate", "train", "MODELS", "MixtureModel"]


def __dir__():
    return sorted(set(globals()) | set(__all__))
