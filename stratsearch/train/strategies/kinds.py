"""Kinds of strategy as lifecycle objects: one space key, one registry of its entries, and the
points of a trial's life where the chosen entry acts.

In the spirit of peft's `BaseTuner` (a method is the hooks it fills in) and Optuna's samplers:
a kind declares only the hooks it needs; the trainer calls every kind's hook at its point in one
visible order, the FLOP count multiplies their passes, the report's describer and the progress
table ask each kind how it is written, and `TrialConfig` holds one choice per kind. A new kind is
one module (its registry, its entries, its `KIND`) and one line in `strategies/__init__.py`.

The three kinds every trial has exactly one of (optimizer, schedule, loss) the trainer calls by
name, through their registries, where they run: nothing to loop over there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stratsearch.registry import Registry
from stratsearch.train.data import encoder_inputs
from stratsearch.train.strategies.registry import Chosen, StrategyRegistry

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class Step:
    """One training batch, as the trainer and the extra loss terms see it."""

    model: Any  # the TaskModel (train/model.py), in train mode
    batch: dict[str, torch.Tensor]  # input_ids, attention_mask, labels: on the device
    autocast: Callable[[], contextlib.AbstractContextManager]  # the trial's precision
    trainable: list[nn.Parameter]  # the parameters that train this epoch
    task_loss: Callable[[torch.Tensor], torch.Tensor]  # the trial's loss of any outputs against the labels

    def forward(self) -> torch.Tensor:
        """One pass of the model over the batch (dropout draws new masks each time), in float32."""
        with self.autocast():
            return self.model(**encoder_inputs(self.batch)).float()


Wrap = Callable[["nn.Module", Chosen], "nn.Module"]
ExtraLoss = Callable[[Step, "torch.Tensor", Chosen], "torch.Tensor | None"]  # (step, its outputs, chosen)
Phrase = Callable[[str, dict[str, Any]], str]  # (the entry's words, the trial's config) → the report's phrase


def number(x: float) -> str:
    """Learning rates and penalties as people write them: 3e-5, 1.2e-4, 0.1."""
    if x == 0 or abs(x) >= 1e-2:
        return f"{x:g}"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


@dataclass(frozen=True)
class Kind:
    """A kind of strategy: `name` is its space key; `registry` holds its entries. Hooks:

    - `wrap(backbone, chosen) -> backbone`: build or wrap the encoder before the bottom layers are
      frozen (scope: BitFit, LoRA);
    - `extra_loss(step, outputs, chosen) -> Tensor | None`: a term added to the task loss, with
      the model, the batch and the first pass's outputs at hand (penalty; R-Drop's second pass);
    - `passes(chosen) -> int`: forward and backward passes a training batch costs (FLOP count);
    - `adapter(backbone) -> {name: tensor}`: the weights the kind added, when they are all a saved
      model needs beside the pretrained encoder (LoRA's adapters): saved alone, not the encoder;
    - `merge(backbone) -> backbone`: the encoder without what the kind wrapped it in (LoRA's
      adapters merged in), as a loaded model runs it;
    - `phrase(words, config) -> str`: how the report writes it beyond the entry's own words;
    - `updates`: it says how the weights move (optimizer, schedule, scope): the report names these
      first, before the freeze depth and the head, the others after them;
    - `always_named`: the report names it even at its default;
    - `in_progress`: the live table's short label names it.
    """

    name: str
    registry: StrategyRegistry
    wrap: Wrap | None = None
    extra_loss: ExtraLoss | None = None
    passes: Callable[[Chosen], int] | None = None
    adapter: Callable[[nn.Module], dict[str, torch.Tensor]] | None = None
    merge: Callable[[nn.Module], nn.Module] | None = None
    phrase: Phrase | None = None
    updates: bool = False
    always_named: bool = False
    in_progress: bool = False

    def branch(self, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The entry a recorded trial config chose, and its parameters ("" when it says none)."""
        value = config.get(self.name) or {}
        if isinstance(value, str):
            return value, {}
        name = next(iter(value), "")
        return name, value.get(name) or {}

    def words(self, config: dict[str, Any]) -> str:
        """The chosen entry as the report writes it ("focal γ=2", "LoRA r=8"); "" for the kind's
        default unless it is always named."""
        name, params = self.branch(config)
        if name not in self.registry:
            return name
        entry = self.registry[name]
        if entry.default and not self.always_named:
            return ""
        words = entry.label
        if entry.shown and entry.shown[0] in params:
            key, symbol = entry.shown
            words += f" {symbol}={number(params[key])}" if symbol else f" {number(params[key])}"
        return self.phrase(words, config) if self.phrase else words


class KindRegistry(Registry[Kind]):
    def chosen(self, trial: Any) -> list[tuple[Kind, Chosen]]:
        """Each kind with what a TrialConfig chose of it, in registration order."""
        return [(kind, trial.choices[kind.name]) for kind in self]
