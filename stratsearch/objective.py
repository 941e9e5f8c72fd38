"""What "better" means for a run: one metric and its direction. Nothing else compares by mode."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

# Per-trial measures a multi-objective sweep may trade off against a validation metric (peak
# memory is recorded, not offered: on the CPU it is the peak of a worker that ran several trials).
# Drift is measured once a trial has trained to its end (DRIFT_METRICS), the others every epoch.
DRIFT_METRICS = {"drift": "min", "general_drift": "min"}
TRIAL_METRICS = {"trainable_parameters": "min", "train_seconds": "min", "train_flops": "min", **DRIFT_METRICS}
# Metrics in [0, 1]: a difference in them is spoken of in points (×100).
UNIT_METRICS = {
    *("accuracy", "macro_f1", "f1", "precision", "recall", "pearson", "spearman"),
    *("micro_f1", "samples_f1", "subset_accuracy"),  # multi-label
}


class Objective(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    mode: Literal["max", "min"]

    def better(self, value: float, than: float | None) -> bool:
        """Strictly better; anything beats nothing yet."""
        return than is None or (value > than if self.mode == "max" else value < than)

    def sort_key(self, value: float) -> float:
        """Sorting by this puts the best value first."""
        return -value if self.mode == "max" else value

    def signed(self, diff: float, unit: bool = True) -> str:
        """A signed difference in the metric: "+5.3 points" for metrics in [0, 1], raw otherwise."""
        if self.metric in UNIT_METRICS:
            return f"{diff * 100:+.1f}" + (" points" if unit else "")
        return f"{diff:+.4g}"

    @property
    def direction(self) -> str:
        """Optuna's word for the mode."""
        return "maximize" if self.mode == "max" else "minimize"
