"""What the user sees while a sweep runs: a live table, or one log line per ended trial (--quiet).

A Ray Tune callback in the driver. It also settles the folder of a trial that Tune stopped
(pruned by the scheduler, or stopped when the time budget ran out), since the trial itself is
killed before it can say so.
"""

from __future__ import annotations

import time
from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.live import Live
from rich.table import Table

from stratsearch.objective import Objective
from stratsearch.rundir import RunDir


class SweepProgress(Callback):
    def __init__(
        self,
        run_dir: RunDir,
        objective: Objective,
        trials: int,
        time_budget_s: float | None,
        console: Console,
        quiet: bool,
        already: dict[str, int],
        tracker: Any = None,  # an MlflowTracker, told of each trial once its folder is settled
        reserve: Any = None,  # the confirmation's time reserve (sweep/confirm.py: Reserve), which ends the search
    ):
        self.run_dir = run_dir
        self.objective = objective
        self.trials, self.time_budget_s = trials, time_budget_s
        self.console, self.quiet = console, quiet
        self.counts = {"running": 0, **already}
        self.best: tuple[float, str] | None = None
        self.started = time.time()
        self.live: Live | None = None
        self.tracker = tracker
        self.reserve = reserve

    def __getstate__(self) -> dict:
        # Tune pickles its callbacks with the experiment state; a console and a live display
        # belong to this driver process only.
        return {k: v for k, v in self.__dict__.items() if k not in ("console", "live")}

    def __enter__(self) -> SweepProgress:
        if not self.quiet:
            self.live = Live(self.table(), console=self.console, refresh_per_second=1, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.update(self.table())
            self.live.__exit__(*exc)

    def table(self) -> Table:
        table = Table(title="sweep", show_header=True)
        best_column = f"best {self.objective.metric}"
        for col in ("running", "finished", "pruned", "stopped", "failed", best_column, "elapsed", "left"):
            table.add_column(col, justify="right")
        elapsed = time.time() - self.started
        left = "—" if self.time_budget_s is None else f"{max(0.0, self.time_budget_s - elapsed) / 60:.1f} min"
        best = "—" if self.best is None else f"{self.best[0]:.4f} ({self.best[1]})"
        c = self.counts
        table.add_row(
            str(c["running"]),
            f"{c.get('finished', 0)}/{self.trials}",
            str(c.get("pruned", 0)),
            str(c.get("stopped", 0)),
            str(c.get("failed", 0)),
            best,
            f"{elapsed / 60:.1f} min",
            left,
        )
        return table

    def refresh(self) -> None:
        if self.live:
            self.live.update(self.table())

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.counts["running"] += 1
        self.refresh()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        value = result.get("objective")
        if value is None:
            return
        if self.objective.better(value, None if self.best is None else self.best[0]):
            self.best = (value, describe(trial.config.get("trial_config", {})))
        self.refresh()

    def ended(self, trial: Any, errored: bool) -> None:
        self.counts["running"] = max(0, self.counts["running"] - 1)
        record = self.run_dir.trial(trial.config["optuna_number"])
        status = record.status()
        if status.status == "running":  # Tune stopped it, or its worker died
            if errored:
                record.finish("failed", reason=f"worker died: {trial.error_file or 'no error file'}")
            else:
                over = self.time_budget_s is not None and time.time() - self.started >= self.time_budget_s
                over = over or (self.reserve is not None and self.reserve.stop)
                record.finish("stopped" if over else "pruned", pruned_at_epoch=status.epoch)
            status = record.status()
        final = status.status or "failed"
        if self.tracker:
            self.tracker.log_trial(record.number)
        self.counts[final] = self.counts.get(final, 0) + 1
        if self.quiet:
            value = status.best_value
            shown = "—" if value is None else f"{value:.4f}"
            reason = f" ({status.reason})" if status.reason else ""
            self.console.print(
                f"trial {record.number}: {final} after epoch {status.epoch}, "
                f"best {self.objective.metric} {shown}{reason}",
                markup=False,
                highlight=False,
            )
        self.refresh()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ended(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ended(trial, errored=True)


def describe(config: dict) -> str:
    """A short strategy label: scope, freeze depth, optimizer, schedule."""
    parts = []
    for key in ("scope", "optimizer", "schedule", "loss"):
        value = config.get(key)
        if isinstance(value, dict):
            parts.append(next(iter(value), ""))
        elif isinstance(value, str):
            parts.append(value)
    if "freeze_depth" in config:
        parts.insert(0, f"freeze {config['freeze_depth']}")
    return ", ".join(parts)
