"""Optimizers: `build(groups, cfg) -> torch.optim.Optimizer`.

`groups` come from `scope.param_groups`: each carries `lr_scale` (layer-wise decay) and
`decay` (False for biases and LayerNorm, which weight decay must not shrink).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from stratsearch.train.strategies.kinds import Kind
from stratsearch.train.strategies.registry import StrategyConfig, StrategyRegistry

if TYPE_CHECKING:
    import torch

OptimizerFn = Callable[[list[dict], StrategyConfig], "torch.optim.Optimizer"]
OPTIMIZERS: StrategyRegistry[OptimizerFn] = StrategyRegistry("optimizer")
LR = ("lr", "")  # the report writes an optimizer with its learning rate: "AdamW 3e-5"


class AdamWConfig(StrategyConfig):
    lr: float = Field(5e-5, gt=0.0)
    weight_decay: float = Field(0.01, ge=0.0)
    beta1: float = Field(0.9, ge=0.0, lt=1.0)
    beta2: float = Field(0.999, ge=0.0, lt=1.0)
    eps: float = Field(1e-8, gt=0.0)


class AdamConfig(AdamWConfig):
    weight_decay: float = Field(0.0, ge=0.0, description="coupled L2, added to the gradient")


class SGDConfig(StrategyConfig):
    lr: float = Field(1e-2, gt=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0.0)

    @model_validator(mode="after")
    def nesterov_needs_momentum(self) -> SGDConfig:
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        return self


class AdafactorConfig(StrategyConfig):
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)


def torch_groups(groups: list[dict], lr: float, weight_decay: float) -> list[dict]:
    """Turn scope groups into torch param groups with their own lr and weight decay."""
    return [
        {"params": g["params"], "lr": lr * g["lr_scale"], "weight_decay": weight_decay if g["decay"] else 0.0}
        for g in groups
    ]


@OPTIMIZERS.register("adamw", AdamWConfig, label="AdamW", default=True, shown=LR)
def adamw(groups: list[dict], cfg: AdamWConfig) -> torch.optim.Optimizer:
    """Adam with decoupled weight decay (Loshchilov & Hutter)."""
    import torch

    return torch.optim.AdamW(torch_groups(groups, cfg.lr, cfg.weight_decay), betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)


@OPTIMIZERS.register("adam", AdamConfig, label="Adam", shown=LR)
def adam(groups: list[dict], cfg: AdamConfig) -> torch.optim.Optimizer:
    """Adam; weight decay here is classic L2 folded into the gradient."""
    import torch

    return torch.optim.Adam(torch_groups(groups, cfg.lr, cfg.weight_decay), betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)


@OPTIMIZERS.register("sgd", SGDConfig, label="SGD", shown=LR)
def sgd(groups: list[dict], cfg: SGDConfig) -> torch.optim.Optimizer:
    """SGD with (optionally Nesterov) momentum."""
    import torch

    return torch.optim.SGD(torch_groups(groups, cfg.lr, cfg.weight_decay), momentum=cfg.momentum, nesterov=cfg.nesterov)


@OPTIMIZERS.register("adafactor", AdafactorConfig, label="Adafactor", shown=LR)
def adafactor(groups: list[dict], cfg: AdafactorConfig) -> torch.optim.Optimizer:
    """Adafactor: factored second moments, little optimizer memory."""
    import torch

    return torch.optim.Adafactor(torch_groups(groups, cfg.lr, cfg.weight_decay))


KIND = Kind("optimizer", OPTIMIZERS, updates=True, always_named=True, in_progress=True)
