"""`results.csv`: one row per trial of a run, from the trial folders (the source of truth)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .trial_record import all_records


def flatten(prefix: str, value: object, out: dict) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), sub, out)
    else:
        out[prefix] = value


def results_frame(run_dir: Path, metric: str) -> pd.DataFrame:
    rows = []
    for record in all_records(run_dir):
        status = record.status()
        if status.get("status") == "interrupted":
            continue  # restarted under a new trial number
        config = record.config()
        row: dict = {
            "trial": record.number,
            "status": status.get("status"),
            "baseline": config.get("baseline"),
            f"best_{metric}": status.get("best_value"),
            "best_epoch": status.get("best_epoch"),
            "epochs_run": status.get("epoch"),
            "wall_s": status.get("wall_s"),
            "trainable_parameters": status.get("trainable_parameters"),
            f"test_{metric}": (status.get("test") or {}).get(metric),
            "reason": status.get("reason"),
        }
        flatten("", config["config"], row)
        rows.append(row)
    return pd.DataFrame(rows)


def write_results(run_dir: Path, metric: str) -> Path:
    path = Path(run_dir) / "results.csv"
    tmp = path.with_suffix(".tmp")
    results_frame(run_dir, metric).to_csv(tmp, index=False)
    tmp.replace(path)
    return path
