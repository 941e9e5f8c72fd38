"""One registry per kind of strategy: a name maps to (validated config class, pure function).

Modelled on peft's `register_peft_method`: registration is explicit and a name can be
registered only once, so two strategies can never silently shadow each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

F = TypeVar("F", bound=Callable)


class StrategyConfig(BaseModel):
    """Parameters of one strategy. Unknown keys are errors, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(StrategyConfig):
    """A strategy that takes no parameters."""


@dataclass(frozen=True)
class Strategy(Generic[F]):
    name: str
    config: type[StrategyConfig]
    fn: F


class Registry(Generic[F]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Strategy[F]] = {}

    def register(self, name: str, config: type[StrategyConfig] = NoParams) -> Callable[[F], F]:
        def add(fn: F) -> F:
            if name in self._entries:
                raise ValueError(f"{self.kind} strategy '{name}' is registered twice")
            self._entries[name] = Strategy(name, config, fn)
            return fn

        return add

    def __getitem__(self, name: str) -> Strategy[F]:
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Strategy[F]]:
        return iter(self._entries.values())

    def names(self) -> list[str]:
        return list(self._entries)


@dataclass(frozen=True)
class Chosen:
    """A strategy picked for a run: its registry entry's name and its validated parameters."""

    name: str
    params: StrategyConfig
