"""The frozen-prefix cache: epoch time by freeze depth with and without it, and a sweep both ways.

    python bench/frozen_cache.py [--rows 2000] [--skip-sweep]

1. The bundled MiniLM (6 layers) on rt-snippets, the first N training rows, max_length 64: one
   epoch at each freeze depth k = 0…6 without and with the cache, in this process; the cache is
   built cold for each k (its one-off cost is shown apart). Prints the ratios.
2. A 12-trial sweep over freeze_depth 0…6 (and the learning rate) on the quickstart data, run
   once with `STRATSEARCH_PREFIX_CACHE=off` and once with the cache: wall times and results.
Needs ../shared/datasets beside the repository.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import stratsearch  # noqa: F401 - offline Hugging Face settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
SWEEP = """
name: freeze-sweep
model: minilm-l6
task: classification
data:
  train: {data}/train.jsonl
  validation: {data}/validation.jsonl
  test: {data}/test.jsonl
  max_length: 48
  max_train_rows: 800
objective: {{metric: accuracy, mode: max}}
budget: {{trials: 12}}
resources: {{cpus_per_trial: {cpus}}}
search: {{sampler: tpe, pruner: none, seed: 0}}
space:
  epochs: 2
  batch_size: 32
  freeze_depth: {{int: [0, 6]}}
  optimizer:
    adamw: {{lr: {{loguniform: [5.0e-5, 3.0e-4]}}}}
"""


def epochs_by_depth(rows: int) -> None:
    from stratsearch.objective import Objective
    from stratsearch.prepare import tokenized_data
    from stratsearch.rows import DataSpec
    from stratsearch.tasks import TASKS
    from stratsearch.train.config import trial_from_space
    from stratsearch.train.model_dir import resolve_model_path
    from stratsearch.train.trainer import train

    spec = DataSpec(
        train=SHARED / "rt-snippets/train.jsonl",
        validation=SHARED / "rt-snippets/validation.jsonl",
        max_length=64,
        max_train_rows=rows,
    )
    model = resolve_model_path("minilm-l6")
    data = tokenized_data(model, spec, TASKS["classification"])
    objective = Objective(metric="accuracy", mode="max")
    print(f"## One epoch by freeze depth: MiniLM, rt-snippets, {rows} rows, max_length 64\n")
    print(
        "| k | train s (no cache) | train s (cache) | ratio | epoch s incl. validation (no / cache) | cache build s |"
        " val acc (no / cache) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for k in range(7):
        results = {}
        for mode in ("off", "on"):
            os.environ["STRATSEARCH_PREFIX_CACHE"] = mode
            os.environ["STRATSEARCH_CACHE"] = tempfile.mkdtemp(prefix="stratsearch-bench-")  # a cold cache
            trial = trial_from_space(
                {"epochs": 1, "batch_size": 32, "freeze_depth": k, "optimizer": {"adamw": {"lr": 1e-4}}},
                TASKS["classification"],
            )
            results[mode] = train(model, data, trial, objective)
        off, on = results["off"], results["on"]
        ratio = off.timings["train"] / on.timings["train"]
        print(
            f"| {k} | {off.timings['train']:.1f} | {on.timings['train']:.1f} | {ratio:.2f}× |"
            f" {off.history[0].seconds:.1f} / {on.history[0].seconds:.1f} | {on.timings.get('prefix_cache', 0):.1f} |"
            f" {off.history[0].validation['accuracy']:.4f} / {on.history[0].validation['accuracy']:.4f} |",
            flush=True,
        )


def sweep_both_ways() -> None:
    import pandas as pd

    work = Path(tempfile.mkdtemp(prefix="stratsearch-sweep-"))
    space = work / "space.yaml"
    space.write_text(SWEEP.format(data=ROOT / "search_spaces/data/rt-snippets-small", cpus=os.cpu_count()))
    print("\n## 12-trial sweep over freeze_depth 0…6 (quickstart data, 800 rows, 2 epochs, no pruning)\n")
    walls, frames = {}, {}
    for mode in ("off", "on"):
        env = {**os.environ, "STRATSEARCH_PREFIX_CACHE": mode, "STRATSEARCH_CACHE": str(work / f"cache-{mode}")}
        runs = work / f"runs-{mode}"
        command = [
            sys.executable,
            "-m",
            "stratsearch",
            "run",
            str(space),
            "--runs-dir",
            str(runs),
            "--quiet",
            "--reports-dir",
            str(work / "reports"),
        ]
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        walls[mode] = time.perf_counter() - start
        frames[mode] = pd.read_csv(runs / "freeze-sweep" / "results.csv").sort_values("trial")
    off, on = frames["off"], frames["on"]
    print(
        f"wall time: {walls['off']:.0f} s without the cache, {walls['on']:.0f} s with it:"
        f" ratio {walls['off'] / walls['on']:.2f}×"
    )
    same_params = off["freeze_depth"].tolist() == on["freeze_depth"].tolist()
    gap = (off["best_accuracy"] - on["best_accuracy"]).abs().max()
    print(f"same trials sampled: {same_params}; largest per-trial difference in best accuracy: {gap:.2g}")
    for name, frame in frames.items():
        best = frame.sort_values(["best_accuracy", "trial"], ascending=[False, True]).iloc[0]
        print(
            f"best ({name}): trial {best['trial']}, freeze {best['freeze_depth']},"
            f" accuracy {best['best_accuracy']:.4f}, test {best['test_accuracy']:.4f}"
        )
    print("\n| trial | freeze_depth | best accuracy (no cache) | (cache) | wall s (no cache) | (cache) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for (_, a), (_, b) in zip(off.iterrows(), on.iterrows(), strict=True):
        print(
            f"| {a['trial']} | {a['freeze_depth']} | {a['best_accuracy']:.4f} | {b['best_accuracy']:.4f} |"
            f" {a['wall_s']:.0f} | {b['wall_s']:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    epochs_by_depth(args.rows)
    if not args.skip_sweep:
        sweep_both_ways()


if __name__ == "__main__":
    main()
