"""The search-space DSL's dimensions, and parsing them from YAML values.

A dimension is a fixed value, `{uniform: [lo, hi]}`, `{loguniform: [lo, hi]}`,
`{int: [lo, hi], step: 1, log: false}`, `{choice: [a, b, …]}`, or — for strategies picked from
a registry (scope, optimizer, schedule, penalty, loss) — a conditional choice
`{choice: {branch: {sub-space}, …}}` whose branches carry their own parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from stratsearch.errors import Problems, did_you_mean
from stratsearch.train.config import Scalars, known_branch
from stratsearch.train.strategies import KINDS

DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")


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
        key = next(iter(raw))
        if key not in KINDS[kind].registry and (hint := did_you_mean(str(key), DISTRIBUTIONS)):
            problems.add(f"{path}.{key}", f"unknown key{hint}; expected a {kind} name or {{choice: …}}")
            return None
        options = raw
    else:
        problems.add(path, f"expected one {kind} name, {{name: {{parameters}}}} or {{choice: …}}, found {raw!r}")
        return None
    branches: dict[str, dict[str, Dim]] = {}
    for name, params in options.items():
        if not known_branch(kind, name, problems):
            continue
        parsed = parse_params(params, f"{path}.{name}", problems)
        if parsed is not None:
            branches[name] = parsed
    return Branches(branches) if branches else None


def parameter_homes() -> dict[str, list[str]]:
    """Every parameter of a strategy branch or of the head → where it lives (`optimizer.adamw`, `head`)."""
    from stratsearch.train.strategies import HeadConfig

    homes: dict[str, list[str]] = {name: ["head"] for name in HeadConfig.model_fields}
    for kind in KINDS:
        for entry in kind.registry:
            for name, field in entry.config.model_fields.items():
                homes.setdefault(field.alias or name, []).append(f"{kind.name}.{entry.name}")
    return homes


def unknown_space_key(key: str, allowed: list[str]) -> str:
    """A key that is no top-level setting: where it does live, if anywhere, else a did-you-mean."""
    homes = parameter_homes().get(key)
    if homes:
        kinds = sorted({home.split(".")[0] for home in homes})
        where = " or ".join(f"{k}.<name>" if k != "head" else "head" for k in kinds)
        examples = ", ".join(f"{home}.{key}" for home in homes[:3])
        return f"not a top-level setting: it belongs under {where} (e.g. {examples})"
    return f"unknown key{did_you_mean(key, allowed)}; expected one of {allowed}"


def parse_space(raw: Any, problems: Problems) -> Space | None:
    if not isinstance(raw, dict):
        problems.add("space", f"expected a mapping of dimensions, found {raw!r}")
        return None
    allowed = [*Scalars.model_fields, "head", *KINDS.names()]
    for key in raw:
        if key not in allowed:
            problems.add(f"space.{key}", unknown_space_key(str(key), allowed))
    space: Space = {}
    for key, value in raw.items():
        if key not in allowed:
            continue
        if key in KINDS:
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
