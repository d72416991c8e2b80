"""Memory budgets: parsing ``--memory 4G``, choosing in-memory or out-of-core, and
sizing the out-of-core pipeline's pieces so that each fits.

The in-memory estimator needs about ``IN_MEMORY_BYTES_PER_TOKEN`` bytes per token
at order 5 (measured: 7.1 GB peak for 100M synthetic tokens; WikiText-2 needs
less, its n-grams repeat more). The out-of-core pipeline holds at most one
partition's windows and tables, or one bucket of output, at a time; their sizes
below are upper bounds (every position starting a new n-gram of every order), so
the real peak stays under the budget with room to spare. A word with more windows
than one partition holds is split into sub-partitions of at most that many (by the
word before it, :mod:`.shard`), so no partition outgrows its share whatever the
corpus (but for one pair of words with more windows than that); the split costs
the planning one pass over the token ids and a (split words, V + 1) int64 array of
window counts (at most ``tokens / partition_windows`` rows; more passes when a quarter
of the budget cannot hold them), the run a (split words, V + 1) int32 map to the
sub-partitions, and each sub-partition's files a copy of its word's merged bigrams (at
most V of them, 28 bytes each).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, replace

from ...errors import OptionError
from ...options import OptionBundle, flag

#: what the interpreter, Numba, the vocabulary and the unigram tables take whatever the
#: budget (measured: about 250 MB with a 33k-word vocabulary); the budget is on top
FIXED_BYTES = 300 << 20
#: in-memory estimation, per token: the corpus (5 bytes), counting (28) and the tables
#: of every order (about 48 bytes per distinct n-gram; taken as 12 per token per order)
IN_MEMORY_BYTES_PER_TOKEN = 33
IN_MEMORY_BYTES_PER_TOKEN_ORDER = 12
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True)
class ScaleOptions(OptionBundle):
    """How n-gram estimation scales (``nlm train``'s scale flags): a memory budget that
    chooses in memory or out of core, where out of core spills, and a Dask cluster."""
    memory: str | None = flag(
        "--memory", help="N-gram models: memory budget such as 4G or 500M. The estimator "
        "runs in memory when the corpus fits it, else out of core: counts are spilled to "
        "--temp-dir in sorted blocks and merged, with peak memory about the budget plus "
        "300M. The choice is reported. [default: decided from the memory available]")
    temp_dir: str | None = flag(
        "--temp-dir", help="N-gram models: where out-of-core estimation spills (compactly "
        "encoded; about 8 + 8 x (order - 1) bytes per token at most, checked against the "
        "free space before the run starts); removed on success, failure and Ctrl-C. "
        "[default: the system's temporary directory]")
    dask: str | None = flag(
        "--dask", help="N-gram models: estimate on a Dask cluster: a scheduler address "
        "(tcp://host:8786), or local[:N] for a local cluster of N workers (pip install "
        "\"nlm[dask]\").")

    def given(self) -> bool:
        return self.memory is not None or self.temp_dir is not None or self.dask is not None


def parse_memory(text) -> int:
    """``4G``, ``500M``, ``1.5g``, ``2048K`` or a number of bytes -> bytes."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = int(text)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmgtKMGT]?)[iI]?[bB]?\s*", str(text))
        if m is None:
            raise OptionError(f"memory must be a size such as 4G, 500M or 2048K, got {text!r}")
        value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value < 1 << 20:
        raise OptionError(f"memory must be at least 1M, got {text!r}")
    return value


def human_bytes(n: float) -> str:
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:.0f}B"


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is no such file)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def estimated_tokens(path) -> int | None:
    """Tokens of a plain text file, estimated from its size (5 bytes a token, which
    overestimates English text: the choice errs towards out-of-core). None for
    standard input and compressed files."""
    from ...corpus import STDIN, compression_of
    path = os.fspath(path)
    if path == STDIN or not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as f:
            if compression_of(f.read(6)):
                return None
        return os.path.getsize(path) // 5 + 1
    except OSError:
        return None


def in_memory_bytes(tokens: int, order: int) -> int:
    return tokens * (IN_MEMORY_BYTES_PER_TOKEN + IN_MEMORY_BYTES_PER_TOKEN_ORDER * order)


#: output buckets prepared at the same time by as many threads (:mod:`.assemble`)
ASSEMBLY_THREADS = 2


@dataclass(frozen=True)
class Plan:
    """Sizes of the out-of-core pipeline's pieces for a budget (see the module doc)."""
    budget: int
    chunk_tokens: int         # tokens read (and windows built) at a time
    partition_windows: int    # windows of one partition (tokens whose context word it owns)
    bucket_ngrams: int        # n-grams of one order in one output bucket
    #: windows of one word above which it is split into sub-partitions (:mod:`.shard`);
    #: None: ``partition_windows`` (tests set it apart to force or to prevent a split)
    word_windows: int | None = None

    @property
    def split_windows(self) -> int:
        return self.partition_windows if self.word_windows is None else self.word_windows

    def split(self, workers: int) -> "Plan":
        """The plan for ``workers`` processes each holding a partition at the same time."""
        share = max(workers, 1)
        return replace(self, partition_windows=max(1 << 10, self.partition_windows // share),
                       word_windows=None if self.word_windows is None else
                       max(1, self.word_windows // share))

    def with_table(self, table_bytes: float) -> "Plan":
        """The plan when a table of ``table_bytes`` is held besides the buckets (the binary
        output's probing table of one order): buckets shrink by its share of the budget,
        to a quarter at most."""
        share = max(0.25, 1.0 - table_bytes / max(self.budget, 1))
        return replace(self, bucket_ngrams=min(self.bucket_ngrams,
                                               max(1 << 10, int(self.bucket_ngrams * share))))

    @classmethod
    def for_budget(cls, budget: int, order: int) -> "Plan":
        usable = max(budget, 1 << 20)
        # a chunk: ids (4), windows (4N) and their grouped copy, partition ids (8)
        chunk = usable // (4 * (8 * order + 16))
        # a partition: windows (4N) and six int64 position arrays while counting, then per
        # n-gram (at most N - 1 per window) its table entry (20) and estimation's
        # temporaries and output records (about 100)
        per_window = 4 * order + 48 + (order - 1) * 120
        # an output bucket: records (k + 2 int32) read and sorted, context rows, keys,
        # ARPA text (about 80 bytes a line), and the previous bucket's words and values
        # while its ARPA text is being written; ASSEMBLY_THREADS buckets at once
        per_ngram = ASSEMBLY_THREADS * (2 * 4 * (order + 2) + 8 * 4 + 80 + 2 * (4 * order + 16))
        return cls(budget, max(1 << 12, min(chunk, 1 << 24)),
                   max(1 << 10, usable // per_window), max(1 << 10, usable // per_ngram))


def choose(path, order: int, budget: int | None, method_ok: bool) -> tuple[bool, str]:
    """(out-of-core?, why) for training ``path`` at ``order`` under ``budget`` bytes
    (None: the memory the machine has available)."""
    tokens = estimated_tokens(path)
    limit = budget if budget is not None else available_memory()
    if not method_ok:
        return False, "in memory (this model has no out-of-core estimator)"
    if limit is None:
        return False, "in memory (no memory budget known)"
    if tokens is None:
        if budget is None:
            return False, "in memory (corpus size unknown and no --memory given)"
        return True, f"out-of-core (corpus size unknown, --memory {human_bytes(budget)})"
    need = in_memory_bytes(tokens, order)
    what = "--memory" if budget is not None else "available memory"
    if need <= limit:
        return False, (f"in memory (about {human_bytes(need)} for ~{_tokens(tokens)} tokens, "
                       f"within {what} {human_bytes(limit)})")
    return True, (f"out-of-core (in memory would need about {human_bytes(need)} for "
                  f"~{_tokens(tokens)} tokens, over {what} {human_bytes(limit)})")


def _tokens(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.0f}{unit}" if n >= 10 * scale else f"{n / scale:.1f}{unit}"
    return str(n)


#: the peak of --temp-dir, bytes per token: a + b * (order - 1). Measured at order 5 on the
#: synthetic corpus (scripts/make_big_corpus.py): 33.7 at 10M tokens (the output records of
#: every n-gram after the probabilities stage), 1.6 n-grams a token; the margin covers
#: text whose n-grams repeat less
TEMP_BYTES_PER_TOKEN = (8, 8)
#: the outputs, bytes per token and order above 1 (same corpus: .npz 34, .nlmbin 25, ARPA
#: 70 and .arpa.gz 20 bytes a token at order 5)
OUTPUT_BYTES_PER_TOKEN_ORDER = {"model file": 9, "binary model": 7, "ARPA file": 18,
                                "compressed ARPA file": 6}
#: the sizes above are those of 10M tokens; a larger corpus has fewer distinct n-grams a
#: token (its n-grams repeat more), so beyond that they are scaled by (tokens / 10M) **
#: -0.15. Measured on the same corpus: the temporary peak 34, 21 and 15.7 bytes a token at
#: 10M, 100M and 1B tokens, ARPA files 65, 41 and 31 (lmplz's at 1B): the scaled
#: predictions (40 and 72 at 10M, 28 and 51 at 100M, 20 and 36 at 1B) stay above them
SIZES_MEASURED_AT, SIZES_SHRINK = 10_000_000, 0.15


def size_factor(tokens: int) -> float:
    """The per-token disk sizes at ``tokens`` relative to those at 10M tokens (at most 1)."""
    return min(1.0, (max(tokens, 1) / SIZES_MEASURED_AT) ** -SIZES_SHRINK)


def disk_needed(tokens: int, order: int, outputs: dict) -> list[tuple[str, str, int, int]]:
    """(what, where, bytes needed, bytes free) of each file system out-of-core estimation
    writes to: ``outputs`` maps "temp" (the --temp-dir) and output kinds
    (:data:`OUTPUT_BYTES_PER_TOKEN_ORDER`) to paths (None: not written). The temporary
    files peak before the outputs are written, and shrink as they are (the records of
    each bucket are deleted once written): where both go, the larger of the two and a
    quarter of the smaller are needed. Sizes per token shrink with the corpus
    (:func:`size_factor`)."""
    import shutil
    per_order = max(order - 1, 1)
    need: dict = {}
    for what, path in outputs.items():
        if path is None:
            continue
        where = os.path.dirname(os.path.abspath(os.fspath(path))) if what != "temp" \
            else os.fspath(path)
        if what == "temp":
            n = tokens * (TEMP_BYTES_PER_TOKEN[0] + TEMP_BYTES_PER_TOKEN[1] * per_order)
        else:
            n = tokens * OUTPUT_BYTES_PER_TOKEN_ORDER[what] * per_order
        n = int(n * size_factor(tokens))
        try:
            device = os.stat(where).st_dev
        except OSError:
            continue
        label, at, temp, out = need.get(device, (what, where, 0, 0))
        if what == "temp":
            label, at, temp = what, where, temp + n
        else:
            out += n
        need[device] = (label, at, temp, out)
    return [(label, where, max(temp, out) + min(temp, out) // 4,
             shutil.disk_usage(where).free) for label, where, temp, out in need.values()]


def check_disk(path, order: int, outputs: dict) -> None:
    """Refuse, before any work, an out-of-core run whose files would not fit the free
    space (a one-line OptionError); ``outputs`` as for :func:`disk_needed`. Nothing is
    checked when the corpus size is unknown (standard input, compressed text)."""
    tokens = estimated_tokens(path)
    if tokens is None:
        return
    for what, where, need, free in disk_needed(tokens, order, outputs):
        if need > free:
            place = "--temp-dir" if what == "temp" else f"the {what}"
            raise OptionError(
                f"{where}: not enough free disk for out-of-core estimation of "
                f"~{_tokens(tokens)} tokens at order {order}: it needs about "
                f"{human_bytes(need)} there ({place} and any output on the same disk), "
                f"{human_bytes(free)} is free; give --temp-dir or outputs on a larger disk")


def partitions_needed(total: int, per_part: int, cap: int = 4096) -> int:
    return max(1, min(cap, math.ceil(total / max(per_part, 1))))
