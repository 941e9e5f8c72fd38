"""Loading a `space.yaml`: its sections, its dimensions (`dims.py`) and their checks (`checks.py`),
into one validated `SpaceSpec`. All problems of a file are reported together, before anything runs.

This package knows only the file (and the trainer's schemas, the model and the data it names):
the checks of what the file names in other parts (samplers, ensemble methods, MLflow, warm
starts) come in as `checks` from the one validation step, sweep/validate.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field

from stratsearch.errors import ConfigError, Problem, Problems, did_you_mean
from stratsearch.objective import DRIFT_METRICS, TRIAL_METRICS, Objective
from stratsearch.rows import DATA_FILES, DataSpec
from stratsearch.space.checks import (
    check_against_model,
    check_against_trainer,
    check_data,
    check_epochs_fit_budget,
    check_pair,
)
from stratsearch.space.dims import Fixed, Space, fixed_values, flat_dims, is_fixed, is_number, parse_space
from stratsearch.tasks import TASKS, Task
from stratsearch.train.config import Scalars, Strict, TrialConfig, parse_trial, trial_from_space


class Budget(Strict):
    trials: int = Field(20, ge=1)
    max_epochs: int | None = Field(None, ge=1, description="ASHA's longest run; default: the largest epochs value")
    time: str | float | None = Field(None, description="wall-clock limit: seconds, or '90m', '8h', '1d'")


class Resources(Strict):
    cpus_per_trial: float = Field(2.0, gt=0)
    gpus_per_trial: float | Literal["auto"] = Field(
        "auto", ge=0, description="auto: one GPU per trial where there are GPUs, else none; fractions share a GPU"
    )
    max_concurrent: int | None = Field(None, ge=1, description="default: as many as the resources allow")


class Search(Strict):
    sampler: str = Field("auto", description="auto: anchored for a wide space, else tpe (sweep/search.py)")
    pruner: str = "asha"
    grace_period: int = Field(1, ge=1, description="epochs every trial runs before it can be pruned")
    reduction_factor: float = Field(2.0, gt=1.0, description="ASHA / HyperBand: keep the top 1/η at each rung")
    seed: int = 0
    baseline: list[dict] = Field(default_factory=list, description="fixed configs evaluated first")
    portfolio: Literal["auto", "none"] | list[dict] = Field(
        "auto", description="strategies tried right after the baselines: auto (the shipped one), none, or a list"
    )
    warm_start: list[str] = Field(default_factory=list, description="earlier run directories whose best trials start")
    stop_not_learning: bool = Field(True, description="stop a trial stuck at the trivial score (space/duds)")


class Ensemble(Strict):
    top_k: int = Field(5, ge=1)
    method: str = "greedy"


class Confirm(Strict):
    """The confirmation over seeds at the end of `run` (sweep/confirm.py)."""

    top_k: int = Field(3, ge=1, description="how many of the best distinct searched strategies (and the baseline)")
    seeds: int = Field(3, ge=0, description="fresh seeds each; 0 turns the confirmation off")


class Tracking(Strict):
    mlflow: str | None = Field(None, description="an MLflow tracking URI, or a path for a local SQLite store")


SECTION_MODELS = {
    "budget": Budget,
    "resources": Resources,
    "search": Search,
    "ensemble": Ensemble,
    "tracking": Tracking,
    "confirm": Confirm,
}


@dataclass(frozen=True)
class SpaceSpec:
    """A validated space.yaml."""

    file: str
    name: str
    model: str
    task: Task
    data: DataSpec
    objective: Objective
    budget: Budget
    resources: Resources
    search: Search
    ensemble: Ensemble
    tracking: Tracking
    space: Space
    secondary: list[Objective] = field(default_factory=list)  # further objectives of a multi-objective sweep
    confirm: Confirm = field(default_factory=Confirm)
    baselines: list[TrialConfig] = field(default_factory=list)
    base_dir: Path = Path(".")
    model_dir: Path | None = None
    data_summary: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # what may not be what the user meant; never fatal

    def searched(self) -> list[str]:
        """Names of the dimensions that are searched (not fixed)."""
        return [name for name, dim in flat_dims(self.space) if not is_fixed(dim)]

    def fixed_trial(self) -> TrialConfig:
        """The one trial of a space whose every dimension is fixed (what `train` runs)."""
        searched = self.searched()
        if searched:
            problems = [
                Problem(f"space.{n}", "is searched; `stratsearch train` takes fixed values only") for n in searched
            ]
            raise ConfigError(self.file, problems)
        return trial_from_space(fixed_values(self.space), self.task, self.file)

    def fingerprint(self) -> dict[str, str]:
        """A hash of each part that defines the experiment: model, task, objective, each data file's
        content, the data settings, the space and the search. Budget, resources, ensemble and confirm are not
        part: extending a finished run's budget is the same experiment."""
        from stratsearch.train.model_dir import WEIGHT_FILES

        def digest(value: object) -> str:
            return hashlib.sha256(json.dumps(value, sort_keys=True, default=repr).encode()).hexdigest()[:16]

        def file_digest(path: Path | None) -> str:
            if path is None:
                return "none"
            path = Path(path)  # a file, or a datasets folder: its files by name and content
            files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
            hashed = hashlib.sha256()
            for file in files:
                hashed.update(file.relative_to(path).as_posix().encode() if path.is_dir() else b"")
                hashed.update(file.read_bytes())
            return hashed.hexdigest()[:16]

        model_dir = self.model_dir or Path(self.model)
        # The weights are named by their sizes: hashing gigabytes on every start would cost minutes.
        weights = [(name, (model_dir / name).stat().st_size) for name in WEIGHT_FILES if (model_dir / name).is_file()]
        parts = {
            "model": digest((self.model, file_digest(model_dir / "config.json"), weights)),
            "task": digest(self.task.name),
            "objective": digest([o.model_dump() for o in [self.objective, *self.secondary]]),
            "data settings": digest(self.data.model_dump(exclude=set(DATA_FILES))),
            "space": digest(self.space),
            "search": digest(self.search.model_dump()),
        }
        for key in DATA_FILES:
            parts[f"data.{key}"] = file_digest(getattr(self.data, key))
        return parts

    def max_epochs(self) -> int:
        """The longest a trial may train: budget.max_epochs, else the largest `epochs` of the space and baselines."""
        from stratsearch.space.checks import max_value

        epochs = [b.scalars.epochs for b in self.baselines]
        dim = self.space.get("epochs")
        epochs.append(max_value(dim) if dim is not None else Scalars().epochs)
        return self.budget.max_epochs or int(max(epochs))


def parse_time(value: str | float | None) -> float | None:
    """'90m' → 5400.0; a bare number is seconds. Only a positive, finite duration is a budget."""
    if value is None:
        return None
    seconds = None
    if is_number(value):
        seconds = float(value)
    elif isinstance(value, str) and value.strip() and value.strip()[-1].lower() in TIME_UNITS:
        text = value.strip().lower()
        with contextlib.suppress(ValueError):
            seconds = float(text[:-1]) * TIME_UNITS[text[-1]]
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"expected a positive number of seconds or a duration like '90m', '8h', found {value!r}")
    return seconds


TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


# --- loading -------------------------------------------------------------------------------------


class DuplicateKey(yaml.YAMLError):
    pass


class SpaceLoader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-5` (no dot) as a string; a space full of learning rates needs it as a float.
    A key written twice in one mapping is an error: plain YAML keeps the last one without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[str, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                continue
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise DuplicateKey(
                    f"key '{key}' is written twice in one mapping, on lines {first_line[key]} and {line};"
                    " YAML would silently keep only the second: remove one"
                )
            first_line[key] = line
        return super().construct_mapping(node, deep)


SpaceLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?\d[\d_]*(?:\.[\d_]*)?[eE][-+]?\d+$"), list("-+0123456789")
)


def read_yaml(path: Path) -> dict:
    file = str(path)
    if not path.is_file():
        raise ConfigError(file, [Problem("file", "not found")])
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SpaceLoader)
    except DuplicateKey as err:
        raise ConfigError(file, [Problem("yaml", str(err))]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(file, [Problem("yaml", str(err).replace("\n", " "))]) from None
    if not isinstance(raw, dict):
        raise ConfigError(file, [Problem("top level", f"expected a mapping of sections, found {raw!r}")])
    return raw


def resolve_paths(data: DataSpec, base: Path) -> DataSpec:
    updates = {k: base / p for k in DATA_FILES if (p := getattr(data, k)) and not p.is_absolute()}
    return data.model_copy(update=updates)


class ObjectiveSection(Strict):
    """One metric, or several (a multi-objective sweep): the first picks each trial's best epoch."""

    metric: str | list[str] | None = None
    mode: Literal["max", "min"] | list[Literal["max", "min"]] | None = None


def check_drift_objectives(
    objectives: list[Objective], search: Search | None, data: DataSpec | None, problems: Problems
) -> None:
    """Drift is measured on a trial's model once it has trained to its end: a sweep that trades it
    off must let every trial get there, and `general_drift` needs the general-text probe."""
    names = [o.metric for o in objectives if o.metric in DRIFT_METRICS]
    if not names:
        return
    if search is not None and (search.pruner != "none" or search.stop_not_learning):
        problems.add(
            "search",
            f"objective {names[0]} is measured once a trial has run all its epochs, so no trial may be stopped"
            " early: set search.pruner: none and search.stop_not_learning: false",
        )
    if "general_drift" in names and data is not None and data.probe is None:
        problems.add("objective.metric", "general_drift is measured on data.probe: name a general-text file there")


def check_objective(raw: Any, task: Task, problems: Problems) -> list[Objective]:
    """The objective metrics, primary first; [] when they are wrong (problems say why)."""
    section = problems.validate(ObjectiveSection, raw or {}, "objective")
    if section is None:
        return []
    metrics = task.metrics
    names = [section.metric or next(iter(metrics))] if not isinstance(section.metric, list) else section.metric
    modes = section.mode if isinstance(section.mode, list) else [section.mode] * len(names)
    if not names or len(modes) != len(names) or len(set(names)) != len(names):
        problems.add("objective", f"expected distinct metrics and one mode per metric, found {names} and {modes}")
        return []
    objectives = []
    for i, (name, mode) in enumerate(zip(names, modes, strict=True)):
        allowed = metrics if i == 0 else {**metrics, **TRIAL_METRICS}
        if name not in allowed:
            where = "objective.metric" + (f"[{i}]" if isinstance(section.metric, list) else "")
            hint = did_you_mean(str(name), allowed)
            problems.add(where, f"expected one of {list(allowed)} for task '{task}', found {name!r}{hint}")
            continue
        objectives.append(Objective(metric=name, mode=mode or allowed[name]))
    return objectives if len(objectives) == len(names) else []


@dataclass(frozen=True)
class Draft:
    """The file as far as it parses, for the checks the validation step brings: a section that
    did not validate is None."""

    sections: dict[str, Any]  # budget, resources, search, ensemble, confirm, tracking
    space: Space | None
    objectives: list[Objective]
    base: Path  # the space file's folder, which its paths are relative to


Check = Callable[[Draft, Problems], None]


def load_space(path: str | Path, checks: Sequence[Check] = ()) -> SpaceSpec:
    """Read and validate a space.yaml, with `checks` of what it names beyond the file; raise
    ConfigError listing every problem."""
    from stratsearch.train.model_dir import find_model_dir

    path = Path(path)
    raw = read_yaml(path)
    base = path.resolve().parent
    problems = Problems()
    problems.check_keys(raw, ["name", "model", "task", "data", "objective", "space", *SECTION_MODELS], "")
    for key in ("model", "task", "data"):
        if key not in raw:
            problems.add(key, "missing; this section is required")
    task_name = raw.get("task", "classification")
    if why := TASKS.name_problem(task_name):
        problems.add("task", why)
        task_name = "classification"
    task = TASKS[task_name]
    model = raw.get("model", "minilm-l6")
    model_dir = None
    if not isinstance(model, str):
        problems.add("model", f"expected 'minilm-l6' or a model directory path, found {model!r}")
    else:
        model_dir = find_model_dir(model, base)
        if model_dir is None:
            problems.add(
                "model",
                f"expected 'minilm-l6' or a local Hugging Face model directory, found '{model}'"
                f" (no config.json in {base / model})",
            )
    data = problems.validate(DataSpec, raw.get("data") or {}, "data")
    if data is not None:
        data = resolve_paths(data, base)
        check_data(data, task, problems)
        check_pair(data, task, problems)
    objectives = check_objective(raw.get("objective"), task, problems)
    sections = {k: problems.validate(m, raw.get(k) or {}, k) for k, m in SECTION_MODELS.items()}
    if sections["budget"] is not None:
        try:
            parse_time(sections["budget"].time)
        except ValueError as err:
            problems.add("budget.time", str(err))
    space = parse_space(raw.get("space") or {}, problems)
    baselines: list[TrialConfig] = []
    if space is not None:
        check_against_trainer(space, task, problems)
        check_against_model(space, model_dir, problems)
        if sections["budget"] is not None:
            check_epochs_fit_budget(space, sections["budget"].max_epochs, problems)
    for check in checks:
        check(Draft(sections, space, objectives, base), problems)
    check_drift_objectives(objectives, sections["search"], data, problems)
    search = sections["search"]
    longest = sections["budget"].max_epochs if sections["budget"] is not None else None
    for i, baseline in enumerate(search.baseline if search else []):
        baselines.append(parsed := parse_fixed(baseline, f"search.baseline[{i}]", task, model_dir, problems))
        if parsed is not None and longest is not None and parsed.scalars.epochs > longest:
            # ASHA would cut it at max_epochs and record the one reference as pruned
            problems.add(
                f"search.baseline[{i}].epochs",
                f"{parsed.scalars.epochs} exceeds budget.max_epochs {longest}: the pruner would stop the baseline"
                " early; lower the baseline's epochs or raise budget.max_epochs",
            )
    if search is not None:
        for i, config in enumerate(search.portfolio if isinstance(search.portfolio, list) else []):
            parse_fixed(config, f"search.portfolio[{i}]", task, model_dir, problems)
    if problems.items:
        raise ConfigError(str(path), problems.items)
    spec = SpaceSpec(
        file=str(path),
        name=str(raw.get("name") or path.stem),
        model=model,
        task=task,
        data=data,
        objective=objectives[0] if objectives else None,
        secondary=objectives[1:],
        space=space,
        baselines=baselines,
        base_dir=base,
        model_dir=model_dir,
        **sections,
    )
    check_runnable(spec, problems)
    if problems.items:
        raise ConfigError(str(path), problems.items)
    return spec


def check_runnable(spec: SpaceSpec, problems: Problems) -> None:
    """What needs the whole valid spec: the model directory, the data as the sweep will read them,
    the pruner against the longest trial."""
    from stratsearch.space.data_check import check_data_content
    from stratsearch.train.model_dir import model_problems

    model = model_problems(spec.model_dir, spec.data.max_length)
    if not model:  # a readable config of a known family: does its record serve this layout?
        from stratsearch.train.layout import layout_problems

        model = layout_problems(spec.model_dir)
    for key, message in model:
        problems.add(key, message)
    report = check_data_content(spec.data, spec.task, spec.model_dir, problems)
    spec.data_summary.extend(report.summary)
    spec.warnings.extend(Problem(key, message) for key, message in report.warnings)
    longest = spec.max_epochs()
    if spec.search.pruner != "none" and spec.search.grace_period > longest:
        problems.add(
            "search.grace_period",
            f"{spec.search.grace_period} epochs exceeds the longest trial ({longest} epochs): no trial could be"
            f" pruned; use at most {longest}, or pruner: none",
        )


def parse_fixed(raw: Any, where: str, task: Task, model_dir: Path | None, problems: Problems) -> TrialConfig:
    """A baseline or a portfolio member is a fixed config; keys it leaves out take the trainer's defaults."""
    local = Problems()
    trial = parse_trial(raw, task, local)
    if trial is not None and model_dir is not None:
        named = {"freeze_depth": Fixed(trial.scalars.freeze_depth)}
        check_against_model(named | ({"dropout": Fixed(raw["dropout"])} if "dropout" in raw else {}), model_dir, local)
    for p in local.items:
        problems.add(p.where.replace("space", where, 1), p.message)
    return trial
