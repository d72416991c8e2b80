"""Several model files evaluated on one test text, as a table: what ``nlm compare`` prints.

Each model reads the text with its own vocabulary and tokenizer, so models
with different vocabularies can be compared; their OOV rates show whether the
comparison is fair (perplexities over different vocabularies are not
comparable). Models are loaded one at a time and released after scoring, so
comparing several large models needs the memory of one. Scoring speed is
timed on the model's fast path only (``score_corpus``), after a warm-up on
the first sentence so that one-off costs (JIT compilation, lazy tables) are
not counted. This module formats; it prints nothing.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from .corpus import Corpus, read_corpus
from .errors import OptionError
from .evaluate import Evaluation, check_numbers, evaluate
from .model import LanguageModel
from .modelfile import load

FORMATS = ("text", "markdown", "json")


@dataclass
class Row:
    model: str                       # the model file as given
    kind: str                        # model kind, with its method when it has one
    evaluation: Evaluation | None    # None when the scores are not probabilities
    note: str = ""


def kind_of(model: LanguageModel) -> str:
    detail = model.describe().get("method")
    if model.kind == "mixture":
        detail = f"{len(model.components)} components"
    return f"{model.kind} ({detail})" if detail and detail != model.kind else model.kind


def compare_models(model_files, test_file) -> list[Row]:
    """Evaluate each model file on ``test_file``; one :class:`Row` per model, in order."""
    corpora: dict[tuple, Corpus] = {}
    rows = []
    for path in model_files:
        model = load(path)
        if not model.normalized:
            rows.append(Row(str(path), kind_of(model), None,
                            "scores are not probabilities: no perplexity"))
            continue
        vocab = model.vocab
        key = (vocab.tokenizer, vocab.lowercase, tuple(vocab.words))
        corpus = corpora.get(key)
        if corpus is None:
            corpus = corpora[key] = read_corpus(test_file, vocab)
        first = slice(0, 2)
        model.score_corpus(corpus.ids[:corpus.offsets[1]], corpus.offsets[first])  # warm-up
        ev = evaluate(model, corpus)
        check_numbers(path, ev.logprob)
        rows.append(Row(str(path), kind_of(model), ev))
        del model
    return rows


HEADERS = ("model", "kind", "perplexity", "ppl excl. OOV", "bits/token", "OOV rate",
           "tokens/s")


def _cells(row: Row) -> list[str]:
    ev = row.evaluation
    if ev is None:
        return [row.model, row.kind] + ["-"] * 5
    return [row.model, row.kind, _num(ev.perplexity, 2), _num(ev.perplexity_excluding_oov, 2),
            _num(ev.bits_per_token, 4), f"{100 * ev.oov_rate:.2f}%",
            f"{ev.tokens_per_second:,.0f}" if math.isfinite(ev.tokens_per_second) else "-"]


def _num(x: float, digits: int) -> str:
    if math.isnan(x):
        return "-"
    return "inf" if math.isinf(x) else f"{x:,.{digits}f}"


def format_rows(rows: list[Row], fmt: str = "text", test_file: str | None = None) -> str:
    """The table as aligned text, a Markdown table or a JSON document."""
    if fmt not in FORMATS:
        raise OptionError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "json":
        models = []
        for row in rows:
            d = {"model": row.model, "kind": row.kind}
            if row.evaluation is not None:
                d.update(row.evaluation.to_dict())
            if row.note:
                d["note"] = row.note
            models.append(d)
        return json.dumps({"test": test_file, "models": models}, indent=2) + "\n"
    table = [list(HEADERS)] + [_cells(r) for r in rows]
    notes = [f"{r.model}: {r.note}" for r in rows if r.note]
    if fmt == "markdown":
        lines = ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
                 for cells in table]
        lines.insert(1, "|" + "|".join(["---", "---"] + ["---:"] * (len(HEADERS) - 2)) + "|")
    else:
        widths = [max(len(cells[j]) for cells in table) for j in range(len(HEADERS))]
        lines = ["  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                           for j, (c, w) in enumerate(zip(cells, widths))).rstrip()
                 for cells in table]
    return "\n".join(lines + [""] + notes if notes else lines) + "\n"


__all__ = ["compare_models", "format_rows", "Row", "FORMATS", "kind_of"]
