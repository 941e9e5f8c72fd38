"""The common trainer: one readable loop that every trial of every sweep runs through.

It composes the strategies in one visible order: append the augmented training copies (cached
on disk), load the encoder with the chosen dropout, let each strategy kind wrap it (the
parameter scope), freeze the bottom layers, attach the head, group parameters for layer-wise LR
decay, build the optimizer; then, per step: schedule the LR, forward, task loss + each kind's
extra term (the penalty, R-Drop's second pass), backward, clip, step. The kinds are
`strategies.KINDS`: the trainer calls their hooks; it names only the optimizer, the schedule and
the loss (every trial has one of each) and augmentation (the training set it rewrites comes
before any model). It evaluates every epoch, hands the metrics to `report`, and keeps the best
epoch's weights and predictions. It imports neither Ray nor Optuna.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stratsearch.errors import StratsearchError, TrainingDiverged
from stratsearch.objective import Objective
from stratsearch.rows import Split
from stratsearch.train.config import Scalars, TrialConfig
from stratsearch.train.cost import batch_flops, model_costs, peak_memory_mb
from stratsearch.train.data import (
    Dataset,
    Encoding,
    collate,
    encoder_inputs,
    length_bucketed_batches,
    sorted_batches,
)
from stratsearch.train.model import TaskModel, blocks, encoder_layers, load_backbone
from stratsearch.train.prefix_cache import prefix_feed
from stratsearch.train.strategies import KINDS, Step
from stratsearch.train.strategies.losses import balanced_class_weights, task_loss
from stratsearch.train.strategies.optimizers import OPTIMIZERS
from stratsearch.train.strategies.registry import Facts
from stratsearch.train.strategies.schedules import lr_factor
from stratsearch.train.strategies.scope import freeze_bottom, gradual_unfreeze, param_groups, ungrouped


@dataclass
class EpochMetrics:
    epoch: int  # 1-based
    train_loss: float
    validation: dict[str, float]
    seconds: float
    is_best: bool = False
    predictions: Any = None  # validation predictions, set on epochs that are the best so far
    trainable_parameters: int = 0
    train_seconds: float = 0.0  # training loop time so far, all epochs
    loss_trend: float = 1.0  # the task loss's recent trend (`loss_trend`; < 1: falling)
    steps: int = 0  # optimizer steps so far
    settling: bool = False  # the first epoch, or still warming up: too early to call a flat loss a dud
    train_flops: float = 0.0  # estimated training FLOPs so far (cost.py)
    examples_seen: int = 0  # training examples processed so far, all epochs


@dataclass
class TrainResult:
    model: TaskModel
    best_epoch: int
    history: list[EpochMetrics]
    validation_predictions: Any  # probabilities (N, C), values (N,), or per-word probabilities
    test_predictions: Any | None
    test_metrics: dict[str, float] | None
    trainable_parameters: int
    timings: dict[str, float] = field(default_factory=dict)
    peak_memory_mb: float = 0.0  # cost.py: peak_memory_mb
    frozen_depth: int = 0  # the bottom layers (and the embeddings) that kept their pretrained weights

    @property
    def train_flops(self) -> float:
        return self.history[-1].train_flops

    @property
    def examples_seen(self) -> int:
        return self.history[-1].examples_seen

    @property
    def best(self) -> EpochMetrics:
        return self.history[self.best_epoch - 1]


TREND_STEPS = 24  # the fewest step losses a trend is read over: fewer are too noisy


def loss_trend(step_losses: list[float], epoch_steps: int) -> float:
    """The task loss's trend over the last part of training, beyond its noise: over the last half of
    this epoch's steps (at least TREND_STEPS, reaching back into earlier epochs), the mean of that
    window's second half, plus two standard errors of the difference between the halves, over the
    mean of its first half. Below 1: the loss fell by more than mini-batch noise explains; about 1
    or above: flat. Not read from step 0: a model that collapses onto the majority class learns the
    label counts in its first steps, and a trend from there would call it falling."""
    window = step_losses[-max(TREND_STEPS, epoch_steps // 2) :]
    half = len(window) // 2
    if half < 2:
        return 1.0
    first, last = window[:half], window[half:]
    mean_first, mean_last = sum(first) / len(first), sum(last) / len(last)
    noise = math.sqrt(statistics.variance(first) / len(first) + statistics.variance(last) / len(last))
    return (mean_last + 2 * noise) / mean_first if mean_first > 0 else 1.0


def pick_device(requested: str | None = None) -> torch.device:
    """The requested device, or CUDA when there is one, else the CPU."""
    if requested is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested not in ("cpu", "cuda") and not requested.startswith("cuda:"):
        raise StratsearchError(f"--device: expected cpu, cuda or cuda:N, found '{requested}'")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise StratsearchError(f"--device {requested}: no CUDA device is available on this machine")
    return torch.device(requested)


def computes_in_bf16(device: torch.device, precision: str) -> bool:
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


def autocast_for(device: torch.device, precision: str) -> Callable[[], contextlib.AbstractContextManager]:
    if not computes_in_bf16(device, precision):
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def frozen_in_bf16(s: Scalars, device: torch.device) -> bool:
    """Whether the weights that never train are held in bf16 while the trial trains. Only under
    bf16 autocast, which computes their layers in bf16 anyway: the optimizer never sees them, so
    nothing is lost but their float32 copies (half of a LoRA trial's memory on a 1B decoder)."""
    if s.frozen_weights == "fp32" or not computes_in_bf16(device, s.precision):
        if s.frozen_weights == "bf16":
            raise StratsearchError(
                "space.frozen_weights: bf16 weights need bf16 computation: set precision: bf16 (or auto, on a GPU)"
            )
        return False
    return s.frozen_weights == "bf16" or (device.type == "cuda" and torch.cuda.is_bf16_supported())


def hold_frozen(backbone: nn.Module, tunable: set[nn.Parameter], dtype: torch.dtype) -> None:
    """Every encoder weight outside `tunable` in `dtype` (in place), but the norms': they stay float32,
    as QLoRA keeps them (tiny, and a norm computes in float32 under autocast)."""
    for module in backbone.modules():
        if "norm" in type(module).__name__.lower():
            continue
        for param in module.parameters(recurse=False):
            if param not in tunable and param.is_floating_point():
                param.data = param.data.to(dtype)


def build_model(model_path: Path, data: Dataset, trial: TrialConfig) -> TaskModel:
    """Encoder with the trial's dropout and scope, bottom layers frozen, task head on top."""
    s = trial.scalars
    torch.manual_seed(s.seed)  # head and adapter initialisation are part of "same seed, same numbers"
    backbone = load_backbone(model_path, s.dropout, s.attention_dropout)
    if s.gradient_checkpointing:
        if not backbone.supports_gradient_checkpointing:
            raise StratsearchError(f"space.gradient_checkpointing: {type(backbone).__name__} does not support it")
        # Non-reentrant: the right gradients when the layers' inputs need none (frozen embeddings, LoRA).
        # transformers 5.x renamed it; the old name warns of its removal in 6.
        enable = getattr(backbone, "activation_checkpointing_enable", None) or backbone.gradient_checkpointing_enable
        enable({"use_reentrant": False})
    depth = len(encoder_layers(backbone))
    if s.freeze_depth > depth:
        raise StratsearchError(f"space.freeze_depth: {s.freeze_depth} exceeds the model's {depth} layers")
    facts = Facts(num_classes=data.num_outputs if data.task.has_classes else None, layers=depth)
    for kind, chosen in KINDS.chosen(trial):
        check = kind.registry[chosen.name].check
        if check and (problem := check(chosen.params, facts)):
            raise StratsearchError(f"space.{kind.name}.{chosen.name}.{problem[0]}: {problem[1]}")
    for kind, chosen in KINDS.chosen(trial):
        if kind.wrap:
            backbone = kind.wrap(backbone, chosen)
    freeze_bottom(blocks(backbone), s.freeze_depth)
    return TaskModel(backbone, data.task, data.num_outputs, trial.for_model(model_path).head)


@torch.no_grad()
def predict(
    model: TaskModel,
    split: Split,
    data: Encoding,
    batch_size: int,
    device: torch.device,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    feed: Callable[[np.ndarray, int], None] | None = None,
) -> Any:
    """Predictions for a split in its original order (see TrainResult.validation_predictions).
    `feed` hands each batch's example indices and width to the prefix cache before the forward pass."""
    model.eval()
    out: list[Any] = [None] * len(split)
    for idx in sorted_batches(split.lengths, batch_size):
        batch = {k: v.to(device) for k, v in collate(split, idx, data.pad_id).items()}
        if feed:
            feed(idx, batch["input_ids"].shape[1])
        with autocast():
            logits = model(**encoder_inputs(batch)).float()
        values = data.task.outputs(logits, batch["labels"], split, idx, data.label_names)
        for row, i in enumerate(idx):
            out[i] = values[row]
    return data.task.stack(out)


def train(
    model_path: Path,
    data: Dataset,
    trial: TrialConfig,
    objective: Objective,
    report: Callable[[EpochMetrics], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    device: torch.device | None = None,
) -> TrainResult:
    s = trial.scalars
    device = device or pick_device()
    autocast = autocast_for(device, s.precision)
    started = time.perf_counter()
    if trial.augment.name != "none":
        from transformers import AutoTokenizer

        from stratsearch.train.augmented import with_augmented_train

        data = with_augmented_train(data, trial, AutoTokenizer.from_pretrained(model_path))

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = build_model(model_path, data, trial).to(device)
    parts = blocks(model.backbone)
    # Named before any layer is swapped out for the prefix cache, which renames the layers above.
    tunable_named = {n: p for n, p in model.named_parameters() if p.requires_grad}
    tunable = set(tunable_named.values())
    tunable_count = sum(p.numel() for p in tunable)
    groups = param_groups(parts, model.head, s.layer_decay)
    if missed := ungrouped(model, groups):  # a family record that misses a module: they would never train
        raise StratsearchError(
            f"{len(missed)} trainable parameters are in no optimizer group or in two ({', '.join(missed[:4])}"
            f"{', …' if len(missed) > 4 else ''}): the record of family '{model.backbone.config.model_type}'"
            " (stratsearch/train/families.py) does not place their modules"
        )
    optimizer = OPTIMIZERS[trial.optimizer.name].fn(groups, trial.optimizer.params)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    counts = data.class_counts()
    class_weights = None if counts is None else balanced_class_weights(counts).to(device)
    extra_terms = [(kind.extra_loss, chosen) for kind, chosen in KINDS.chosen(trial) if kind.extra_loss]
    passes = math.prod(kind.passes(chosen) for kind, chosen in KINDS.chosen(trial) if kind.passes)

    steps_per_epoch = math.ceil(len(data.train) / s.batch_size)
    total_steps = steps_per_epoch * s.epochs
    warmup_steps = round(s.warmup_ratio * total_steps)
    rng = np.random.default_rng(s.seed)
    history: list[EpochMetrics] = []
    step_losses: list[float] = []  # every step's task loss, for the trend the dud rule reads
    best_value: float | None = None
    best_state: dict[str, torch.Tensor] = {}
    step = examples_seen = 0
    flops = 0.0
    timings = {"setup": time.perf_counter() - started, "train": 0.0, "evaluate": 0.0}

    # Frozen bottom layers held in eval mode compute the same states every epoch: train from a cache
    # of them (prefix_cache.py). Gradual unfreezing thaws only what the scope left tunable, above them.
    splits = {"train": data.train, "validation": data.validation}
    cache_start = time.perf_counter()
    with prefix_feed(model.backbone, splits, data.pad_id, s.freeze_depth, model_path) as feed:
        timings["prefix_cache"] = time.perf_counter() - cache_start
        if bf16_frozen := frozen_in_bf16(s, device):  # after the cache computed its states from float32
            hold_frozen(model.backbone, tunable, torch.bfloat16)
        for epoch in range(s.epochs):
            epoch_start = time.perf_counter()
            if s.gradual_unfreezing:
                gradual_unfreeze(parts, tunable, epoch)
            model.set_train_mode()
            trainable = [p for p in model.parameters() if p.requires_grad]
            costs = model_costs(parts, model.head, model.backbone.config.hidden_size)
            cached = s.freeze_depth + 1 if feed and epoch > 0 else 0  # embeddings + layers the cache serves
            epoch_losses: list[float] = []
            task_losses: list[float] = []  # without the penalty: a penalty that shrinks is no learning
            for idx in length_bucketed_batches(data.train.lengths, s.batch_size, rng):
                batch = {k: v.to(device) for k, v in collate(data.train, idx, data.pad_id).items()}
                examples, length = batch["input_ids"].shape
                flops += passes * batch_flops(costs, examples, length, model.token_level, cached)
                examples_seen += examples
                if feed:
                    feed("train", idx, length)
                factor = lr_factor(step, total_steps, warmup_steps, trial.schedule)
                for group, base_lr in zip(optimizer.param_groups, base_lrs, strict=True):
                    group["lr"] = base_lr * factor
                loss_of = partial(task_loss, labels=batch["labels"], loss=trial.loss, class_weights=class_weights)
                this_batch = Step(model, batch, autocast, trainable, loss_of)
                logits = this_batch.forward()
                task = loss_of(logits)
                extras = [term(this_batch, logits, chosen) for term, chosen in extra_terms]
                loss = task + sum(t for t in extras if t is not None)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"training diverged: loss is {loss.item()} at epoch {epoch + 1}, step {step + 1}"
                        f" (lr factor {factor:.3g}); lower the learning rate or the penalty"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if s.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(trainable, s.grad_clip)
                optimizer.step()
                epoch_losses.append(loss.item())
                task_losses.append(task.item())
                step += 1
                if progress:
                    progress(step, total_steps)
            train_seconds = time.perf_counter() - epoch_start
            timings["train"] += train_seconds

            eval_start = time.perf_counter()
            val_predictions = predict(
                model, data.validation, data, s.batch_size * 2, device, autocast, feed and partial(feed, "validation")
            )
            metrics = data.task.score(val_predictions, data.validation.targets, data.label_names)
            timings["evaluate"] += time.perf_counter() - eval_start
            improved = objective.better(metrics[objective.metric], best_value)
            if improved:
                # Keep the best epoch, not the last (tuning playbook). Only tunable weights change,
                # so only they are copied.
                best_value = metrics[objective.metric]
                best_state = {n: p.detach().clone() for n, p in tunable_named.items()}
            record = EpochMetrics(
                epoch + 1,
                sum(epoch_losses) / steps_per_epoch,
                metrics,
                time.perf_counter() - epoch_start,
                improved,
                val_predictions if improved else None,
                tunable_count,
                timings["train"],
                loss_trend(step_losses := step_losses + task_losses, len(task_losses)),
                step,
                epoch == 0 or step <= warmup_steps,
                flops,
                examples_seen,
            )
            history.append(record)
            if report:
                report(record)

    if bf16_frozen:  # float32 again for what follows: the probe pass, the save
        hold_frozen(model.backbone, tunable, torch.float32)
    model.load_state_dict(best_state, strict=False)
    test_predictions = test_metrics = None
    if data.test is not None:
        test_predictions = predict(model, data.test, data, s.batch_size * 2, device, autocast)
        test_metrics = data.task.score(test_predictions, data.test.targets, data.label_names)
    best_epoch = next(r.epoch for r in reversed(history) if r.is_best)
    return TrainResult(
        model=model,
        best_epoch=best_epoch,
        history=history,
        validation_predictions=history[best_epoch - 1].predictions,
        test_predictions=test_predictions,
        test_metrics=test_metrics,
        trainable_parameters=tunable_count,
        timings=timings,
        peak_memory_mb=peak_memory_mb(device),
        frozen_depth=s.freeze_depth,
    )
