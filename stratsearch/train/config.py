"""One trial's fixed config and the data section, as validated dataclasses.

`TrialConfig` is what the trainer runs: the keys of a search space with one value each, every
strategy validated by its registry entry's config. The search-space layer on top of this is
`stratsearch.space`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stratsearch.errors import ConfigError, Problems, did_you_mean
from stratsearch.train.strategies import KINDS, Chosen, HeadConfig
from stratsearch.train.strategies.heads import AUTO, model_pooling

if TYPE_CHECKING:
    from stratsearch.tasks import Task


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    frozen_weights: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="how the weights that never train (frozen layers, the encoder under LoRA) are held while"
        " training: bf16 halves their memory; auto: bf16 where the trial computes in bf16 on a GPU",
    )
    gradient_checkpointing: bool = Field(
        False, description="recompute each layer's activations in the backward pass: far less memory, ~30 % more time"
    )
    n_aug: int = Field(1, ge=1, le=16, description="augmented copies per training example (with `augment`)")

    @model_validator(mode="after")
    def bf16_weights_need_bf16_compute(self) -> Scalars:
        if self.frozen_weights == "bf16" and self.precision == "fp32":
            raise ValueError("frozen_weights: bf16 weights need bf16 computation (precision: bf16, or auto on a GPU)")
        return self


@dataclass(frozen=True)
class TrialConfig:
    """One fully resolved fine-tuning strategy: what the trainer runs. `choices` holds one entry
    per strategy kind (`KINDS`), also read as an attribute: `trial.optimizer`."""

    scalars: Scalars
    head: HeadConfig
    choices: dict[str, Chosen]

    def __getattr__(self, kind: str) -> Chosen:
        try:
            return self.__dict__["choices"][kind]
        except KeyError:
            raise AttributeError(f"TrialConfig has no attribute or strategy kind '{kind}'") from None

    def for_model(self, model_path: Path) -> TrialConfig:
        """This trial with what `auto` means for that model filled in, so that records and saved
        models say what was trained (a saved model's own folder no longer knows the original's pooling)."""
        if self.head.pooling != AUTO:
            return self
        return dataclasses.replace(self, head=self.head.model_copy(update={"pooling": model_pooling(model_path)}))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = self.scalars.model_dump()
        out["head"] = self.head.model_dump()
        for kind, chosen in self.choices.items():
            out[kind] = {chosen.name: chosen.params.model_dump(by_alias=True)}
        return out


def known_branch(kind: str, name: Any, problems: Problems) -> bool:
    """Is `name` an entry of the `kind` registry? If not, say so, with a did-you-mean."""
    registry = KINDS[kind].registry
    if name in registry:
        return True
    hint = did_you_mean(str(name), registry.names())
    problems.add(f"space.{kind}", f"unknown {kind} '{name}'{hint}; expected one of {registry.names()}")
    return False


def parse_choice(value: Any, kind: str, problems: Problems) -> Chosen | None:
    """`name` or `{name: {params}}` → the registry entry's validated parameters."""
    registry = KINDS[kind].registry
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


def parse_trial(space: Any, task: Task, problems: Problems) -> TrialConfig | None:
    """A space of fixed values → the TrialConfig it names; kinds left out take their default for `task`."""
    if not isinstance(space, dict):
        problems.add("space", f"expected a mapping of dimensions, found {space!r}")
        return None
    scalar_keys = list(Scalars.model_fields)
    problems.check_keys(space, [*scalar_keys, "head", *KINDS.names()], "space.")
    chosen = {}
    for kind in KINDS:
        picked = parse_choice(space.get(kind.name, kind.registry.default_for(task)), kind.name, problems)
        if picked is not None and (why := kind.registry.problem(picked, task)):
            problems.add(f"space.{kind.name}.{picked.name}", why)
        chosen[kind.name] = picked
    scalars = problems.validate(Scalars, {k: v for k, v in space.items() if k in scalar_keys}, "space")
    head = problems.validate(HeadConfig, space.get("head") or {}, "space.head")
    if scalars is None or head is None or None in chosen.values():
        return None
    return TrialConfig(scalars=scalars, head=head, choices=chosen)


def trial_from_space(space: dict, task: Task, source: str = "space") -> TrialConfig:
    """A TrialConfig from fixed space values (e.g. a sampled trial); raises ConfigError on problems."""
    problems = Problems()
    trial = parse_trial(space, task, problems)
    if problems.items:
        raise ConfigError(source, problems.items)
    return trial
