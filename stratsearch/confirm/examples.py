"""What each validation example adds to a run's score: what the verdict's test over seeds ×
examples reads (`confirm/stats.py: crossed`).

A run's validation score M is written as the mean of B block contributions. The N examples are
dealt into B = min(N, BLOCKS) blocks (example i to block i mod B: the same blocks for every run,
so two runs' blocks pair up), and block g's contribution is its jackknife pseudo-value
B·M − (B − 1)·M₋g, M₋g being the score without block g, shifted so that the contributions'
mean is M itself. For a mean over examples (accuracy) that is block g's own mean; for F1, RMSE or
a correlation it is block g's first-order share of the score. So the task's own `score` serves,
for any task and metric, and the test sees which examples each run got right, not only how many.
Blocks rather than single examples bound the cost at BLOCKS + 1 scorings a run.

The stored validation predictions of each run (at its best epoch) and the run's validation
targets (`RunDir.targets_path`, written when the sweep starts) are all it needs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from stratsearch.predictions import UNREADABLE, read_predictions, save_predictions
from stratsearch.rundir import RunDir, file_stamp
from stratsearch.tasks import Task

BLOCKS = 100

# Contributions already computed in this process, by predictions file (and its stamp) and metric:
# racing asks after every round for every run so far.
COMPUTED: dict[tuple[Path, tuple[int, int, int] | None, str], np.ndarray | None] = {}


def contributions(task: Task, predictions: Any, targets: Any, labels: list | None, metric: str) -> np.ndarray | None:
    """The B block contributions of one run's predictions to its `metric`; None where the score
    is not a number on some block's complement (too few examples of a class, say)."""
    n = len(targets)
    blocks = min(n, BLOCKS)
    if blocks < 2:
        return None
    block = np.arange(n) % blocks
    whole = task.score(predictions, targets, labels)[metric]
    kept = [block != g for g in range(blocks)]
    without = [task.score(take(predictions, k), take(targets, k), labels)[metric] for k in kept]
    pseudo = blocks * whole - (blocks - 1) * np.asarray(without, dtype=np.float64)
    if not all(math.isfinite(v) for v in [whole, *pseudo]):
        return None
    return pseudo - pseudo.mean() + whole


def take(values: Any, keep: np.ndarray) -> Any:
    """The kept examples of an array (one row each) or of a list (per-word predictions or targets)."""
    if isinstance(values, np.ndarray):
        return values[keep]
    return [v for v, k in zip(values, keep, strict=True) if k]


class ValidationExamples:
    """Per trial of a run directory, its validation predictions' block contributions to the
    objective's metric (None where the predictions or the run's targets are missing). Computed
    once per predictions file: kept beside it (`TrialRecord.shares_path`) with the stamp of the
    file they came from, and in this process."""

    def __init__(self, run_dir: RunDir, metric: str):
        self.run_dir = run_dir
        self.metric = metric
        self.read = False
        self.targets: Any = None
        self.task: Task | None = None
        self.labels: list | None = None

    def of(self, trial: int) -> np.ndarray | None:
        record = self.run_dir.trial(trial)
        path = record.predictions_path("validation")
        stamp = file_stamp(path)
        key = (path, stamp, self.metric)
        if key not in COMPUTED:
            kept = record.shares_path(self.metric)
            found = read_shares(kept, stamp)
            if found is None and stamp is not None:
                found = self.compute(path)
                if found is not None:
                    save_predictions(kept, found, {"stamp": np.asarray(stamp[1:])}, fault=None)
            COMPUTED[key] = found
        return COMPUTED[key]

    def compute(self, path: Path) -> np.ndarray | None:
        if not self.read:  # once, and only where some run's shares are not kept yet
            self.read = True
            self.targets = read_predictions(self.run_dir.targets_path)
            info = self.run_dir.info()
            self.task, self.labels = info.task, info.labels
        predictions = read_predictions(path) if self.targets is not None else None
        if predictions is None or self.task is None or len(predictions) != len(self.targets):
            return None
        return contributions(self.task, predictions, self.targets, self.labels, self.metric)


def read_shares(path: Path, stamp: tuple[int, int, int] | None) -> np.ndarray | None:
    """Shares kept from the predictions file of this stamp (its time and size; a copied run
    directory keeps them), else None."""
    if stamp is None:
        return None
    try:
        with np.load(path) as kept:
            return kept["values"] if tuple(kept["stamp"]) == stamp[1:] else None
    except UNREADABLE:
        return None
