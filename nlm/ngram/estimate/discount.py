"""Stage 3 of n-gram estimation: discounts from counts of counts.

Input: n_r, the number of n-grams of one order whose (raw or adjusted) count
is r. Output: how much each count is discounted. Nothing here touches the
count tables themselves.

* Kneser-Ney, one discount per order (Ney, Essen & Kneser 1994):
  D = n1 / (n1 + 2 n2).
* Modified Kneser-Ney, three discounts per order (Chen & Goodman 1998, eq. 26):
  Y = n1 / (n1 + 2 n2),  D_r = r - (r + 1) Y n_{r+1} / n_r  for r = 1, 2, 3+.
  When some n_r is 0 or a D_r falls outside [0, r] the estimate is undefined
  (tiny or artificial corpora). Like ``lmplz --discount_fallback``, that order
  then gets the fixed discounts 0.5 / 1 / 1.5 and a warning, not an error.
* Good-Turing (Katz 1987): a count r <= k is multiplied by
  d_r = (r*/r - (k+1) n_{k+1}/n_1) / (1 - (k+1) n_{k+1}/n_1),
  r* = (r+1) n_{r+1}/n_r; counts above k are kept. A d_r that is undefined or
  outside (0, 1] is replaced by 1 (no discount), as SRILM does.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ...errors import OptionError
from ...vocab import BOS_ID
from .adjust import first_word

MKN_FALLBACK = (0.5, 1.0, 1.5)   # lmplz --discount_fallback defaults
KN_FALLBACK = 0.75


class DiscountWarning(UserWarning):
    """A discount could not be estimated from the counts and a fixed one was used."""


def mkn_discounts(n: np.ndarray) -> tuple[np.ndarray | None, str]:
    """(4,) discounts [0, D1, D2, D3+] from counts of counts n[0..4], or
    (None, reason) when they cannot be estimated."""
    for r in (1, 2, 3):
        if n[r] == 0:
            return None, f"no n-grams with adjusted count {r}"
    y = n[1] / (n[1] + 2.0 * n[2])
    d = np.zeros(4)
    for r in (1, 2, 3):
        d[r] = r - (r + 1) * y * n[r + 1] / n[r]
        if not 0.0 <= d[r] <= r:
            return None, f"discount D{r}{'+' if r == 3 else ''} = {d[r]:.4g} is outside [0, {r}]"
    return d, ""


def kn_discount(n: np.ndarray) -> tuple[float | None, str]:
    """One Kneser-Ney discount n1 / (n1 + 2 n2), or (None, reason)."""
    if n[1] == 0 or n[2] == 0:
        return None, f"no n-grams with count {1 if n[1] == 0 else 2}"
    return float(n[1] / (n[1] + 2.0 * n[2])), ""


def _counts_of_counts(n: np.ndarray) -> str:
    """'n1..n4 = 3/0/1/0': the figures a discount is estimated from, so that a warning
    shows why (few n-grams, or a text with unusual repetition) instead of guessing."""
    return "n1..n4 = " + "/".join(str(int(x)) for x in np.asarray(n)[1:5])


def estimate_mkn(counts_of_counts: list[np.ndarray], what: str = "modified Kneser-Ney",
                 fallback=MKN_FALLBACK) -> list[np.ndarray]:
    """Per order k, (4,) [0, D1, D2, D3+]; the fallback (with a warning) where the
    closed form fails."""
    out = []
    for k, n in enumerate(counts_of_counts, 1):
        d, why = mkn_discounts(n)
        if d is None:
            warnings.warn(f"{what}: cannot estimate the order-{k} discounts ({why}; "
                          f"{_counts_of_counts(n)}); using D1/D2/D3+ = "
                          f"{fallback[0]}/{fallback[1]}/{fallback[2]}", DiscountWarning,
                          stacklevel=3)
            d = np.array([0.0, *fallback])
        out.append(d)
    return out


def estimate_kn(counts_of_counts: list[np.ndarray], what: str = "Kneser-Ney",
                fallback=KN_FALLBACK) -> list[float]:
    out = []
    for k, n in enumerate(counts_of_counts, 1):
        d, why = kn_discount(n)
        if d is None:
            warnings.warn(f"{what}: cannot estimate the order-{k} discount ({why}; "
                          f"{_counts_of_counts(n)}); using D = {fallback}", DiscountWarning,
                          stacklevel=3)
            d = fallback
        out.append(d)
    return out


def good_turing(n: np.ndarray, k: int = 5) -> np.ndarray:
    """(k + 1,) Katz coefficients d_r (d_0 unused, = 1) from counts of counts n[0..k+1]."""
    d = np.ones(k + 1)
    if n[1] == 0:
        return d
    common = (k + 1) * n[k + 1] / n[1]
    if common >= 1.0:
        return d
    for r in range(1, k + 1):
        if n[r] == 0:
            continue
        ratio = (r + 1) * n[r + 1] / (r * n[r])       # r* / r
        coeff = (ratio - common) / (1.0 - common)
        if math.isfinite(coeff) and 0.0 < coeff <= 1.0 and ratio <= 1.0:
            d[r] = coeff
    return d


# -- user-given discounts ------------------------------------------------------

def check_single_discount(discount, what: str) -> float:
    """A user's fixed discount for absolute discounting or Kneser-Ney: 0 <= D <= 1."""
    try:
        d = float(discount)
    except (TypeError, ValueError):
        raise OptionError(f"{what} discount must be a number, got {discount!r}") from None
    if not (0.0 <= d <= 1.0):
        raise OptionError(f"{what} discount must be between 0 and 1, got {discount}")
    return d


def option_parts(value) -> list:
    """The parts of a list-valued option: ``"0.5,1,1.5"`` or ``"0 1 1"`` (as given on the
    command line), one number, or a sequence."""
    if isinstance(value, str):
        return [p for p in value.replace(",", " ").split() if p]
    if np.ndim(value) == 0:
        return [value]
    return list(value)


def check_mkn_discounts(discount) -> np.ndarray:
    """User-given modified Kneser-Ney discounts: one number (used for D1, D2 and
    D3+) or three; D_r must lie in [0, r] (as lmplz requires). Returns [0, D1, D2, D3+]."""
    parts = option_parts(discount)
    try:
        values = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise OptionError(f"modified Kneser-Ney discounts must be numbers, got {discount!r}") from None
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise OptionError("give one modified Kneser-Ney discount or three (D1,D2,D3+), "
                          f"got {len(values)}")
    for r, d in enumerate(values, 1):
        if not (0.0 <= d <= r):
            raise OptionError(f"modified Kneser-Ney discount D{r}{'+' if r == 3 else ''} must be "
                              f"between 0 and {r}, got {d}")
    return np.array([0.0, *values])


# -- lmplz compatibility ---------------------------------------------------------

def lmplz_counts_of_counts(counts, coc: list[np.ndarray], first_seen: np.ndarray) -> list[np.ndarray]:
    """Counts of counts exactly as ``lmplz`` tallies them for its discounts.

    ``coc``: per order, counts of counts of the Kneser-Ney adjusted counts
    (:func:`nlm.ngram.estimate.adjust.adjusted_counts_of_counts`); a corrected copy is
    returned. ``first_seen[w]``: index of w's first occurrence in the corpus.

    lmplz (as of kpu/kenlm master, see kpu/kenlm issues #405 and #427, fix
    proposed in PR #434) tallies the *last* n-gram of each order below the
    highest -- last in its suffix sort, by word ids numbered in order of first
    appearance -- with its raw count instead of its adjusted count. Only the
    counts of counts change (by one); the probabilities use the right counts.
    That shifts the discounts by about 1/n_r, which is visible at 1e-5 on
    small corpora, so nlm does the same to reproduce lmplz's files.
    """
    N = counts.order
    out = [n.copy() for n in coc]
    if N == 1:
        return out
    # KenLM ids: <unk> 0, <s> 1, </s> 2, then by first appearance
    rank = np.argsort(np.argsort(first_seen, kind="stable"), kind="stable").astype(np.int64) + 3
    rank[:3] = np.arange(3)
    occurs = np.flatnonzero(counts.counts[0] > 0)
    if len(occurs) == 0:
        return out
    row = int(occurs[np.argmax(rank[occurs])])          # the last unigram
    for k in range(1, N):
        if k > 1:
            children = np.flatnonzero(counts.suffix[k - 1] == row)
            if len(children) == 0:
                break
            row = int(children[np.argmax(rank[first_word(counts, k, children)])])
        if first_word(counts, k, [row])[0] == BOS_ID:
            break                                        # raw and adjusted agree
        raw = int(counts.counts[k - 1][row])
        adj = int((counts.suffix[k] == row).sum())       # its continuation count
        n = out[k - 1]
        if adj <= 4:
            n[adj] -= 1
        if raw <= 4:
            n[raw] += 1
    return out
