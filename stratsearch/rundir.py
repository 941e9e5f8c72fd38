"""The run directory: the one module that knows its layout and hands out typed records.

    runs/NAME/space.yaml                 the space as run
    runs/NAME/run.json                   what the run was made from (RunInfo), and the layout version
    runs/NAME/validation_targets.npz     the validation split's targets, for the verdict's test
    runs/NAME/study.db                   the Optuna study (SQLite)
    runs/NAME/tune/                      Ray Tune's experiment state
    runs/NAME/sweep.json                 time spent, for the time budget across resumes (every 5 s)
    runs/NAME/results.csv                one row per trial, from the trial folders
    runs/NAME/trials/0007/config.json    resolved config, Optuna params, versions
    runs/NAME/trials/0007/metrics.jsonl  one line per epoch (appended as it trains)
    runs/NAME/trials/0007/status.json    running | finished | pruned | stopped | failed | interrupted
    runs/NAME/trials/0007/predictions/   best epoch's validation (and, when it finished, test) predictions,
                                         and their per-block shares of the objective (the verdict's test)
    runs/NAME/ensemble/                  the ensemble of the top-k trials
    runs/NAME/confirm.json               the confirmation over seeds: its candidates and seeds (confirm/plan.py)

`LAYOUT` is the version of this layout, written into run.json: a run directory of an older
layout is read (what it lacks, later commands do without or recompute, and a resumed run writes
the current layout); one of a newer layout, written by a later stratsearch, is refused with a
message. A saved model's own files (trials/0007/model/, head.safetensors, a LoRA trial's
adapter.safetensors, stratsearch.json, as `train --out` also writes them) are the saved-model
format of train/artifacts.py.

Trial folders are the source of truth. Every write is atomic (`files.py`: a temporary file,
fsync, rename), so a crash never leaves a half-written record; a record that is unreadable all
the same (a disk fault, a hand edit) reads as missing, and the sweep runs that trial again
(`sweep/study.py: reconcile`). It stores and decides nothing: which trial a run chose is
`choice.py`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import platform
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stratsearch import faults, files
from stratsearch.errors import StratsearchError
from stratsearch.objective import Objective
from stratsearch.predictions import save_predictions
from stratsearch.rows import DataSpec
from stratsearch.tasks import TASKS, Task

if TYPE_CHECKING:
    import pandas as pd

    from stratsearch.space.load import SpaceSpec
    from stratsearch.train.data import Dataset

FINAL = ("finished", "pruned", "stopped", "failed")  # a trial that ended, one way or another
SCORED = ("finished", "pruned", "stopped")  # ended with a validation value
LINEAGE = ("confirms", "round")  # a confirmation run: the trial it trains again, and which seed round
ATTEMPTS = 2  # a confirmation's seed run that fails is retried once; failing again, its strategy is unconfirmed


def write_json(path: Path, payload: dict) -> None:
    files.write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object, or {} when the file is missing or unreadable."""
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def versions() -> dict[str, str]:
    import optuna
    import torch
    import transformers

    from stratsearch import __version__

    return {
        "stratsearch": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "optuna": optuna.__version__,
        "python": platform.python_version(),
    }


# --- one trial --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialStatus:
    """A trial's `status.json`: what it is doing or how it ended, and its figures so far."""

    status: str = ""  # running | finished | pruned | stopped | failed | interrupted; "" = unknown
    epoch: int = 0  # last epoch recorded
    started: float | None = None
    updated: float | None = None
    wall_s: float | None = None
    best_value: float | None = None  # best validation objective so far
    best_epoch: int | None = None
    objectives: list[float] | None = None  # what the study is told if the trial ends here
    trainable_parameters: int | None = None
    train_seconds: float | None = None
    train_flops: float | None = None  # estimated (train/cost.py)
    examples_seen: int | None = None  # training examples processed, all epochs
    peak_memory_mb: float | None = None  # CUDA peak allocated, or the worker process's peak RSS on the CPU
    drift: float | None = None  # 1 − linear CKA of the top layer to the pretrained encoder (train/drift.py)
    cka: list[float] | None = None  # per layer, the embeddings first
    general_drift: float | None = None  # the same on the general-text probe (`data.probe`), where given
    general_cka: list[float] | None = None
    train_metrics: dict[str, float] | None = None  # on the probe's training examples, best epoch's weights
    drift_seconds: float | None = None  # what measuring on the probe cost (drift and train_metrics)
    test: dict[str, float] | None = None  # test metrics, finished trials only
    epochs_run: int | None = None
    pruned_at_epoch: int | None = None
    reason: str | None = None  # why it failed, or was stopped early (not learning)
    node: str | None = None  # the Ray node it ran on

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> TrialStatus:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    @property
    def ended(self) -> bool:
        return self.status in FINAL

    @property
    def scored(self) -> bool:
        return self.status in SCORED and self.best_value is not None

    def test_value(self, metric: str) -> float | None:
        return (self.test or {}).get(metric)


class TrialRecord:
    def __init__(self, run_dir: Path, number: int):
        self.number = number
        self.folder = Path(run_dir) / "trials" / f"{number:04d}"
        self.recorded: dict | None = None  # config.json once read: written once, when the trial starts

    def status(self) -> TrialStatus:
        return TrialStatus.from_json(read_json(self.folder / "status.json"))

    def set_status(self, **fields: Any) -> None:
        current = dataclasses.asdict(self.status())
        write_json(self.folder / "status.json", {**current, **fields, "updated": time.time()})

    def start(
        self,
        config: dict,
        params: dict,
        baseline: int | None,
        origin: str = "sampler",
        node: str | None = None,
        **lineage: int,
    ) -> None:
        """`origin`: baseline, sampler, confirmation, or the portfolio member / warm start the trial
        runs; a confirmation also records its `LINEAGE`. `node`: the Ray node it runs on."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "metrics.jsonl").unlink(missing_ok=True)
        record = {"trial": self.number, "config": config, "params": params, "baseline": baseline, "origin": origin}
        record |= lineage
        self.recorded = {**record, "versions": versions()}
        write_json(self.folder / "config.json", self.recorded)
        self.set_status(status="running", epoch=0, started=time.time(), node=node)

    def epoch(self, metrics: dict, best_value: float, best_epoch: int, objectives: list[float], **extra: Any) -> None:
        """Append an epoch; `objectives` are what the study is told if the trial ends here."""
        files.append_line(self.folder / "metrics.jsonl", json.dumps(metrics))
        self.set_status(
            epoch=metrics["epoch"], best_value=best_value, best_epoch=best_epoch, objectives=objectives, **extra
        )

    def finish(self, status: str, **fields: Any) -> None:
        started = self.status().started or time.time()
        self.set_status(status=status, wall_s=time.time() - started, **fields)

    def predictions_path(self, split: str) -> Path:
        return self.folder / "predictions" / f"{split}.npz"

    def shares_path(self, metric: str) -> Path:
        """The validation predictions' per-block shares of `metric` (confirm/examples.py), kept
        because scoring every block again is slow for some tasks (seqeval)."""
        return self.folder / "predictions" / f"validation.{metric}.shares.npz"

    def config(self) -> dict:
        if not self.recorded:  # `RunDir.trials` reads it to list the trial; its callers read it again
            self.recorded = read_json(self.folder / "config.json")
        return self.recorded

    def source(self) -> int:
        """The trial whose strategy this one runs: the one it confirms on a new seed, else itself."""
        confirms = self.config().get("confirms")
        return self.number if confirms is None else int(confirms)

    def metrics(self) -> list[dict]:
        """The epochs recorded; a line a crash tore (or a disk fault garbled) is left out."""
        path = self.folder / "metrics.jsonl"
        rows = []
        for line in path.read_text(errors="replace").splitlines() if path.is_file() else []:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows


# --- what the run was made from ----------------------------------------------------------------------


# 1: before the version was written (no validation_targets.npz); 2: run.json says its layout,
# validation targets stored for the verdict's test.
LAYOUT = 2
RUN_JSON = "run.json"


@dataclass(frozen=True)
class RunInfo:
    """`run.json`: the resolved model and data paths, task, objective and labels, so that the commands
    after a sweep (`ensemble`, `predict`, `report`) need nothing but the run directory."""

    name: str
    task: Task
    model_path: Path
    data: DataSpec
    objective: Objective
    labels: list[Any] | None
    top_k: int
    method: str
    model: str = ""  # as the space names it, e.g. minilm-l6
    sizes: dict[str, int] = field(default_factory=dict)  # examples per split
    budget: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)
    space_file: Path | None = None  # the space.yaml that made the run, for `stratsearch confirm`
    secondary: list[Objective] = field(default_factory=list)  # further objectives of a multi-objective sweep
    layout: int = 1  # the run directory's layout version (LAYOUT); 1 where run.json does not say

    @property
    def metric(self) -> str:
        return self.objective.metric


# --- the run directory ---------------------------------------------------------------------------


# What the trial folders said when last read, per run directory, shared by every `RunDir` of this
# process: a sweep asks for the ranking every second (the reserve) and at every trial's end (the
# top k, in a worker that runs trial after trial), so each status.json is read again only once it
# changed. Every write is an atomic rename, so a changed file has a new inode.
READ: dict[Path, dict[int, tuple[TrialRecord, tuple[int, int, int] | None, TrialStatus]]] = {}


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.cache = READ.setdefault(self.path, {})

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}  # Ray ships the run directory to its workers, not what this process read

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])

    def __str__(self) -> str:
        return str(self.path)

    # layout
    @property
    def trials_dir(self) -> Path:
        return self.path / "trials"

    @property
    def study_path(self) -> Path:
        return self.path / "study.db"

    @property
    def study_url(self) -> str:
        return f"sqlite:///{self.study_path}"

    @property
    def results_csv(self) -> Path:
        return self.path / "results.csv"

    @property
    def ensemble_dir(self) -> Path:
        return self.path / "ensemble"

    @property
    def ensemble_json(self) -> Path:
        return self.ensemble_dir / "ensemble.json"

    @property
    def soup_dir(self) -> Path:
        return self.ensemble_dir / "soup"

    def trial(self, number: int) -> TrialRecord:
        return TrialRecord(self.path, number)

    def trials(self) -> list[TrialRecord]:
        """Every trial that started, by number (an interrupted one is still listed); a folder
        whose config.json cannot be read is not a trial."""
        return [record for record, _ in self.statuses()]

    def statuses(self) -> list[tuple[TrialRecord, TrialStatus]]:
        out = []
        for folder in sorted(f for f in self.trials_dir.glob("[0-9]*") if f.name.isdigit()):
            number = int(folder.name)
            cached = self.cache.get(number)
            now = file_stamp(folder / "status.json")
            if cached is not None and now is not None and now == cached[1]:
                record, _, status = cached
            else:  # a new or changed trial: its config is read again too (a restart rewrites both)
                record = TrialRecord(self.path, number)
                if record.config().get("config") is None:
                    continue
                status = record.status()
                self.cache[number] = (record, now, status)
            out.append((record, status))
        return out

    # run.json, and the validation targets the verdict's test scores stored predictions against
    def write_info(self, spec: SpaceSpec, model_path: Path, data: Dataset) -> None:
        splits = {"train": data.train, "validation": data.validation, "test": data.test}
        targets = data.validation.targets
        save_predictions(self.targets_path, targets if spec.task.token_level else np.asarray(targets), fault=None)
        write_json(
            self.run_json,
            {
                "layout": LAYOUT,
                "name": spec.name,
                "space_file": str(Path(spec.file).resolve()),
                "task": spec.task.name,
                "model": spec.model,
                "model_path": str(model_path),
                "data": spec.data.model_dump(mode="json"),
                "sizes": {name: len(split) for name, split in splits.items() if split is not None},
                "metric": spec.objective.metric,
                "mode": spec.objective.mode,
                "secondary": [o.model_dump() for o in spec.secondary],
                "labels": data.label_names,
                "top_k": spec.ensemble.top_k,
                "method": spec.ensemble.method,
                "budget": spec.budget.model_dump(),
                "search": spec.search.model_dump(exclude={"baseline"}),
            },
        )

    @property
    def targets_path(self) -> Path:
        return self.path / "validation_targets.npz"

    @property
    def run_json(self) -> Path:
        return self.path / RUN_JSON

    def is_run(self) -> bool:
        """Whether `run` wrote this folder (it has run.json)."""
        return self.run_json.is_file()

    @staticmethod
    def enclosing(path: Path) -> RunDir | None:
        """The run directory `path` lies in, if any."""
        return next((RunDir(p) for p in path.resolve().parents if RunDir(p).is_run()), None)

    def info(self) -> RunInfo:
        if not self.is_run():
            raise StratsearchError(f"{self.path}: not a run directory (no run.json); expected the runs/NAME of a sweep")
        raw = json.loads(self.run_json.read_text())
        if raw.get("layout", 1) > LAYOUT:
            raise StratsearchError(
                f"{self.path} was written by a newer stratsearch (run directory layout {raw['layout']}; this"
                f" version reads layouts 1 to {LAYOUT}): upgrade stratsearch to read it"
            )
        objective = Objective(metric=raw.pop("metric"), mode=raw.pop("mode"))
        return RunInfo(
            **{
                **raw,
                "task": TASKS[raw["task"]],
                "model_path": Path(raw["model_path"]),
                "space_file": Path(raw["space_file"]) if raw.get("space_file") else None,
                "data": DataSpec(**raw["data"]),
                "objective": objective,
                "secondary": [Objective(**o) for o in raw.get("secondary", [])],
            }
        )

    # what experiment this is
    def check_fingerprint(self, parts: dict[str, str], allow_changed: bool) -> None:
        """Refuse to add trials of a different experiment to this run (a copied space that kept its
        name, other data under the same file name…); the first run records what it is."""
        path = self.path / "fingerprint.json"
        recorded = read_json(path)
        changed = [part for part, value in parts.items() if part in recorded and recorded[part] != value]
        if changed and not allow_changed:
            raise StratsearchError(
                f"{self.path} holds a run of another experiment: {', '.join(changed)} changed since it started."
                " Give the space a new `name` (or use another --runs-dir) to start afresh, or pass"
                " --resume-changed to add trials to this run anyway (budget, resources, ensemble and confirm may"
                " change freely)"
            )
        if not recorded or changed:
            write_json(path, parts)

    # the ensemble
    def read_ensemble(self) -> dict[str, Any]:
        ensemble = read_json(self.ensemble_json)
        if ensemble:
            return ensemble
        if self.in_use():
            raise StratsearchError(
                f"{self.path}: a sweep is running there and has not built its ensemble yet; it does when its"
                " trials end (or use --best for the best single model so far)"
            )
        raise StratsearchError(f"{self.path}: no ensemble yet; run `stratsearch ensemble {self.path}` first")

    def has_ensemble(self) -> bool:
        return self.ensemble_json.is_file()

    @property
    def confirm_json(self) -> Path:
        return self.path / "confirm.json"

    # time spent
    def elapsed(self) -> float:
        """Seconds the sweep has run so far, over every resume."""
        value = read_json(self.path / "sweep.json").get("elapsed_s")
        return float(value) if isinstance(value, int | float) else 0.0

    @contextmanager
    def clock(self, every: float = 5.0) -> Iterator[float]:
        """Count the time spent inside as the run goes: recorded every `every` seconds and at the end,
        so a SIGKILL loses at most that much of the time budget (a resumed run does not get it
        again). Yields the time it started."""
        before, started = self.elapsed(), time.time()
        stop = threading.Event()

        def record() -> None:
            write_json(self.path / "sweep.json", {"elapsed_s": before + time.time() - started})

        def tick() -> None:
            while not stop.wait(every):
                with contextlib.suppress(OSError):  # a full disk: the sweep's own writes meet it and say so
                    record()

        thread = threading.Thread(target=tick, name="stratsearch-clock", daemon=True)
        thread.start()
        try:
            yield started
        finally:
            stop.set()
            thread.join()
            record()

    # a full disk
    def disk_full(self, why: str) -> StratsearchError:
        """The error for a sweep stopped by a full disk: where, how much a trial needs, what to do."""
        need, free = self.trial_footprint(), shutil.disk_usage(self.path).free
        return StratsearchError(
            f"disk full: {why}. A trial of this run needs about {megabytes(need)} MB in {self.path}"
            f" ({megabytes(free)} MB free now). Free some space (or give another --runs-dir), then rerun"
            " the same command: every finished trial is kept and the unfinished ones run again"
        )

    def trial_footprint(self) -> int:
        """Bytes one trial can take: the largest trial folder so far (a saved model counts), and at
        least the base model's own size (a trial in the top k saves a copy)."""
        model = Path(read_json(self.run_json).get("model_path", self.path / "none"))
        return max([folder_size(model), *(folder_size(r.folder) for r in self.trials())])

    # one command at a time
    def in_use(self) -> bool:
        """Whether a `run` (or `ensemble`) holds this run directory now."""
        try:
            with self.lock():
                return False
        except StratsearchError:
            return True

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One `run` (or `ensemble`) per run directory: the lock dies with its process, even under kill -9."""
        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / ".lock").open("a+") as handle:  # not "w": that would empty the holder's pid
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StratsearchError(
                    f"{self.path} is in use by another `stratsearch run`; wait for it or use another --runs-dir"
                ) from None
            handle.truncate(0)
            handle.write(str(os.getpid()))
            handle.flush()
            yield

    # results.csv
    def results_frame(self, metric: str) -> pd.DataFrame:
        """One row per trial (restarted ones under their new number only): every parameter, status,
        best metric, epochs run, time."""
        import pandas as pd

        rows = []
        for record, status in self.statuses():
            if status.status == "interrupted":
                continue  # restarted under a new trial number
            config = record.config()
            row: dict = {
                "trial": record.number,
                "status": status.status or None,
                "baseline": config.get("baseline"),
                "origin": config.get("origin"),
                **{k: config.get(k) for k in LINEAGE},
                f"best_{metric}": status.best_value,
                "best_epoch": status.best_epoch,
                "epochs_run": status.epoch,
                "wall_s": status.wall_s,
                "trainable_parameters": status.trainable_parameters,
                "train_seconds": status.train_seconds,
                "train_flops": status.train_flops,
                "examples_seen": status.examples_seen,
                "peak_memory_mb": status.peak_memory_mb,
                "drift": status.drift,
                "general_drift": status.general_drift,
                f"train_{metric}": (status.train_metrics or {}).get(metric),  # on the probe's training examples
                f"test_{metric}": status.test_value(metric),
                "reason": status.reason,
            }
            flatten("", config["config"], row)
            rows.append(row)
        return pd.DataFrame(rows)

    def write_results(self, metric: str) -> Path:
        frame = self.results_frame(metric)
        with files.atomic_file(self.results_csv) as handle:
            faults.point("sweep.results")
            frame.to_csv(handle, index=False)
        return self.results_csv


def megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f}" if size < 10 * 2**20 else f"{size / 2**20:,.0f}"


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


def flatten(prefix: str, value: object, out: dict) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), sub, out)
    else:
        out[prefix] = value


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


@dataclass
class SeedGroup:
    """A confirmed strategy's fresh seed runs, as its folders say: the one place that says whether
    it is confirmed (the ranking, the confirmation's winner and its racing all ask here)."""

    fresh: dict[int, float] = field(default_factory=dict)  # round → the validation value of its finished run
    failed: Counter = field(default_factory=Counter)  # round → its failed runs

    @property
    def unconfirmed(self) -> bool:
        """A seed run failed `ATTEMPTS` times at a round that none finished: a strategy that crashes
        on a seed is not one to recommend, whatever its other seeds scored."""
        return any(n >= ATTEMPTS and r not in self.fresh for r, n in self.failed.items())

    @property
    def confirmed(self) -> bool:
        return bool(self.fresh) and not self.unconfirmed

    def settled(self, round_: int) -> bool:
        """Whether round `round_` is over: its run finished, or failed every attempt."""
        return round_ in self.fresh or self.failed[round_] >= ATTEMPTS

    def ended(self) -> int:
        """Seed runs that ended with a result or a failure."""
        return len(self.fresh) + sum(self.failed.values())


def seed_groups(statuses: list[tuple[TrialRecord, TrialStatus]]) -> dict[int, SeedGroup]:
    """Search trial → its confirmation's seed runs (for the trials a confirmation trained again)."""
    groups: dict[int, SeedGroup] = {}
    for record, status in statuses:
        source, round_ = record.config().get("confirms"), record.config().get("round")
        if source is None or round_ is None:
            continue
        group = groups.setdefault(int(source), SeedGroup())
        if status.status == "finished" and status.best_value is not None:
            group.fresh[int(round_)] = status.best_value
        elif status.status == "failed":
            group.failed[int(round_)] += 1
    return groups
