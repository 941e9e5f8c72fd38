"""Explicit weight penalties added to the loss: `penalty(params, cfg) -> scalar Tensor`.

These are the article's L2 (λ/2·Σθ²) and L1 (λ·Σ|θ|) terms over the trainable parameters,
distinct from an optimizer's decoupled weight decay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from pydantic import Field

from .registry import Registry, StrategyConfig

PenaltyFn = Callable[[Sequence[torch.Tensor], StrategyConfig], torch.Tensor]
PENALTIES: Registry[PenaltyFn] = Registry("penalty")


class LambdaConfig(StrategyConfig):
    lambda_: float = Field(1e-4, ge=0.0, alias="lambda")


@PENALTIES.register("none")
def no_penalty(params: Sequence[torch.Tensor], cfg: StrategyConfig) -> torch.Tensor:
    """No penalty term."""
    return torch.zeros(())


@PENALTIES.register("l2", LambdaConfig)
def l2_penalty(params: Sequence[torch.Tensor], cfg: LambdaConfig) -> torch.Tensor:
    """Ridge: λ/2 · Σθ² over trainable parameters."""
    return 0.5 * cfg.lambda_ * sum(p.float().pow(2).sum() for p in params)


@PENALTIES.register("l1", LambdaConfig)
def l1_penalty(params: Sequence[torch.Tensor], cfg: LambdaConfig) -> torch.Tensor:
    """Lasso: λ · Σ|θ| over trainable parameters."""
    return cfg.lambda_ * sum(p.float().abs().sum() for p in params)
