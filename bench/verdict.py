"""The verdict's test over seeds × validation examples against the test over seeds alone, on real
stored predictions (issue: a verdict with power).

    .venv/bin/python bench/verdict_runs.py      # first: 4 strategies × 12 seeds of real runs (~35 min)
    .venv/bin/python bench/verdict.py           # then this, about a minute

Same-strategy pairs (the false-positive rate, which must stay near α = 0.05): the 8 seeds of one
strategy split every way into two disjoint groups of S, each group playing a candidate; both are
the same strategy, so any "different" is false. Different strategies (the power): every choice
of S seed numbers out of 12, the two strategies run on the same seeds as a confirmation pairs
them. Both tests run on the same draws: the test over seeds alone (a paired t-test on the runs'
scores, the rule before this change) and `crossed` (seeds × examples, the rule now). The draws
reuse 12 runs a strategy, so the rates are those of this data set's runs, not independent trials.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

from stratsearch.confirm.examples import contributions
from stratsearch.confirm.stats import ALPHA, MIN_PAIRS, crossed, paired, race
from stratsearch.predictions import load_predictions
from stratsearch.tasks import TASKS

RUNS = Path(__file__).resolve().parent / "results" / "verdict" / "runs"
OUT = Path(__file__).resolve().parent / "results" / "verdict.txt"
METRIC = "accuracy"
SPLITS = 2000  # random splits for racing (every split of 12 seeds into 4 + 4 would be 17,325)


def load() -> tuple[dict[str, dict[int, float]], dict[str, dict[int, np.ndarray]]]:
    """strategy → seed → (score, block contributions)."""
    task = TASKS["classification"]
    targets = load_predictions(RUNS / "targets.npz")
    scores: dict[str, dict[int, float]] = {}
    blocks: dict[str, dict[int, np.ndarray]] = {}
    for folder in sorted(p for p in RUNS.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("seed*.npz")):
            seed = int(path.stem.removeprefix("seed"))
            predictions = load_predictions(path)
            scores.setdefault(folder.name, {})[seed] = task.score(predictions, targets, None)[METRIC]
            found = contributions(task, predictions, targets, None, METRIC)
            assert found is not None
            blocks.setdefault(folder.name, {})[seed] = found
    return scores, blocks


def called(a: list[int], b: list[int], sa: dict, sb: dict, ba: dict, bb: dict) -> tuple[bool, bool]:
    """(seeds alone, seeds × examples): does each call a − b different at two-sided α?"""
    seeds = paired([sa[s] for s in a], [sb[s] for s in b])
    both = crossed(np.stack([ba[s] for s in a]), np.stack([bb[s] for s in b]))
    return bool(seeds.p < ALPHA), bool(both is not None and both.p < ALPHA)


def raced(groups: list[tuple[dict, dict]], seeds: int) -> bool:
    """Racing replayed as `Confirmation.dropped` does, over candidates given as (seed → score,
    seed → contributions) whose rounds are their seeds in order, nobody protected: any drop?"""
    runs = [{r + 1: s for r, s in enumerate(scores.values())} for scores, _ in groups]
    blocks = [{r + 1: b for r, b in enumerate(found.values())} for _, found in groups]
    for after in range(1, seeds):
        alive = {c: {r: v for r, v in values.items() if r <= after} for c, values in enumerate(runs)}
        examples = {c: {r: v for r, v in values.items() if r <= after} for c, values in enumerate(blocks)}
        if race(alive, True, set(), looks=max(1, seeds - MIN_PAIRS), examples=examples)[1]:
            return True
    return False


def rate(hits: list[tuple[bool, bool]]) -> str:
    seeds, both = (sum(h[i] for h in hits) / len(hits) for i in (0, 1))
    return f"{seeds:7.1%} {both:9.1%}   ({len(hits)} draws)"


def main() -> int:
    scores, blocks = load()
    lines = [
        f"{len(scores)} strategies × {min(len(s) for s in scores.values())} seeds, {METRIC}; mean (sd) over seeds:"
    ]
    for name, by_seed in scores.items():
        values = np.array(list(by_seed.values()))
        lines.append(f"  {name:18} {values.mean():.4f} ({values.std(ddof=1):.4f})")
    lines.append("")
    lines.append("called different at α = 0.05:      seeds-only  seeds×examples")
    for size in (2, 3, 4):
        for name, by_seed in scores.items():  # same strategy: any call is false
            seeds = sorted(by_seed)
            hits = []
            for group in itertools.combinations(seeds, 2 * size):
                for a in itertools.combinations(group, size):
                    b = [s for s in group if s not in a]
                    if a[0] == group[0]:  # each split once, not also mirrored
                        hits.append(called(list(a), b, by_seed, by_seed, blocks[name], blocks[name]))
            lines.append(f"  same strategy, {size} seeds a side, {name:16} {rate(hits)}")
        for x, y in itertools.combinations(scores, 2):  # different strategies: the power
            common = sorted(set(scores[x]) & set(scores[y]))
            gap = np.mean([scores[y][s] - scores[x][s] for s in common])
            hits = [
                called(list(chosen), list(chosen), scores[y], scores[x], blocks[y], blocks[x])
                for chosen in itertools.combinations(common, size)
            ]
            lines.append(f"  {y} vs {x} ({gap * 100:+.1f} points), {size} seeds  {rate(hits)}")
    lines.append("")
    lines.append("racing, 2 candidates × 4 seeds (drops after rounds 2 and 3), any drop:")
    rng = np.random.default_rng(0)
    for name, by_seed in scores.items():  # two equal candidates: any drop is false
        drops = []
        for _ in range(SPLITS):
            drawn = [int(s) for s in rng.permutation(sorted(by_seed))[:8]]
            groups = [
                ({s: by_seed[s] for s in part}, {s: blocks[name][s] for s in part}) for part in (drawn[:4], drawn[4:])
            ]
            drops.append(raced(groups, 4))
        lines.append(f"  same strategy {name:16} {np.mean(drops):7.1%}   ({SPLITS} random splits)")
    for x, y in itertools.combinations(scores, 2):
        common = sorted(set(scores[x]) & set(scores[y]))
        drops = []
        for chosen in itertools.combinations(common, 4):
            groups = [({s: scores[n][s] for s in chosen}, {s: blocks[n][s] for s in chosen}) for n in (x, y)]
            drops.append(raced(groups, 4))
        gap = np.mean([scores[y][s] - scores[x][s] for s in common])
        lines.append(f"  {y} vs {x} ({gap * 100:+.1f} points) {np.mean(drops):7.1%}   ({len(drops)} draws)")
    text = "\n".join(lines)
    print(text)
    OUT.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
