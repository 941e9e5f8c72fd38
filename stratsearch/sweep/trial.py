"""One trial of a sweep, as Ray Tune runs it: the common trainer, recorded in its own folder.

Every epoch is recorded in the trial folder first and reported to Tune second, so a trial that
Tune stops (pruned, or out of time) has already written everything it learned.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratsearch import faults, files
from stratsearch.objective import Objective
from stratsearch.rundir import LINEAGE, RunDir
from stratsearch.sweep.duds import NotLearning, not_learning
from stratsearch.sweep.search import OBJECTIVE

if TYPE_CHECKING:
    import numpy as np

    from stratsearch.train.data import Dataset
    from stratsearch.train.drift import Probe
    from stratsearch.train.trainer import EpochMetrics, TrainResult

CONTROL_KEYS = ("trial_config", "optuna_number", "baseline", "origin", *LINEAGE)  # the rest: Optuna's params


@dataclass(frozen=True)
class SweepContext:
    """What every trial of a sweep shares (put in Ray's object store once)."""

    data: Dataset
    model_path: Path
    run_dir: RunDir
    objective: Objective
    secondary: list[str]  # further objectives of a multi-objective sweep
    keep_top: int  # a finished trial in the top k so far saves its model
    trivial: dict[str, float] | None = None  # the trivial predictor's validation scores; None: no dud rule
    save_every_model: bool = False  # confirmation runs keep theirs: the winner's seeds are ensemble members
    jobs: dict[int, dict] | None = None  # a confirmation round: each trial's whole config, by its number
    probe: Probe | None = None  # the probe texts a finished trial's drift is measured on


# How running out of memory reads: torch on the GPU (OutOfMemoryError), torch's CPU allocator
# ("DefaultCPUAllocator: can't allocate memory…", "not enough memory"), Python, and the OS (errno 12).
OUT_OF_MEMORY = ("OutOfMemoryError", "allocate memory", "not enough memory", "MemoryError")


def out_of_memory(said: str) -> bool:
    return any(words in said for words in OUT_OF_MEMORY)


def at_memory_limit(margin: int = 64 * 2**20) -> bool:
    """Whether this process is within `margin` bytes of its address-space limit (`ulimit -v`), in
    which case whatever failed, failed for want of memory, however a library words it (oneDNN:
    "could not create a primitive")."""
    import resource

    from stratsearch.files import address_space

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return soft != resource.RLIM_INFINITY and address_space() + margin >= soft


def run_trial(config: dict, *, context: SweepContext) -> None:
    """Ray Tune function trainable."""
    TrialRunner(context, config).run()


class TrialRunner:
    def __init__(self, context: SweepContext, config: dict):
        self.context = context
        self.config = config if context.jobs is None else context.jobs[config["optuna_number"]]
        self.record = context.run_dir.trial(config["optuna_number"])
        self.best_value: float | None = None
        self.best_epoch = 0
        self.last_report: dict[str, Any] = {}
        self.measures: dict[str, Any] = {}  # the last epoch's: what a secondary objective reads
        self.epochs = 0

    def run(self) -> None:
        import ray
        import torch
        from ray import tune

        from stratsearch.train.config import trial_from_space
        from stratsearch.train.trainer import train

        ctx = self.context
        params = {k: v for k, v in self.config.items() if k not in CONTROL_KEYS}
        lineage = {k: self.config[k] for k in LINEAGE if k in self.config}
        start = (params, self.config["baseline"], self.config["origin"], ray.get_runtime_context().get_node_id())
        try:
            trial = trial_from_space(self.config["trial_config"], ctx.data.task).for_model(ctx.model_path)
        except Exception as err:
            self.record.start(self.config["trial_config"], *start, **lineage)
            self.failed(err)
            raise
        self.record.start(trial.to_dict(), *start, **lineage)
        self.epochs = trial.scalars.epochs
        try:
            torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
            result = train(ctx.model_path, ctx.data, trial, ctx.objective, report=self.report)
            self.finish(result, trial.to_dict())  # measuring drift and saving can fail too
        except NotLearning as stop:
            self.record.finish("stopped", reason=str(stop), pruned_at_epoch=self.record.status().epoch)
            tune.report(dict(self.last_report))
            return
        except Exception as err:  # any failure of one trial is recorded and the sweep goes on
            if not files.disk_full(err):  # not the trial's fault: it stays unfinished and runs again on resume
                self.failed(err)
            raise
        tune.report(dict(self.last_report))

    def report(self, m: EpochMetrics) -> None:
        from ray import tune

        from stratsearch.predictions import save_predictions

        faults.point("trial.epoch")
        metric = self.context.objective.metric
        if m.is_best:  # the trainer judges "best" by the same objective
            self.best_value, self.best_epoch = m.validation[metric], m.epoch
            save_predictions(self.record.predictions_path("validation"), m.predictions)
        row = {"epoch": m.epoch, "train_loss": m.train_loss, "seconds": m.seconds, **m.validation}
        cost = {
            "trainable_parameters": m.trainable_parameters,
            "train_seconds": m.train_seconds,
            "train_flops": m.train_flops,
            "examples_seen": m.examples_seen,
        }
        self.measures = {**m.validation, **cost}
        self.record.epoch(row, self.best_value, self.best_epoch, self.objectives(), **cost)
        # Tune wants every objective in every result: drift, measured at the end, is NaN until then.
        unmeasured = {name: float("nan") for name in self.context.secondary if name not in self.measures}
        self.last_report = {OBJECTIVE: self.best_value, "epoch": m.epoch, **self.measures, **unmeasured}
        faults.point("trial.recorded")
        if self.context.trivial is not None and (why := not_learning(m, self.context.trivial, self.context.objective)):
            raise NotLearning(why)
        if m.epoch < self.epochs:
            # Tune may end the trial inside report() (SystemExit in this thread) once it decides
            # to stop it, so the last epoch is reported only after the trial has recorded its end.
            tune.report(dict(self.last_report))

    def objectives(self) -> list[float | None]:
        """What the study is told if the trial ends now; None for a measure not taken yet (drift is
        measured once a trial has trained to its end)."""
        return [self.best_value, *(self.measures.get(name) for name in self.context.secondary)]

    def failed(self, err: BaseException) -> None:
        reason = f"{type(err).__name__}: {err}"
        oom = out_of_memory(reason) or at_memory_limit()
        self.record.finish("failed", reason=f"out of memory: {reason}" if oom else reason)

    def in_top(self, value: float) -> bool:
        """Whether fewer than k finished trials have a better value than `value`. That is enough to
        save every model `choice.Choice.keep` may want (a trial's place in the choice's ranking is at
        least the count of better values before it; the candidates' seed runs always save theirs),
        and needs no confirmation replayed at every trial's end; `keep` deletes the rest."""
        ctx = self.context
        finished = [s for _, s in ctx.run_dir.statuses() if s.scored and s.status == "finished"]
        return sum(ctx.objective.better(s.best_value, value) for s in finished) < ctx.keep_top

    def finish(self, result: TrainResult, config: dict) -> None:
        from stratsearch.predictions import save_predictions
        from stratsearch.train.artifacts import save_model

        ctx = self.context
        probed = {} if ctx.probe is None else probe_measures(result, ctx.probe, ctx.data, ctx.model_path)
        self.measures |= probed
        self.last_report |= {k: v for k, v in probed.items() if k in ctx.secondary}
        if result.test_predictions is not None:
            save_predictions(self.record.predictions_path("test"), result.test_predictions)
        best_value = float(result.best.validation[ctx.objective.metric])
        if ctx.save_every_model or self.in_top(best_value):
            manifest = {
                "task": ctx.data.task.name,
                "labels": ctx.data.label_names,
                "config": config,
                "base_model": str(ctx.model_path),
                # chosen on this trial's validation predictions (multi-label thresholds), never the test's
                "decisions": ctx.data.task.decisions(result.validation_predictions, ctx.data.validation.targets),
            }
            save_model(self.record.folder, result.model, ctx.model_path, manifest)
            faults.point("trial.saved")
        self.record.finish(
            "finished",
            epochs_run=len(result.history),
            best_epoch=result.best_epoch,
            best_value=best_value,
            test=result.test_metrics,
            trainable_parameters=result.trainable_parameters,
            train_seconds=result.timings["train"],
            train_flops=result.train_flops,
            examples_seen=result.examples_seen,
            peak_memory_mb=result.peak_memory_mb,
            objectives=self.objectives(),
            **probed,
        )


def probe_measures(result: TrainResult, probe: Probe, data: Dataset, model_path: Path) -> dict[str, Any]:
    """What the probe says of a trained model (its best epoch's weights): drift from the pretrained
    encoder on each probe set, and, from the same forward pass, the task's metrics on the probe's
    training examples (the other half of the train − validation gap). The frozen bottom's states
    come from the frozen-prefix cache, as in training: only the layers above it run."""
    from functools import partial

    from stratsearch.train.drift import Frozen, measure_drift
    from stratsearch.train.prefix_cache import prefix_feed

    model, split = result.model, probe.train.split
    device = next(model.parameters()).device
    model.eval()  # the head's dropout too: the fit is the trained model's, as on validation
    outputs: list[Any] = [None] * len(split)

    def predicted(idx: np.ndarray, batch: dict, hidden: Any) -> None:
        logits = model.from_states(hidden, batch["attention_mask"]).float()
        for row, value in zip(
            idx, data.task.outputs(logits, batch["labels"], split, idx, data.label_names), strict=True
        ):
            outputs[row] = value

    out: dict[str, Any] = {}
    start = time.perf_counter()
    splits = {name: probe_set.split for name, probe_set in probe.sets().items()}
    with prefix_feed(model.backbone, splits, data.pad_id, result.frozen_depth, model_path) as feed:
        for name, probe_set in probe.sets().items():
            frozen = Frozen(result.frozen_depth, partial(feed, name), device) if feed else None
            on_batch = predicted if name == "train" else None
            measured = measure_drift(model.backbone, probe_set, data.pad_id, on_batch, frozen)
            prefix = "" if name == "train" else f"{name}_"
            out |= {f"{prefix}cka": measured.cka, f"{prefix}drift": measured.top}
    out["drift_seconds"] = time.perf_counter() - start  # computing the probe's prefix cache included
    out["train_metrics"] = data.task.score(data.task.stack(outputs), split.targets, data.label_names)
    return out
