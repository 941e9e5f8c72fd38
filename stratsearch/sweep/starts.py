"""The trials a sweep runs right after its baselines, before its sampler proposes any.

Two sources, each projected onto the user's space (`project.py`):
- the **portfolio** (`search.portfolio`): `auto` is the shipped `portfolio.json`, a few strategies
  chosen by measurement across the seven shared data sets (`bench/portfolio.py` built it and says
  how); a list is the user's own; `none` turns it off;
- **warm starts** (`search.warm_start`): the best trials of earlier runs (other data, same or
  other model), as their changes from the trainer's defaults.

A start the space cannot express is dropped, one it can only approximate is adapted, one that
repeats a baseline or an earlier start is skipped, and `notes` says which, for the run log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratsearch.errors import ConfigError
from stratsearch.space.project import full_config, project

if TYPE_CHECKING:
    from stratsearch.errors import Problems
    from stratsearch.space.load import SpaceSpec

WARM_START_TOP = 3  # best trials taken from each earlier run


@dataclass(frozen=True)
class Start:
    origin: str  # "portfolio lr-2e-4", "warm start runs/a trial 7": shown in the run log and trial record
    params: dict[str, Any]  # Optuna parameters, every searched dimension set


@dataclass
class Starts:
    trials: list[Start] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def shipped_portfolio() -> list[tuple[str, dict[str, Any]]]:
    data = json.loads(resources.files("stratsearch.space").joinpath("portfolio.json").read_text())
    return [(member["name"], member["config"]) for member in data["members"]]


def portfolio_members(spec: SpaceSpec) -> list[tuple[str, dict[str, Any]]]:
    portfolio = spec.search.portfolio
    if portfolio == "none" or spec.search.sampler == "grid":  # a grid enumerates the space anyway
        return []
    if portfolio == "auto":
        return shipped_portfolio()
    return [(str(i), config) for i, config in enumerate(portfolio)]


def changes_from(config: dict[str, Any], default: dict[str, Any]) -> dict[str, Any]:
    """What a full configuration changes from another: `{optimizer: {adamw: {lr: 1e-4}}}`."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        base = default.get(key)
        same_shape = isinstance(value, dict) and isinstance(base, dict) and set(value) == set(base)
        if same_shape:
            if inner := changes_from(value, base):
                out[key] = inner
        elif value != base:
            out[key] = value
    return out


def warm_start_members(spec: SpaceSpec) -> list[tuple[str, dict[str, Any]]]:
    from stratsearch.choice import choose
    from stratsearch.rundir import RunDir

    default = full_config({}, spec.task, spec.model_dir)
    members = []
    for path in spec.search.warm_start:
        run_dir = RunDir(spec.base_dir / path)
        for record in choose(run_dir, run_dir.info().objective).searched()[:WARM_START_TOP]:
            members.append(
                (f"warm start {path} trial {record.number}", changes_from(record.config()["config"], default))
            )
    return members


def plan_starts(spec: SpaceSpec) -> Starts:
    """The portfolio's members then the warm starts, as this space expresses them."""
    starts = Starts()
    seen = [project(b.to_dict(), full_config(b.to_dict(), spec.task, spec.model_dir), spec.space).params
            for b in spec.baselines]  # fmt: skip
    default = project({}, full_config({}, spec.task, spec.model_dir), spec.space).params
    named = [(f"portfolio {name}", config) for name, config in portfolio_members(spec)]
    for origin, config in [*named, *warm_start_members(spec)]:
        try:
            full = full_config(config, spec.task, spec.model_dir)
        except ConfigError as err:
            starts.notes.append(f"{origin}: dropped: {'; '.join(str(p) for p in err.problems)}")
            continue
        projection = project(config, full, spec.space)
        if projection.dropped:
            starts.notes.append(f"{origin}: dropped: {projection.dropped}")
        elif projection.params in seen:
            starts.notes.append(f"{origin}: skipped: this space makes it the same as a baseline or an earlier start")
        elif config and projection.params == default:
            starts.notes.append(f"{origin}: skipped: in this space it is the same trial as the defaults")
        else:
            seen.append(projection.params)
            starts.trials.append(Start(origin, projection.params))
            if projection.changes:
                starts.notes.append(f"{origin}: adapted: {'; '.join(projection.changes)}")
    return starts


def check_warm_starts(warm_start: list[str], base: Path, problems: Problems) -> None:
    """At load: each warm start is a run directory `run` wrote."""
    from stratsearch.rundir import RunDir

    for i, path in enumerate(warm_start):
        if not RunDir(base / path).is_run():
            problems.add(
                f"search.warm_start[{i}]",
                f"{base / path} is not a stratsearch run directory (no run.json); give the folder `run` wrote,"
                " e.g. runs/NAME",
            )
