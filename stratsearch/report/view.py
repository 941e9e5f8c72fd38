"""A run directory read into plain records: one per trial, plus the run's facts and its ensemble.

The trial folders are the source of truth for statuses and values; the Optuna study adds the
searched parameters under their Optuna names and their distributions (kind and range).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from stratsearch.choice import Choice, built_for, choose, stale_ensemble
from stratsearch.confirm.plan import Confirmation
from stratsearch.objective import Objective
from stratsearch.rundir import RunDir, RunInfo, read_json


@dataclass(frozen=True)
class Measured:
    """What a trial cost and how far it moved the encoder (the figures of rundir.TrialStatus);
    drift and the training fit are measured on finished trials only."""

    train_seconds: float | None = None
    train_flops: float | None = None
    drift: float | None = None
    general_drift: float | None = None
    train_value: float | None = None  # the objective on the probe's training examples
    cka: tuple[float, ...] | None = None  # per layer to the pretrained encoder, the embeddings first
    general_cka: tuple[float, ...] | None = None  # the same on the general-text probe

    def get(self, name: str) -> float | None:
        return getattr(self, name, None)


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
    origin: str = "sampler"  # baseline, sampler, confirmation, or the portfolio member / warm start it ran
    confirms: int | None = None  # a confirmation run: the search trial it trains again on a new seed
    measured: Measured = field(default_factory=Measured)

    def measure(self, name: str) -> float | None:
        """A cost or drift figure by its objective name (`train_seconds`, `drift`…)."""
        return self.trainable if name == "trainable_parameters" else self.measured.get(name)

    @property
    def epochs_run(self) -> int:
        return len(self.curve)

    @property
    def shown_status(self) -> str:
        """The status, with the dud rule's stops told apart from the budget's."""
        not_learning = self.status == "stopped" and (self.reason or "").startswith("not learning")
        return "stopped: not learning" if not_learning else self.status


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
    trials: list[TrialView]  # every trial, confirmation runs included
    order: list[int]  # numbers of the scored search trials, best first (the choice's ranking, pruned too)
    dims: dict[str, Any]  # Optuna name → distribution
    ensemble: dict[str, Any] | None
    elapsed_s: float | None
    notes: list[str] = field(default_factory=list)
    confirmation: Confirmation | None = None
    choice: Choice | None = None  # the run's choice (choice.py): the verdict, the summary and the leaderboard follow it

    def searched(self) -> list[TrialView]:
        """The search's own trials: every trial but the confirmation runs."""
        return [t for t in self.trials if t.confirms is None]

    @property
    def metric(self) -> str:
        return self.info.metric

    @property
    def objective(self) -> Objective:
        return self.info.objective

    def scored(self) -> list[TrialView]:
        """Search trials with a validation value (finished, pruned or stopped), by number; the
        confirmation runs are left out, as repeats of a few configurations would weigh them."""
        ranked = set(self.order)
        return [t for t in self.trials if t.number in ranked]

    def ranked(self) -> list[TrialView]:
        """Scored trials, best first; finished ones ahead of pruned ones with the same value."""
        by_number = {t.number: t for t in self.trials}
        return [by_number[n] for n in self.order]

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


def study_trials(run_dir: RunDir, name: str) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """Params per trial number and the distribution of each searched dimension, from study.db."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=run_dir.study_url)
    params, dims = {}, {}
    for trial in study.get_trials(deepcopy=False):
        params[trial.number] = trial.params
        for key, dist in trial.distributions.items():
            dims.setdefault(key, dist)
    return params, dims


def load_run(path: Path) -> RunView:
    run_dir = RunDir(path)
    info = run_dir.info()
    params, dims = study_trials(run_dir, info.name)
    trials = []
    for record, status in run_dir.statuses():
        if status.status == "interrupted":
            continue  # restarted under another number
        stored = record.config()
        config = stored["config"]
        trial_params = params.get(record.number) or {k: searched_value(config, k) for k in dims}
        trials.append(
            TrialView(
                number=record.number,
                status=status.status or "unknown",
                value=status.best_value,
                test=status.test_value(info.metric),
                baseline=stored.get("baseline"),
                config=config,
                params={k: v for k, v in trial_params.items() if v is not None},
                curve=[m[info.metric] for m in record.metrics() if info.metric in m],
                epochs_planned=int(config.get("epochs", 0) or 0),
                wall_s=status.wall_s,
                started=status.started,
                trainable=status.trainable_parameters,
                reason=status.reason,
                origin=stored.get("origin") or ("baseline" if stored.get("baseline") is not None else "sampler"),
                confirms=stored.get("confirms"),
                measured=Measured(
                    status.train_seconds,
                    status.train_flops,
                    status.drift,
                    status.general_drift,
                    (status.train_metrics or {}).get(info.metric),
                    tuple(status.cka) if status.cka else None,
                    tuple(status.general_cka) if status.general_cka else None,
                ),
            )
        )
    runs = {t.number for t in trials if t.confirms is not None}
    choice = choose(run_dir, info.objective)
    order = [r.number for r in choice.ranking(include_pruned=True) if r.number not in runs]
    summary = read_json(run_dir.ensemble_json)
    ensemble = summary if summary and built_for(summary, choice) else None
    notes = [stale_ensemble(run_dir, summary, choice)] if summary and ensemble is None else []
    elapsed = run_dir.elapsed() or None
    return RunView(run_dir.path, info, trials, order, dims, ensemble, elapsed, notes, choice.confirmation, choice)
