"""Losses: `loss(logits, labels, cfg, class_weights) -> scalar Tensor`.

Classification losses take logits (N, C) and integer labels (N,); token classification is
flattened to that shape by `task_loss`, with sub-token and padding positions (-100) dropped.
Regression losses take predictions (N,) and float targets (N,); multi-label losses logits (N, C)
and multi-hot float targets (N, C).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import Field

from stratsearch.rows import IGNORE_INDEX
from stratsearch.tasks import class_outputs, class_set_outputs, value_outputs
from stratsearch.train.strategies.kinds import Kind
from stratsearch.train.strategies.registry import Chosen, Facts, StrategyConfig, StrategyRegistry

if TYPE_CHECKING:
    import torch

LossFn = Callable[["torch.Tensor", "torch.Tensor", StrategyConfig, "torch.Tensor | None"], "torch.Tensor"]
LOSSES: StrategyRegistry[LossFn] = StrategyRegistry("loss")


class LabelSmoothingConfig(StrategyConfig):
    epsilon: float = Field(0.1, ge=0.0, lt=1.0)


class FocalConfig(StrategyConfig):
    gamma: float = Field(2.0, ge=0.0)
    alpha: float | None = Field(None, gt=0.0, lt=1.0, description="weight of class 1; two classes only")


class AsymmetricConfig(StrategyConfig):
    gamma_neg: float = Field(4.0, ge=0.0, description="focusing on the absent classes: easy negatives count less")
    gamma_pos: float = Field(0.0, ge=0.0, description="focusing on the present classes")
    clip: float = Field(0.05, ge=0.0, lt=1.0, description="probability shift that drops very easy negatives")


class HuberConfig(StrategyConfig):
    delta: float = Field(1.0, gt=0.0)


def two_classes_for_alpha(cfg: FocalConfig, facts: Facts) -> tuple[str, str] | None:
    if cfg.alpha is not None and facts.num_classes != 2:
        return "alpha", f"needs exactly two classes, the data has {facts.num_classes}"
    return None


@LOSSES.register("cross_entropy", fits=class_outputs, default=True)
def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, cfg: StrategyConfig, class_weights=None) -> torch.Tensor:
    """Plain cross-entropy."""
    import torch.nn.functional as F

    return F.cross_entropy(logits, labels)


@LOSSES.register("label_smoothing", LabelSmoothingConfig, fits=class_outputs, shown=("epsilon", "ε"))
def label_smoothing(
    logits: torch.Tensor, labels: torch.Tensor, cfg: LabelSmoothingConfig, class_weights=None
) -> torch.Tensor:
    """Cross-entropy against targets smoothed by ε towards uniform."""
    import torch.nn.functional as F

    return F.cross_entropy(logits, labels, label_smoothing=cfg.epsilon)


@LOSSES.register("focal", FocalConfig, fits=class_outputs, check=two_classes_for_alpha, shown=("gamma", "γ"))
def focal(logits: torch.Tensor, labels: torch.Tensor, cfg: FocalConfig, class_weights=None) -> torch.Tensor:
    """Focal loss −α_t(1−p_t)^γ·log p_t: down-weights examples the model already gets right."""
    import torch
    import torch.nn.functional as F

    log_p = F.log_softmax(logits.float(), dim=-1).gather(1, labels[:, None]).squeeze(1)
    loss = -((1.0 - log_p.exp()) ** cfg.gamma) * log_p
    if cfg.alpha is not None:
        loss = loss * torch.where(labels == 1, cfg.alpha, 1.0 - cfg.alpha)
    return loss.mean()


@LOSSES.register("class_weighted", fits=class_outputs)
def class_weighted(logits: torch.Tensor, labels: torch.Tensor, cfg: StrategyConfig, class_weights=None) -> torch.Tensor:
    """Cross-entropy with class weights N / (C · n_c) from the training labels."""
    import torch.nn.functional as F

    return F.cross_entropy(logits, labels, weight=class_weights)


@LOSSES.register("bce", fits=class_set_outputs, default=True, label="binary cross-entropy")
def bce(logits: torch.Tensor, targets: torch.Tensor, cfg: StrategyConfig, class_weights=None) -> torch.Tensor:
    """Binary cross-entropy per class (multi-label): each class a yes/no of its own."""
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(logits.float(), targets)


@LOSSES.register("asymmetric", AsymmetricConfig, fits=class_set_outputs, label="asymmetric loss")
def asymmetric(logits: torch.Tensor, targets: torch.Tensor, cfg: AsymmetricConfig, class_weights=None) -> torch.Tensor:
    """Asymmetric loss (Ridnik et al., ICCV 2021): focal terms of their own for present and absent
    classes, and absent ones whose probability is under `clip` dropped, so that the many easy
    negatives of multi-label data do not drown the few positives."""
    import torch

    p = logits.float().sigmoid()
    shifted = (p - cfg.clip).clamp(min=0.0) if cfg.clip > 0 else p
    eps = 1e-8
    present = targets * (1.0 - p) ** cfg.gamma_pos * torch.log(p.clamp(min=eps))
    absent = (1.0 - targets) * shifted**cfg.gamma_neg * torch.log((1.0 - shifted).clamp(min=eps))
    return -(present + absent).sum(-1).mean()


@LOSSES.register("mse", fits=value_outputs, default=True)
def mse(preds: torch.Tensor, targets: torch.Tensor, cfg: StrategyConfig, class_weights=None) -> torch.Tensor:
    """Mean squared error (regression)."""
    import torch.nn.functional as F

    return F.mse_loss(preds.float(), targets)


@LOSSES.register("huber", HuberConfig, fits=value_outputs, shown=("delta", "δ"))
def huber(preds: torch.Tensor, targets: torch.Tensor, cfg: HuberConfig, class_weights=None) -> torch.Tensor:
    """Huber loss: squared near the target, linear beyond δ (regression)."""
    import torch.nn.functional as F

    return F.huber_loss(preds.float(), targets, delta=cfg.delta)


def balanced_class_weights(counts: torch.Tensor) -> torch.Tensor:
    """sklearn's 'balanced' weights N / (C · n_c); a class absent from training gets weight 0."""
    import torch

    counts = counts.float()
    weights = counts.sum() / (len(counts) * counts)
    return torch.where(counts > 0, weights, torch.zeros_like(weights))


def task_loss(
    logits: torch.Tensor, labels: torch.Tensor, loss: Chosen, class_weights: torch.Tensor | None
) -> torch.Tensor:
    """Apply the chosen loss; class logits per token are flattened, ignored positions dropped."""
    if labels.dtype.is_floating_point:  # regression values, or multi-label sets: one row per example
        return LOSSES[loss.name].fn(logits, labels, loss.params, class_weights)
    logits = logits.reshape(-1, logits.shape[-1])
    labels = labels.reshape(-1)
    keep = labels != IGNORE_INDEX
    return LOSSES[loss.name].fn(logits[keep], labels[keep], loss.params, class_weights)


KIND = Kind("loss", LOSSES, in_progress=True)
