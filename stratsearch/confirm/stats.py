"""The statistics of a confirmation: a mean with its t interval, a paired t-test, and racing.

Runs of two candidates are paired by round (round r is the r-th fresh seed, the same seed for
every candidate), so the variation a seed brings to every candidate (an easy or hard data order,
a lucky head initialisation) cancels in the difference.
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
    """p of a paired test that the candidate is worse than the leader (one-sided): Student's t over
    the paired gaps. Where the gaps do not vary at all (accuracy on a small validation set moves in
    steps of 1/N, so every seed can give the same gap), t is undefined: the exact sign-flip test
    takes over, 2⁻ⁿ when all n gaps favour the leader (never 0), else 1."""
    gaps = [(y - x) if higher_is_better else (x - y) for x, y in zip(candidate, leader, strict=True)]
    mean = sum(gaps) / len(gaps)
    spread = interval(gaps).sd or 0.0
    if spread <= 1e-9 * abs(mean):  # the same gap every time, but for floating-point rounding
        return 0.5 ** len(gaps) if mean > 0 else 1.0
    from scipy.stats import t

    return float(t.sf(mean / (spread / math.sqrt(len(gaps))), len(gaps) - 1))


@dataclass(frozen=True)
class Drop:
    candidate: int
    p: float  # Bonferroni-adjusted (see `race`)
    pairs: int
    gap: float  # the leader's mean minus the candidate's, over the paired rounds (in the objective's direction)


def race(
    runs: dict[int, dict[int, float]],
    higher_is_better: bool,
    protected: set[int],
    alpha: float = ALPHA,
    looks: int = 1,
) -> tuple[int | None, list[Drop]]:
    """Successive elimination after a round: the leader (best mean) and the candidates significantly
    worse than it. `runs` maps candidate → {round: value} over fresh seeds; `protected` are never
    dropped (the baseline, the reference every candidate is reported against). A candidate is
    dropped when a one-sided paired test over the rounds it shares with the leader (at least
    MIN_PAIRS) gives p < α / (k (k − 1) × looks): Bonferroni over every ordered pair of the k
    candidates, because the leader is picked on the same runs it is tested against (a drop claims
    that some candidate is worse than some other, whichever the noise made the leader), and over
    the `looks` racing takes in a confirmation. So among equal candidates the chance of any drop in
    the whole confirmation is at most α (bench/racing.py measures it)."""
    scored = {c: r for c, r in runs.items() if r}
    if not scored:
        return None, []
    sign = 1 if higher_is_better else -1
    leader = max(scored, key=lambda c: (sign * sum(scored[c].values()) / len(scored[c]), -c))
    comparisons = max(1, len(scored) * (len(scored) - 1) * looks)
    drops = []
    for c, values in sorted(scored.items()):
        shared = sorted(set(values) & set(scored[leader]))
        if c == leader or c in protected or len(shared) < MIN_PAIRS:
            continue
        mine, best = [values[r] for r in shared], [scored[leader][r] for r in shared]
        p = min(1.0, one_sided_worse(mine, best, higher_is_better) * comparisons)
        if p < alpha:
            drops.append(Drop(c, p, len(shared), sign * (sum(best) - sum(mine)) / len(shared)))
    return leader, drops
