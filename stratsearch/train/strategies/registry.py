"""The strategy registries: a name maps to everything known about that strategy.

Modelled on peft's `register_peft_method`: an entry carries its validated config class, its
pure function, the tasks it fits, whether it is a task's default, why it cannot run on this
machine (with the install hint), a check against the data and model, and how the report names
it. Registration is explicit and a name can be registered only once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from stratsearch.registry import Registry
from stratsearch.tasks import Capability, Task

F = TypeVar("F", bound=Callable)


class StrategyConfig(BaseModel):
    """Parameters of one strategy. Unknown keys are errors, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(StrategyConfig):
    """A strategy that takes no parameters."""


@dataclass(frozen=True)
class Facts:
    """What is known of the data and the model when a trial starts, for the strategies' checks."""

    num_classes: int | None  # None for regression
    layers: int


Availability = Callable[[StrategyConfig], str | None]  # why it cannot run here, or None
Check = Callable[[StrategyConfig, Facts], tuple[str, str] | None]  # (parameter, problem), or None


@dataclass(frozen=True)
class Strategy(Generic[F]):
    name: str
    config: type[StrategyConfig]
    fn: F
    label: str  # how the report writes it: "AdamW", "label smoothing"
    fits_task: Capability | None = None  # what it needs of a task; None: it fits every task
    unfit: str = ""  # why it fits only those tasks, for the error message
    default: bool = False  # the branch taken when a space leaves this kind out (per task it fits)
    available: Availability | None = None
    check: Check | None = None
    shown: tuple[str, str] | None = None  # (parameter, symbol) the report writes beside the label

    def fits(self, task: Task) -> bool:
        return self.fits_task is None or self.fits_task(task)


class StrategyRegistry(Registry[Strategy[F]]):
    def register(
        self,
        name: str,
        config: type[StrategyConfig] = NoParams,
        *,
        label: str | None = None,
        fits: Capability | None = None,
        unfit: str = "",
        default: bool = False,
        available: Availability | None = None,
        check: Check | None = None,
        shown: tuple[str, str] | None = None,
    ) -> Callable[[F], F]:
        def add(fn: F) -> F:
            label_ = label or name.replace("_", " ")
            self.add(Strategy(name, config, fn, label_, fits, unfit, default, available, check, shown))
            return fn

        return add

    def default_for(self, task: Task) -> str:
        """The branch a space that leaves this kind out gets, for `task`."""
        return next(entry.name for entry in self if entry.default and entry.fits(task))

    def fitting(self, task: Task) -> list[str]:
        """The names of the entries that fit `task`."""
        return [entry.name for entry in self if entry.fits(task)]

    def problem(self, chosen: Chosen, task: Task) -> str | None:
        """Why the chosen strategy cannot run for `task` on this machine, or None."""
        entry = self[chosen.name]
        if not entry.fits(task):
            why = entry.unfit or f"does not fit task '{task}'"
            return f"{self.kind} '{entry.name}' {why}; for {task} use one of {self.fitting(task)}"
        return entry.available(chosen.params) if entry.available else None


@dataclass(frozen=True)
class Chosen:
    """A strategy picked for a run: its registry entry's name and its validated parameters."""

    name: str
    params: StrategyConfig
