"""Numeric tests of schedules, penalties, losses and parameter grouping against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stratsearch.tasks import TASKS
from stratsearch.train.config import trial_from_space
from stratsearch.train.model_dir import find_model_dir
from stratsearch.train.strategies import Chosen
from stratsearch.train.strategies.heads import HeadConfig, build_head, cls_pool, mean_pool
from stratsearch.train.strategies.losses import LOSSES, balanced_class_weights, task_loss
from stratsearch.train.strategies.optimizers import OPTIMIZERS
from stratsearch.train.strategies.penalties import PENALTIES
from stratsearch.train.strategies.registry import NoParams, StrategyRegistry
from stratsearch.train.strategies.schedules import SCHEDULES, lr_factor
from stratsearch.train.strategies.scope import gradual_unfreeze, param_groups


def chosen(registry: StrategyRegistry, name: str, **params) -> Chosen:
    return Chosen(name, registry[name].config.model_validate(params))


# --- schedules: factor at steps 0, 5, 10 of 10 (no warmup) -------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("constant", {}, [1.0, 1.0, 1.0]),
        ("linear", {}, [1.0, 0.5, 0.0]),
        ("linear", {"end_factor": 0.2}, [1.0, 0.6, 0.2]),
        ("cosine", {}, [1.0, 0.5, 0.0]),
        ("cosine", {"min_factor": 0.1}, [1.0, 0.55, 0.1]),
        ("exponential", {"end_factor": 0.01}, [1.0, 0.1, 0.01]),
        ("step", {"gamma": 0.5, "every": 0.25}, [1.0, 0.25, 0.0625]),
    ],
)
def test_schedule_values(name: str, params: dict, expected: list[float]) -> None:
    schedule = chosen(SCHEDULES, name, **params)
    got = [lr_factor(step, 10, 0, schedule) for step in (0, 5, 10)]
    assert got == pytest.approx(expected)


def test_warmup_rises_linearly_then_hands_over() -> None:
    schedule = chosen(SCHEDULES, "linear")
    # 4 warmup steps of 12: 0, .25, .5, .75, then linear decay over the remaining 8 steps.
    got = [lr_factor(s, 12, 4, schedule) for s in range(12)]
    assert got[:4] == pytest.approx([0.0, 0.25, 0.5, 0.75])
    assert got[4] == pytest.approx(1.0)
    assert got[8] == pytest.approx(0.5)


def test_cosine_quarter_point() -> None:
    factor = lr_factor(25, 100, 0, chosen(SCHEDULES, "cosine"))
    assert factor == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


# --- penalties ---------------------------------------------------------------------------------------


def test_penalties_match_hand_values() -> None:
    params = [torch.tensor([1.0, -2.0]), torch.tensor([[3.0]])]
    assert PENALTIES["none"].fn(params, NoParams()).item() == 0.0
    l2 = chosen(PENALTIES, "l2", **{"lambda": 0.1})
    assert PENALTIES["l2"].fn(params, l2.params).item() == pytest.approx(0.1 / 2 * (1 + 4 + 9))
    l1 = chosen(PENALTIES, "l1", **{"lambda": 0.1})
    assert PENALTIES["l1"].fn(params, l1.params).item() == pytest.approx(0.1 * (1 + 2 + 3))


# --- losses ------------------------------------------------------------------------------------------

LOGITS = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
LABELS = torch.tensor([0, 1, 0])


def log_softmax_rows() -> torch.Tensor:
    return torch.log_softmax(LOGITS, -1)


def test_cross_entropy_by_hand() -> None:
    lp = log_softmax_rows()
    expected = -(lp[0, 0] + lp[1, 1] + lp[2, 0]) / 3
    got = task_loss(LOGITS, LABELS, chosen(LOSSES, "cross_entropy"), None)
    assert got.item() == pytest.approx(expected.item())


def test_label_smoothing_by_hand() -> None:
    eps, lp = 0.2, log_softmax_rows()
    # target = (1 - ε)·one_hot + ε/C
    per_row = [-((1 - eps) * lp[i, y] + eps / 2 * lp[i].sum()) for i, y in enumerate(LABELS.tolist())]
    got = task_loss(LOGITS, LABELS, chosen(LOSSES, "label_smoothing", epsilon=eps), None)
    assert got.item() == pytest.approx(torch.stack(per_row).mean().item())


def test_focal_by_hand_and_reduces_to_ce_at_gamma_zero() -> None:
    lp = log_softmax_rows()
    pt = torch.stack([lp[i, y] for i, y in enumerate(LABELS.tolist())]).exp()
    expected = (-((1 - pt) ** 2) * pt.log()).mean()
    assert task_loss(LOGITS, LABELS, chosen(LOSSES, "focal", gamma=2.0), None).item() == pytest.approx(expected.item())
    alpha = torch.tensor([0.75, 0.25, 0.75])  # α on class 1, 1−α on class 0
    weighted = (alpha * -((1 - pt) ** 2) * pt.log()).mean()
    got = task_loss(LOGITS, LABELS, chosen(LOSSES, "focal", gamma=2.0, alpha=0.25), None)
    assert got.item() == pytest.approx(weighted.item())
    ce = task_loss(LOGITS, LABELS, chosen(LOSSES, "cross_entropy"), None)
    assert task_loss(LOGITS, LABELS, chosen(LOSSES, "focal", gamma=0.0), None).item() == pytest.approx(ce.item())


def test_class_weighted_by_hand() -> None:
    weights = balanced_class_weights(torch.tensor([2, 1]))  # N / (C·n_c) = 3/4, 3/2
    assert weights.tolist() == pytest.approx([0.75, 1.5])
    lp = log_softmax_rows()
    expected = -(0.75 * lp[0, 0] + 1.5 * lp[1, 1] + 0.75 * lp[2, 0]) / (0.75 + 1.5 + 0.75)
    got = task_loss(LOGITS, LABELS, chosen(LOSSES, "class_weighted"), weights)
    assert got.item() == pytest.approx(expected.item())


def test_regression_losses_by_hand() -> None:
    preds, targets = torch.tensor([0.0, 2.0, 5.0]), torch.tensor([1.0, 2.0, 2.0])
    assert task_loss(preds, targets, chosen(LOSSES, "mse"), None).item() == pytest.approx((1 + 0 + 9) / 3)
    # Huber, δ = 1: 0.5·1² for |e| = 1, 0 for 0, δ(|e| − δ/2) = 2.5 for |e| = 3
    assert task_loss(preds, targets, chosen(LOSSES, "huber", delta=1.0), None).item() == pytest.approx(3.0 / 3)


def test_token_loss_ignores_sub_token_positions() -> None:
    logits = LOGITS.reshape(1, 3, 2)
    with_ignored = task_loss(logits, torch.tensor([[0, -100, 0]]), chosen(LOSSES, "cross_entropy"), None)
    lp = log_softmax_rows()
    assert with_ignored.item() == pytest.approx(-(lp[0, 0] + lp[2, 0]).item() / 2)


# --- heads and pooling -------------------------------------------------------------------------------


def test_pooling() -> None:
    hidden = torch.tensor([[[1.0], [3.0], [100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert cls_pool(hidden, mask).item() == 1.0
    assert mean_pool(hidden, mask).item() == 2.0  # padding position is not averaged


def test_auto_pooling_takes_the_checkpoints_own(tiny_model_dir) -> None:
    auto = trial_from_space({}, TASKS["classification"])
    assert auto.head.pooling == "auto"
    # all-MiniLM-L6-v2 is a sentence-transformers model whose 1_Pooling/config.json says mean
    assert auto.for_model(find_model_dir("minilm-l6")).head.pooling == "mean"
    assert auto.for_model(tiny_model_dir).head.pooling == "cls"  # a plain encoder declares none
    chosen = trial_from_space({"head": {"pooling": "cls"}}, TASKS["classification"])
    assert chosen.for_model(find_model_dir("minilm-l6")).head.pooling == "cls"  # a choice is kept


def test_head_shapes_and_sizes() -> None:
    linear = build_head(16, 3, HeadConfig())
    mlp = build_head(16, 3, HeadConfig(hidden=8, activation="tanh"))
    assert sum(p.numel() for p in linear.parameters()) == 16 * 3 + 3
    assert sum(p.numel() for p in mlp.parameters()) == (16 * 8 + 8) + (8 * 3 + 3)
    assert mlp(torch.zeros(5, 16)).shape == (5, 3)


# --- parameter groups --------------------------------------------------------------------------------


def toy_blocks() -> tuple[list[nn.Module], nn.Module]:
    blocks = [nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)) for _ in range(3)]
    return blocks, nn.Linear(2, 1)


def test_layer_decay_scales_and_no_decay_split() -> None:
    blocks, head = toy_blocks()
    groups = param_groups(blocks, head, layer_decay=0.5)
    scales = {(round(g["lr_scale"], 6), g["decay"]): sum(p.numel() for p in g["params"]) for g in groups}
    # head ξ^0; top block ξ^1; … ; bottom (embeddings) ξ^3. Decay only on Linear weights.
    assert scales == {
        (1.0, True): 2,
        (1.0, False): 1,
        (0.5, True): 4,
        (0.5, False): 2 + 4,
        (0.25, True): 4,
        (0.25, False): 6,
        (0.125, True): 4,
        (0.125, False): 6,
    }


OPTIMIZER_CASES = [
    # name, params, torch class, (lr, weight decay) of a decayed head group, extra hyperparameters
    ("adamw", {"lr": 3e-4, "weight_decay": 0.05, "beta1": 0.8}, torch.optim.AdamW, {"betas": (0.8, 0.999)}),
    ("adam", {"lr": 2e-4, "weight_decay": 0.01}, torch.optim.Adam, {"eps": 1e-8}),
    ("sgd", {"lr": 0.1, "weight_decay": 0.001, "momentum": 0.5, "nesterov": True}, torch.optim.SGD, {"momentum": 0.5}),
    ("adafactor", {"lr": 1e-3, "weight_decay": 0.02}, torch.optim.Adafactor, {}),
]


@pytest.mark.parametrize(("name", "params", "cls", "extra"), OPTIMIZER_CASES, ids=[c[0] for c in OPTIMIZER_CASES])
def test_each_optimizer_builds_its_own_class_with_scaled_groups(name, params, cls, extra) -> None:
    """Each entry builds its own torch optimizer (not AdamW under another name); every group gets
    lr × its layer-decay scale, and weight decay only where `decay` is set (never biases or LayerNorm)."""
    assert set(OPTIMIZERS.names()) == {c[0] for c in OPTIMIZER_CASES}, "a new optimizer needs a case here"
    blocks, head = toy_blocks()
    groups = param_groups(blocks, head, layer_decay=0.5)
    optimizer = OPTIMIZERS[name].fn(groups, OPTIMIZERS[name].config(**params))
    assert type(optimizer) is cls
    assert len(optimizer.param_groups) == len(groups)
    for ours, theirs in zip(groups, optimizer.param_groups, strict=True):
        assert theirs["params"] == ours["params"]
        assert theirs["lr"] == pytest.approx(params["lr"] * ours["lr_scale"])
        assert theirs["weight_decay"] == (params["weight_decay"] if ours["decay"] else 0.0)
        for key, value in extra.items():
            assert theirs[key] == value


def test_gradual_unfreeze_one_block_per_epoch_from_top() -> None:
    blocks, _ = toy_blocks()
    tunable = {p for b in blocks[1:] for p in b.parameters()}  # bottom block frozen by freeze_depth
    trainable = []
    for epoch in range(5):
        gradual_unfreeze(blocks, tunable, epoch)
        trainable.append([any(p.requires_grad for p in b.parameters()) for b in blocks])
    assert trainable == [
        [False, False, False],
        [False, False, True],
        [False, True, True],
        [False, True, True],  # the frozen bottom block never unfreezes
        [False, True, True],
    ]


def test_registry_rejects_duplicate_names_and_refuses_unknown_ones() -> None:
    registry: StrategyRegistry = StrategyRegistry("demo")
    registry.register("a")(lambda: None)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("a")(lambda: None)
    with pytest.raises(KeyError, match="unknown demo 'b'; expected one of \\['a'\\]"):
        registry["b"]
