"""Consistency between dropout passes: `term(step, outputs, cfg) -> Tensor | None`, added to the
task loss (`outputs`: the batch's first pass).

R-Drop (Liang et al., NeurIPS 2021): every training batch passes the model a second time, with
other dropout masks, and the two outputs are pulled together. The loss becomes the mean of the
two passes' task losses plus α times the symmetric KL divergence between the two predicted
distributions (regression: the squared difference of the two predictions; multi-label: each
class's two Bernoullis); only positions with
a label count for a tagger. It regularises what dropout does to the outputs rather than the
weights; a batch costs two passes. The frozen-prefix cache serves both: frozen layers are held
in eval mode, so their states are the same for either pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import Field

from stratsearch.rows import IGNORE_INDEX
from stratsearch.train.strategies.kinds import Kind, Step
from stratsearch.train.strategies.registry import Chosen, StrategyConfig, StrategyRegistry

if TYPE_CHECKING:
    import torch

TermFn = Callable[[Step, "torch.Tensor", StrategyConfig], "torch.Tensor | None"]
CONSISTENCY: StrategyRegistry[TermFn] = StrategyRegistry("consistency")


class RDropConfig(StrategyConfig):
    alpha: float = Field(1.0, gt=0.0, description="weight of the divergence between the two passes")


@CONSISTENCY.register("none", default=True)
def no_consistency(step: Step, first: torch.Tensor, cfg: StrategyConfig) -> torch.Tensor | None:
    """One pass per batch."""
    return None


@CONSISTENCY.register("r_drop", RDropConfig, label="R-Drop", shown=("alpha", "α"))
def r_drop(step: Step, first: torch.Tensor, cfg: RDropConfig) -> torch.Tensor:
    """Second pass; ½(task loss of pass 2 − task loss of pass 1) + α · divergence, so that with
    the task loss of pass 1 the total is the paper's ½(L₁ + L₂) + α · D."""
    import torch.nn.functional as F

    second = step.forward()
    labels = step.batch["labels"]
    if labels.dtype.is_floating_point and first.dim() == 1:  # regression: one value per example
        divergence = F.mse_loss(first, second)
    elif labels.dtype.is_floating_point:  # multi-label: each class a Bernoulli of its own
        # KL(P‖Q) + KL(Q‖P) of two Bernoullis = (p − q)(logit p − logit q); summed over classes, halved
        divergence = ((first.sigmoid() - second.sigmoid()) * (first - second)).sum(-1).mean() / 2
    else:
        keep = (labels != IGNORE_INDEX).reshape(-1)
        p, q = (F.log_softmax(x.reshape(-1, x.shape[-1])[keep], dim=-1) for x in (first, second))
        # KL(P‖Q) + KL(Q‖P) = Σ (P − Q)(log P − log Q) per position, averaged; halved as in the paper
        divergence = ((p.exp() - q.exp()) * (p - q)).sum(-1).mean() / 2
    return 0.5 * (step.task_loss(second) - step.task_loss(first)) + cfg.alpha * divergence


def passes(chosen: Chosen) -> int:
    return 1 if CONSISTENCY[chosen.name].fn is no_consistency else 2


def term(step: Step, outputs: torch.Tensor, chosen: Chosen) -> torch.Tensor | None:
    return CONSISTENCY[chosen.name].fn(step, outputs, chosen.params)


KIND = Kind("consistency", CONSISTENCY, extra_loss=term, passes=passes)
