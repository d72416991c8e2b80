"""Out-of-core and distributed n-gram estimation (nlm/ngram/external) against the
in-memory estimators: the same tables, probabilities and backoff weights, under
budgets so small that the corpus is cut into many partitions and output buckets."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import nlm
from nlm.errors import NlmError, OptionError
from nlm.modelfile import load
from nlm.ngram.arpa import read_arpa
from nlm.ngram.estimate.discount import DiscountWarning
from nlm.ngram.external import budget, partition, pipeline, spill
from nlm.ngram.external.budget import Plan, parse_memory

from conftest import MORE_TEXT, TINY_TEXT, assert_one_line_error, run, shared_path

TOL = 1e-9   # the issue asks for 1e-6; the pipelines differ only in the order of float sums


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    d = tmp_path_factory.mktemp("texts")
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(40)] + ["the", "a", "<unk>"]
    # a few hundred random sentences with repeats, so every count of count occurs
    lines = [" ".join(rng.choice(words, size=rng.integers(1, 12), p=None))
             for _ in range(300)]
    lines += MORE_TEXT * 5
    return {"tiny": _write(d / "tiny.txt", TINY_TEXT), "more": _write(d / "more.txt", lines),
            "shakespeare": os.path.join(os.path.dirname(__file__), "..", "corpora",
                                        "shakespeare", "train.txt")}


def assert_same_model(a, b, tol=TOL):
    """Every table, log probability and log backoff weight of ``a`` equals ``b``'s (an
    ARPA file records no method)."""
    assert a.vocab.words == b.vocab.words
    assert a.order == b.order
    if a.method != "arpa":
        assert a.method == b.method and a.normalized == b.normalized
    for k in range(a.order):
        np.testing.assert_array_equal(a.tables.keys[k], b.tables.keys[k])
        _close(a.logprobs[k], b.logprobs[k], tol)
        if k < a.order - 1:
            _close(a.logbows[k], b.logbows[k], tol)


def _close(x, y, tol):
    x, y = np.asarray(x), np.asarray(y)
    assert np.array_equal(np.isneginf(x), np.isneginf(y))
    ok = np.isfinite(x)
    np.testing.assert_allclose(x[ok], y[ok], rtol=0, atol=tol)


#: what a budget of a few kilobytes would give (parse_memory refuses less than 1M): chunks
#: of 300 tokens, partitions of 200 windows, buckets of 150 n-grams
TINY = Plan(1 << 20, chunk_tokens=300, partition_windows=200, bucket_ngrams=150)
#: few partitions, which read their windows from the ids file instead of a sharding pass
FEW = Plan(1 << 20, chunk_tokens=300, partition_windows=1000, bucket_ngrams=150)
#: every word with more than 40 windows split into sub-partitions (the partitions of the
#: other words as TINY's); the same plan with no word split; the same two with few
#: partitions, whose windows are read from the ids file
SPLIT = Plan(1 << 20, chunk_tokens=300, partition_windows=200, bucket_ngrams=150,
             word_windows=40)
WHOLE = Plan(1 << 20, chunk_tokens=300, partition_windows=200, bucket_ngrams=150,
             word_windows=1 << 40)
SPLIT_FEW = Plan(1 << 20, chunk_tokens=300, partition_windows=3000, bucket_ngrams=150,
                 word_windows=100)
WHOLE_FEW = Plan(1 << 20, chunk_tokens=300, partition_windows=3000, bucket_ngrams=150,
                 word_windows=1 << 40)


def external(path, model, tmp_path, memory="1M", arpa=True, plan=TINY, **options):
    os.makedirs(tmp_path, exist_ok=True)
    out = tmp_path / f"{model}.npz"
    arpa_path = tmp_path / f"{model}.arpa" if arpa else None
    vocab, header, info = pipeline.estimate(path, model, options, output=out,
                                            budget=parse_memory(memory), temp_dir=tmp_path,
                                            arpa=arpa_path, plan=plan)
    return load(out), (read_arpa(arpa_path) if arpa else None), info


@pytest.mark.parametrize("model,options", [
    ("mkn", {}), ("kn", {}), ("witten-bell", {}), ("witten-bell", {"mle_unigrams": True}),
    ("absolute", {}), ("absolute", {"discount": 0.6, "mle_unigrams": True}), ("mle", {}),
    ("mkn", {"discount": "0.5,0.9,1.2"}), ("kn", {"discount": 0.7})])
@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_equal_to_in_memory(texts, tmp_path, model, options, order):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiscountWarning)
        ref = nlm.train(texts["more"], model, order=order, **options)
        got, arpa, info = external(texts["more"], model, tmp_path, order=order, **options)
        few, _, few_info = external(texts["more"], model, tmp_path / "few", arpa=False,
                                    plan=FEW, order=order, **options)
    assert_same_model(got, ref)
    assert got.options == ref.options
    assert_same_model(few, ref)
    if order > 1:
        assert info.partitions >= 8 and info.buckets >= 4   # many spills and merges
        assert info.partitions > 2 * order                  # windows sharded to files
        assert 1 < few_info.partitions <= 2 * order         # windows read from the ids
    assert_same_model(arpa, ref, tol=1e-9)                # written with 10 decimals


def test_stupid_backoff(texts, tmp_path):
    ref = nlm.train(texts["more"], "stupid", order=4)
    got, _, _ = external(texts["more"], "stupid", tmp_path, arpa=False, order=4)
    assert_same_model(got, ref)
    with pytest.raises(OptionError, match="not probabilities"):
        external(texts["more"], "stupid", tmp_path, order=4)


def test_shakespeare_order_5_many_partitions(texts, tmp_path):
    ref = nlm.train(texts["shakespeare"], "mkn", order=5)
    got, arpa, info = external(texts["shakespeare"], "mkn", tmp_path, memory="8M", plan=None,
                               order=5)
    assert info.partitions >= 10 and info.buckets >= 10
    assert_same_model(got, ref)
    assert_same_model(arpa, ref)
    assert os.listdir(tmp_path) == ["mkn.npz", "mkn.arpa"] or sorted(os.listdir(tmp_path)) == \
        ["mkn.arpa", "mkn.npz"]   # nothing spilled is left


def test_discount_fallback_warns_as_in_memory(tmp_path):
    path = _write(tmp_path / "c.txt", ["a b a b", "b a b a", "a a b b"])
    with pytest.warns(DiscountWarning):
        ref = nlm.train(path, "mkn", order=3)
    with pytest.warns(DiscountWarning):
        got, _, _ = external(path, "mkn", tmp_path, arpa=False, order=3)
    assert_same_model(got, ref)


@pytest.mark.parametrize("order", [3, 5])
def test_wikitext2(tmp_path, order):
    train = shared_path("corpora", "wikitext-2", "train.txt")
    ref = nlm.train(train, "mkn", order=order)
    got, arpa, info = external(train, "mkn", tmp_path, memory="64M", plan=None, order=order)
    assert info.partitions >= 4
    assert_same_model(got, ref)
    assert_same_model(arpa, ref, tol=1e-9)


# -- the command line: choice, temp files, failures ------------------------------------------
def test_cli_chooses_and_cleans_up(runner, texts, tmp_path):
    spills = tmp_path / "spill"
    spills.mkdir()
    big = texts["shakespeare"]   # 0.85M tokens: more than a 1M budget holds in memory
    r = run(runner, ["train", big, "--order", 3, "--memory", "16M", "--temp-dir",
                     spills, "--arpa", tmp_path / "m.arpa.gz", "-o", tmp_path / "m.npz",
                     "--valid", texts["tiny"]])
    assert "estimation: out-of-core" in r.output
    assert "valid perplexity" in r.output
    assert os.listdir(spills) == []
    ref = nlm.train(big, "mkn", order=3)
    assert_same_model(load(tmp_path / "m.npz"), ref)
    assert_same_model(load(tmp_path / "m.arpa.gz"), ref)
    r = run(runner, ["train", big, "--order", 3, "--memory", "4G", "-o",
                     tmp_path / "n.npz", "--arpa", tmp_path / "n.arpa"])
    assert "estimation: in memory" in r.output
    assert_same_model(load(tmp_path / "n.arpa"), ref)
    r = run(runner, ["train", big, "--model", "katz", "--order", 2, "--memory", "1M", "-o",
                     tmp_path / "k.npz"])
    assert "estimation: in memory" in r.output and "in memory only" in r.output


def test_cli_goes_out_of_core_for_speed(runner, texts, tmp_path, monkeypatch):
    """A corpus that fits in memory is estimated out of core when that runs in several
    processes (a large corpus on several cores), and in memory after all when the disk
    cannot hold the temporary files."""
    import shutil
    from nlm.ngram.external import train as external_train
    monkeypatch.setattr(external_train, "local_workers", lambda path: 2)
    big = texts["shakespeare"]
    ref = nlm.train(big, "mkn", order=3)
    r = run(runner, ["train", big, "--order", 3, "--arpa", tmp_path / "m.arpa"])
    assert "estimation: out-of-core in 2 processes, faster than in memory in one (about" \
        in r.output
    assert_same_model(load(tmp_path / "m.arpa"), ref)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=10_000))
    r = run(runner, ["train", big, "--order", 3, "--arpa", tmp_path / "n.arpa"])
    assert "estimation: in memory after all" in r.output and "not enough free disk" in r.output
    assert_same_model(load(tmp_path / "n.arpa"), ref)
    r = run(runner, ["train", big, "--order", 3, "--memory", "16M", "--arpa",
                     tmp_path / "o.arpa"], ok=False)     # needed for memory: refused
    assert_one_line_error(r, "not enough free disk")


@pytest.mark.parametrize("fail_in", ["count_partition", "assemble"])
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_temp_files_removed_on_failure(texts, tmp_path, monkeypatch, fail_in, error):
    spills = tmp_path / "spill"
    spills.mkdir()

    def boom(*args, **kwargs):
        assert os.listdir(spills), "the working directory exists while the pipeline runs"
        raise error("stop")
    monkeypatch.setattr(partition if fail_in == "count_partition" else pipeline, fail_in, boom)
    (tmp_path / "m.npz").write_bytes(b"old")
    with pytest.raises(error):
        pipeline.estimate(texts["more"], "mkn", {"order": 3}, output=tmp_path / "m.npz",
                          budget=1 << 20, temp_dir=spills, arpa=tmp_path / "m.arpa", plan=TINY)
    assert os.listdir(spills) == []
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "spill"]   # no ARPA, no temp file
    assert (tmp_path / "m.npz").read_bytes() == b"old"


def test_bad_input_is_one_line_and_leaves_nothing(runner, tmp_path):
    spills = tmp_path / "spill"
    spills.mkdir()
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"a b c d e f\n" * 20000 + b"\xff\xfe oops\n")
    r = run(runner, ["train", bad, "--memory", "1M", "--temp-dir", spills, "-o",
                     tmp_path / "m.npz"], ok=False)
    assert "estimation: out-of-core" in r.output
    assert_one_line_error(r, str(bad), "UTF-8")
    assert os.listdir(spills) == [] and not (tmp_path / "m.npz").exists()
    r = run(runner, ["train", tmp_path / "missing.txt", "--memory", "1M", "-o",
                     tmp_path / "m.npz"], ok=False)
    assert_one_line_error(r, "missing.txt")
    r = run(runner, ["train", bad, "--memory", "lots", "-o", tmp_path / "m.npz"], ok=False)
    assert_one_line_error(r, "memory")
    r = run(runner, ["train", bad, "--memory", "1M", "--temp-dir", tmp_path / "nope", "-o",
                     tmp_path / "m.npz"], ok=False)
    assert_one_line_error(r, "nope")
    r = run(runner, ["train", bad, "--model", "rnn", "--memory", "1M", "-o",
                     tmp_path / "m.npz"], ok=False)
    assert_one_line_error(r, "n-gram models")


def test_stale_working_directory_is_removed(tmp_path):
    dead = tmp_path / f"{spill.PREFIX}999999999-abc"
    dead.mkdir()
    (dead / "ids.i32").write_bytes(b"1234")
    mine = tmp_path / f"{spill.PREFIX}{os.getpid()}-abc"
    mine.mkdir()
    with spill.work_dir(tmp_path) as d:
        assert os.path.isdir(d)
    assert sorted(os.listdir(tmp_path)) == [mine.name]


def test_memory_parsing_and_choice(tmp_path):
    assert parse_memory("4G") == 4 << 30
    assert parse_memory("500m") == 500 << 20
    assert parse_memory("1.5GB") == int(1.5 * (1 << 30))
    for bad in ("", "4X", "-1G", "100"):
        with pytest.raises(OptionError):
            parse_memory(bad)
    path = _write(tmp_path / "t.txt", ["a b c d e f"] * 20000)   # ~50k tokens: 3.5M at order 3
    assert budget.choose(path, 3, 1 << 30, True)[0] is False
    assert budget.choose(path, 3, 1 << 20, True)[0] is True
    assert budget.choose(path, 3, 1 << 20, False)[0] is False
    assert pipeline.supports("katz", {})
    assert pipeline.supports("mkn", {"interpolate": False})
    assert pipeline.supports("mkn", {"prune": "0,1"})
    assert not pipeline.supports("mkn", {"order": 4, "interpolate": True})


def test_dask_local_cluster(texts, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    from nlm.ngram.external.distributed import DaskRunner
    warnings.simplefilter("ignore", DiscountWarning)   # the corpus is small for order 4
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        out = tmp_path / "d.npz"
        pipeline.estimate(texts["more"], "mkn", {"order": 4}, output=out,
                          budget=parse_memory("1M"), temp_dir=tmp_path,
                          arpa=tmp_path / "d.arpa", runner=DaskRunner(client), plan=TINY)
        split = tmp_path / "split"      # frequent words split by the word before them
        split.mkdir()
        _, _, info = pipeline.estimate(texts["more"], "mkn", {"order": 4},
                                       output=split / "d.npz", budget=parse_memory("1M"),
                                       temp_dir=split, runner=DaskRunner(client), plan=SPLIT)
    ref = nlm.train(texts["more"], "mkn", order=4)
    assert_same_model(load(out), ref)
    assert_same_model(read_arpa(tmp_path / "d.arpa"), ref)
    assert info.split_words >= 20
    assert (split / "d.npz").read_bytes() == out.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["d.arpa", "d.npz", "split"]


# -- stage 0: the block reader gives what the line reader gives -------------------------------
TRICKY = ("\ufeffThe cat  sat\r\n\n   \n\tthe <unk> <s> </s> dog\u2028ran\n"
          "ΣΟΦΟΣ λόγος\x0bend\n\n" + "a b c\n" * 50 + "last line without newline")


@pytest.mark.parametrize("text", [TRICKY, TRICKY + "\n", "one\n", "\n\n  \nx y\n\n",
                                  "nul \x00 char\nx\n"])
@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize("gz", [False, True])
def test_reader_matches_read_training_corpus(tmp_path, monkeypatch, text, lowercase, gz):
    import gzip
    from nlm.corpus import read_training_corpus
    from nlm.ngram.external import read
    monkeypatch.setattr(read, "_BLOCK_BYTES", 7)     # lines cut across blocks
    path = tmp_path / ("t.txt.gz" if gz else "t.txt")
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    vocab, corpus = read_training_corpus(path, lowercase=lowercase, min_count=1)
    work = tmp_path / "w"
    work.mkdir()
    v2, spilled = read.read_to_disk(path, str(work), 5, lowercase=lowercase)
    assert v2.words == vocab.words
    np.testing.assert_array_equal(v2.counts, vocab.counts)
    ids = np.fromfile(spilled.path, dtype=np.int32)
    np.testing.assert_array_equal(ids, corpus.ids)
    assert spilled.sentences == corpus.sentences and spilled.tokens == corpus.tokens
    np.testing.assert_array_equal(spilled.unigram_counts, np.bincount(corpus.ids,
                                                                      minlength=len(vocab)))


def test_reader_reports_bad_utf8_by_line(tmp_path):
    from nlm.errors import CorpusError
    from nlm.ngram.external import read
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a b\nc d\n\xff e\n")
    with pytest.raises(CorpusError, match=r"line 3 is not valid UTF-8"):
        read.read_to_disk(path, str(tmp_path), 100)


# -- export-arpa streams from the model file -----------------------------------------------
def test_export_streams_from_the_model_file(texts, tmp_path, runner):
    from nlm.ngram.arpa import write_arpa
    model = nlm.train(texts["more"], "kn", order=3)
    nlm.save(model, tmp_path / "m.npz")
    r = run(runner, ["export-arpa", tmp_path / "m.npz", tmp_path / "m.arpa"])
    assert "wrote 3-gram ARPA model" in r.output
    write_arpa(model, tmp_path / "ref.arpa")
    assert (tmp_path / "m.arpa").read_bytes() == (tmp_path / "ref.arpa").read_bytes()
    # damaged tables are refused with one line, whatever reads them
    header, arrays = nlm.modelfile.read_header(tmp_path / "m.npz")
    arrays["keys.3"] = arrays["keys.3"][::-1].copy()
    from nlm.files import write_npz
    write_npz(tmp_path / "bad.npz", header, arrays, nlm.modelfile.HEADER)
    r = run(runner, ["export-arpa", tmp_path / "bad.npz", tmp_path / "bad.arpa"], ok=False)
    assert_one_line_error(r, "bad.npz", "sorted")
    assert not (tmp_path / "bad.arpa").exists()
    data = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:len(data) // 2])
    r = run(runner, ["export-arpa", tmp_path / "cut.npz", tmp_path / "cut.arpa"], ok=False)
    assert_one_line_error(r, "cut.npz")


def test_local_worker_processes(texts, tmp_path, monkeypatch):
    from nlm.ngram.external import read
    monkeypatch.setattr(read, "PARALLEL_BYTES", 0)     # the workers read the text too
    out = tmp_path / "p.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiscountWarning)
        ref = nlm.train(texts["more"], "mkn", order=4)
        pipeline.estimate(texts["more"], "mkn", {"order": 4}, output=out, budget=1 << 20,
                          temp_dir=tmp_path, plan=TINY, workers=2)
    assert_same_model(load(out), ref)
    assert os.listdir(tmp_path) == ["p.npz"]


def test_sigterm_removes_the_working_directory(tmp_path):
    import signal
    import subprocess
    import sys
    spills = tmp_path / "spill"
    spills.mkdir()
    big = tmp_path / "big.txt"
    big.write_text("a b c d e f g h\n" * 400000)
    code = ("import sys, time\n"
            "from nlm.ngram.external import partition, pipeline\n"
            "real = partition.count_partition\n"
            "def slow(*a, **k):\n"
            "    print('counting', flush=True); time.sleep(60)\n"
            "partition.count_partition = slow\n"
            f"pipeline.estimate({str(big)!r}, 'mkn', {{'order': 3}}, output={str(tmp_path / 'm.npz')!r},"
            f" budget=1 << 20, temp_dir={str(spills)!r})\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "counting"
    assert os.listdir(spills)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    proc.stdout.close()
    assert proc.returncode != 0
    assert os.listdir(spills) == [] and not (tmp_path / "m.npz").exists()


@pytest.mark.filterwarnings("ignore::nlm.ngram.estimate.discount.DiscountWarning")
@pytest.mark.parametrize("model", ["mle", "witten-bell", "absolute", "kn", "mkn", "stupid"])
def test_out_of_core_equals_in_memory_bit_for_bit(texts, tmp_path, model):
    """Both pipelines run each method's one formula (nlm.ngram.estimate.methods) on the
    same counts, so their tables agree to the last bit, not only within TOL."""
    for order in (1, 3, 5):
        got, _, _ = external(texts["more"], model, tmp_path / str(order), arpa=False,
                             order=order)
        want = nlm.train(texts["more"], model, order=order)
        for k in range(order):
            np.testing.assert_array_equal(got.tables.keys[k], want.tables.keys[k])
            np.testing.assert_array_equal(got.logprobs[k], want.logprobs[k])
            if k < order - 1:
                np.testing.assert_array_equal(got.logbows[k], want.logbows[k])


# -- words too frequent for one partition, split by the word before them --------------------
def _outputs(path, model, d, plan, order):
    """(info, {output: bytes}) of an out-of-core run writing the model file, the binary
    model and (for normalized models) ARPA."""
    os.makedirs(d)
    files = {"output": d / "m.npz", "binary": d / "m.nlmbin"}
    if model != "stupid":
        files["arpa"] = d / "m.arpa"
    _, _, info = pipeline.estimate(path, model, {"order": order}, budget=1 << 20,
                                   temp_dir=d, plan=plan, **files)
    assert sorted(os.listdir(d)) == sorted(p.name for p in files.values())
    return info, {k: p.read_bytes() for k, p in files.items()}


@pytest.mark.filterwarnings("ignore::nlm.ngram.estimate.discount.DiscountWarning")
@pytest.mark.parametrize("model", ["mkn", "kn", "witten-bell", "absolute", "mle", "stupid"])
@pytest.mark.parametrize("order", [2, 3, 5])
def test_split_words_give_the_same_files(texts, tmp_path, model, order):
    """Splitting the frequent words (<s> included) changes no byte of the model file, the
    binary model or ARPA, sharded or scanned, and the model is the in-memory one."""
    for split, whole, words in ((SPLIT, WHOLE, 20), (SPLIT_FEW, WHOLE_FEW, 2)):
        d = tmp_path / str(words)
        info, got = _outputs(texts["more"], model, d / "split", split, order)
        ref_info, want = _outputs(texts["more"], model, d / "whole", whole, order)
        assert info.split_words >= words and ref_info.split_words == 0
        assert info.partitions > ref_info.partitions
        if order > 2:   # sharded to files, or few enough to be read from the ids
            assert (info.partitions > pipeline.SCAN_PARTITIONS_PER_ORDER * order) == \
                (words == 20)
        assert got == want
    got = load(tmp_path / "20" / "split" / "m.npz")
    ref = nlm.train(texts["more"], model, order=order)
    for k in range(order):
        np.testing.assert_array_equal(got.tables.keys[k], ref.tables.keys[k])
        np.testing.assert_array_equal(got.logprobs[k], ref.logprobs[k])
        if k < order - 1:
            np.testing.assert_array_equal(got.logbows[k], ref.logbows[k])


def test_split_words_with_worker_processes(texts, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiscountWarning)
        ref = nlm.train(texts["more"], "mkn", order=4)
        _, _, info = pipeline.estimate(texts["more"], "mkn", {"order": 4},
                                       output=tmp_path / "p.npz", budget=1 << 20,
                                       temp_dir=tmp_path, plan=SPLIT, workers=2)
    assert info.split_words >= 5
    assert_same_model(load(tmp_path / "p.npz"), ref, tol=0)


@pytest.mark.filterwarnings("ignore::nlm.ngram.estimate.discount.DiscountWarning")
def test_skewed_corpus_partitions_within_capacity(tmp_path):
    """One word 20% of the tokens: the budget's plan splits it, and no partition gets more
    windows than a partition may hold (the model is still the in-memory one)."""
    from nlm.ngram.external.read import read_to_disk
    from nlm.ngram.external.shard import plan_partitions, window_weights
    rng = np.random.default_rng(7)
    words = np.array([f"w{i}" for i in range(300)])
    p = 1.0 / np.arange(1, 301)
    p[1:] *= 0.8 / p[1:].sum()
    p[0] = 0.2
    lines = [" ".join(words[rng.choice(300, size=rng.integers(3, 20), p=p)])
             for _ in range(5000)]
    path = _write(tmp_path / "skewed.txt", lines)
    plan = Plan.for_budget(1 << 20, 4)
    d = tmp_path / "d"
    d.mkdir()
    vocab, corpus = read_to_disk(path, str(d), plan.chunk_tokens)
    weights = window_weights(corpus)
    assert weights[vocab.index["w0"]] > 4 * plan.partition_windows     # 20% of the tokens
    layout = plan_partitions(corpus, 4, plan.partition_windows, plan.split_windows,
                             plan.chunk_tokens)
    assert len(layout.groups()) >= 1
    assert layout.sizes.max() <= plan.partition_windows
    assert layout.sizes.sum() == weights.sum()
    # the window counts of the split words by the word before, one word a pass: the same
    many = plan_partitions(corpus, 4, 1000, 1000, plan.chunk_tokens)
    one_at_a_time = plan_partitions(corpus, 4, 1000, 1000, plan.chunk_tokens, memory=1)
    from nlm.ngram.external.distributed import ProcessRunner
    pool = ProcessRunner(3)
    try:   # counted by three workers over ranges of the ids, one word or all at a time
        by_ranges = [plan_partitions(corpus, 4, 1000, 1000, plan.chunk_tokens, pool=pool,
                                     memory=m) for m in (1 << 30, 1)]
    finally:
        pool.close()
    assert len(many.groups()) >= 3
    for other in [one_at_a_time] + by_ranges:
        for a, b in zip(many.arrays() + (many.sizes, many.lead),
                        other.arrays() + (other.sizes, other.lead)):
            np.testing.assert_array_equal(a, b)
    ref = nlm.train(path, "mkn", order=4)
    got, arpa, info = external(path, "mkn", tmp_path / "run", memory="1M", plan=None, order=4)
    assert info.split_words >= 1
    assert_same_model(got, ref, tol=0)
    assert_same_model(arpa, ref)


@pytest.mark.filterwarnings("ignore::nlm.ngram.estimate.discount.DiscountWarning")
@pytest.mark.parametrize("order", [3, 5])
def test_lmplz_tally_through_a_split_word(texts, tmp_path, monkeypatch, order):
    """lmplz's counts of counts tally the chain of last n-grams: here the last new word
    follows only "the", a split word, so the chain goes on in one of its sub-partitions
    (its n-grams seen twice with one word before them, so that their tally counts; the
    bigram's words before, in several sub-partitions, are counted in all of them)."""
    path = _write(tmp_path / "c.txt", texts["more"].read_text().splitlines()
                  + [f"w30 w{i} the zzz" for i in range(3)] * 2)
    seen = []
    real = pipeline.chain_tables

    def spy(d, layout, N, V, v, u, rank):
        seen.append(len(layout.partitions_of(v)))
        return real(d, layout, N, V, v, u, rank)
    monkeypatch.setattr(pipeline, "chain_tables", spy)
    for model in ("mkn", "kn"):
        got, _, _ = external(path, model, tmp_path / model, arpa=False, plan=SPLIT, order=order)
        assert_same_model(got, nlm.train(path, model, order=order), tol=0)
    assert seen and min(seen) > 1


# -- sharding in the worker processes, one range of whole sentences each ----------------------
def _skewed_lines(n, seed, long_every=0):
    """Zipf-like sentences, one word 20% of the tokens (split by SPLIT-like plans); every
    ``long_every``-th sentence 400 words long (longer than a range of the small tests)."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(120)])
    p = 1.0 / np.arange(1, 121)
    p[1:] *= 0.8 / p[1:].sum()
    p[0] = 0.2
    return [" ".join(words[rng.choice(120, size=400 if long_every and i % long_every == 7
                                      else rng.integers(1, 15), p=p)]) for i in range(n)]


def _spilled(tmp_path, lines, order, plan):
    from nlm.ngram.external.read import read_to_disk
    from nlm.ngram.external.shard import plan_partitions
    d = tmp_path / "ids"
    d.mkdir()
    _, corpus = read_to_disk(_write(tmp_path / "c.txt", lines), str(d), plan.chunk_tokens)
    layout = plan_partitions(corpus, order, plan.partition_windows, plan.split_windows,
                             plan.chunk_tokens)
    return corpus, layout


def test_sentence_ranges_cut_after_sentence_ends(tmp_path):
    from nlm.ngram.external.shard import sentence_ranges
    from nlm.vocab import EOS_ID as E
    ids = np.array([5, 6, E] + [7] * 8 + [E, 8, E], dtype=np.int32)
    path = str(tmp_path / "ids.i32")
    ids.tofile(path)
    n = len(ids)
    assert sentence_ranges(path, n, 1) == [(0, 14)]
    # the middle (7) falls inside the long sentence: the cut moves to its end
    assert sentence_ranges(path, n, 2) == [(0, 12), (12, 14)]
    # two cuts fall inside it: one range fewer
    assert sentence_ranges(path, n, 3) == [(0, 12), (12, 14)]
    assert sentence_ranges(path, n, 5) == [(0, 3), (3, 12), (12, 14)]
    assert sentence_ranges(path, n, 20) == [(0, 3), (3, 12), (12, 14)]
    np.array([7] * 9 + [E], dtype=np.int32).tofile(path)           # one sentence
    assert sentence_ranges(path, 10, 3) == [(0, 10)]
    long = np.array([E] + [7] * 200000 + [E, 8, E], dtype=np.int32)  # past a read block
    long.tofile(path)
    assert sentence_ranges(path, len(long), 2) == [(0, 200002), (200002, 200004)]


@pytest.mark.parametrize("order, plan, workers", [
    (3, TINY, 2), (3, SPLIT, 3), (5, SPLIT, 2), (2, SPLIT, 3), (4, TINY, 3)])
def test_parallel_shard_equals_sequential(tmp_path, order, plan, workers):
    """Each worker's range of whole sentences into its own files: every partition's
    windows, read back, are the sequential pass's rows in the same order (split words'
    sub-partitions included), some ranges giving a partition nothing."""
    from nlm.ngram.external.distributed import ProcessRunner
    from nlm.ngram.external.shard import (load_windows, sentence_ranges, shard,
                                          window_files, windows_of)
    lines = _skewed_lines(600, order, long_every=97)
    # a sentence of 2000 words across the middle; at the end, sentences of a word found
    # nowhere else (its partitions get windows from the last range only)
    lines = lines[:300] + [" ".join(["mid"] * 2000)] + lines[300:] + ["tail " * 6] * 50
    corpus, layout = _spilled(tmp_path, lines, order, plan)
    assert len(layout.groups()) >= (3 if plan is SPLIT else 1)
    ranges = sentence_ranges(corpus.path, corpus.tokens, workers)
    assert len(ranges) == workers
    nominal = [i * corpus.tokens // workers for i in range(1, workers)]
    assert [a for a, _ in ranges[1:]] != nominal                  # cut inside sentences
    one, many = tmp_path / "one", tmp_path / "many"
    one.mkdir()
    many.mkdir()
    sizes = shard(corpus, str(one), order, layout, plan.chunk_tokens)
    runner = ProcessRunner(workers)
    try:
        got = shard(corpus, str(many), order, layout, plan.chunk_tokens, pool=runner)
    finally:
        runner.close()
    assert got == sizes == layout.sizes.tolist()
    assert not os.path.exists(many / "shard.tally")
    parts = [len(window_files(str(many), q)) for q in range(layout.count)]
    assert max(parts) == workers and min(parts) < workers    # a range without windows of q
    for q in range(layout.count):
        want = windows_of(corpus, order, layout, q, plan.chunk_tokens)    # a scan of the ids
        np.testing.assert_array_equal(load_windows(str(one), q, order), want)
        np.testing.assert_array_equal(load_windows(str(many), q, order), want)
    assert os.listdir(one) == [] and os.listdir(many) == []


def _crash(path, array, delta=None):
    import signal
    if "win.0." in path:        # only the worker whose range reaches partition 0 first
        os.kill(os.getpid(), signal.SIGKILL)
    return 0


def _disk_full(path, array, delta=None):
    raise OSError(28, "No space left on device", path)


@pytest.mark.parametrize("fail, error", [(_crash, NlmError), (_disk_full, OSError)])
def test_parallel_shard_worker_failure_raises(tmp_path, monkeypatch, fail, error):
    """A worker killed, or raising, while sharding: the run stops with an error (a killed
    worker's task would never end: the parent sees its process gone)."""
    from nlm.ngram.external import codec
    from nlm.ngram.external.distributed import ProcessRunner
    from nlm.ngram.external.shard import shard
    corpus, layout = _spilled(tmp_path, _skewed_lines(300, 1), 3, TINY)
    monkeypatch.setattr(codec, "append", fail)
    runner = ProcessRunner(2)          # forked with the failing append
    try:
        with pytest.raises(error, match="died while sharding|No space"):
            shard(corpus, str(tmp_path / "ids"), 3, layout, TINY.chunk_tokens, pool=runner)
    finally:
        runner.close()


@pytest.mark.filterwarnings("ignore::nlm.ngram.estimate.discount.DiscountWarning")
@pytest.mark.parametrize("model, order, workers", [("mkn", 3, 2), ("mkn", 5, 3),
                                                   ("kn", 4, 2)])
def test_parallel_sharding_gives_the_in_memory_files(tmp_path, monkeypatch, model, order,
                                                     workers):
    """Out of core with worker processes, sharded in them (split words and long sentences
    included): the model file, binary model and ARPA are the in-memory path's bytes."""
    from nlm.ngram.arpa import write_arpa
    from nlm.ngram.binary import write_binary
    calls = []
    real = pipeline.shard

    def spy(*args, pool=None, **kwargs):
        calls.append(pool.workers if pool is not None else None)
        return real(*args, pool=pool, **kwargs)

    monkeypatch.setattr(pipeline, "shard", spy)
    path = _write(tmp_path / "c.txt", _skewed_lines(2500, order, long_every=301))
    plan = Plan(1 << 20, chunk_tokens=2000, partition_windows=1000, bucket_ngrams=500,
                word_windows=600)
    d = tmp_path / "ooc"
    d.mkdir()
    _, _, info = pipeline.estimate(path, model, {"order": order}, output=d / "m.npz",
                                   binary=d / "m.nlmbin", arpa=d / "m.arpa", budget=1 << 20,
                                   temp_dir=d, plan=plan, workers=workers)
    assert calls == [workers]                                     # sharded in the workers
    assert info.partitions > pipeline.SCAN_PARTITIONS_PER_ORDER * order
    assert info.split_words >= 1
    assert sorted(os.listdir(d)) == ["m.arpa", "m.nlmbin", "m.npz"]
    ref = nlm.train(path, model, order=order)
    mem = tmp_path / "mem"
    mem.mkdir()
    nlm.save(ref, mem / "m.npz")
    write_binary(ref, mem / "m.nlmbin")
    write_arpa(ref, mem / "m.arpa")
    for name in ("m.npz", "m.nlmbin", "m.arpa"):
        assert (d / name).read_bytes() == (mem / name).read_bytes(), name
