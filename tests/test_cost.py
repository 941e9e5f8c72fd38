"""What a trial costs: the FLOP estimate against a hand count on the tiny BERT, and what the
trainer records (FLOPs, examples, peak memory) for full and partial fine-tuning."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratsearch.tasks import TASKS
from stratsearch.train.cost import batch_flops, model_costs
from stratsearch.train.model import TaskModel, blocks, load_backbone
from stratsearch.train.strategies.heads import HeadConfig
from stratsearch.train.strategies.scope import freeze_bottom
from tests.test_trainer import fit

# The tiny BERT of conftest.py: hidden 16, 3 layers, feed-forward 32. Per layer, the matrices
# Q, K, V, O (4 × 16 × 16) and the feed-forward (16 × 32 + 32 × 16): 2,048 weights. The linear
# head: 16 × 2 = 32. A batch of 4 examples padded to 8 tokens: 32 tokens.
LAYER, HEAD, TOKENS, EXAMPLES, LENGTH, WIDTH = 2048, 32, 32, 4, 8, 16
FORWARD = 2 * LAYER * TOKENS + 4 * LENGTH * WIDTH * TOKENS  # one layer: matrices, then attention
HEAD_FORWARD = 2 * HEAD * EXAMPLES


def tiny_model(model_dir: Path, freeze: int = 0) -> TaskModel:
    backbone = load_backbone(model_dir, 0.0, 0.0)
    freeze_bottom(blocks(backbone), freeze)
    return TaskModel(backbone, TASKS["classification"], 2, HeadConfig(pooling="cls"))


def flops(model: TaskModel, skip_forward: int = 0) -> float:
    costs = model_costs(blocks(model.backbone), model.head, WIDTH)
    return batch_flops(costs, EXAMPLES, LENGTH, skip_forward=skip_forward)


def test_full_fine_tuning_costs_three_forwards(tiny_model_dir: Path) -> None:
    backward = FORWARD + 2 * LAYER * TOKENS  # activation gradients, then weight gradients
    head = HEAD_FORWARD + HEAD_FORWARD + 2 * HEAD * EXAMPLES
    assert flops(tiny_model(tiny_model_dir)) == 3 * (FORWARD + backward) + head


def test_frozen_bottom_layers_run_no_backward_and_the_cache_spares_their_forward(tiny_model_dir: Path) -> None:
    model = tiny_model(tiny_model_dir, freeze=2)  # the embeddings and layers 0, 1 frozen
    head = HEAD_FORWARD + HEAD_FORWARD + 2 * HEAD * EXAMPLES
    top = FORWARD + FORWARD + 2 * LAYER * TOKENS
    assert flops(model) == 2 * FORWARD + top + head
    assert flops(model, skip_forward=3) == top + head  # the cache serves the embeddings and 2 layers


def test_bitfit_passes_gradients_through_every_layer_but_trains_no_matrix(tiny_model_dir: Path) -> None:
    model = tiny_model(tiny_model_dir)
    for p in model.backbone.parameters():
        p.requires_grad_(p.dim() < 2)  # biases and norms only
    head = HEAD_FORWARD + HEAD_FORWARD + 2 * HEAD * EXAMPLES
    assert flops(model) == 3 * (2 * FORWARD) + head


def test_the_trainer_records_cost_and_freezing_cuts_it(make_config) -> None:
    path = make_config(space={"epochs": 2}, n_train=48)
    _, full = fit(path)
    _, frozen = fit(path, {"freeze_depth": 3})
    assert full.examples_seen == frozen.examples_seen == 2 * 48
    assert 0 < frozen.train_flops < full.train_flops / 2
    assert full.peak_memory_mb > 0
    assert [r.train_flops for r in full.history] == pytest.approx([full.train_flops / 2, full.train_flops], rel=0.2)
