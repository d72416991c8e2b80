"""Out-of-core estimation, end to end: text file in, model file (and ARPA file) out.

The stages, one module each, in data-flow order (the working directory holds
what passes between them):

    read_to_disk        (read.py)          text -> vocabulary, token ids on disk
    windows_of / shard  (shard.py)         ids -> each partition's windows (a scan of
                                           the ids, or one sharding pass to files)
    count_partition     (count.py)         a partition's windows -> its n-gram tables
    merge_split         (partition.py)     the bigrams of a word split into sub-partitions
                                           (too frequent for one) summed into one table
    summarize           (adjust.py)        Kneser-Ney counts, counts of counts
    -> discounts        (nlm.ngram.estimate.discount, from the summed counts of counts)
    estimate_partition  (probabilities.py) probabilities and backoff weights -> buckets
    assemble            (assemble.py)      buckets -> model file and ARPA, streamed

Only one partition or one bucket is in memory at a time; :mod:`.budget` sizes
them. The results equal the in-memory estimators' (:mod:`nlm.ngram.estimate.methods`) to
the last few bits of a float64: the same counts, discounts and formulas, summed
in another order.
"""
from __future__ import annotations

import math
import os
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np

from ...errors import OptionError
from ...files import atomic_output
from ...modelfile import model_header
from ...progress import Progress, stage
from ...vocab import BOS_ID, TextOptions
from ..estimate.adjust import counts_of_counts
from ..base import check_order
from ..estimate.methods import (OUT_OF_CORE, STUPID_BACKOFF_FACTOR, UNNORMALIZED,
                                check_arpa_output, discounts_from, recorded_options, smoothing)
from . import spill
from .summary import AdjustSummary, kenlm_rank, lmplz_tally
from .assemble import assemble, plan_buckets
from .budget import Plan
from .partition import chain_tables, count_one, estimate_one, merge_split
from .probabilities import unigrams
from .read import SpilledCorpus, read_to_disk
from .shard import Layout, plan_partitions, shard

#: partitions read their windows from the ids file (no sharding pass) when there are at
#: most this many per order: a scan reads 4 bytes a token (page cache, parallel in the
#: workers), sharding writes and reads 4N (encoded: about 1.6N) once
SCAN_PARTITIONS_PER_ORDER = 3

#: the models this pipeline estimates, and the options each takes (declared beside the
#: methods, :data:`nlm.ngram.estimate.methods.OUT_OF_CORE`)
METHODS = OUT_OF_CORE


def supports(model: str, options: dict) -> str:
    """'' when the pipeline can estimate ``model`` with ``options``, else why not."""
    if model not in METHODS:
        return f"--model {model} is estimated in memory only"
    for name, value in options.items():
        if value is None:
            continue
        if name == "interpolate" and value:
            continue
        if name not in METHODS[model] or name == "interpolate":
            flag = "--backoff" if name == "interpolate" else "--" + name.replace("_", "-")
            return f"{flag} is estimated in memory only"
    return ""


@dataclass
class RunInfo:
    partitions: int
    buckets: int
    tokens: int
    sizes: list
    split_words: int = 0     # words split into sub-partitions (see shard.py)


def estimate(train_file, model: str, options: dict, *, output, budget: int, temp_dir=None,
             arpa=None, text: TextOptions = TextOptions(), progress=False, runner=None,
             plan: Plan | None = None, workers: int = 1, binary=None):
    """Estimate ``model`` out of core and write it to ``output`` (a model file, ``.npz``;
    None: none), ARPA to ``arpa`` and a binary model (``.nlmbin``) to ``binary``.
    Returns (vocab, header, RunInfo). ``text``: how the text is read (tokenizer, case,
    vocabulary cutoffs). ``runner``: runs the per-partition work elsewhere
    (:mod:`.distributed`); None runs it here, one partition after another. ``plan``
    overrides the sizes the budget gives (tests cut tiny corpora into many pieces).
    ``workers`` > 1 (without ``runner``): partitions are handled by that many local
    processes at a time, each with its share of the budget."""
    why = supports(model, options)
    if why:
        raise OptionError(why)
    N = check_order(options.get("order", 3))
    if arpa is not None:
        check_arpa_output(model)
    plan = plan or Plan.for_budget(budget, N)
    own_runner = None
    if runner is None and workers > 1 and N > 1:
        plan = plan.split(workers)
        from .distributed import ProcessRunner
        runner = own_runner = ProcessRunner(workers)   # forked now, while the process is small
    try:
        with spill.work_dir(temp_dir) as d:
            try:
                run = _Run(d, train_file, model, options, text, progress, runner, plan, N,
                           own_runner)
                return _stages(run, output, arpa, binary)
            finally:
                if own_runner is not None:   # stopped before its working directory goes
                    own_runner.close()
    finally:
        if own_runner is not None:
            own_runner.close()


@dataclass
class _Run:
    """One estimation: what was asked, and what the stages pass on to each other."""
    d: str                      # the working directory
    train_file: object
    model: str
    options: dict
    text: TextOptions
    progress: bool
    runner: object
    plan: Plan
    N: int
    own_runner: object
    vocab: object = None
    corpus: SpilledCorpus | None = None
    rank: np.ndarray | None = None
    last_unigram: int | None = None
    P: int = 0
    layout: Layout | None = None
    summary: AdjustSummary = field(default_factory=AdjustSummary)

    @property
    def how(self) -> str:
        return f", {self.own_runner.workers} processes" if self.own_runner is not None else ""


def _stages(run: _Run, output, arpa, binary=None):
    _read(run)
    if run.N > 1:
        _count(run)
    spill.remove(run.corpus.path)
    N, V, corpus, summary = run.N, len(run.vocab), run.corpus, run.summary
    raw1 = corpus.unigram_counts
    # Kneser-Ney's highest order keeps raw counts: with N = 1 that is the unigrams
    cont1 = summary.unigram_continuation if N > 1 else raw1
    with stage("discounts"):
        method = _method(run.model, run.options, N, raw1, cont1, summary, run.rank,
                         run.last_unigram,
                         lambda v, u: chain_tables(run.d, run.layout, N, V, v, u, run.rank))
    p1, logprob1 = unigrams(method, raw1, cont1)
    first_weights = corpus.unigram_counts.astype(np.float64)
    first_weights[BOS_ID] = corpus.sentences
    sizes = [V] + [int(summary.sizes.get(k, 0)) for k in range(2, N + 1)]
    per_bucket = run.plan.bucket_ngrams
    if binary is not None:   # an order's probing table is held while its buckets pass
        per_bucket = run.plan.with_table(4 * max(sizes) / 0.7).bucket_ngrams
    bucket_of = plan_buckets(first_weights, per_bucket)
    R = int(bucket_of.max()) + 1
    logbow1 = _probabilities(run, method, p1, bucket_of, R)
    constant = math.log(STUPID_BACKOFF_FACTOR) if method is None else None
    if constant is not None:
        logbow1[:] = constant
    recorded = recorded_options(run.model, N, mle_unigrams=bool(run.options.get("mle_unigrams")),
                                info=None if method is None else method.info)
    header = model_header("backoff", {"order": N,
                                      "method": UNNORMALIZED.get(run.model, run.model),
                                      "normalized": method is not None, "options": recorded},
                          run.vocab)
    if run.own_runner is not None:
        run.own_runner.finish()    # the workers' memory is free for the last stage
    what = [w for w, p in (("the model file", output), ("the binary model", binary),
                           ("the ARPA file", arpa)) if p is not None]
    with stage("writing " + " and ".join(what)), ExitStack() as outputs:
        f = outputs.enter_context(atomic_output(output)) if output is not None else None
        writer = _arpa_writer(outputs, arpa, run.vocab, sizes) if arpa is not None else None
        bin_writer = None
        if binary is not None:
            from ..binary_stream import BinaryWriter
            bin_writer = BinaryWriter(outputs.enter_context(atomic_output(binary)),
                                      {"kind": header["kind"], "config": header["config"],
                                       "vocab": header["vocab"]}, sizes, run.vocab.counts)
        assemble(run.d, run.vocab, sizes, logprob1, logbow1, R, f, writer,
                 constant_logbow=constant, header=header, binary=bin_writer)
    split = len(run.layout.groups()) if run.layout is not None else 0
    return run.vocab, header, RunInfo(run.P, R, corpus.tokens, sizes, split)


def _read(run: _Run) -> None:
    """Text -> vocabulary and token ids on disk; KenLM's word ranks; the partitions."""
    text = run.text
    with stage(f"reading {os.path.basename(os.fspath(run.train_file))} to token ids"):
        run.vocab, run.corpus = read_to_disk(run.train_file, run.d, run.plan.chunk_tokens,
                                             text.tokenizer, text.lowercase, text.min_count,
                                             text.max_size, run.progress,
                                             pool=run.own_runner)
    run.rank = kenlm_rank(run.corpus.first_seen)
    occurs = np.flatnonzero(run.corpus.unigram_counts > 0)
    run.last_unigram = int(occurs[np.argmax(run.rank[occurs])]) if len(occurs) else None


def _count(run: _Run) -> None:
    """Every partition's n-grams counted and summarized (:func:`.partition.count_one`),
    then the bigrams of the split words merged (:func:`.partition.merge_split`)."""
    d, N, V, corpus, plan = run.d, run.N, len(run.vocab), run.corpus, run.plan
    with stage("planning the partitions"):
        layout = run.layout = plan_partitions(corpus, N, plan.partition_windows,
                                              plan.split_windows, plan.chunk_tokens,
                                              memory=plan.budget // 4, pool=run.own_runner)
    P = run.P = layout.count
    # Few partitions read their windows straight from the ids file; many get theirs
    # from one sharding pass (see shard.py)
    if P <= SCAN_PARTITIONS_PER_ORDER * N:
        lean = SpilledCorpus(corpus.path, corpus.tokens, corpus.sentences, None, None)
        scans = [(lean, layout, plan.chunk_tokens)] * P
        what = f"counting 2- to {N}-grams in {P} partitions{run.how}"
    else:
        with stage(f"sharding {corpus.tokens} tokens into {P} partitions{run.how}"):
            bar = Progress("sharding", total=corpus.tokens, unit="tok", enabled=run.progress)
            shard(corpus, d, N, layout, plan.chunk_tokens, bar, pool=run.own_runner)
            bar.close()
        spill.remove(corpus.path)
        scans = [None] * P
        what = f"counting 2- to {N}-grams, partition by partition{run.how}"
    split = [layout.is_split(q) for q in range(P)]
    with stage(what):
        if run.runner is not None:
            run.summary = run.runner.count(d, P, N, V, run.last_unigram, run.rank, scans,
                                           split)
        else:
            for q in range(P):
                run.summary = run.summary.add(count_one(d, q, N, V, run.last_unigram,
                                                        run.rank, scans[q], split[q]))
        for subs in layout.groups():
            run.summary = run.summary.add(merge_split(d, subs, N, V, run.last_unigram,
                                                      run.rank))


def _probabilities(run: _Run, method, p1, bucket_of, R) -> np.ndarray:
    """Every partition's probabilities and backoff weights spilled to the buckets; returns
    the unigram backoff weights (V,) (logs)."""
    d, N, V, P = run.d, run.N, len(run.vocab), run.P
    logbow1 = np.zeros(V)
    if N > 1:
        with stage(f"probabilities and backoff weights, partition by partition{run.how}"):
            bigrams = [run.layout.writes_bigrams(q) for q in range(P)]
            if run.runner is not None:
                parts = run.runner.estimate(d, P, N, V, method, p1, bucket_of, R, bigrams)
            else:
                parts = (estimate_one(d, q, N, V, method, p1, bucket_of, R, bigrams=bigrams[q])
                         for q in range(P))
            for uw, ub in parts:
                if uw is not None:
                    logbow1[uw] = ub
    return logbow1


def _arpa_writer(outputs: ExitStack, path, vocab, sizes):
    import gzip
    from ..arpa import ArpaWriter, check_arpa_words
    check_arpa_words(vocab)
    path = os.fspath(path)
    raw = outputs.enter_context(atomic_output(path))
    out = raw
    if path.endswith(".gz"):
        out = outputs.enter_context(gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6,
                                                  mtime=0))
    return ArpaWriter(out, vocab, sizes)


def _method(model: str, options: dict, N: int, raw1, cont1, summary, rank, last_unigram,
            load_partition):
    """The method's :class:`~nlm.ngram.estimate.methods.Smoothing` with the discounts the in-memory
    estimator would find, from the summed counts of counts (None: stupid backoff)."""
    if model in UNNORMALIZED:   # stupid backoff: relative frequencies, no smoothing
        return None
    mle_unigrams = bool(options.get("mle_unigrams") or False)
    discounts = None
    if model == "absolute":
        discounts = discounts_from(model, N, options.get("discount"), lambda: (
            [counts_of_counts(raw1, 4)] + [summary.coc_raw[k] for k in range(2, N + 1)]),
            mle_unigrams)
    elif model in ("kn", "mkn"):
        def tally():
            a1 = cont1.copy()
            a1[BOS_ID] = raw1[BOS_ID]
            coc = [counts_of_counts(a1, 4)] + [summary.coc_adjusted[k] for k in range(2, N + 1)]
            return lmplz_tally(coc, raw1, cont1, rank, summary.last_bigram, load_partition, N)
        discounts = discounts_from(model, N, options.get("discount"), tally)
    return smoothing(model, discounts, mle_unigrams)
