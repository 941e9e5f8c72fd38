"""Racing's false-drop rate over equal candidates, against the α it claims (issue: the verdict).

Racing (`confirm/stats.py: race`) drops a candidate after a round when it is significantly worse
than the leader. Among candidates that are truly equal any drop is false, and the claim is that
the chance of one in a whole confirmation is at most α = 0.05. This Monte Carlo draws
confirmations of equal candidates as they look in practice — each run's validation accuracy is a
binomial count over N validation examples around a true accuracy that the seed moves (sd 1
point), so values move in steps of 1/N and gaps can repeat exactly — replays racing round by round
as `Confirmation.dropped` does, and counts the confirmations with any drop. The rule before this
change (one-sided t-test against a leader picked on the same runs, Holm over one round's
comparisons only, every round a new look, p = 0 for gaps that do not vary) runs beside it on the
same draws. A last column gives the new rule's power: one candidate 5 points worse, how often it is
dropped.

    .venv/bin/python bench/racing.py            # about a minute on 2 cores
"""

from __future__ import annotations

import math
import sys

import numpy as np

from stratsearch.confirm.stats import ALPHA, MIN_PAIRS, MIN_SEED_PAIRS, interval, race

REPEATS = 2000
TRUE_ACCURACY = 0.85
SEED_SD = 0.01


def old_race(runs: dict[int, dict[int, float]]) -> list[int]:
    """The rule this change replaced, for the side-by-side figure."""
    from scipy.stats import t

    leader = max(runs, key=lambda c: (sum(runs[c].values()) / len(runs[c]), -c))
    pvalues = {}
    for c, values in runs.items():
        shared = sorted(set(values) & set(runs[leader]))
        if c == leader or len(shared) < MIN_SEED_PAIRS:
            continue
        gaps = [runs[leader][r] - values[r] for r in shared]
        mean, sd = sum(gaps) / len(gaps), interval(gaps).sd
        pvalues[c] = (
            (0.0 if mean > 0 else 1.0) if not sd else float(t.sf(mean / (sd / math.sqrt(len(gaps))), len(gaps) - 1))
        )
    order = sorted(pvalues, key=pvalues.__getitem__)
    running, dropped = 0.0, []
    for rank, c in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * pvalues[c]))
        if running < ALPHA:
            dropped.append(c)
    return dropped


def confirmation(rng: np.random.Generator, k: int, seeds: int, n: int, worse: float) -> dict[int, dict[int, float]]:
    """candidate → {round: validation accuracy}; candidate k − 1 is `worse` points behind."""
    seed_effect = rng.normal(0, SEED_SD, size=seeds)  # an easy or hard seed, shared by every candidate
    runs = {}
    for c in range(k):
        truth = TRUE_ACCURACY - (worse if c == k - 1 else 0.0) + seed_effect + rng.normal(0, SEED_SD, size=seeds)
        correct = rng.binomial(n, np.clip(truth, 0, 1))
        runs[c] = {r + 1: correct[r] / n for r in range(seeds)}
    return runs


def dropped_any(runs: dict[int, dict[int, float]], seeds: int, new: bool) -> set[int]:
    """Racing replayed round by round (as `Confirmation.dropped`), the baseline not protected: the worst case."""
    out: set[int] = set()
    looks = max(1, seeds - MIN_PAIRS)
    for r in range(1, seeds):
        alive = {c: {q: v for q, v in values.items() if q <= r} for c, values in runs.items() if c not in out}
        if new:
            out |= {d.candidate for d in race(alive, True, set(), looks=looks)[1]}
        else:
            out |= set(old_race(alive))
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"false-drop rate over {REPEATS} confirmations of equal candidates (α = {ALPHA}); power: one 5 points worse")
    print(f"{'candidates':>10s} {'seeds':>5s} {'val N':>6s} {'old rule':>9s} {'new rule':>9s} {'power':>6s}")
    for k, seeds, n in ((3, 4, 50), (3, 4, 300), (3, 6, 300), (4, 6, 300), (4, 8, 300), (4, 8, 1000)):
        old = new = power = 0
        for _ in range(REPEATS):
            runs = confirmation(rng, k, seeds, n, 0.0)
            old += bool(dropped_any(runs, seeds, new=False))
            new += bool(dropped_any(runs, seeds, new=True))
            power += (k - 1) in dropped_any(confirmation(rng, k, seeds, n, 0.05), seeds, new=True)
        print(f"{k:10d} {seeds:5d} {n:6d} {old / REPEATS:9.3f} {new / REPEATS:9.3f} {power / REPEATS:6.3f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
