"""R-Drop against the same strategy without it, on the same seeds, in one process.

Setting: the bundled all-MiniLM-L6-v2 on the quickstart's data (search_spaces/data/rt-snippets-small:
600 training rows, 600 validation, 600 test), max_length 48, 2 epochs, batch 32, AdamW 1e-4,
linear schedule with 10 % warmup, dropout 0.1; `consistency: none` against `{r_drop: {alpha: A}}`
for each seed. Reported: validation and test accuracy per seed, the paired difference with the
verdict's own test over the seeds × validation examples (confirm/stats.py: crossed), and the
training-time ratio (R-Drop passes each batch twice: about 2× expected).

    python bench/rdrop.py                      # seeds 1-3, α = 1
    python bench/rdrop.py --seeds 6 --alpha 4 --epochs 3
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

from stratsearch.confirm.examples import contributions
from stratsearch.confirm.stats import crossed
from stratsearch.objective import Objective
from stratsearch.prepare import tokenized_data
from stratsearch.rows import DataSpec
from stratsearch.tasks import TASKS
from stratsearch.train.config import trial_from_space
from stratsearch.train.model_dir import resolve_model_path
from stratsearch.train.trainer import train

DATA = Path(__file__).resolve().parents[1] / "search_spaces" / "data" / "rt-snippets-small"
BASE = {
    "batch_size": 32,
    "optimizer": {"adamw": {"lr": 1e-4}},
    "schedule": "linear",
    "warmup_ratio": 0.1,
    "head": {"pooling": "cls"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--alpha", type=float, default=1.0)
    args = parser.parse_args()
    task = TASKS["classification"]
    spec = DataSpec(
        train=DATA / "train.jsonl", validation=DATA / "validation.jsonl", test=DATA / "test.jsonl", max_length=48
    )
    model_path = resolve_model_path("minilm-l6", Path.cwd())
    data = tokenized_data(model_path, spec, task)
    objective = Objective(metric="accuracy", mode="max")
    targets = np.asarray(data.validation.targets)
    arms = {"none": "none", "r_drop": {"r_drop": {"alpha": args.alpha}}}
    shares: dict[str, list[np.ndarray]] = {arm: [] for arm in arms}
    figures: dict[str, list[tuple[float, float, float]]] = {arm: [] for arm in arms}
    for seed in range(1, args.seeds + 1):
        for arm, consistency in arms.items():
            space = {**BASE, "epochs": args.epochs, "seed": seed, "consistency": consistency}
            trial = trial_from_space(space, task)
            result = train(model_path, data, trial, objective)
            validation = result.best.validation["accuracy"]
            test = (result.test_metrics or {}).get("accuracy", float("nan"))
            figures[arm].append((validation, test, result.timings["train"]))
            preds = result.validation_predictions
            shares[arm].append(contributions(task, preds, targets, data.label_names, "accuracy"))
            seconds = result.timings["train"]
            print(f"seed {seed} {arm:7s} validation {validation:.4f} test {test:.4f} train {seconds:.1f} s")
    for arm, rows in figures.items():
        val, test, seconds = zip(*rows, strict=True)
        print(
            f"{arm:7s} validation {statistics.mean(val):.4f} ± {statistics.stdev(val):.4f}, test"
            f" {statistics.mean(test):.4f} ± {statistics.stdev(test):.4f}, train {statistics.mean(seconds):.1f} s"
        )
    test = crossed(np.stack(shares["r_drop"]), np.stack(shares["none"]))
    low, high = test.interval()
    ratio = statistics.mean(r[2] for r in figures["r_drop"]) / statistics.mean(r[2] for r in figures["none"])
    print(
        f"R-Drop − none on validation accuracy: {100 * test.diff:+.1f} points (95 % CI {100 * low:+.1f} to"
        f" {100 * high:+.1f}, p = {test.p:.2g}, {args.seeds} seeds × {len(targets)} validation examples);"
        f" training time × {ratio:.2f}"
    )


if __name__ == "__main__":
    main()
