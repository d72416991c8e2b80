"""N-gram estimation out of core: any corpus under a memory budget (``--memory``).

See :mod:`.pipeline` for the stages; :mod:`.budget` chooses between this and the
in-memory estimators and sizes the pieces; :mod:`.distributed` runs the
per-partition stages on a Dask cluster.
"""
from .budget import choose, parse_memory  # noqa: F401
from .pipeline import METHODS, estimate, supports  # noqa: F401
