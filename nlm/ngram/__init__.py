"""Count-based n-gram language models."""
from .addk import AddKModel  # noqa: F401
from .backoff import BackoffModel  # noqa: F401
