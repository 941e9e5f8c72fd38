"""Sweep orchestration overhead: the sweep's wall time against the sum of its trials' own time.

Runs `stratsearch run` (embedded Ray Tune + Optuna, no pruning) on the bundled model and
rt-snippets, with trials of about a minute each on 2 cores, then compares in the same command:

    sweep wall time                 (what the user waits, Ray start-up and tokenization included)
    Σ trial wall time               (each trial's own time, from its folder: model load, train, eval)
    Σ trial training time           (the trainer's training loop only)

    python bench/sweep_overhead.py                       # 3 trials of ~1 minute
    python bench/sweep_overhead.py --rows 600 --trials 6 # shorter trials: overhead weighs more
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from stratsearch.space.load import load_space
from stratsearch.sweep.driver import run_sweep

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "rt-snippets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        space = {
            "name": "overhead",
            "model": "minilm-l6",
            "task": "classification",
            "data": {
                "train": str(args.data / "train.jsonl"),
                "validation": str(args.data / "validation.jsonl"),
                "max_length": 64,
                "max_train_rows": args.rows,
            },
            "budget": {"trials": args.trials},
            "resources": {"cpus_per_trial": 2},
            "search": {"sampler": "random", "pruner": "none", "seed": 0},
            "space": {"epochs": args.epochs, "freeze_depth": {"int": [0, 2]}},
        }
        path = Path(tmp) / "space.yaml"
        path.write_text(yaml.safe_dump(space))
        start = time.perf_counter()
        run_dir = run_sweep(load_space(path), Path(tmp) / "runs", quiet=True)
        wall = time.perf_counter() - start
        statuses = [status for _, status in run_dir.statuses()]
    trial_wall = sum(s.wall_s or 0.0 for s in statuses)
    train_time = sum(s.train_seconds or 0.0 for s in statuses)
    print(f"{len(statuses)} trials, {args.rows} rows, {args.epochs} epoch(s) each")
    print(f"sweep wall time            {wall:8.1f} s")
    print(f"sum of trial wall times    {trial_wall:8.1f} s  (mean {trial_wall / len(statuses):.1f} s per trial)")
    print(f"sum of training loops      {train_time:8.1f} s")
    print(f"overhead vs trial time     {100 * (wall - trial_wall) / trial_wall:8.1f} %")
    print(f"overhead vs training time  {100 * (wall - train_time) / train_time:8.1f} %")


if __name__ == "__main__":
    main()
