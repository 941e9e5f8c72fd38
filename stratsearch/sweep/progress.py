"""What the user sees while a sweep runs: a live table, or one log line per ended trial (--quiet).

A Ray Tune callback in the driver. It also settles the folder of a trial that Tune stopped
(pruned by the scheduler, or stopped when the time budget ran out), since the trial itself is
killed before it can say so.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.stopper import Stopper
from rich.console import Console
from rich.live import Live
from rich.table import Table

from stratsearch import files
from stratsearch.objective import Objective
from stratsearch.rundir import RunDir
from stratsearch.sweep.trial import out_of_memory
from stratsearch.train.strategies import KINDS


class TrialFailuresSaidOnce(logging.Filter):
    """Tune logs each failed trial with its whole traceback (some 40 lines of Ray's own frames),
    then lists the failed trials again as the sweep ends. The progress says which trial failed and
    why in one line; the traceback stays in `tune/<trial>/error.txt`."""

    SAID = ("Trial task failed for trial", "Trials did not complete")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.SAID)

    @classmethod
    def install(cls) -> None:
        for name in ("ray.tune.execution.tune_controller", "ray.tune.tune"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, cls) for f in logger.filters):
                logger.addFilter(cls())


class Halt(Stopper):
    """Ends the whole sweep at once when going on cannot succeed: a trial could not write to a full
    disk. `why` says so; the driver turns it into the error the user sees."""

    def __init__(self) -> None:
        self.why: str | None = None

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.why is not None


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
        self.halt = Halt()

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
            if not self.console.is_terminal:  # rich ends the last frame with a newline on a terminal only
                self.console.line()

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

    def raise_if_halted(self) -> None:
        """After Tune returns: the error that ended the sweep early, if one did (a full disk)."""
        if self.halt.why is not None:
            raise self.run_dir.disk_full(self.halt.why)

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
        if errored and (full := files.full_disk_line(trial_error(trial))):
            self.halt.why = full  # the trial stays unfinished: the resume after space is freed runs it again
            return
        if status.status == "running":  # Tune stopped it, or its worker died
            if errored:
                record.finish("failed", reason=worker_death(trial))
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


def trial_error(trial: Any) -> str:
    """The text of the error Ray recorded for a trial ("" if none). Read from the driver's own copy:
    Tune syncs it to the run directory only later."""
    name = trial.run_metadata.error_filename
    path = Path(trial.local_path, name) if trial.local_path and name else None
    return path.read_text(errors="replace") if path is not None and path.is_file() else ""


ACTOR_DIED = ("actor died", "actor is dead", "node has died", "worker died")  # Ray's words for a lost worker


def worker_death(trial: Any) -> str:
    """Why a trial that never recorded its end failed, from what only Ray saw: its worker process
    (or the node under it) died, or it raised where it could not record the error itself (out of
    memory, say). A traceback's last line names the error; otherwise the first line says how."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", trial_error(trial))  # Ray colours its task names
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("Failure #")]
    lines = lines or ["Ray recorded no error"]
    raised = len(lines) > 1 and not any(words in text for words in ACTOR_DIED)  # a traceback, not a death
    said = lines[-1] if raised else lines[0]
    if out_of_memory(said):
        return f"out of memory: {said}"
    if raised:
        return f"{said} (recorded by Ray: the trial could not record it)"
    return f"the Ray worker running it died ({said}); killed, out of memory, or its node was lost"


def describe(config: dict) -> str:
    """A short strategy label: freeze depth, then the entry of each kind the live table names."""
    parts = [f"freeze {config['freeze_depth']}"] if "freeze_depth" in config else []
    parts += [kind.branch(config)[0] for kind in KINDS if kind.in_progress]
    return ", ".join(p for p in parts if p)
