"""What each way of fine-tuning costs and how far it moves the encoder, side by side.

    python bench/cost_drift.py                 # run the sweep, then the table
    python bench/cost_drift.py --report-only   # the table from the saved run

One sweep of the bundled all-MiniLM-L6-v2 on the shared rt-snippets (2,000 training rows,
max_length 64, 2 epochs, AdamW 1e-4, linear schedule, seed 0): full fine-tuning with 0…6
bottom layers frozen, then BitFit and LoRA (each as a baseline of one `stratsearch run`, so
every strategy runs once with everything else equal). Per strategy: train seconds per epoch,
trainable parameters, estimated training FLOPs, top-layer CKA to the pretrained encoder (and
what measuring it cost, against the trial's wall time), validation and test accuracy.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "rt-snippets"
OUT = ROOT / "bench" / "results" / "cost_drift"
NAME = "cost-drift"
# A baseline's keys left out take the trainer's defaults, so each names everything held equal.
COMMON = {"epochs": 2, "batch_size": 32, "optimizer": {"adamw": {"lr": 1e-4}}, "schedule": "linear"}
STRATEGIES = [COMMON | {"freeze_depth": k} for k in range(7)]
STRATEGIES += [COMMON | {"scope": {"bitfit": {}}}, COMMON | {"scope": {"lora": {}}}]


def space() -> dict:
    return {
        "name": NAME,
        "model": "minilm-l6",
        "task": "classification",
        "data": {
            **{split: str(DATA / f"{split}.jsonl") for split in ("train", "validation", "test")},
            "max_length": 64,
            "max_train_rows": 2000,
        },
        "objective": {"metric": "accuracy", "mode": "max"},
        "budget": {"trials": len(STRATEGIES), "max_epochs": 2},
        "resources": {"cpus_per_trial": 2},
        "search": {
            "sampler": "random",
            "pruner": "none",
            "portfolio": "none",
            "stop_not_learning": False,
            "baseline": STRATEGIES,
        },
        "space": {
            **COMMON,
            "freeze_depth": {"int": [0, 6]},
            "scope": {"choice": {"full": {}, "bitfit": {}, "lora": {}}},
        },
        "confirm": {"seeds": 0},
        "ensemble": {"top_k": 1, "method": "mean"},
    }


def label(config: dict) -> str:
    scope = next(iter(config["scope"])) if isinstance(config["scope"], dict) else config["scope"]
    return f"{scope}, freeze {config['freeze_depth']}" if scope == "full" else scope


def table(run_path: Path) -> str:
    from stratsearch.rundir import RunDir

    header = ["strategy", "train s / epoch", "trainable params", "train FLOPs", "top-layer CKA", "drift cost"]
    header += ["val acc", "test acc"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for record, s in RunDir(run_path).statuses():
        epochs = s.epochs_run or s.epoch or 1
        cka = "" if s.cka is None else f"{s.cka[-1]:.3f}"
        cost = "" if s.drift_seconds is None else f"{s.drift_seconds:.1f} s ({s.drift_seconds / s.wall_s:.1%})"
        cells = [
            label(record.config()["config"]),
            f"{(s.train_seconds or 0) / epochs:.1f}",
            f"{s.trainable_parameters:,}",
            f"{(s.train_flops or 0) / 1e12:.2f} T",
            cka,
            cost,
            f"{s.best_value:.4f}",
            f"{s.test_value('accuracy') or 0:.4f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report-only", action="store_true", help="the table from the saved run")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "space.yaml"
    if not args.report_only:
        path.write_text(yaml.safe_dump(space(), sort_keys=False))
        command = [str(Path(sys.executable).parent / "stratsearch"), "run", str(path), "--quiet"]
        subprocess.run([*command, "--runs-dir", str(OUT / "runs"), "--reports-dir", str(OUT / "reports")], check=True)
    text = table(OUT / "runs" / NAME)
    (OUT / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
