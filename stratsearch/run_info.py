"""`run.json`: what a run directory was made from (resolved model and data paths, task, objective,
labels), so that the commands that come after a sweep (`ensemble`, `predict`) need nothing but
the run directory, wherever the space.yaml has gone since.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import DataSpec
from .errors import StratsearchError
from .space import SpaceSpec
from .trial_record import write_json


@dataclass(frozen=True)
class RunInfo:
    name: str
    task: str
    model_path: Path
    data: DataSpec
    metric: str
    mode: str
    labels: list[Any] | None
    top_k: int
    method: str


def write_run_info(run_dir: Path, spec: SpaceSpec, model_path: Path, labels: list[Any] | None) -> None:
    write_json(
        run_dir / "run.json",
        {
            "name": spec.name,
            "task": spec.task,
            "model_path": str(model_path),
            "data": spec.data.model_dump(mode="json"),
            "metric": spec.objective.metric,
            "mode": spec.objective.mode,
            "labels": labels,
            "top_k": spec.ensemble.top_k,
            "method": spec.ensemble.method,
        },
    )


def read_run_info(run_dir: Path) -> RunInfo:
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise StratsearchError(f"{run_dir}: not a run directory (no run.json); expected the runs/NAME of a sweep")
    raw = json.loads(path.read_text())
    return RunInfo(**{**raw, "model_path": Path(raw["model_path"]), "data": DataSpec(**raw["data"])})
