"""Real fine-tuning runs for bench/verdict.py: a few strategies, each on many seeds, with their
validation predictions stored as a confirmation run stores them.

    .venv/bin/python bench/verdict_runs.py          # 4 strategies × 12 seeds, about 35 min on 2 cores

Each run is `stratsearch train`'s: the bundled MiniLM on the quickstart's Rotten Tomatoes copy
(800 training rows, 600 validation examples, max_length 48, 2 epochs); its validation predictions
at the best epoch go to bench/results/verdict/<strategy>/seed<k>.npz, the validation targets to
targets.npz beside them (folders gitignored; a run already stored is not run again).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "verdict" / "runs"
SEEDS = range(1, 13)
STRATEGIES = {  # the quickstart's baseline, two portfolio-like learning rates and a timid one
    "lr-2e-5-linear": {"optimizer": {"adamw": {"lr": 2.0e-5}}, "schedule": "linear"},
    "lr-5e-5-linear": {"optimizer": {"adamw": {"lr": 5.0e-5}}, "schedule": "linear"},
    "lr-1e-4-cosine": {"optimizer": {"adamw": {"lr": 1.0e-4}}, "schedule": "cosine"},
    "lr-2e-4-linear": {"optimizer": {"adamw": {"lr": 2.0e-4}}, "schedule": "linear"},
}


def space(strategy: dict, seed: int) -> dict:
    data = ROOT / "search_spaces" / "data" / "rt-snippets-small"
    return {
        "name": "verdict-bench",
        "model": "minilm-l6",
        "task": "classification",
        "data": {
            **{split: str(data / f"{split}.jsonl") for split in ("train", "validation")},
            "max_length": 48,
            "max_train_rows": 800,
        },
        "objective": {"metric": "accuracy", "mode": "max"},
        "space": {"seed": seed, "epochs": 2, "batch_size": 32, **strategy},
    }


def main() -> int:
    from stratsearch.predictions import save_predictions
    from stratsearch.prepare import prepare
    from stratsearch.train.trainer import train

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, strategy in STRATEGIES.items():
            for seed in SEEDS:
                path = OUT / name / f"seed{seed}.npz"
                if path.is_file():
                    continue
                config = Path(tmp) / "space.yaml"
                config.write_text(yaml.safe_dump(space(strategy, seed)))
                prepared = prepare(config)
                started = time.perf_counter()
                result = train(prepared.model_path, prepared.data, prepared.trial, prepared.spec.objective)
                save_predictions(path, result.validation_predictions)
                targets = OUT / "targets.npz"
                if not targets.is_file():
                    save_predictions(targets, np.asarray(prepared.data.validation.targets))
                best = result.history[result.best_epoch - 1].validation["accuracy"]
                print(f"{name} seed {seed}: accuracy {best:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
