"""Sweeps in MLflow: one parent run per sweep, one nested run per trial, written by the driver.

The trial folders stay the source of truth: a trial's MLflow run is written from its folder once
it has ended (parameters, per-epoch metrics, status, wall time), so MLflow never holds what the
run directory does not. `tracking.json` in the run directory remembers the parent run and the
trials already logged, so a resumed sweep continues the same runs and logs nothing twice.
MLflow is an optional extra (`pip install -e '.[mlflow]'`), imported only when tracking is on.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

from stratsearch.rundir import FINAL, RunDir, read_json, write_json

INSTALL = "pip install -e '.[mlflow]' (or pip install mlflow)"
MLFLOW_STATUS = {"finished": "FINISHED", "pruned": "KILLED", "stopped": "KILLED", "failed": "FAILED"}
# What a trial cost and how far it moved the encoder (status.json), logged as its run's metrics.
RECORDED = (
    "trainable_parameters",
    "train_seconds",
    "train_flops",
    "examples_seen",
    "peak_memory_mb",
    "drift",
    "general_drift",
)


def missing_mlflow() -> str | None:
    return None if importlib.util.find_spec("mlflow") else f"MLflow is not installed; {INSTALL}"


def tracking_uri(value: str, base: Path) -> str:
    """A server or store URI as given; a path (relative to `base`) becomes a local SQLite store."""
    if "://" in value or value.startswith(("file:", "databricks")):
        return value
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if path.suffix != ".db":
        path = path / "mlflow.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def artifacts(uri: str) -> str | None:
    """Artifacts of a local SQLite store live beside it; MLflow's default would be ./mlruns under
    whatever folder the sweep was started from. A server keeps its own."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()


def flat_params(config: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat_params(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


class MlflowTracker:
    """In the driver: each trial that ends is logged as a nested run (the sweep's progress display
    calls `log_trial` once it has settled the trial's folder)."""

    def __init__(self, uri: str, run_dir: RunDir, experiment: str, space_file: Path):
        self.uri, self.run_dir, self.experiment = uri, run_dir, experiment
        self.state_path = run_dir.path / "tracking.json"
        self._client: Any = None
        state = read_json(self.state_path)
        if state.get("uri") != uri:  # a new store (or the first sweep): start afresh there
            state = {"uri": uri, "parent": None, "trials": {}}
        self.state = state
        if self.state["parent"] is None:
            self.start_parent(space_file)

    def __getstate__(self) -> dict:
        # Tune pickles its callbacks (and so this, held by one) with the experiment state; the
        # client is this process's.
        return {k: v for k, v in self.__dict__.items() if k != "_client"} | {"_client": None}

    @property
    def client(self) -> Any:
        if self._client is None:
            import mlflow
            from mlflow.tracking import MlflowClient

            mlflow.set_tracking_uri(self.uri)
            self._client = MlflowClient(self.uri)
        return self._client

    def start_parent(self, space_file: Path) -> None:
        found = self.client.get_experiment_by_name(self.experiment)
        experiment_id = (
            found.experiment_id if found else self.client.create_experiment(self.experiment, artifacts(self.uri))
        )
        run = self.client.create_run(experiment_id, tags={"mlflow.runName": f"{self.experiment} sweep"})
        self.client.log_artifact(run.info.run_id, str(space_file))
        self.client.set_tag(run.info.run_id, "stratsearch.run_dir", str(self.run_dir.path))
        self.state.update(parent=run.info.run_id, experiment_id=experiment_id)
        self.save()

    def save(self) -> None:
        write_json(self.state_path, self.state)

    def log_trial(self, number: int) -> None:
        """Write one ended trial as a nested run, from its folder; a trial already logged is skipped."""
        if str(number) in self.state["trials"]:
            return
        record = self.run_dir.trial(number)
        status = record.status()
        if status.status not in FINAL:
            return
        stored = record.config()
        tags = {
            "mlflow.runName": f"trial {number}",
            "mlflow.parentRunId": self.state["parent"],
            "stratsearch.status": status.status,
            "stratsearch.baseline": str(stored.get("baseline")),
        }
        if status.reason:
            tags["stratsearch.reason"] = status.reason[:5000]
        client = self.client
        run = client.create_run(self.state["experiment_id"], tags=tags, start_time=int((status.started or 0) * 1000))
        run_id = run.info.run_id
        from mlflow.entities import Metric, Param

        params = [Param(k, v[:6000]) for k, v in flat_params(stored["config"]).items()]
        now = int(time.time() * 1000)
        metrics = [
            Metric(key, float(value), now, int(row["epoch"]))
            for row in record.metrics()
            for key, value in row.items()
            if key != "epoch" and isinstance(value, int | float)
        ]
        figures = {"wall_s": status.wall_s, "best_validation": status.best_value}
        figures |= {name: getattr(status, name) for name in RECORDED}
        metrics += [Metric(k, float(v), now, 0) for k, v in figures.items() if v is not None]
        metrics += [Metric(f"test_{k}", float(v), now, 0) for k, v in (status.test or {}).items()]
        metrics += [Metric(f"train_{k}", float(v), now, 0) for k, v in (status.train_metrics or {}).items()]
        client.log_batch(run_id, metrics=metrics, params=params)
        client.set_terminated(run_id, status=MLFLOW_STATUS[status.status])
        self.state["trials"][str(number)] = run_id
        self.save()

    def sync(self) -> None:
        """Log every ended trial not yet logged (those Tune ended without a callback, or a past crash's)."""
        for record, status in self.run_dir.statuses():
            if status.status in FINAL:
                self.log_trial(record.number)

    def finish(self, files: list[Path]) -> None:
        """The sweep's end: its report and ensemble table attached to the parent run."""
        self.sync()
        for path in files:
            if path.is_file():
                self.client.log_artifact(self.state["parent"], str(path))
        self.client.set_terminated(self.state["parent"], status="FINISHED")
