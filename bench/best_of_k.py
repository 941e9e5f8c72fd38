"""The verdict's false "beat" rate when the winner is the best of k equal candidates (issue 41).

    .venv/bin/python bench/best_of_k.py [DRAWS]      # 2,000 draws a cell by default, about 2 min

A confirmation retrains k searched candidates and the baseline on S fresh seeds and calls the
winner better than the baseline when its test says so. Here every candidate is the same strategy
as the baseline, so any "beat" is false; it must happen at most α = 5 % of the time. Each draw
builds a `Confirmation` as the run directory would hand it over (candidates, fresh rounds, each
run's per-example contributions to accuracy) and asks the project's own code:

- before: the winner is the best fresh mean over every confirmed candidate (racing ignored) and
  it "beat" the baseline when its own paired test (`crossed`, seeds × examples) gives p < α;
- after: the winner among racing's survivors on their shared rounds (`choice.confirmed_winner`),
  its p Holm-adjusted over the k comparisons with the baseline (`Confirmation.versus_baseline`).

The runs are simulated, because equal strategies are needed many thousands of times: 600
validation examples (the quickstart's), each with its own difficulty (logits drawn so that a run
scores about 0.80 and most examples are always right or always wrong, as in real runs); each
strategy with its own leaning on each example (sd 0.8 in logit, zero on average over all the
examples there are: two strategies equally good overall still get different examples right,
so that on one validation set one of them is ahead by chance, which is what the test over
examples is there to allow for); each run with its own seed shift and its own draw of which
borderline examples it gets right. Two seed shifts: sd 0.15 in logit (about one point of
accuracy from seed to seed, as the real runs of bench/verdict.py), where the test learns the
seed's part from one or two degrees of freedom and is conservative, and sd 0.03 (runs that agree
from seed to seed), where the example part dominates and one comparison's rate comes near α.
Figures go to bench/results/best_of_k.txt.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from stratsearch.choice import confirmed_winner
from stratsearch.confirm.plan import Candidate, Confirmation, SeedRun
from stratsearch.confirm.stats import ALPHA
from stratsearch.objective import Objective

EXAMPLES, BLOCKS = 600, 100
SEED_SDS = (0.15, 0.03)  # a run's seed shift, in logit
BETTER = 0.4  # the better candidate's shift on every example, in logit (power rows)
LEANING_SD = 0.8  # a strategy's own leaning on each example, in logit
ACCURACY = Objective(metric="accuracy", mode="max")
RESULTS = Path(__file__).resolve().parent / "results" / "best_of_k.txt"


class Simulated:
    """Each simulated run's block contributions, as `ValidationExamples.of` gives stored runs'."""

    def __init__(self) -> None:
        self.blocks: dict[int, np.ndarray] = {}

    def of(self, trial: int) -> np.ndarray | None:
        return self.blocks.get(trial)


def draw(
    rng: np.random.Generator, k: int, seeds: int, difficulty: np.ndarray, seed_sd: float, better: float = 0.0
) -> Confirmation:
    """k searched candidates and the baseline (source 0), all one strategy but candidate 1, better by
    `better` in logit, on `seeds` fresh rounds."""
    examples = Simulated()
    candidates, number = [], 100
    for source in range(k + 1):
        candidate = Candidate(source, "baseline" if source == 0 else "sampler", {"seed": 0})
        leaning = difficulty + rng.normal(0, LEANING_SD, EXAMPLES) + (better if source == 1 else 0.0)
        for r in range(1, seeds + 1):
            right = rng.random(EXAMPLES) < 1 / (1 + np.exp(-(leaning + rng.normal(0, seed_sd))))
            examples.blocks[number] = right.reshape(-1, BLOCKS).mean(axis=0)  # example i → block i mod B
            value = float(right.mean())
            candidate.runs[r] = SeedRun(number, r, "finished", value, None, 1.0, 1)
            candidate.seed_group.fresh[r] = value
            number += 1
        candidates.append(candidate)
    return Confirmation(candidates, seeds, ACCURACY, 0, examples)  # type: ignore[arg-type]


def before(confirmation: Confirmation) -> bool:
    """The rule before: the best fresh mean of all, its own unadjusted test."""
    winner = max(confirmation.candidates, key=lambda c: (np.mean(list(c.fresh_values().values())), -c.source))
    if winner.source == 0:
        return False
    on = confirmation.compare(winner, confirmation.candidates[0])
    p = on.crossed.p if on.crossed is not None else on.seeds.p
    return bool(p < ALPHA and on.seeds.diff.mean > 0)


def after(confirmation: Confirmation) -> bool:
    winner = confirmed_winner(confirmation)
    if winner is None or winner.source == 0:
        return False
    tested = confirmation.versus_baseline(winner)
    assert tested is not None
    return bool(tested.adjusted < ALPHA and tested.comparison.seeds.diff.mean > 0)


def main() -> int:
    draws = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rng = np.random.default_rng(0)
    lines = [
        f'false "beat" rate among equal strategies, {draws} draws a cell, α = {ALPHA}, {EXAMPLES} validation examples',
        "",
        "seed sd  candidates  fresh seeds   before   after",
    ]
    for seed_sd in SEED_SDS:
        for k in (1, 3, 6):
            for seeds in (2, 3):
                hits = np.zeros(2)
                for _ in range(draws):
                    difficulty = rng.normal(2.2, 2.5, EXAMPLES)  # one validation set a draw
                    confirmation = draw(rng, k, seeds, difficulty, seed_sd)
                    hits += (before(confirmation), after(confirmation))
                rate = hits / draws
                lines.append(f"{seed_sd:7.2f}  {k:10d}  {seeds:11d}   {rate[0]:6.1%}  {rate[1]:6.1%}")
    lines += ["", f"power: candidate 1 better by {BETTER} in logit, the others equal to the baseline, seed sd 0.15"]
    lines.append("candidates  fresh seeds  mean gap   before   after")
    for k in (1, 3, 6):
        for seeds in (2, 3):
            hits, gaps = np.zeros(2), []
            for _ in range(draws // 4):
                confirmation = draw(rng, k, seeds, rng.normal(2.2, 2.5, EXAMPLES), 0.15, BETTER)
                better, base = confirmation.candidates[1], confirmation.candidates[0]
                gaps.append(confirmation.compare(better, base).seeds.diff.mean)
                hits += (before(confirmation), after(confirmation))
            rate = hits / (draws // 4)
            lines.append(f"{k:10d}  {seeds:11d}  {np.mean(gaps) * 100:+5.1f} pt   {rate[0]:6.1%}  {rate[1]:6.1%}")
    text = "\n".join(lines)
    print(text)
    RESULTS.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
