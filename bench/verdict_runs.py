"""Real fine-tuning runs for bench/verdict.py: a few strategies, each on many seeds, with their
validation predictions stored as a confirmation run stores them.

    .venv/bin/python bench/verdict_runs.py                # 4 strategies × 12 seeds, about 35 min on 2 cores
    .venv/bin/python bench/verdict_runs.py vader-tweets   # regression (RMSE): 2 strategies × 10 seeds, ~15 min

Each run is `stratsearch train`'s: the bundled MiniLM, 800 training rows, max_length 48, 2 epochs,
on the quickstart's Rotten Tomatoes copy (600 validation examples, accuracy) or on the shared
vader-tweets (420, a sentiment score: RMSE). Its validation predictions at the best epoch go to
bench/results/verdict/<data>/<strategy>/seed<k>.npz, the validation targets to targets.npz beside
them (folders gitignored; a run already stored is not run again).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "verdict"
LEARNING_RATES = {  # the quickstart's baseline, two portfolio-like learning rates and a timid one
    "lr-2e-5-linear": {"optimizer": {"adamw": {"lr": 2.0e-5}}, "schedule": "linear"},
    "lr-5e-5-linear": {"optimizer": {"adamw": {"lr": 5.0e-5}}, "schedule": "linear"},
    "lr-1e-4-cosine": {"optimizer": {"adamw": {"lr": 1.0e-4}}, "schedule": "cosine"},
    "lr-2e-4-linear": {"optimizer": {"adamw": {"lr": 2.0e-4}}, "schedule": "linear"},
}
DATA = {  # name → (folder, task, metric, mode, strategies, seeds)
    "rt-snippets-small": (
        ROOT / "search_spaces" / "data" / "rt-snippets-small",
        "classification",
        "accuracy",
        "max",
        list(LEARNING_RATES),
        range(1, 13),
    ),
    "vader-tweets": (
        ROOT.parent / "shared" / "datasets" / "vader-tweets",
        "regression",
        "rmse",
        "min",
        ["lr-5e-5-linear", "lr-2e-4-linear"],
        range(1, 11),
    ),
}


def space(data: str, strategy: dict, seed: int) -> dict:
    folder, task, metric, mode, *_ = DATA[data]
    return {
        "name": "verdict-bench",
        "model": "minilm-l6",
        "task": task,
        "data": {
            **{split: str(folder / f"{split}.jsonl") for split in ("train", "validation")},
            "max_length": 48,
            "max_train_rows": 800,
        },
        "objective": {"metric": metric, "mode": mode},
        "space": {"seed": seed, "epochs": 2, "batch_size": 32, **strategy},
    }


def main() -> int:
    from stratsearch.predictions import save_predictions
    from stratsearch.prepare import prepare
    from stratsearch.train.trainer import train

    data = sys.argv[1] if len(sys.argv) > 1 else "rt-snippets-small"
    _, _, metric, _, strategies, seeds = DATA[data]
    out = RESULTS / data
    with tempfile.TemporaryDirectory() as tmp:
        for name in strategies:
            for seed in seeds:
                path = out / name / f"seed{seed}.npz"
                if path.is_file():
                    continue
                config = Path(tmp) / "space.yaml"
                config.write_text(yaml.safe_dump(space(data, LEARNING_RATES[name], seed)))
                prepared = prepare(config)
                started = time.perf_counter()
                result = train(prepared.model_path, prepared.data, prepared.trial, prepared.spec.objective)
                save_predictions(path, result.validation_predictions)
                if not (out / "targets.npz").is_file():
                    save_predictions(out / "targets.npz", np.asarray(prepared.data.validation.targets))
                best = result.history[result.best_epoch - 1].validation[metric]
                print(f"{name} seed {seed}: {metric} {best:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
