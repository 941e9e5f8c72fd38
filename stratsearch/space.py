"""The search-space DSL: `space.yaml` → a validated `SpaceSpec` of search dimensions.

A dimension is a fixed value, `{uniform: [lo, hi]}`, `{loguniform: [lo, hi]}`,
`{int: [lo, hi], step: 1, log: false}`, `{choice: [a, b, …]}`, or — for strategies picked from
a registry (scope, optimizer, schedule, penalty, loss) — a conditional choice
`{choice: {branch: {sub-space}, …}}` whose branches carry their own parameters.

Every value a dimension can take is checked against the trainer's own config classes before
anything runs (torchtune's "validate against the code" idea): the bounds and midpoint of a
range, each option of a choice, each branch's parameters. All problems of a file are
reported together. This module does not use torch.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from .config import (
    METRICS,
    TASKS,
    DataSpec,
    Objective,
    Problems,
    Scalars,
    Strict,
    TrialConfig,
    parse_trial,
    trial_from_space,
)
from .errors import ConfigError, Problem, did_you_mean
from .strategies import CHOICE_KINDS

DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
SAMPLERS = ("tpe", "random", "qmc", "grid")


# --- dimensions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixed:
    value: Any


@dataclass(frozen=True)
class FloatRange:
    lo: float
    hi: float
    log: bool = False


@dataclass(frozen=True)
class IntRange:
    lo: int
    hi: int
    step: int = 1
    log: bool = False


@dataclass(frozen=True)
class Choice:
    options: tuple


@dataclass(frozen=True)
class Branches:
    """A registry strategy: branch name → its parameters' dimensions. One branch = fixed choice."""

    options: dict[str, dict[str, Dim]]


Dim = Fixed | FloatRange | IntRange | Choice | Branches
# "head" maps to a mapping of dimensions; every other key to one dimension.
Space = dict[str, Any]


# --- the other sections --------------------------------------------------------------------------


class Budget(Strict):
    trials: int = Field(20, ge=1)
    max_epochs: int | None = Field(None, ge=1, description="ASHA's longest run; default: the largest epochs value")
    time: str | float | None = Field(None, description="wall-clock limit: seconds, or '90m', '8h', '1d'")


class Resources(Strict):
    cpus_per_trial: float = Field(2.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)


class Search(Strict):
    sampler: str = "tpe"
    pruner: str = "asha"
    seed: int = 0
    baseline: list[dict] = Field(default_factory=list, description="fixed configs evaluated first")


class Ensemble(Strict):
    top_k: int = Field(5, ge=1)
    method: str = "greedy"


SECTION_MODELS = {"budget": Budget, "resources": Resources, "search": Search, "ensemble": Ensemble}


@dataclass(frozen=True)
class SpaceSpec:
    """A validated space.yaml."""

    file: str
    name: str
    model: str
    task: str
    data: DataSpec
    objective: Objective
    budget: Budget
    resources: Resources
    search: Search
    ensemble: Ensemble
    space: Space
    baselines: list[TrialConfig] = field(default_factory=list)
    base_dir: Path = Path(".")

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


def flat_dims(space: Space, prefix: str = "") -> list[tuple[str, Dim]]:
    """(dotted name, dimension) for every dimension, branch parameters included."""
    out: list[tuple[str, Dim]] = []
    for key, dim in space.items():
        name = f"{prefix}{key}"
        if isinstance(dim, dict):
            out += flat_dims(dim, f"{name}.")
        elif isinstance(dim, Branches):
            out.append((name, dim))
            for branch, params in dim.options.items():
                out += flat_dims(params, f"{name}.{branch}.")
        else:
            out.append((name, dim))
    return out


def is_fixed(dim: Dim) -> bool:
    return isinstance(dim, Fixed) or (isinstance(dim, Branches) and len(dim.options) == 1)


def fixed_values(space: Space) -> dict[str, Any]:
    """The plain config of a space whose dimensions are all fixed."""
    out: dict[str, Any] = {}
    for key, dim in space.items():
        if isinstance(dim, dict):
            out[key] = fixed_values(dim)
        elif isinstance(dim, Branches):
            (branch, params), *_ = dim.options.items()
            out[key] = {branch: fixed_values(params)}
        else:
            out[key] = dim.value
    return out


# --- parsing -------------------------------------------------------------------------------------


def is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def parse_bounds(raw: Any, path: str, problems: Problems, integer: bool) -> tuple[Any, Any] | None:
    kind = "integers" if integer else "numbers"
    if not (isinstance(raw, list) and len(raw) == 2 and all(is_number(x) for x in raw)):
        problems.add(path, f"expected [lo, hi], two {kind}, found {raw!r}")
        return None
    lo, hi = raw
    if integer and not all(isinstance(x, int) for x in raw):
        problems.add(path, f"expected two integers, found {raw!r}")
        return None
    if not all(math.isfinite(x) for x in raw):
        problems.add(path, f"bounds must be finite, found {raw!r}")
        return None
    if lo == hi:
        problems.add(path, f"empty range [{lo}, {hi}]; write the value itself to fix it")
        return None
    if lo > hi:
        problems.add(path, f"inverted range [{lo}, {hi}]; expected lo < hi")
        return None
    return lo, hi


def parse_distribution(raw: dict, path: str, problems: Problems) -> Dim | None:
    """{uniform|loguniform|int|choice: …} → a dimension."""
    kind = next(k for k in raw if k in DISTRIBUTIONS)
    extra = [k for k in raw if k != kind and not (kind == "int" and k in ("step", "log"))]
    if extra:
        allowed = ["step", "log"] if kind == "int" else []
        for key in extra:
            problems.add(f"{path}.{key}", f"unknown key{did_you_mean(str(key), allowed)} beside '{kind}'")
        return None
    value = raw[kind]
    where = f"{path}.{kind}"
    if kind == "choice":
        if not isinstance(value, list) or not value:
            problems.add(where, f"expected a non-empty list of options, found {value!r}")
            return None
        if not all(x is None or isinstance(x, str | int | float | bool) for x in value):
            problems.add(where, f"options must be numbers, strings, booleans or null, found {value!r}")
            return None
        if len(set(map(repr, value))) != len(value):
            problems.add(where, f"options repeat: {value!r}")
            return None
        return Choice(tuple(value))
    bounds = parse_bounds(value, where, problems, integer=kind == "int")
    if bounds is None:
        return None
    lo, hi = bounds
    if kind == "loguniform" and lo <= 0:
        problems.add(where, f"loguniform needs lo > 0, found {lo}")
        return None
    if kind != "int":
        return FloatRange(float(lo), float(hi), log=kind == "loguniform")
    step, log = raw.get("step", 1), raw.get("log", False)
    if not isinstance(step, int) or isinstance(step, bool) or step < 1:
        problems.add(f"{path}.step", f"expected an integer ≥ 1, found {step!r}")
        return None
    if not isinstance(log, bool):
        problems.add(f"{path}.log", f"expected true or false, found {log!r}")
        return None
    if log and (step != 1 or lo < 1):
        problems.add(path, "int with log: true needs step 1 and lo ≥ 1")
        return None
    return IntRange(lo, hi, step, log)


def looks_like_distribution(raw: Any) -> bool:
    return isinstance(raw, dict) and any(k in DISTRIBUTIONS for k in raw)


def parse_dim(raw: Any, path: str, problems: Problems) -> Dim | None:
    if looks_like_distribution(raw):
        return parse_distribution(raw, path, problems)
    if isinstance(raw, dict):
        key = next(iter(raw), "")
        hint = did_you_mean(str(key), DISTRIBUTIONS)
        problems.add(path, f"expected a value or one of {list(DISTRIBUTIONS)}, found key '{key}'{hint}")
        return None
    return Fixed(raw)


def parse_params(raw: Any, path: str, problems: Problems) -> dict[str, Dim] | None:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add(path, f"expected a mapping of parameters, found {raw!r}")
        return None
    params = {str(k): parse_dim(v, f"{path}.{k}", problems) for k, v in raw.items()}
    # What did parse is kept, so later checks still report on it; the failures are already recorded.
    return {k: v for k, v in params.items() if v is not None}


def parse_branches(raw: Any, kind: str, problems: Problems) -> Branches | None:
    """`name`, `{name: {params}}`, `{choice: [names]}` or `{choice: {name: {params}, …}}`."""
    path = f"space.{kind}"
    registry = CHOICE_KINDS[kind]
    if isinstance(raw, str):
        options: dict[str, Any] = {raw: None}
    elif isinstance(raw, dict) and set(raw) == {"choice"}:
        choice = raw["choice"]
        if isinstance(choice, list) and choice and all(isinstance(c, str) for c in choice):
            options = dict.fromkeys(choice)
        elif isinstance(choice, dict) and choice:
            options = choice
        else:
            problems.add(
                f"{path}.choice", f"expected a list of {kind} names or a mapping of branches, found {choice!r}"
            )
            return None
    elif isinstance(raw, dict) and len(raw) == 1:
        options = raw
    else:
        problems.add(path, f"expected one {kind} name, {{name: {{parameters}}}} or {{choice: …}}, found {raw!r}")
        return None
    branches: dict[str, dict[str, Dim]] = {}
    for name, params in options.items():
        if name not in registry:
            hint = did_you_mean(str(name), registry.names())
            problems.add(f"{path}", f"unknown {kind} '{name}'{hint}; expected one of {registry.names()}")
            continue
        parsed = parse_params(params, f"{path}.{name}", problems)
        if parsed is not None:
            branches[name] = parsed
    return Branches(branches) if branches else None


def parse_space(raw: Any, problems: Problems) -> Space | None:
    if not isinstance(raw, dict):
        problems.add("space", f"expected a mapping of dimensions, found {raw!r}")
        return None
    allowed = [*Scalars.model_fields, "head", *CHOICE_KINDS]
    problems.check_keys(raw, allowed, "space.")
    space: Space = {}
    for key, value in raw.items():
        if key not in allowed:
            continue
        if key in CHOICE_KINDS:
            space[key] = parse_branches(value, key, problems)
        elif key == "head":
            if looks_like_distribution(value) or not isinstance(value, dict):
                problems.add("space.head", f"expected a mapping of head settings, found {value!r}")
                space[key] = None
            else:
                space[key] = parse_params(value, "space.head", problems)
        else:
            space[key] = parse_dim(value, f"space.{key}", problems)
    return {k: v for k, v in space.items() if v is not None}


# --- checking every value a dimension can take against the trainer's config classes --------------


def candidates(dim: Dim) -> list[tuple[str, Any]]:
    if isinstance(dim, Fixed):
        return [("value", dim.value)]
    if isinstance(dim, Choice):
        return [("option", v) for v in dim.options]
    if isinstance(dim, IntRange):
        return [("lower bound", dim.lo), ("upper bound", dim.hi)]
    # The midpoint catches a float range on an integer setting, whose bounds alone may look whole.
    mid = math.sqrt(dim.lo * dim.hi) if dim.log else (dim.lo + dim.hi) / 2
    return [("lower bound", dim.lo), ("upper bound", dim.hi), ("midpoint", mid)]


def one_key_configs(space: Space) -> list[tuple[str, dict]]:
    """(label, a config that sets one dimension to one of its values) for every candidate value."""
    out = []
    for key, dim in space.items():
        if isinstance(dim, dict):  # head
            for sub, sub_dim in dim.items():
                out += [(f"{label} {v!r}", {key: {sub: v}}) for label, v in candidates(sub_dim)]
        elif isinstance(dim, Branches):
            for branch, params in dim.options.items():
                out.append(("branch", {key: branch}))
                for p, p_dim in params.items():
                    out += [(f"{label} {v!r}", {key: {branch: {p: v}}}) for label, v in candidates(p_dim)]
        else:
            out += [(f"{label} {v!r}", {key: v}) for label, v in candidates(dim)]
    return out


def check_against_trainer(space: Space, task: str, problems: Problems) -> None:
    seen: set[str] = set()
    for label, config in one_key_configs(space):
        trial_problems = Problems()
        parse_trial(config, task, trial_problems)
        for p in trial_problems.items:
            message = p.message if label.startswith(("value", "branch")) else f"{label}: {p.message}"
            if f"{p.where}: {message}" not in seen:
                seen.add(f"{p.where}: {message}")
                problems.add(p.where, message)


def model_depth(model_dir: Path) -> int | None:
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    depth = config.get("num_hidden_layers", config.get("n_layers"))
    return depth if isinstance(depth, int) else None


def max_value(dim: Dim) -> Any:
    if isinstance(dim, Fixed):
        return dim.value
    if isinstance(dim, Choice):
        return max((v for v in dim.options if is_number(v)), default=None)
    return dim.hi if isinstance(dim, IntRange | FloatRange) else None


def check_freeze_depth(space: Space, model_dir: Path | None, problems: Problems) -> None:
    dim = space.get("freeze_depth")
    depth = model_depth(model_dir) if model_dir else None
    top = max_value(dim) if dim is not None else None
    if depth is not None and is_number(top) and top > depth:
        problems.add("space.freeze_depth", f"{top} exceeds the model's {depth} layers (at most {depth})")


def check_data(data: DataSpec, task: str, problems: Problems) -> None:
    """Files exist and their first row has the configured columns (the full check runs at load)."""
    columns = [data.tokens, data.tags] if task == "token-classification" else [data.text, data.label]
    for split in ("train", "validation", "test"):
        path = getattr(data, split)
        if path is None:
            continue
        if not Path(path).is_file():
            problems.add(f"data.{split}", f"file not found: {path}")
            continue
        header = first_row_columns(Path(path))
        if header is None:
            continue
        for column in columns:
            if column not in header:
                key = {data.text: "text", data.label: "label", data.tokens: "tokens", data.tags: "tags"}[column]
                problems.add(f"data.{key}", f"column '{column}' not in {path} (it has {sorted(header)})")


def first_row_columns(path: Path) -> list[str] | None:
    """Column names of a data file, cheaply; None when they cannot be read (the loader will say why)."""
    try:
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            with path.open("rb") as f:
                for line in f:
                    if line.strip():
                        row = json.loads(line)
                        return list(row) if isinstance(row, dict) else None
            return None
        if suffix == ".csv":
            import csv

            with path.open(newline="", encoding="utf-8") as f:
                return next(csv.reader(f), None)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return None


def check_search(search: Search, space: Space, problems: Problems) -> None:
    from .sampling import grid_size

    if search.sampler not in SAMPLERS:
        problems.add(
            "search.sampler",
            f"expected one of {list(SAMPLERS)}, found '{search.sampler}'{did_you_mean(search.sampler, SAMPLERS)}",
        )
    elif search.sampler == "grid" and grid_size(space) is None:
        problems.add("search.sampler", "grid needs every dimension finite: use int or choice, not uniform/loguniform")
    if search.pruner not in ("asha", "none"):
        problems.add("search.pruner", f"expected 'asha' or 'none', found '{search.pruner}'")


def parse_time(value: str | float | None) -> float | None:
    """'90m' → 5400.0; a bare number is seconds."""
    if value is None or is_number(value):
        return None if value is None else float(value)
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = value.strip().lower()
    if text and text[-1] in units:
        try:
            return float(text[:-1]) * units[text[-1]]
        except ValueError:
            pass
    raise ValueError(f"expected seconds or a duration like '90m', '8h', found {value!r}")


# --- loading -------------------------------------------------------------------------------------


class SpaceLoader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-5` (no dot) as a string; a space full of learning rates needs it as a float."""


SpaceLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?\d[\d_]*(?:\.[\d_]*)?[eE][-+]?\d+$"), list("-+0123456789")
)


def read_yaml(path: Path) -> dict:
    file = str(path)
    if not path.is_file():
        raise ConfigError(file, [Problem("file", "not found")])
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SpaceLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(file, [Problem("yaml", str(err).replace("\n", " "))]) from None
    if not isinstance(raw, dict):
        raise ConfigError(file, [Problem("top level", f"expected a mapping of sections, found {raw!r}")])
    return raw


def resolve_paths(data: DataSpec, base: Path) -> DataSpec:
    updates = {k: base / p for k in ("train", "validation", "test") if (p := getattr(data, k)) and not p.is_absolute()}
    return data.model_copy(update=updates)


def check_objective(raw: Any, task: str, problems: Problems) -> Objective | None:
    objective = problems.validate(Objective, raw or {}, "objective")
    if objective is None:
        return None
    metrics = METRICS[task]
    metric = objective.metric or next(iter(metrics))
    if metric not in metrics:
        problems.add("objective.metric", f"expected one of {list(metrics)} for task '{task}', found {metric!r}")
        return None
    return Objective(metric=metric, mode=objective.mode or metrics[metric])


def load_space(path: str | Path) -> SpaceSpec:
    """Read and validate a space.yaml; raise ConfigError listing every problem of the file."""
    from .model import find_model_dir

    path = Path(path)
    raw = read_yaml(path)
    base = path.resolve().parent
    problems = Problems()
    problems.check_keys(raw, ["name", "model", "task", "data", "objective", "space", *SECTION_MODELS], "")
    for key in ("model", "task", "data"):
        if key not in raw:
            problems.add(key, "missing; this section is required")
    task = raw.get("task", "classification")
    if task not in TASKS:
        problems.add("task", f"expected one of {list(TASKS)}, found {task!r}{did_you_mean(str(task), TASKS)}")
        task = "classification"
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
    objective = check_objective(raw.get("objective"), task, problems)
    sections = {k: problems.validate(m, raw.get(k) or {}, k) for k, m in SECTION_MODELS.items()}
    if sections["budget"] is not None:
        try:
            parse_time(sections["budget"].time)
        except ValueError as err:
            problems.add("budget.time", str(err))
    if sections["ensemble"] is not None and sections["ensemble"].method not in ("greedy", "mean"):
        problems.add("ensemble.method", f"expected 'greedy' or 'mean', found '{sections['ensemble'].method}'")
    space = parse_space(raw.get("space") or {}, problems)
    baselines: list[TrialConfig] = []
    if space is not None:
        check_against_trainer(space, task, problems)
        check_freeze_depth(space, model_dir, problems)
        if sections["search"] is not None:
            check_search(sections["search"], space, problems)
    for i, baseline in enumerate(sections["search"].baseline if sections["search"] else []):
        baselines.append(parse_baseline(baseline, i, task, model_dir, problems))
    if problems.items:
        raise ConfigError(str(path), problems.items)
    return SpaceSpec(
        file=str(path),
        name=str(raw.get("name") or path.stem),
        model=model,
        task=task,
        data=data,
        objective=objective,
        space=space,
        baselines=baselines,
        base_dir=base,
        **sections,
    )


def parse_baseline(raw: Any, index: int, task: str, model_dir: Path | None, problems: Problems) -> TrialConfig:
    """A baseline is a fixed config; keys it leaves out take the trainer's defaults."""
    where = f"search.baseline[{index}]"
    local = Problems()
    trial = parse_trial(raw, task, local)
    if trial is not None and model_dir is not None:
        check_freeze_depth({"freeze_depth": Fixed(trial.scalars.freeze_depth)}, model_dir, local)
    for p in local.items:
        problems.add(p.where.replace("space", where, 1), p.message)
    return trial
