"""`run.json`: what a run directory was made from (resolved model and data paths, task, objective,
labels), so that the commands that come after a sweep (`ensemble`, `predict`) need nothing but
the run directory, wherever the space.yaml has gone since.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import DataSpec
from .errors import StratsearchError
from .space import SpaceSpec
from .trial_record import write_json

if TYPE_CHECKING:
    from .data import Dataset


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
    model: str = ""  # as the space names it, e.g. minilm-l6
    sizes: dict[str, int] = field(default_factory=dict)  # examples per split
    budget: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)


def write_run_info(run_dir: Path, spec: SpaceSpec, model_path: Path, data: Dataset) -> None:
    splits = {"train": data.train, "validation": data.validation, "test": data.test}
    write_json(
        run_dir / "run.json",
        {
            "name": spec.name,
            "task": spec.task,
            "model": spec.model,
            "model_path": str(model_path),
            "data": spec.data.model_dump(mode="json"),
            "sizes": {name: len(split) for name, split in splits.items() if split is not None},
            "metric": spec.objective.metric,
            "mode": spec.objective.mode,
            "labels": data.label_names,
            "top_k": spec.ensemble.top_k,
            "method": spec.ensemble.method,
            "budget": spec.budget.model_dump(),
            "search": spec.search.model_dump(exclude={"baseline"}),
        },
    )


def read_run_info(run_dir: Path) -> RunInfo:
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise StratsearchError(f"{run_dir}: not a run directory (no run.json); expected the runs/NAME of a sweep")
    raw = json.loads(path.read_text())
    return RunInfo(**{**raw, "model_path": Path(raw["model_path"]), "data": DataSpec(**raw["data"])})
