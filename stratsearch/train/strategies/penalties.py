"""Explicit weight penalties added to the loss: `penalty(params, cfg) -> scalar Tensor`.

These are the article's L2 (λ/2·Σθ²) and L1 (λ·Σ|θ|) terms over the trainable parameters,
distinct from an optimizer's decoupled weight decay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from stratsearch.train.strategies.kinds import Kind, Step
from stratsearch.train.strategies.registry import Chosen, StrategyConfig, StrategyRegistry

if TYPE_CHECKING:
    import torch

PenaltyFn = Callable[[Sequence["torch.Tensor"], StrategyConfig], "torch.Tensor"]
PENALTIES: StrategyRegistry[PenaltyFn] = StrategyRegistry("penalty")


class LambdaConfig(StrategyConfig):
    lambda_: float = Field(1e-4, ge=0.0, alias="lambda")


@PENALTIES.register("none", default=True)
def no_penalty(params: Sequence[torch.Tensor], cfg: StrategyConfig) -> torch.Tensor:
    """No penalty term."""
    import torch

    return torch.zeros(())


@PENALTIES.register("l2", LambdaConfig, label="L2", shown=("lambda", "λ"))
def l2_penalty(params: Sequence[torch.Tensor], cfg: LambdaConfig) -> torch.Tensor:
    """Ridge: λ/2 · Σθ² over trainable parameters."""
    return 0.5 * cfg.lambda_ * sum(p.float().pow(2).sum() for p in params)


@PENALTIES.register("l1", LambdaConfig, label="L1", shown=("lambda", "λ"))
def l1_penalty(params: Sequence[torch.Tensor], cfg: LambdaConfig) -> torch.Tensor:
    """Lasso: λ · Σ|θ| over trainable parameters."""
    return cfg.lambda_ * sum(p.float().abs().sum() for p in params)


def term(step: Step, outputs: torch.Tensor, chosen: Chosen) -> torch.Tensor:
    return PENALTIES[chosen.name].fn(step.trainable, chosen.params).to(outputs.device)


KIND = Kind("penalty", PENALTIES, extra_loss=term)
