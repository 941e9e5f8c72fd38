"""One trial's folder in a run directory: what it ran, how each epoch went, how it ended.

    trials/0007/config.json      resolved config, Optuna params, versions
    trials/0007/metrics.jsonl    one line per epoch (appended as it trains)
    trials/0007/status.json      running | finished | pruned | stopped | failed | interrupted
    trials/0007/predictions/     best epoch's validation (and, when it finished, test) predictions

Every write is atomic (write, then rename), so a crash never leaves a half-written record.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

FINAL = ("finished", "pruned", "stopped", "failed")


def write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def versions() -> dict[str, str]:
    import optuna
    import torch
    import transformers

    from . import __version__

    return {
        "stratsearch": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "optuna": optuna.__version__,
        "python": platform.python_version(),
    }


class TrialRecord:
    def __init__(self, run_dir: Path, number: int):
        self.number = number
        self.folder = Path(run_dir) / "trials" / f"{number:04d}"

    @property
    def status_path(self) -> Path:
        return self.folder / "status.json"

    def status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def set_status(self, **fields: Any) -> None:
        write_json(self.status_path, {**self.status(), **fields, "updated": time.time()})

    def start(self, config: dict, params: dict, baseline: int | None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "metrics.jsonl").unlink(missing_ok=True)
        write_json(
            self.folder / "config.json",
            {"trial": self.number, "config": config, "params": params, "baseline": baseline, "versions": versions()},
        )
        self.set_status(status="running", epoch=0, started=time.time())

    def epoch(self, metrics: dict, best_value: float, best_epoch: int, objectives: list[float], **extra: Any) -> None:
        """Append an epoch; `objectives` are what the study is told if the trial ends here."""
        with (self.folder / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(metrics) + "\n")
        self.set_status(
            epoch=metrics["epoch"], best_value=best_value, best_epoch=best_epoch, objectives=objectives, **extra
        )

    def predictions_path(self, split: str) -> Path:
        return self.folder / "predictions" / f"{split}.npz"

    def finish(self, status: str, **fields: Any) -> None:
        started = self.status().get("started", time.time())
        self.set_status(status=status, wall_s=time.time() - started, **fields)

    def config(self) -> dict:
        return json.loads((self.folder / "config.json").read_text())

    def metrics(self) -> list[dict]:
        path = self.folder / "metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def all_records(run_dir: Path) -> list[TrialRecord]:
    folders = sorted((Path(run_dir) / "trials").glob("[0-9]*"))
    return [TrialRecord(run_dir, int(f.name)) for f in folders if (f / "config.json").is_file()]
