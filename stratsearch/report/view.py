"""A run directory read into plain records: one per trial, plus the run's facts and its ensemble.

The trial folders are the source of truth for statuses and values; the Optuna study adds the
searched parameters under their Optuna names and their distributions (kind and range).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..run_info import RunInfo, read_run_info
from ..trial_record import all_records

SCORED = ("finished", "pruned", "stopped")


@dataclass
class TrialView:
    number: int
    status: str
    value: float | None  # best validation objective
    test: float | None  # test objective (finished trials)
    baseline: int | None
    config: dict[str, Any]
    params: dict[str, Any]  # searched dimensions, Optuna names
    curve: list[float]  # validation objective per epoch
    epochs_planned: int
    wall_s: float | None
    started: float | None
    trainable: int | None
    reason: str | None

    @property
    def epochs_run(self) -> int:
        return len(self.curve)


@dataclass(frozen=True)
class EnsembleOutcome:
    """The chosen ensemble against the best single model, on test (validation without a test split)."""

    method: str
    members: int
    split: str
    value: float
    single: float
    validation: float  # the chosen ensemble's validation figure

    @property
    def gain(self) -> float:
        return self.value - self.single


@dataclass
class RunView:
    run_dir: Path
    info: RunInfo
    trials: list[TrialView]
    dims: dict[str, Any]  # Optuna name → distribution
    ensemble: dict[str, Any] | None
    elapsed_s: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def metric(self) -> str:
        return self.info.metric

    def better(self, a: float, b: float) -> bool:
        return a > b if self.info.mode == "max" else a < b

    def scored(self) -> list[TrialView]:
        return [t for t in self.trials if t.status in SCORED and t.value is not None]

    def ranked(self) -> list[TrialView]:
        """Scored trials, best first; finished ones ahead of pruned ones with the same value."""
        sign = -1 if self.info.mode == "max" else 1
        return sorted(self.scored(), key=lambda t: (sign * t.value, t.status != "finished", t.number))

    def ensemble_outcome(self) -> EnsembleOutcome | None:
        if not self.ensemble:
            return None
        metric = self.metric
        table = self.ensemble["table"]
        chosen = next(r for r in table if r["chosen"])
        single = table[0]  # the best single model's row comes first
        split = "test" if f"test_{metric}" in single else "validation"
        return EnsembleOutcome(
            chosen["method"],
            len(self.ensemble["members"]),
            split,
            chosen[f"{split}_{metric}"],
            single[f"{split}_{metric}"],
            chosen[f"validation_{metric}"],
        )

    def baseline(self) -> TrialView | None:
        return next((t for t in self.scored() if t.baseline is not None), None)

    def frame(self) -> pd.DataFrame:
        """One row per scored trial: number, status, value, test, and each searched dimension."""
        rows = [
            {"trial": t.number, "status": t.status, "value": t.value, "test": t.test, **t.params} for t in self.scored()
        ]
        return pd.DataFrame(rows, columns=["trial", "status", "value", "test", *self.dims])


def searched_value(config: dict[str, Any], name: str) -> Any:
    """A dimension's value in a resolved config, by its Optuna name (`optimizer.adamw.lr`);
    for a branch choice (`optimizer`) the chosen branch's name. None where the config has none."""
    node: Any = config
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, dict):
        return next(iter(node)) if len(node) == 1 else None
    return node


def study_trials(run_dir: Path, name: str) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """Params per trial number and the distribution of each searched dimension, from study.db."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{run_dir / 'study.db'}")
    params, dims = {}, {}
    for trial in study.get_trials(deepcopy=False):
        params[trial.number] = trial.params
        for key, dist in trial.distributions.items():
            dims.setdefault(key, dist)
    return params, dims


def load_run(run_dir: Path) -> RunView:
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    params, dims = study_trials(run_dir, info.name)
    trials = []
    for record in all_records(run_dir):
        status = record.status()
        if status.get("status") == "interrupted":
            continue  # restarted under another number
        stored = record.config()
        config = stored["config"]
        trial_params = params.get(record.number) or {k: searched_value(config, k) for k in dims}
        trials.append(
            TrialView(
                number=record.number,
                status=status.get("status", "unknown"),
                value=status.get("best_value"),
                test=(status.get("test") or {}).get(info.metric),
                baseline=stored.get("baseline"),
                config=config,
                params={k: v for k, v in trial_params.items() if v is not None},
                curve=[m[info.metric] for m in record.metrics() if info.metric in m],
                epochs_planned=int(config.get("epochs", 0) or 0),
                wall_s=status.get("wall_s"),
                started=status.get("started"),
                trainable=status.get("trainable_parameters"),
                reason=status.get("reason"),
            )
        )
    ensemble_path = run_dir / "ensemble" / "ensemble.json"
    ensemble = json.loads(ensemble_path.read_text()) if ensemble_path.is_file() else None
    sweep_path = run_dir / "sweep.json"
    elapsed = json.loads(sweep_path.read_text()).get("elapsed_s") if sweep_path.is_file() else None
    return RunView(run_dir, info, trials, dims, ensemble, elapsed)
