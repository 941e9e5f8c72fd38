"""Stopping trials that are not learning ("duds"), on top of the pruner.

A strategy that learns nothing (a learning rate far too low for its optimizer, everything frozen
under a tiny rate, a loss that collapses onto the majority class) scores what a model that learnt
only the label counts would: always the majority class, the training mean, every word 'O'. ASHA
keeps such a trial when it is no worse than its rung's peers, and early in a sweep its peers may
be duds too. The rule: after an evaluation, once the trial has taken at least 24 steps, a trial
whose validation objective is no better than the trivial predictor's (by more than 1 % of the
trivial score: relative, so that an rmse of 0.01 on targets of that scale is judged on its own
scale) **and** whose task loss has not fallen lately (over the last half of the epoch,
`train/trainer.py: loss_trend`; a collapse learns the label counts in its first steps and is flat
after) is stopped, reported as "stopped: not learning". Both must hold, so a trial whose loss is
falling is never stopped, however low it scores. No trial is judged in its first epoch, nor
before its warmup ends: gradual unfreezing trains only the head at first and a warmup starts from
a learning rate of 0 (flat by design), and a slow starter's first epoch is flat too (measured on
the tests' tiny model: AdamW at 1e-2 sat at the majority class with its loss at 107 % of where it
began, beyond noise, then gained 10 points in its second epoch). A penalty is left out of the
loss the trend reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratsearch.objective import Objective

if TYPE_CHECKING:
    from stratsearch.train.data import Dataset
    from stratsearch.train.trainer import EpochMetrics

FALLING = 0.99  # falling: the loss trend (beyond its noise, `loss_trend`) below this
MIN_STEPS = 24  # fewer step losses are too noisy to call a trend
MARGIN = 0.01  # how much better than the trivial score counts as learning, relative to it


class NotLearning(Exception):
    """Raised from a trial's epoch report to end it (sweep/trial.py records it as stopped)."""


def trivial_scores(data: Dataset) -> dict[str, float]:
    """Every validation metric of the trivial predictor (task.trivial)."""
    task = data.task
    predictions = task.trivial(data.train.targets, data.validation.targets, data.label_names)
    return task.score(predictions, data.validation.targets, data.label_names)


def not_learning(epoch: EpochMetrics, trivial: dict[str, float], objective: Objective) -> str | None:
    """Why this epoch says the trial is a dud, or None."""
    value, base = epoch.validation[objective.metric], trivial[objective.metric]
    margin = MARGIN * abs(base)
    bar = base + margin if objective.mode == "max" else base - margin
    if epoch.settling or epoch.steps < MIN_STEPS or objective.better(value, bar) or epoch.loss_trend < FALLING:
        return None
    return (
        f"not learning: validation {objective.metric} {value:.4f} at epoch {epoch.epoch} is no better than the"
        f" trivial predictor's {base:.4f}, and the task loss has not fallen lately"
        f" ({epoch.loss_trend:.1%} over the last half of the epoch, {epoch.steps} steps in all)"
    )
