"""R-Drop, the strategy kind added in one module (train/strategies/consistency.py): its loss term
against hand-computed values, its cost, how the report writes it, and real training with it."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from stratsearch.prepare import prepare
from stratsearch.report.describe import describe
from stratsearch.tasks import TASKS
from stratsearch.train.strategies import KINDS, Step
from stratsearch.train.strategies.consistency import RDropConfig, r_drop
from stratsearch.train.trainer import train


class Replay(torch.nn.Module):
    """Stands in for the model in the numeric tests: returns the second pass's outputs we chose
    (a real model's dropout masks cannot be set by hand)."""

    def __init__(self, outputs: torch.Tensor):
        super().__init__()
        self.outputs = outputs

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.outputs


def step_with(second: torch.Tensor, labels: torch.Tensor) -> Step:
    batch = {"input_ids": torch.zeros(1), "attention_mask": torch.zeros(1), "labels": labels}

    def task_loss(outputs: torch.Tensor) -> torch.Tensor:
        if labels.dtype.is_floating_point:
            return F.mse_loss(outputs, labels)
        return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), labels.reshape(-1), ignore_index=-100)

    return Step(Replay(second), batch, contextlib.nullcontext, [], task_loss)


def test_the_term_is_half_the_loss_gap_plus_alpha_times_the_symmetric_kl() -> None:
    first = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    second = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    labels = torch.tensor([0, 1])
    step = step_with(second, labels)
    term = r_drop(step, first, RDropConfig(alpha=2.0))
    p, q = first.softmax(-1).tolist(), second.softmax(-1).tolist()
    kl = sum(
        sum(p[i][c] * math.log(p[i][c] / q[i][c]) + q[i][c] * math.log(q[i][c] / p[i][c]) for c in range(2))
        for i in range(2)
    )
    gap = F.cross_entropy(second, labels) - F.cross_entropy(first, labels)
    assert term.item() == pytest.approx(0.5 * gap.item() + 2.0 * (kl / 2) / 2, rel=1e-5)
    # with the first pass's task loss, the total is the paper's ½(L₁ + L₂) + α·D
    total = F.cross_entropy(first, labels) + term
    assert total.item() == pytest.approx(
        0.5 * (F.cross_entropy(first, labels) + F.cross_entropy(second, labels)).item() + kl / 2, rel=1e-5
    )


def test_equal_passes_add_nothing_and_a_tagger_counts_only_labelled_positions() -> None:
    logits = torch.randn(2, 3, 4)
    labels = torch.tensor([[1, -100, 2], [0, 3, -100]])
    assert r_drop(step_with(logits, labels), logits, RDropConfig()).item() == pytest.approx(0.0, abs=1e-7)
    other = logits.clone()
    other[0, 1] += 5.0  # an unlabelled position only
    assert r_drop(step_with(other, labels), logits, RDropConfig()).item() == pytest.approx(0.0, abs=1e-7)
    other[0, 0] += 5.0
    assert r_drop(step_with(other, labels), logits, RDropConfig()).item() > 0


def test_regression_pulls_the_two_predictions_together() -> None:
    first, second = torch.tensor([1.0, 2.0]), torch.tensor([1.5, 2.0])
    targets = torch.tensor([1.0, 1.0])
    term = r_drop(step_with(second, targets), first, RDropConfig(alpha=4.0))
    gap = F.mse_loss(second, targets) - F.mse_loss(first, targets)
    assert term.item() == pytest.approx(0.5 * gap.item() + 4.0 * 0.25 / 2)


def test_the_report_writes_it_and_leaves_it_out_at_its_default() -> None:
    config = {"optimizer": {"adamw": {"lr": 3e-5}}, "schedule": {"linear": {}}, "freeze_depth": 0}
    assert "R-Drop" not in describe({**config, "consistency": {"none": {}}})
    assert "R-Drop α=0.5" in describe({**config, "consistency": {"r_drop": {"alpha": 0.5}}})
    assert KINDS["consistency"].registry.default_for(TASKS["regression"]) == "none"


@pytest.mark.parametrize("task", ["classification", "token-classification"])
def test_training_with_it_learns_and_costs_two_passes(make_config, task: str) -> None:
    plain = prepare(make_config(task, {"epochs": 3}))
    rdrop = prepare(make_config(task, {"epochs": 3, "consistency": {"r_drop": {"alpha": 1.0}}}))
    base = train(plain.model_path, plain.data, plain.trial, plain.spec.objective)
    with_it = train(rdrop.model_path, rdrop.data, rdrop.trial, rdrop.spec.objective)
    assert with_it.history[-1].train_loss < with_it.history[0].train_loss  # it trains
    assert with_it.train_flops == pytest.approx(2 * base.train_flops)  # the FLOP count asks every kind
    assert with_it.history[0].train_loss != base.history[0].train_loss  # the term is in the loss


def test_a_space_searches_it(make_config, tmp_path: Path) -> None:
    from stratsearch.space.load import load_space

    choice = {"none": {}, "r_drop": {"alpha": {"loguniform": [0.5, 4.0]}}}
    spec = load_space(make_config(space={"consistency": {"choice": choice}}))
    assert "consistency" in spec.space
