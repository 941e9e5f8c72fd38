"""The statistics of a confirmation: a mean with its t interval, the paired tests, and racing.

Runs of two candidates are paired by round (round r is the r-th fresh seed, the same seed for
every candidate), so the variation a seed brings to every candidate (an easy or hard data order,
a lucky head initialisation) cancels in the difference.

Two tests of a difference. Over seeds alone (`paired`), a paired t-test on the runs' scores: with
2 seeds it has one degree of freedom and almost never calls a difference, however large. Over
seeds × validation examples (`crossed`), a t-test on the difference of the runs' per-example
contributions (`confirm/examples.py`) with both as random effects: it counts the seed's noise
and the finite validation set's, and learns the example-level part from hundreds of examples
rather than from two seeds (bench/verdict.py measures its false-positive rate and its power).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
MIN_PAIRS = 2  # racing never drops a candidate on fewer paired seeds (the test over seeds × examples)
MIN_SEED_PAIRS = 3  # nor on fewer without per-example results: two agreeing seeds alone prove little


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
class Crossed:
    """a − b over paired seeds × validation blocks: the mean difference, its standard error with
    both the seed and the examples as random effects, and its Satterthwaite degrees of freedom."""

    seeds: int
    blocks: int
    diff: float
    se: float
    df: float

    def t(self) -> float:
        return self.diff / self.se

    @property
    def p(self) -> float:
        """Two-sided."""
        from scipy.stats import t

        return float(min(1.0, 2 * t.sf(abs(self.t()), self.df)))

    def p_worse(self, higher_is_better: bool) -> float:
        """One-sided p that a is worse than b."""
        from scipy.stats import t

        return float(t.sf(-self.t() if higher_is_better else self.t(), self.df))

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        from scipy.stats import t

        half = float(t.ppf(0.5 + level / 2, self.df)) * self.se
        return self.diff - half, self.diff + half


def crossed(a: np.ndarray, b: np.ndarray) -> Crossed | None:
    """The test over seeds × examples of two candidates' runs: `a` and `b` are (seeds, blocks)
    contributions, row r of each the same fresh seed, column g the same validation block.

    The difference d[s, g] = δ + seed effect + block effect + noise (a two-way random-effects
    layout without replication). Its mean's variance is σ²_seed/S + σ²_block/B + σ²_noise/(SB),
    estimated from the three mean squares, each variance component floored at zero; the t
    statistic's degrees of freedom by Satterthwaite. Power comes from the block part: where the
    strategies differ example by example, it dominates and has B − 1 degrees of freedom. With
    one seed there is no test: a seed effect cannot be told from a difference between the
    strategies. The block effect is what makes this a claim about new examples, not only about
    this validation set (which the test over seeds alone is)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    seeds, blocks = d.shape
    if seeds < 2 or blocks < 2:
        return None
    rows, cols, mean = d.mean(axis=1), d.mean(axis=0), float(d.mean())
    ms_seed = blocks * float(((rows - mean) ** 2).sum()) / (seeds - 1)
    ms_block = seeds * float(((cols - mean) ** 2).sum()) / (blocks - 1)
    ms_noise = float(((d - rows[:, None] - cols[None, :] + mean) ** 2).sum()) / ((seeds - 1) * (blocks - 1))
    # σ²_seed·B + σ²_noise = max(ms_seed, ms_noise) and σ²_block·S = max(ms_block − ms_noise, 0):
    # the variance is the sum of the mean squares that these use, over S·B. The seed part is learnt
    # from S − 1 degrees of freedom whichever is larger: two seeds that happen to agree say little
    # about a seed effect that moves every example at once (bench/verdict.py: counting it by the
    # per-example noise's degrees of freedom called one of four same-strategy pairs different 13-15 %
    # of the time at α = 5 %).
    terms = [(max(ms_seed, ms_noise), seeds - 1)]
    if ms_block > ms_noise:
        terms += [(ms_block, blocks - 1), (-ms_noise, (seeds - 1) * (blocks - 1))]
    total = sum(ms for ms, _ in terms)
    if total <= 0:  # the same difference in every cell: nothing to measure noise by
        return None
    df = total**2 / sum(ms**2 / df for ms, df in terms)
    return Crossed(seeds, blocks, mean, math.sqrt(total / (seeds * blocks)), df)


POWER = 0.8


def detectable(a: np.ndarray, b: np.ndarray, alpha: float = ALPHA) -> float:
    """The smallest difference `crossed` finds with POWER at two-sided α on this validation set,
    judged before any fresh seed ran, from one run of each candidate (`a`, `b`: their block
    contributions): where the runs' per-block differences are all the strategies' own and the
    seeds agree, the variance of the mean difference is their variance over B, whatever the
    number of seeds. Differences that are partly seed-to-seed chance need more seeds than that to
    be called (with two, the test learns the seed's noise from one degree of freedom), so it is a
    floor: only more validation examples lower it."""
    from scipy.stats import norm

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(norm.ppf(1 - alpha / 2) + norm.ppf(POWER)) * math.sqrt(float(d.var(ddof=1)) / len(d))


@dataclass(frozen=True)
class Drop:
    candidate: int
    p: float  # Bonferroni-adjusted (see `race`)
    pairs: int
    gap: float  # the leader's mean minus the candidate's, over the paired rounds (in the objective's direction)
    over: str  # the test: "seeds × examples", or "seeds alone" where predictions were missing


def race(
    runs: dict[int, dict[int, float]],
    higher_is_better: bool,
    protected: set[int],
    alpha: float = ALPHA,
    looks: int = 1,
    examples: dict[int, dict[int, np.ndarray]] | None = None,
) -> tuple[int | None, list[Drop]]:
    """Successive elimination after a round: the leader (best mean) and the candidates significantly
    worse than it. `runs` maps candidate → {round: value} over fresh seeds, `examples` candidate →
    {round: per-example contributions} where the predictions are stored; `protected` are never
    dropped (the baseline, the reference every candidate is reported against).

    A candidate is dropped when a one-sided test over the rounds it shares with the leader gives
    p < α / (k (k − 1) × looks): the test over seeds × examples (`crossed`, from MIN_PAIRS shared
    rounds) where both have every such round's examples, else the paired test over seeds alone
    (from MIN_SEED_PAIRS). Bonferroni over every ordered pair of the k candidates, because the
    leader is picked on the same runs it is tested against (a drop claims that some candidate is
    worse than some other, whichever the noise made the leader), and over the `looks` racing
    takes in a confirmation. So among equal candidates the chance of any drop in the whole
    confirmation is at most α (bench/racing.py, bench/verdict.py measure it)."""
    scored = {c: r for c, r in runs.items() if r}
    if not scored:
        return None, []
    examples = examples or {}
    sign = 1 if higher_is_better else -1
    leader = max(scored, key=lambda c: (sign * sum(scored[c].values()) / len(scored[c]), -c))
    comparisons = max(1, len(scored) * (len(scored) - 1) * looks)
    drops = []
    for c, values in sorted(scored.items()):
        shared = sorted(set(values) & set(scored[leader]))
        if c == leader or c in protected:
            continue
        test = paired_examples(examples.get(c, {}), examples.get(leader, {}), shared)
        if test is not None and len(shared) >= MIN_PAIRS:
            p, over = test.p_worse(higher_is_better), "seeds × examples"
        elif len(shared) >= MIN_SEED_PAIRS:
            mine, best = [values[r] for r in shared], [scored[leader][r] for r in shared]
            p, over = one_sided_worse(mine, best, higher_is_better), "seeds alone"
        else:
            continue
        p = min(1.0, p * comparisons)
        if p < alpha:
            gap = sign * sum(scored[leader][r] - values[r] for r in shared) / len(shared)
            drops.append(Drop(c, p, len(shared), gap, over))
    return leader, drops


def holm(ps: dict[int, float]) -> dict[int, float]:
    """Holm's step-down adjustment of k p-values (Holm 1979): the i-th smallest times k − i + 1,
    made non-decreasing, at most 1. Rejecting where the adjusted p < α keeps the chance of any
    false rejection among the k at most α, whichever of them one then looks at."""
    order = sorted(ps, key=lambda c: ps[c])
    out, running = {}, 0.0
    for i, c in enumerate(order):
        running = max(running, min(1.0, ps[c] * (len(order) - i)))
        out[c] = running
    return out


def paired_examples(a: dict[int, np.ndarray], b: dict[int, np.ndarray], rounds: list[int]) -> Crossed | None:
    """`crossed` over `rounds`, when both candidates have every one's per-example contributions."""
    if not all(r in a and r in b and len(a[r]) == len(b[r]) for r in rounds):
        return None
    return crossed(np.stack([a[r] for r in rounds]), np.stack([b[r] for r in rounds])) if rounds else None
