"""The sweep: Optuna samplers under Ray Tune, with pruning, budgets and resume.

The driver tokenizes the data once and shares it through Ray's object store; each trial runs the
common trainer and reports every epoch to Tune, so a scheduler (ASHA by default) can stop it
early. The Optuna study lives in SQLite inside the run directory and is the sweep's memory:
rerunning the same command reconciles it with the trial folders, keeps every finished trial,
restarts unfinished ones, and asks the sampler only for the trials still owed. This module knows
nothing of losses or heads: a trial is a config dict handed to the trainer.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import StratsearchError
from .prefix_cache import usage as prefix_usage
from .run_info import write_run_info
from .sampling import sample
from .space import SpaceSpec, parse_time
from .trial_record import FINAL, TrialRecord, all_records, write_json

OBJECTIVE = "objective"  # the best-so-far value of the space's objective metric, reported every epoch


class DefineByRun:
    """Optuna define-by-run space: a baseline trial returns its fixed config, others sample the space.

    A class rather than a closure so that Ray Tune can pickle the searcher into its checkpoints.
    """

    def __init__(self, space: dict, baselines: list[dict]):
        self.space = space
        self.baselines = baselines

    def __call__(self, trial: Any) -> dict:
        baseline = trial.user_attrs.get("baseline")
        config = self.baselines[baseline] if baseline is not None else sample(trial, self.space)
        return {"trial_config": config, "optuna_number": trial.number, "baseline": baseline}


def in_top(run_dir: Path, value: float, mode: str, top_k: int) -> bool:
    """Whether a trial ending with `value` ranks among the top k of the trials finished so far."""
    from .trainer import is_better

    finished = [r.status() for r in all_records(run_dir)]
    ahead = sum(1 for s in finished if s.get("status") == "finished" and is_better(s.get("best_value"), value, mode))
    return ahead < top_k


def run_trial(
    config: dict,
    *,
    data: Any,
    model_path: str,
    run_dir: str,
    task: str,
    metric: str,
    mode: str,
    secondary: list[str],
    keep_top: int,
) -> None:
    """Ray Tune function trainable: one trial of the common trainer, recorded in its own folder.

    A finished trial that ranks in the top `keep_top` so far saves its model for the ensemble;
    the end of the sweep deletes those that fell out of the top since.
    """
    import torch
    from ray import tune

    from .artifacts import save_model, save_predictions
    from .config import Objective, trial_from_space
    from .trainer import EpochMetrics, train

    record = TrialRecord(Path(run_dir), config["optuna_number"])
    params = {k: v for k, v in config.items() if k not in ("trial_config", "optuna_number", "baseline")}
    best: dict[str, Any] = {"value": None, "epoch": 0}
    last_report: dict[str, Any] = {}

    def report(m: EpochMetrics) -> None:
        if m.is_best:  # the trainer judges "best" by the same metric and mode
            best.update(value=m.validation[metric], epoch=m.epoch)
            save_predictions(record.predictions_path("validation"), m.predictions)
        row = {"epoch": m.epoch, "train_loss": m.train_loss, "seconds": m.seconds, **m.validation}
        measures = {**m.validation, "trainable_parameters": m.trainable_parameters, "train_seconds": m.train_seconds}
        objectives = [best["value"], *(measures[name] for name in secondary)]
        record.epoch(row, best["value"], best["epoch"], objectives, trainable_parameters=m.trainable_parameters)
        last_report.clear()
        last_report.update({OBJECTIVE: best["value"], "epoch": m.epoch, **measures})
        if m.epoch < trial.scalars.epochs:
            # Tune may end the trial inside report() (SystemExit in this thread) once it decides
            # to stop it, so the last epoch is reported only after the trial has recorded its end.
            tune.report(dict(last_report))

    def failed(err: BaseException) -> None:
        reason = f"{type(err).__name__}: {err}"
        if isinstance(err, torch.cuda.OutOfMemoryError | MemoryError):
            reason = f"out of memory: {err}"
        record.finish("failed", reason=reason)

    try:
        trial = trial_from_space(config["trial_config"], task)
    except Exception as err:
        record.start(config["trial_config"], params, config["baseline"])  # the raw config, as it did not resolve
        failed(err)
        raise
    record.start(trial.to_dict(), params, config["baseline"])
    try:
        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
        result = train(Path(model_path), data, trial, Objective(metric=metric, mode=mode), report=report)
    except Exception as err:  # any failure of one trial is recorded and the sweep goes on
        failed(err)
        raise
    if result.test_predictions is not None:
        save_predictions(record.predictions_path("test"), result.test_predictions)
    best_value = float(result.best.validation[metric])
    if in_top(Path(run_dir), best_value, mode, keep_top):
        manifest = {"task": task, "labels": data.label_names, "config": trial.to_dict(), "base_model": model_path}
        save_model(record.folder, result.model, Path(model_path), manifest)
    record.finish(
        "finished",
        epochs_run=len(result.history),
        best_epoch=result.best_epoch,
        best_value=best_value,
        test=result.test_metrics,
        trainable_parameters=result.trainable_parameters,
        train_seconds=result.timings["train"],
    )
    tune.report(dict(last_report))


# --- the Optuna study: the sweep's memory -----------------------------------------------------------


def storage_url(run_dir: Path) -> str:
    return f"sqlite:///{run_dir / 'study.db'}"


def open_study(spec: SpaceSpec, run_dir: Path) -> Any:
    """Create or load the study; on first creation enqueue the baselines so they run first."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = ["maximize" if o.mode == "max" else "minimize" for o in [spec.objective, *spec.secondary]]
    url = storage_url(run_dir)
    names = [s.study_name for s in optuna.get_all_study_summaries(url)] if (run_dir / "study.db").exists() else []
    study = optuna.create_study(study_name=spec.name, storage=url, directions=directions, load_if_exists=True)
    if spec.name not in names:
        for i, _ in enumerate(spec.baselines):
            study.enqueue_trial({}, user_attrs={"baseline": i})
    return study


def reconcile(study: Any, run_dir: Path) -> int:
    """After a crash: settle trials the study still thinks are running, from their folders.

    A trial whose folder says it ended is told to the study as such; any other is marked
    interrupted and enqueued again with the same parameters, to restart. Returns the number of
    trials restarted.
    """
    from optuna.trial import TrialState

    restarted = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        record = TrialRecord(run_dir, t.number)
        status = record.status()
        if status.get("status") in ("finished", "pruned", "stopped") and status.get("objectives"):
            values = status["objectives"]
            study.tell(t.number, values if len(study.directions) > 1 else values[0])
            continue
        if status.get("status") == "failed":
            study.tell(t.number, state=TrialState.FAIL)
            continue
        study.tell(t.number, state=TrialState.FAIL)
        if record.folder.exists():
            record.set_status(status="interrupted")
        study.enqueue_trial(t.params, user_attrs=t.user_attrs)
        restarted += 1
    return restarted


# --- samplers and schedulers -------------------------------------------------------------------------


def make_sampler(spec: SpaceSpec) -> Any:
    import optuna

    seed = spec.search.seed
    kind = spec.search.sampler
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if kind == "cmaes":
        # CMA-ES models the numeric dimensions; choices fall back to independent random sampling.
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    from .sampling import grid_values

    return optuna.samplers.GridSampler(grid_values(spec.space), seed=seed)


def make_scheduler(spec: SpaceSpec, max_epochs: int) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler, MedianStoppingRule

    search = spec.search
    kind = search.pruner
    common = {"metric": OBJECTIVE, "mode": spec.objective.mode, "time_attr": "training_iteration"}
    if kind == "asha":
        return ASHAScheduler(
            max_t=max_epochs, grace_period=search.grace_period, reduction_factor=search.reduction_factor, **common
        )
    if kind == "hyperband":
        return HyperBandScheduler(max_t=max_epochs + 1, reduction_factor=search.reduction_factor, **common)
    if kind == "median":
        return MedianStoppingRule(grace_period=search.grace_period, **common)
    return FIFOScheduler()


def max_epochs_of(spec: SpaceSpec) -> int:
    from .checks import max_value

    epochs = [b.scalars.epochs for b in spec.baselines]
    dim = spec.space.get("epochs")
    epochs.append(max_value(dim) if dim is not None else 3)
    return spec.budget.max_epochs or int(max(epochs))


# --- the run directory ---------------------------------------------------------------------------


@contextmanager
def exclusive(run_dir: Path) -> Iterator[None]:
    """One `run` per run directory: the lock dies with its process, even under kill -9."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StratsearchError(
                f"{run_dir} is in use by another `stratsearch run`; wait for it or use another --runs-dir"
            ) from None
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def elapsed_so_far(run_dir: Path) -> float:
    try:
        return float(json.loads((run_dir / "sweep.json").read_text())["elapsed_s"])
    except (OSError, KeyError, ValueError):
        return 0.0


# --- the sweep --------------------------------------------------------------------------------------


def start_ray(address: str | None, node_ip_address: str | None = None) -> None:
    """Attach to a cluster, or start Ray embedded in this process with this machine's CPUs."""
    import ray

    if ray.is_initialized():
        return
    node = {"_node_ip_address": node_ip_address} if node_ip_address else {}
    if address:
        try:
            ray.init(address=address, log_to_driver=False, **node)
        except ConnectionError as err:
            raise StratsearchError(f"--address {address}: cannot attach to a Ray cluster ({err})") from None
    else:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, **node)


def run_sweep(
    spec: SpaceSpec, runs_dir: Path, address: str | None = None, quiet: bool = False, node_ip_address: str | None = None
) -> Path:
    """Run (or resume) the sweep of a space; returns the run directory."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # our own progress display replaces Tune's
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch
    from rich.console import Console

    from .progress import SweepProgress
    from .results import write_results
    from .single_run import model_and_data

    console = Console(stderr=True, soft_wrap=True)
    run_dir = (runs_dir / spec.name).resolve()
    with exclusive(run_dir):
        (run_dir / "space.yaml").write_text(Path(spec.file).read_text())
        study = open_study(spec, run_dir)
        restarted = reconcile(study, run_dir)
        # Trials that ended (finished, pruned, stopped or failed), from their folders.
        ended = Counter(status for status in all_statuses(run_dir) if status in FINAL)
        done = sum(ended.values())
        remaining = spec.budget.trials - done
        budget_s = parse_time(spec.budget.time)
        time_left = None if budget_s is None else budget_s - elapsed_so_far(run_dir)
        if restarted or done:
            console.print(f"resuming {run_dir}: {done} trial(s) kept, {restarted} restarted", markup=False)
        if remaining <= 0 or (time_left is not None and time_left <= 0):
            console.print("budget already spent: nothing to run", markup=False)
            write_results(run_dir, spec.objective.metric)
            if not (run_dir / "ensemble" / "ensemble.json").is_file():  # the last run stopped before it
                finish_ensemble(spec, run_dir, model_and_data(spec)[1], console)
            return run_dir

        model_path, data = model_and_data(spec)
        write_run_info(run_dir, spec, model_path, data)
        console.print(prefix_usage(), markup=False)
        start_ray(address, node_ip_address)
        max_epochs = max_epochs_of(spec)
        baselines = [b.to_dict() for b in spec.baselines]
        secondary = [o.metric for o in spec.secondary]
        searcher = OptunaSearch(
            space=DefineByRun(spec.space, baselines),
            metric=[OBJECTIVE, *secondary] if secondary else OBJECTIVE,
            mode=[spec.objective.mode, *(o.mode for o in spec.secondary)] if secondary else spec.objective.mode,
            sampler=make_sampler(spec),
            study_name=spec.name,
            storage=optuna_storage(run_dir),
        )
        trainable = tune.with_parameters(
            run_trial,
            data=data,
            model_path=str(model_path),
            run_dir=str(run_dir),
            task=spec.task,
            metric=spec.objective.metric,
            mode=spec.objective.mode,
            secondary=secondary,
            keep_top=spec.ensemble.top_k,
        )
        resources = {"cpu": spec.resources.cpus_per_trial, "gpu": spec.resources.gpus_per_trial}
        progress = SweepProgress(
            run_dir, spec.objective.metric, spec.objective.mode, spec.budget.trials, time_left, console, quiet, ended
        )
        tuner = tune.Tuner(
            tune.with_resources(trainable, resources),
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                scheduler=make_scheduler(spec, max_epochs),
                num_samples=remaining,
                max_concurrent_trials=spec.resources.max_concurrent,
                time_budget_s=time_left,
                reuse_actors=True,  # a fresh worker per trial re-imports torch and transformers
            ),
            run_config=tune.RunConfig(
                name="tune",
                storage_path=str(run_dir),
                verbose=0,
                callbacks=[progress],
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
        started = time.time()
        try:
            with progress:
                tuner.fit()
        finally:
            write_json(run_dir / "sweep.json", {"elapsed_s": elapsed_so_far(run_dir) + time.time() - started})
            write_results(run_dir, spec.objective.metric)
            console.print(prefix_usage(), markup=False)
            if not address:
                ray.shutdown()
        finish_ensemble(spec, run_dir, data, console)
    return run_dir


def finish_ensemble(spec: SpaceSpec, run_dir: Path, data: Any, console: Any) -> None:
    """Keep only the top-k trials' models and ensemble them (the sweep's last step)."""
    from .ensemble import ensemble_run, keep_top_models, ranked_trials

    mode, top_k = spec.objective.mode, spec.ensemble.top_k
    keep_top_models(run_dir, mode, top_k)
    if not ranked_trials(run_dir, mode):
        console.print("no trial finished: no ensemble", markup=False)
        return
    console.print(f"ensembling the top {top_k} trials ({spec.ensemble.method})", markup=False)
    ensemble_run(run_dir, data, spec.objective.metric, mode, top_k, spec.ensemble.method)


def optuna_storage(run_dir: Path) -> Any:
    import optuna

    return optuna.storages.RDBStorage(storage_url(run_dir))


def all_statuses(run_dir: Path) -> list[str]:
    return [r.status().get("status", "") for r in all_records(run_dir)]
