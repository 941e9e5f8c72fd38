"""A fixed configuration seen through a search space: the Optuna parameters that express it.

The portfolio, warm starts and the anchored sampler all start from configurations written without
this space in mind (the trainer's defaults, a strategy measured on other data, an earlier run's
best). `project` says what this space can make of one: every searched dimension set (to the
configuration's value, clipped or rounded into the space's range, or the default where the
configuration leaves it out), what had to be adapted, and why it was dropped when the space cannot
express a strategy the configuration names (an optimizer or loss the space does not offer).
Dimensions the space does not search take the space's value for every trial, so a configuration's
value there is replaced and said so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratsearch.space.dims import Branches, Choice, Fixed, FloatRange, IntRange, Space
from stratsearch.tasks import Task
from stratsearch.train.strategies import KINDS


@dataclass
class Projection:
    params: dict[str, Any] = field(default_factory=dict)  # Optuna parameter name → value
    changes: list[str] = field(default_factory=list)  # how the configuration was adapted, in words
    dropped: str | None = None  # why this space cannot express the configuration at all


def full_config(config: dict[str, Any], task: Task, model_dir: Path) -> dict[str, Any]:
    """Every value the trainer would use for `config` (defaults filled in, `auto` resolved)."""
    from stratsearch.train.config import trial_from_space

    return trial_from_space(config, task).for_model(model_dir).to_dict()


def default_anchor(space: Space, task: Task, model_dir: Path) -> dict[str, Any]:
    """The trainer's defaults as this space's parameters, for every branch the space offers (a
    branch's parameters at their defaults: SGD's learning rate where the default is AdamW)."""
    from stratsearch.errors import ConfigError

    anchor: dict[str, Any] = {}
    others = [{kind: name} for kind, dim in space.items() if isinstance(dim, Branches) for name in dim.options]
    for config in [{}, *others]:
        try:
            projection = project(config, full_config(config, task, model_dir), space)
        except ConfigError:  # a branch that does not fit the task: the space check reports it
            continue
        for name, value in projection.params.items():
            anchor.setdefault(name, value)
    return anchor


def branch_defaults(kind: str, name: str) -> dict[str, Any]:
    return KINDS[kind].registry[name].config().model_dump(by_alias=True)


def into_range(value: Any, dim: FloatRange | IntRange) -> Any:
    if isinstance(dim, IntRange):
        steps = round((float(value) - dim.lo) / dim.step)
        return int(min(max(dim.lo + steps * dim.step, dim.lo), dim.hi - (dim.hi - dim.lo) % dim.step))
    return float(min(max(float(value), dim.lo), dim.hi))


def nearest_option(value: Any, options: tuple) -> Any:
    """A number not among numeric options → the closest one; anything else → None."""
    numbers = all(isinstance(o, int | float) and not isinstance(o, bool) for o in options)
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        return min(options, key=lambda o: abs(o - value))
    return None


def said(raw: Any, key: str) -> Any:
    """What the configuration itself wrote for `key` (None: it left it to the default)."""
    return raw.get(key) if isinstance(raw, dict) else None


def said_branch(raw: Any) -> str | None:
    if isinstance(raw, str):
        return raw
    return next(iter(raw)) if isinstance(raw, dict) and raw else None


def project(config: dict[str, Any], full: dict[str, Any], space: Space) -> Projection:
    """`config` as written, `full` its `full_config`; the projection onto `space`."""
    out = Projection()
    walk(space, full, config, "", out)
    return out


def walk(space: Space, full: dict[str, Any], raw: Any, prefix: str, out: Projection) -> None:
    for key, dim in space.items():
        name, value, written = f"{prefix}{key}", full.get(key), said(raw, key)
        if isinstance(dim, dict):
            walk(dim, value or {}, written, f"{name}.", out)
        elif isinstance(dim, Branches):
            branches(key, name, dim, value or {}, written, out)
        elif isinstance(dim, Fixed):
            if written is not None and written != dim.value:
                out.changes.append(f"{name} {written!r} → {dim.value!r} (fixed by the space)")
        elif value is None:
            continue  # no value and no default known: the sampler draws it
        elif isinstance(dim, FloatRange | IntRange):
            fitted = into_range(value, dim)
            if written is not None and fitted != written:
                out.changes.append(f"{name} {written!r} → {fitted!r} (the space's range)")
            out.params[name] = fitted
        elif isinstance(dim, Choice):
            choice(name, dim, value, written, out)
        if out.dropped:
            return
    for key in sorted(set(raw) - set(space)) if isinstance(raw, dict) else []:
        named = said_branch(raw[key]) if not prefix and key in KINDS else None
        if named is not None and named in KINDS[key].registry and not KINDS[key].registry[named].default:
            # A strategy is what the rest of the configuration was measured with (LoRA's high rate).
            out.dropped = f"{key} '{named}': the space has no {key} dimension, so every trial uses the default"
            return
        out.changes.append(f"{prefix}{key} → the trainer's default (the space does not search it)")


def choice(name: str, dim: Choice, value: Any, written: Any, out: Projection) -> None:
    if value in dim.options:
        out.params[name] = value
        return
    nearest = nearest_option(value, dim.options)
    if nearest is None and written is not None:
        out.dropped = f"{name} {written!r} is not among the space's options {list(dim.options)}"
        return
    fitted = nearest if nearest is not None else dim.options[0]
    if written is not None:
        out.changes.append(f"{name} {written!r} → {fitted!r} (the space's options)")
    out.params[name] = fitted


def branches(kind: str, name: str, dim: Branches, value: dict, written: Any, out: Projection) -> None:
    chosen, params = next(iter(value.items()), (None, {}))
    options = list(dim.options)
    if chosen not in dim.options:
        if said_branch(written) is not None:
            out.dropped = f"{name} '{chosen}' is not among the space's options {options}"
            return
        chosen, params = options[0], branch_defaults(kind, options[0])
    if len(options) > 1:
        out.params[name] = chosen
    inner = written.get(chosen) if isinstance(written, dict) else None
    walk(dim.options[chosen], params, inner, f"{name}.{chosen}.", out)
