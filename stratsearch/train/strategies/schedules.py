"""Learning-rate schedules: `factor(progress, cfg) -> float`, progress in [0, 1] after warmup.

The trainer multiplies each parameter group's base learning rate by `lr_factor(...)` before
every optimizer step, nanoGPT-style: no scheduler objects, one plain function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pydantic import Field

from stratsearch.train.strategies.kinds import Kind
from stratsearch.train.strategies.registry import Chosen, StrategyConfig, StrategyRegistry

ScheduleFn = Callable[[float, StrategyConfig], float]
SCHEDULES: StrategyRegistry[ScheduleFn] = StrategyRegistry("schedule")


class LinearConfig(StrategyConfig):
    end_factor: float = Field(0.0, ge=0.0, le=1.0)


class StepConfig(StrategyConfig):
    gamma: float = Field(0.5, gt=0.0, le=1.0)
    every: float = Field(0.25, gt=0.0, le=1.0, description="fraction of training between drops")


class ExponentialConfig(StrategyConfig):
    end_factor: float = Field(0.01, gt=0.0, le=1.0)


class CosineConfig(StrategyConfig):
    min_factor: float = Field(0.0, ge=0.0, le=1.0)


@SCHEDULES.register("constant")
def constant(progress: float, cfg: StrategyConfig) -> float:
    """The same learning rate throughout."""
    return 1.0


@SCHEDULES.register("linear", LinearConfig, default=True)
def linear(progress: float, cfg: LinearConfig) -> float:
    """Straight line from the base rate down to end_factor × base."""
    return 1.0 - (1.0 - cfg.end_factor) * progress


@SCHEDULES.register("step", StepConfig)
def step(progress: float, cfg: StepConfig) -> float:
    """Multiply by gamma after every `every` fraction of training."""
    # The small epsilon keeps a drop that lands exactly on a boundary from being lost to rounding.
    return cfg.gamma ** math.floor(progress / cfg.every + 1e-9)


@SCHEDULES.register("exponential", ExponentialConfig)
def exponential(progress: float, cfg: ExponentialConfig) -> float:
    """Smooth geometric decay reaching end_factor × base at the end."""
    return cfg.end_factor**progress


@SCHEDULES.register("cosine", CosineConfig)
def cosine(progress: float, cfg: CosineConfig) -> float:
    """Cosine annealing from the base rate to min_factor × base."""
    return cfg.min_factor + (1.0 - cfg.min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: Chosen) -> float:
    """Factor for optimizer step `step` (0-based): linear warmup, then the chosen schedule."""
    if step < warmup_steps:
        return step / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return SCHEDULES[schedule.name].fn(min(progress, 1.0), schedule.params)


def with_warmup(words: str, config: dict[str, Any]) -> str:
    warmup = config.get("warmup_ratio") or 0
    return words + (f" (warmup {warmup:.0%})" if warmup else "")


KIND = Kind("schedule", SCHEDULES, phrase=with_warmup, updates=True, always_named=True, in_progress=True)
