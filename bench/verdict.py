"""The verdict's test over seeds × validation examples against the test over seeds alone, on real
stored predictions (issue: a verdict with power).

    .venv/bin/python bench/verdict_runs.py [DATA]     # first: real runs (see there; ~35 min)
    .venv/bin/python bench/verdict.py [DATA]          # then this, about a minute

DATA: rt-snippets-small (accuracy; the default) or vader-tweets (regression, RMSE).

Same-strategy pairs (the false-positive rate, which must stay near α = 0.05): the seeds of one
strategy split every way into two disjoint groups of S, each group playing a candidate; both are
the same strategy, so any "different" is false. Different strategies (the power): every choice
of S seed numbers, the two strategies run on the same seeds as a confirmation pairs them. Both
tests run on the same draws: the test over seeds alone (a paired t-test on the runs' scores, the
rule before this change) and `crossed` (seeds × examples, the rule now). The draws reuse each
strategy's 10-12 runs, so the rates are those of this data set's runs, not independent trials.
Figures go to bench/results/verdict-DATA.txt.
"""

from __future__ import annotations

import itertools
import sys

import numpy as np
from verdict_runs import DATA, RESULTS  # bench/ is on the path when this runs as a script

from stratsearch.confirm.examples import contributions
from stratsearch.confirm.stats import ALPHA, MIN_PAIRS, crossed, paired, race
from stratsearch.objective import Objective
from stratsearch.predictions import load_predictions
from stratsearch.tasks import TASKS

SPLITS = 2000  # random splits for racing (every split of 12 seeds into 4 + 4 would be 17,325)


def load(data: str) -> tuple[dict[str, dict[int, float]], dict[str, dict[int, np.ndarray]]]:
    """strategy → seed → (score, block contributions)."""
    _, task_name, metric, *_ = DATA[data]
    task, runs = TASKS[task_name], RESULTS / data
    targets = load_predictions(runs / "targets.npz")
    scores: dict[str, dict[int, float]] = {}
    blocks: dict[str, dict[int, np.ndarray]] = {}
    for folder in sorted(p for p in runs.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("seed*.npz")):
            seed = int(path.stem.removeprefix("seed"))
            predictions = load_predictions(path)
            scores.setdefault(folder.name, {})[seed] = task.score(predictions, targets, None)[metric]
            found = contributions(task, predictions, targets, None, metric)
            assert found is not None
            blocks.setdefault(folder.name, {})[seed] = found
    return scores, blocks


def called(a: list[int], b: list[int], sa: dict, sb: dict, ba: dict, bb: dict) -> tuple[bool, bool]:
    """(seeds alone, seeds × examples): does each call a − b different at two-sided α?"""
    seeds = paired([sa[s] for s in a], [sb[s] for s in b])
    both = crossed(np.stack([ba[s] for s in a]), np.stack([bb[s] for s in b]))
    return bool(seeds.p < ALPHA), bool(both is not None and both.p < ALPHA)


def raced(groups: list[tuple[dict, dict]], seeds: int, higher_is_better: bool) -> bool:
    """Racing replayed as `Confirmation.dropped` does, over candidates given as (seed → score,
    seed → contributions) whose rounds are their seeds in order, nobody protected: any drop?"""
    runs = [{r + 1: s for r, s in enumerate(scores.values())} for scores, _ in groups]
    blocks = [{r + 1: b for r, b in enumerate(found.values())} for _, found in groups]
    for after in range(1, seeds):
        alive = {c: {r: v for r, v in values.items() if r <= after} for c, values in enumerate(runs)}
        examples = {c: {r: v for r, v in values.items() if r <= after} for c, values in enumerate(blocks)}
        if race(alive, higher_is_better, set(), looks=max(1, seeds - MIN_PAIRS), examples=examples)[1]:
            return True
    return False


def rate(hits: list[tuple[bool, bool]]) -> str:
    seeds, both = (sum(h[i] for h in hits) / len(hits) for i in (0, 1))
    return f"{seeds:7.1%} {both:9.1%}   ({len(hits)} draws)"


def main() -> int:
    data = sys.argv[1] if len(sys.argv) > 1 else "rt-snippets-small"
    metric, mode = DATA[data][2], DATA[data][3]
    objective = Objective(metric=metric, mode=mode)
    scores, blocks = load(data)
    seeds = min(len(s) for s in scores.values())
    lines = [f"{data}: {len(scores)} strategies × {seeds} seeds, {metric}; mean (sd) over seeds:"]
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
            lines.append(f"  {y} vs {x} ({objective.signed(gap)}), {size} seeds  {rate(hits)}")
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
            drops.append(raced(groups, 4, mode == "max"))
        lines.append(f"  same strategy {name:16} {np.mean(drops):7.1%}   ({SPLITS} random splits)")
    for x, y in itertools.combinations(scores, 2):
        common = sorted(set(scores[x]) & set(scores[y]))
        drops = []
        for chosen in itertools.combinations(common, 4):
            groups = [({s: scores[n][s] for s in chosen}, {s: blocks[n][s] for s in chosen}) for n in (x, y)]
            drops.append(raced(groups, 4, mode == "max"))
        gap = np.mean([scores[y][s] - scores[x][s] for s in common])
        lines.append(f"  {y} vs {x} ({objective.signed(gap)}) {np.mean(drops):7.1%}   ({len(drops)} draws)")
    text = "\n".join(lines)
    print(text)
    (RESULTS.parent / f"verdict-{data}.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
