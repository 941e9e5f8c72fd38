"""Compile a space to Optuna's define-by-run API, count its grid, and describe it for people.

Parameter names are the dotted key paths users write: `freeze_depth`, `optimizer` (the branch),
`optimizer.adamw.lr`, `head.hidden`. A branch's parameters are suggested only when that branch
is drawn, so conditional parameters never appear outside their branch.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from stratsearch.space.dims import Branches, Choice, Dim, Fixed, FloatRange, IntRange, Space


class SuggestsParams(Protocol):
    """The part of `optuna.Trial` this module uses (kept structural: no Optuna import here)."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...
    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...
    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


def sample_dim(trial: SuggestsParams, name: str, dim: Dim) -> Any:
    if isinstance(dim, Fixed):
        return dim.value
    if isinstance(dim, FloatRange):
        return trial.suggest_float(name, dim.lo, dim.hi, log=dim.log)
    if isinstance(dim, IntRange):
        return trial.suggest_int(name, dim.lo, dim.hi, step=dim.step, log=dim.log)
    if isinstance(dim, Choice):
        return trial.suggest_categorical(name, list(dim.options))
    names = list(dim.options)
    branch = names[0] if len(names) == 1 else trial.suggest_categorical(name, names)
    return {branch: sample(trial, dim.options[branch], f"{name}.{branch}.")}


def sample(trial: SuggestsParams, space: Space, prefix: str = "") -> dict[str, Any]:
    """One trial's fixed config (the form `trial_from_space` takes)."""
    return {
        key: sample(trial, dim, f"{prefix}{key}.")
        if isinstance(dim, dict)
        else sample_dim(trial, f"{prefix}{key}", dim)
        for key, dim in space.items()
    }


def dim_size(dim: Dim) -> int | None:
    if isinstance(dim, Fixed):
        return 1
    if isinstance(dim, Choice):
        return len(dim.options)
    if isinstance(dim, IntRange):
        return len(range(dim.lo, dim.hi + 1, dim.step))
    if isinstance(dim, Branches):
        sizes = [grid_size(params) for params in dim.options.values()]
        return None if None in sizes else sum(sizes)
    return None


def grid_size(space: Space) -> int | None:
    """Number of distinct configs, or None when a dimension is continuous."""
    sizes = [grid_size(d) if isinstance(d, dict) else dim_size(d) for d in space.values()]
    return None if None in sizes else math.prod(sizes)


def describe_dim(dim: Dim) -> str:
    if isinstance(dim, Fixed):
        return f"fixed     {dim.value!r}"
    if isinstance(dim, FloatRange):
        return f"{'loguniform' if dim.log else 'uniform':9s} [{dim.lo:g}, {dim.hi:g}]"
    if isinstance(dim, IntRange):
        extra = (f" step {dim.step}" if dim.step != 1 else "") + (" log" if dim.log else "")
        return f"int       [{dim.lo}, {dim.hi}]{extra}"
    if isinstance(dim, Choice):
        return f"choice    {list(dim.options)}"
    names = list(dim.options)
    return f"fixed     {names[0]}" if len(names) == 1 else f"choice    {names}"


def describe(space: Space, indent: str = "  ") -> list[str]:
    """Indented lines: each dimension with its kind and range; branch parameters under their branch."""
    lines = []
    for key, dim in space.items():
        if isinstance(dim, dict):
            lines.append(f"{indent}{key}:")
            lines += describe(dim, indent + "  ")
            continue
        lines.append(f"{indent}{key + ':':22s} {describe_dim(dim)}")
        if isinstance(dim, Branches):
            for branch, params in dim.options.items():
                if params:
                    lines.append(f"{indent}  when {key} = {branch}:")
                    lines += describe(params, indent + "    ")
    return lines


def grid_values(space: Space, prefix: str = "") -> dict[str, list]:
    """Optuna GridSampler's search space: every searched parameter with all its values."""
    grid: dict[str, list] = {}
    for key, dim in space.items():
        name = f"{prefix}{key}"
        if isinstance(dim, dict):
            grid.update(grid_values(dim, f"{name}."))
        elif isinstance(dim, Choice):
            grid[name] = list(dim.options)
        elif isinstance(dim, IntRange):
            grid[name] = list(range(dim.lo, dim.hi + 1, dim.step))
        elif isinstance(dim, Branches):
            if len(dim.options) > 1:
                grid[name] = list(dim.options)
            for branch, params in dim.options.items():
                grid.update(grid_values(params, f"{name}.{branch}."))
    return grid


def parameter_names(space: Space, prefix: str = "", inside: bool = False) -> list[tuple[str, bool]]:
    """(Optuna name, whether it exists only in some branches) for every searched parameter."""
    out: list[tuple[str, bool]] = []
    for key, dim in space.items():
        name = f"{prefix}{key}"
        if isinstance(dim, dict):
            out += parameter_names(dim, f"{name}.", inside)
        elif isinstance(dim, Branches):
            several = len(dim.options) > 1  # a single branch names no parameter of its own
            if several:
                out.append((name, inside))
            for branch, params in dim.options.items():
                out += parameter_names(params, f"{name}.{branch}.", inside or several)
        elif not isinstance(dim, Fixed):
            out.append((name, inside))
    return out
