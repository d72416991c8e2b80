"""``nlm.train``'s door to out-of-core and distributed estimation: which path runs.

:func:`train_if_out_of_core` decides (:func:`.budget.choose`), says what it chose,
and, for out-of-core, runs the pipeline and returns a :class:`SavedNgramModel`: the
model is on disk and is only loaded if something asks it for probabilities (a
model trained out of core may not fit in memory).
"""
from __future__ import annotations

import os
import tempfile

from ...errors import OptionError
from ...progress import note
from ...vocab import TextOptions
from .budget import ScaleOptions, check_disk, choose, parse_memory
from .pipeline import estimate, supports


class SavedNgramModel:
    """A model written by the out-of-core pipeline: what ``nlm train`` reports about it
    without loading it, and the loaded model for anything else."""

    kind = "backoff"

    def __init__(self, path, vocab, header, info, owned_dir=None):
        self.path, self.vocab, self.header, self.info = os.fspath(path), vocab, header, info
        self.order = header["config"]["order"]
        self.normalized = header["config"]["normalized"]
        self.method = header["config"]["method"]
        self.options = header["config"]["options"]
        self._model = None
        self._owned_dir = owned_dir

    def describe(self) -> dict:
        return {"method": self.method, "ngrams": list(self.info.sizes),
                "estimation": "out-of-core", "partitions": self.info.partitions,
                "buckets": self.info.buckets}

    def load(self):
        if self._model is None:
            from ...modelfile import load
            self._model = load(self.path)
        return self._model

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.load(), name)


#: corpora smaller than this are estimated in one process (starting more costs seconds)
PARALLEL_TOKENS = 20_000_000


def local_workers(train_file) -> int:
    """Processes for the partitions: the CPUs this process may use (at most 4), for
    corpora of PARALLEL_TOKENS or more."""
    from .budget import estimated_tokens
    tokens = estimated_tokens(train_file)
    if tokens is None or tokens < PARALLEL_TOKENS:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def train_if_out_of_core(train_file, model: str, options: dict, text: TextOptions,
                         scale: ScaleOptions, output=None, arpa=None, progress=False,
                         binary=None):
    """Run out-of-core (or Dask) estimation when it is needed or asked for and return
    the model; None when the in-memory estimator should run."""
    external, budget, for_speed = _choose(train_file, model, options, text, scale)
    if not external:
        return None
    order = options.get("order", 3)
    try:
        check_disk(train_file, order if isinstance(order, int) else 3, {
            "temp": scale.temp_dir or tempfile.gettempdir(), "model file": output,
            "binary model": binary,
            ("compressed ARPA file" if str(arpa).endswith(".gz") else "ARPA file"): arpa})
    except OptionError as e:
        if not for_speed:
            raise
        note(f"estimation: in memory after all ({e})")   # it fits memory: only slower
        return None
    if budget is None:
        from .budget import available_memory
        budget = max(1 << 28, int(0.5 * (available_memory() or (4 << 30))))
    runner = None
    workers = 1
    if scale.dask is not None:
        from .distributed import DaskRunner
        runner = DaskRunner(scale.dask)
    else:
        workers = local_workers(train_file)
        if workers > 1:
            note(f"estimation: partitions in {workers} processes")
    owned = None
    target = output
    if target is None and binary is None and arpa is None:
        # the Python API without outputs: the model is written here and loaded at the end
        owned = tempfile.mkdtemp(prefix="nlm-model-", dir=scale.temp_dir)
        target = os.path.join(owned, "model.npz")
    try:
        vocab, header, info = estimate(train_file, model, options, output=target,
                                       budget=budget, temp_dir=scale.temp_dir, arpa=arpa,
                                       text=text, progress=progress, runner=runner,
                                       workers=workers, binary=binary)
    finally:
        if runner is not None:
            runner.close()
    saved = SavedNgramModel(target or binary or arpa, vocab, header, info)
    if owned is not None:
        import shutil
        try:
            return saved.load()
        finally:
            shutil.rmtree(owned, ignore_errors=True)
    return saved


def _choose(train_file, model, options, text, scale) -> tuple[bool, int | None, bool]:
    """(whether to estimate out of core, the budget in bytes or None, whether only for
    speed), the choice noted. A corpus that fits in memory is still estimated out of core
    when that runs in several processes (:func:`local_workers`): from 20M tokens on two
    cores it is faster (30M tokens, order 5: about 24 s against 33-42 s in memory)."""
    budget = parse_memory(scale.memory) if scale.memory is not None else None
    if scale.temp_dir is not None and not os.path.isdir(scale.temp_dir):
        raise OptionError(f"{scale.temp_dir}: temporary directory does not exist")
    why_not = supports(model, options)
    if (text.vocab_file is not None or text.limit_vocab_file is not None) and not why_not:
        why_not = "--vocab and --limit-vocab-file are applied in memory only"
    order = options.get("order", 3)
    if scale.dask is not None:
        if why_not:
            raise OptionError(f"{why_not}; --dask runs the out-of-core estimators")
        external, why = True, f"distributed on Dask ({scale.dask})"
    else:
        external, why = choose(train_file, order if isinstance(order, int) else 3, budget,
                               not why_not)
        if why_not and budget is not None:
            why += f": {why_not}"
    for_speed = False
    if not external and not why_not and scale.dask is None:
        workers = local_workers(train_file)
        if workers > 1:
            external = for_speed = True
            why = (f"out-of-core in {workers} processes, faster than in memory in one "
                   f"{why.removeprefix('in memory ')}")
    if budget is not None or scale.dask is not None or external:
        note(f"estimation: {why}")
    return external, budget, for_speed
