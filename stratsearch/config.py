"""One trial's fixed config, and the sections of a space.yaml, as validated dataclasses.

`TrialConfig` is what the trainer runs: the keys of a search space with one value each.
`Problems` collects every problem of a file (key path, expected vs found) so they are all
reported at once. The search-space layer on top of this is `space.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError, Problem, did_you_mean
from .strategies import CHOICE_KINDS, Chosen, HeadConfig
from .strategies.augmenters import unavailable
from .strategies.losses import REGRESSION_LOSSES

TASKS = ("classification", "regression", "token-classification")
METRICS = {
    "classification": {"accuracy": "max", "macro_f1": "max"},
    "regression": {"rmse": "min", "pearson": "max", "spearman": "max"},
    "token-classification": {"f1": "max", "precision": "max", "recall": "max", "accuracy": "max"},
}
# Per-trial measures a multi-objective sweep may trade off against a validation metric.
TRIAL_METRICS = {"trainable_parameters": "min", "train_seconds": "min"}
DEFAULT_LOSS = {"classification": "cross_entropy", "regression": "mse", "token-classification": "cross_entropy"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(Strict):
    train: Path
    validation: Path
    test: Path | None = None
    text: str = "text"
    label: str = "label"
    tokens: str = "tokens"
    tags: str = "tags"
    max_length: int = Field(128, ge=8, le=8192)
    max_train_rows: int | None = Field(None, ge=1, description="use only the first N training rows")


class Objective(Strict):
    metric: str | None = None
    mode: Literal["max", "min"] | None = None


class Scalars(Strict):
    """The space's plain-valued dimensions, with their defaults."""

    seed: int = 0
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(32, ge=1)
    freeze_depth: int = Field(0, ge=0)
    layer_decay: float = Field(1.0, gt=0.0, le=1.0)
    gradual_unfreezing: bool = False
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    attention_dropout: float = Field(0.1, ge=0.0, lt=1.0)
    grad_clip: float = Field(1.0, ge=0.0, description="max gradient norm; 0 turns clipping off")
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    n_aug: int = Field(1, ge=1, le=16, description="augmented copies per training example (with `augment`)")


@dataclass(frozen=True)
class TrialConfig:
    """One fully resolved fine-tuning strategy: what the trainer runs."""

    scalars: Scalars
    head: HeadConfig
    scope: Chosen
    optimizer: Chosen
    schedule: Chosen
    penalty: Chosen
    loss: Chosen
    augment: Chosen

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = self.scalars.model_dump()
        out["head"] = self.head.model_dump()
        for kind in CHOICE_KINDS:
            chosen: Chosen = getattr(self, kind)
            out[kind] = {chosen.name: chosen.params.model_dump(by_alias=True)}
        return out


def is_type_tag(part: object) -> bool:
    """pydantic's union branch labels in an error location ('str', "list[literal['max','min']]")."""
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool", "none"})


class Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(Problem(where, message))

    def check_keys(self, raw: dict, allowed: list[str], path: str) -> None:
        for key in raw:
            if key not in allowed:
                self.add(f"{path}{key}", f"unknown key{did_you_mean(str(key), allowed)}; expected one of {allowed}")

    def validate(self, model: type[BaseModel], raw: Any, path: str) -> Any:
        """Validate against a pydantic model, recording each error under its key path."""
        if not isinstance(raw, dict):
            self.add(path, f"expected a mapping, found {raw!r}")
            return None
        known = [f.alias or name for name, f in model.model_fields.items()]
        self.check_keys(raw, known, f"{path}." if path else "")
        try:
            return model.model_validate({k: v for k, v in raw.items() if k in known})
        except ValidationError as err:
            by_place: dict[str, list[str]] = {}
            for e in err.errors():
                # A union reports once per member, its loc tagged with the member's type: one place, one line.
                loc = [str(part) for part in e["loc"] if not is_type_tag(part)]
                where = ".".join([path, *loc]).strip(".")
                found = f", found {e['input']!r}" if e["type"] != "missing" else ""
                by_place.setdefault(where, []).append(f"{e['msg'].lower()}{found}")
            for where, messages in by_place.items():
                self.add(where, "; or ".join(dict.fromkeys(messages)))
            return None


def known_branch(kind: str, name: Any, problems: Problems) -> bool:
    """Is `name` an entry of the `kind` registry? If not, say so, with a did-you-mean."""
    registry = CHOICE_KINDS[kind]
    if name in registry:
        return True
    hint = did_you_mean(str(name), registry.names())
    problems.add(f"space.{kind}", f"unknown {kind} '{name}'{hint}; expected one of {registry.names()}")
    return False


def parse_choice(value: Any, kind: str, problems: Problems) -> Chosen | None:
    """`name` or `{name: {params}}` → the registry entry's validated parameters."""
    registry = CHOICE_KINDS[kind]
    path = f"space.{kind}"
    if isinstance(value, str):
        name, params = value, {}
    elif isinstance(value, dict) and len(value) == 1:
        name, params = next(iter(value.items()))
        params = {} if params is None else params
    else:
        problems.add(path, f"expected one {kind} name or {{name: {{parameters}}}} with one name, found {value!r}")
        return None
    if not known_branch(kind, name, problems):
        return None
    if not isinstance(params, dict):
        problems.add(f"{path}.{name}", f"expected a mapping of parameters, found {params!r}")
        return None
    validated = problems.validate(registry[name].config, params, f"{path}.{name}")
    return None if validated is None else Chosen(name, validated)


def parse_trial(space: Any, task: str, problems: Problems) -> TrialConfig | None:
    if not isinstance(space, dict):
        problems.add("space", f"expected a mapping of dimensions, found {space!r}")
        return None
    scalar_keys = list(Scalars.model_fields)
    problems.check_keys(space, [*scalar_keys, "head", *CHOICE_KINDS], "space.")
    defaults = {
        "scope": "full",
        "optimizer": "adamw",
        "schedule": "linear",
        "penalty": "none",
        "loss": DEFAULT_LOSS[task],
        "augment": "none",
    }
    chosen = {kind: parse_choice(space.get(kind, defaults[kind]), kind, problems) for kind in CHOICE_KINDS}
    loss = chosen["loss"]
    if loss is not None and (loss.name in REGRESSION_LOSSES) != (task == "regression"):
        problems.add("space.loss", f"loss '{loss.name}' does not fit task '{task}'")
    augment = chosen["augment"]
    if augment is not None and (why := unavailable(augment.name, augment.params, task)):
        problems.add(f"space.augment.{augment.name}", why)
    scalars = problems.validate(Scalars, {k: v for k, v in space.items() if k in scalar_keys}, "space")
    head = problems.validate(HeadConfig, space.get("head") or {}, "space.head")
    if scalars is None or head is None or None in chosen.values():
        return None
    return TrialConfig(scalars=scalars, head=head, **chosen)


def trial_from_space(space: dict, task: str, source: str = "space") -> TrialConfig:
    """A TrialConfig from fixed space values (e.g. a sampled trial); raises ConfigError on problems."""
    problems = Problems()
    trial = parse_trial(space, task, problems)
    if problems.items:
        raise ConfigError(source, problems.items)
    return trial
