"""Count-based n-gram language models."""
from .addk import AddKModel  # noqa: F401
from .backoff import BackoffModel  # noqa: F401
from .arpa import read_arpa  # noqa: F401  (also registers the .arpa / .arpa.gz format)
from .estimate import methods  # noqa: F401  (registers the smoothing methods' trainers)
from . import binary  # noqa: F401,E402  (registers the memory-mapped .nlmbin format)
