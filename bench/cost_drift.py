"""What each way of fine-tuning costs and how far it moves the encoder, side by side.

    python bench/cost_drift.py                 # run the sweep, then the table
    python bench/cost_drift.py --report-only   # the table from the saved run

One grid sweep (`stratsearch run`, sampler grid, 42 trials, nothing pruned) of the bundled
all-MiniLM-L6-v2 on the shared rt-snippets (2,000 training rows, max_length 64, 2 epochs, AdamW
3e-4, linear schedule, seed 0): freeze depth 0…6 × scope (full, BitFit, LoRA) × dropout (0, 0.2),
so that every cell runs with everything else equal and the report's claims section has both
full-vs-partial and a regularisation dimension to test. Drift is also measured on 256 BBC news
texts (`data.probe`), text the task never shows the model. Per freeze depth and scope (the two
dropouts averaged): train seconds per epoch, trainable parameters, estimated training FLOPs,
top-layer CKA to the pretrained encoder, what measuring on the probe cost against the trial's
wall time, validation accuracy and the train − validation gap.
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
SCOPES = ("full", "bitfit", "lora")
DROPOUTS = (0.0, 0.2)
TRIALS = 7 * len(SCOPES) * len(DROPOUTS)


def space() -> dict:
    return {
        "name": NAME,
        "model": "minilm-l6",
        "task": "classification",
        "data": {
            **{split: str(DATA / f"{split}.jsonl") for split in ("train", "validation", "test")},
            "max_length": 64,
            "max_train_rows": 2000,
            # General text the task never shows the model: news prose, for `general_drift`.
            "probe": str(DATA.parent / "bbc-news" / "train.jsonl"),
        },
        "objective": {"metric": "accuracy", "mode": "max"},
        "budget": {"trials": TRIALS, "max_epochs": 2},
        "resources": {"cpus_per_trial": 2},
        "search": {"sampler": "grid", "pruner": "none", "portfolio": "none", "stop_not_learning": False},
        "space": {
            "epochs": 2,
            "batch_size": 32,
            "optimizer": {"adamw": {"lr": 3e-4}},
            "schedule": "linear",
            "freeze_depth": {"int": [0, 6]},
            "scope": {"choice": {scope: {} for scope in SCOPES}},
            "dropout": {"choice": list(DROPOUTS)},
        },
        "confirm": {"seeds": 0},
        "ensemble": {"top_k": 1, "method": "mean"},
    }


def table(run_path: Path) -> str:
    """One row per freeze depth and scope, its two dropout trials averaged."""
    import pandas as pd

    from stratsearch.rundir import RunDir

    rows = []
    for record, s in RunDir(run_path).statuses():
        if s.status != "finished":
            continue
        config = record.config()["config"]
        rows.append(
            {
                "freeze": config["freeze_depth"],
                "scope": next(iter(config["scope"])),
                "s_epoch": s.train_seconds / s.epochs_run,
                "trainable": s.trainable_parameters,
                "tflops": s.train_flops / 1e12,
                "cka": s.cka[-1],
                "news_cka": s.general_cka[-1],
                "probe_share": s.drift_seconds / s.wall_s,
                "val": s.best_value,
                "gap": s.train_metrics["accuracy"] - s.best_value,
            }
        )
    frame = pd.DataFrame(rows).groupby(["freeze", "scope"], sort=False).mean().reset_index()
    frame["order"] = frame["scope"].map(SCOPES.index)
    header = ["freeze", "scope", "train s / epoch", "trainable params", "train TFLOPs", "top-layer CKA", "news CKA"]
    header += ["probe cost", "val acc", "train − val gap"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in frame.sort_values(["order", "freeze"]).itertuples():
        cells = [str(r.freeze), r.scope, f"{r.s_epoch:.1f}", f"{r.trainable:,.0f}", f"{r.tflops:.2f}"]
        cells += [f"{r.cka:.3f}", f"{r.news_cka:.3f}", f"{r.probe_share:.1%}", f"{r.val:.4f}", f"{r.gap * 100:+.1f} pt"]
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
