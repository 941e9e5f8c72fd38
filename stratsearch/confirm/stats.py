"""The statistics of a confirmation: a mean with its t interval, a paired t-test, and racing.

Runs of two candidates are paired by round (round 0 is the search run, round r the r-th fresh
seed, the same seed for every candidate), so the variation a seed brings to every candidate
(an easy or hard data order, a lucky head initialisation) cancels in the difference.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

ALPHA = 0.05
MIN_PAIRS = 3  # racing never drops a candidate on fewer paired seeds: two agreeing seeds prove little


@dataclass(frozen=True)
class Interval:
    """Mean, standard deviation and a 95 % Student t interval of a few values (no interval under two)."""

    n: int
    mean: float
    sd: float | None
    low: float | None
    high: float | None


def interval(values: Sequence[float], level: float = 0.95) -> Interval:
    from scipy.stats import t

    n = len(values)
    if n == 0:
        return Interval(0, math.nan, None, None, None)
    mean = sum(values) / n
    if n < 2:
        return Interval(n, mean, None, None, None)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(n, mean, sd, mean - half, mean + half)


@dataclass(frozen=True)
class Paired:
    """a − b over paired runs: the mean difference, its 95 % interval, and the two-sided p of a paired t-test."""

    n: int
    diff: Interval
    p: float  # NaN when there are fewer than two pairs or the differences do not vary


def paired(a: Sequence[float], b: Sequence[float]) -> Paired:
    from scipy.stats import ttest_rel

    diffs = [x - y for x, y in zip(a, b, strict=True)]
    spread = interval(diffs)
    if len(diffs) < 2 or not spread.sd:
        return Paired(len(diffs), spread, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nearly equal pairs: scipy warns on precision
        p = float(ttest_rel(a, b).pvalue)
    return Paired(len(diffs), spread, p)


def one_sided_worse(candidate: Sequence[float], leader: Sequence[float], higher_is_better: bool) -> float:
    """p of a paired t-test that the candidate is worse than the leader (one-sided); 1 when untestable.
    Differences that do not vary at all (every seed the same gap) give p = 0 when they favour the leader."""
    gaps = [(y - x) if higher_is_better else (x - y) for x, y in zip(candidate, leader, strict=True)]
    mean = sum(gaps) / len(gaps)
    spread = interval(gaps).sd
    if not spread:
        return 0.0 if mean > 0 else 1.0
    from scipy.stats import t

    return float(t.sf(mean / (spread / math.sqrt(len(gaps))), len(gaps) - 1))


def holm(pvalues: dict[int, float]) -> dict[int, float]:
    """Holm's step-down adjustment of several p-values (controls the chance of any false drop)."""
    order = sorted(pvalues, key=pvalues.__getitem__)
    adjusted: dict[int, float] = {}
    running = 0.0
    for rank, key in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * pvalues[key]))
        adjusted[key] = running
    return adjusted


@dataclass(frozen=True)
class Drop:
    candidate: int
    p: float  # Holm-adjusted
    pairs: int
    gap: float  # the leader's mean minus the candidate's, over the paired rounds (in the objective's direction)


def race(
    runs: dict[int, dict[int, float]], higher_is_better: bool, protected: set[int], alpha: float = ALPHA
) -> tuple[int | None, list[Drop]]:
    """Successive elimination after a round: the leader (best mean) and the candidates significantly
    worse than it. `runs` maps candidate → {round: value}; `protected` are never dropped (the
    baseline, the reference every candidate is reported against). A candidate is dropped when a
    one-sided paired t-test over the rounds it shares with the leader (at least MIN_PAIRS) gives a
    Holm-adjusted p below `alpha`, the adjustment over every candidate compared in this round."""
    scored = {c: r for c, r in runs.items() if r}
    if not scored:
        return None, []
    sign = 1 if higher_is_better else -1
    leader = max(scored, key=lambda c: (sign * sum(scored[c].values()) / len(scored[c]), -c))
    tests: dict[int, float] = {}
    gaps: dict[int, tuple[int, float]] = {}
    for c, values in scored.items():
        shared = sorted(set(values) & set(scored[leader]))
        if c == leader or c in protected or len(shared) < MIN_PAIRS:
            continue
        mine, best = [values[r] for r in shared], [scored[leader][r] for r in shared]
        tests[c] = one_sided_worse(mine, best, higher_is_better)
        gaps[c] = (len(shared), sign * (sum(best) - sum(mine)) / len(shared))
    adjusted = holm(tests)
    drops = [Drop(c, p, *gaps[c]) for c, p in sorted(adjusted.items()) if p < alpha]
    return leader, drops
