"""The sweep's driver: Optuna samplers under Ray Tune, with pruning, budgets and resume.

The driver tokenizes the data once and shares it through Ray's object store; each trial runs the
common trainer (`trial.py`) and reports every epoch to Tune, so a scheduler (ASHA by default) can
stop it early. The Optuna study (`study.py`) is the sweep's memory: rerunning the same command
reconciles it with the trial folders, keeps every finished trial, restarts unfinished ones, and
asks the sampler only for the trials still owed.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from stratsearch.errors import StratsearchError
from stratsearch.rundir import FINAL, RunDir
from stratsearch.space.load import SpaceSpec, parse_time
from stratsearch.sweep.duds import trivial_scores
from stratsearch.sweep.resources import PerTrial, check_cluster
from stratsearch.sweep.search import OBJECTIVE, PRUNERS, SAMPLERS, DefineByRun, sampler_name
from stratsearch.sweep.study import open_study, optuna_storage, reconcile
from stratsearch.sweep.trial import SweepContext, run_trial


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
        # address="local": a new instance, even where `ray start` left a cluster that ray.init()
        # would otherwise join (and mix this sweep's trials with whatever else runs there).
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, **node)


def run_sweep(
    spec: SpaceSpec,
    runs_dir: Path,
    address: str | None = None,
    quiet: bool = False,
    node_ip_address: str | None = None,
    resume_changed: bool = False,
    mlflow_uri: str | None = None,
) -> RunDir:
    """Run (or resume) the sweep of a space; returns its run directory."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # our own progress display replaces Tune's
    import ray
    from rich.console import Console

    from stratsearch.prepare import model_and_data
    from stratsearch.sweep.progress import SweepProgress
    from stratsearch.train.prefix_cache import usage as prefix_usage

    console = Console(stderr=True, soft_wrap=True)
    run_dir = RunDir((runs_dir / spec.name).resolve())
    metric = spec.objective.metric
    with run_dir.lock():
        run_dir.check_fingerprint(spec.fingerprint(), resume_changed)
        (run_dir.path / "space.yaml").write_text(Path(spec.file).read_text())
        study, starts = open_study(spec, run_dir)
        restarted = reconcile(study, run_dir)
        ended = Counter(s.status for _, s in run_dir.statuses() if s.status in FINAL)
        done = sum(ended.values())
        remaining = spec.budget.trials - done
        budget_s = parse_time(spec.budget.time)
        time_left = None if budget_s is None else budget_s - run_dir.elapsed()
        if restarted or done:
            console.print(f"resuming {run_dir}: {done} trial(s) kept, {restarted} restarted", markup=False)
        if remaining <= 0 or (time_left is not None and time_left <= 0):
            console.print("budget already spent: nothing to run", markup=False)
            run_dir.write_results(metric)
            if not run_dir.has_ensemble():  # the last run stopped before it
                finish_ensemble(spec, run_dir, model_and_data(spec)[1], console)
            return run_dir

        model_path, data = model_and_data(spec)
        run_dir.write_info(spec, model_path, data)
        console.print(prefix_usage(), markup=False)
        start_ray(address, node_ip_address)
        try:
            want, at_once = check_cluster(spec.resources)
        except StratsearchError:
            if not address:
                ray.shutdown()
            raise
        console.print(f"each trial: {want.cpus:g} CPU, {want.gpus:g} GPU; up to {at_once} at once", markup=False)
        if starts is not None:  # a new study: say what runs before the sampler
            console.print(
                f"sampler: {sampler_name(spec)}; first: {len(spec.baselines)} baseline(s),"
                f" {len(starts.trials)} portfolio/warm-start trial(s)",
                markup=False,
            )
            for note in starts.notes:
                console.print(f"  {note}", markup=False)
        context = SweepContext(
            data=data,
            model_path=model_path,
            run_dir=run_dir,
            objective=spec.objective,
            secondary=[o.metric for o in spec.secondary],
            keep_top=spec.ensemble.top_k,
            trivial=trivial_scores(data) if spec.search.stop_not_learning else None,
        )
        tracker = None
        if mlflow_uri:
            from stratsearch.sweep.tracking import MlflowTracker

            tracker = MlflowTracker(mlflow_uri, run_dir, spec.name, Path(spec.file))
        progress = SweepProgress(run_dir, spec.objective, spec.budget.trials, time_left, console, quiet, ended, tracker)
        tuner = make_tuner(spec, context, progress, remaining, time_left, want)
        started = time.time()
        try:
            with progress:
                tuner.fit()
            settle_in_flight(run_dir, stopped_by_budget=time_left is not None)
            reconcile(study, run_dir)
        finally:
            run_dir.add_elapsed(time.time() - started)
            run_dir.write_results(metric)
            console.print(prefix_usage(), markup=False)
            if not address:
                ray.shutdown()
        finish_ensemble(spec, run_dir, data, console)
    return run_dir


def make_tuner(
    spec: SpaceSpec, context: SweepContext, progress: Any, samples: int, time_left: float | None, want: PerTrial
) -> Any:
    """Ray Tune running `samples` more trials: Optuna's sampler proposes, the pruner stops early."""
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    multi = bool(spec.secondary)
    searcher = OptunaSearch(
        space=DefineByRun(spec.space, [b.to_dict() for b in spec.baselines]),
        metric=[OBJECTIVE, *(o.metric for o in spec.secondary)] if multi else OBJECTIVE,
        mode=[o.mode for o in [spec.objective, *spec.secondary]] if multi else spec.objective.mode,
        sampler=SAMPLERS[spec.search.sampler].build(spec),
        study_name=spec.name,
        storage=optuna_storage(context.run_dir),
    )
    resources = {"cpu": want.cpus, "gpu": want.gpus}
    return tune.Tuner(
        tune.with_resources(tune.with_parameters(run_trial, context=context), resources),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=PRUNERS[spec.search.pruner].build(spec.search, spec.objective.mode, spec.max_epochs()),
            num_samples=samples,
            max_concurrent_trials=spec.resources.max_concurrent,
            time_budget_s=time_left,
            reuse_actors=True,  # a fresh worker per trial re-imports torch and transformers
        ),
        run_config=tune.RunConfig(
            name="tune",
            storage_path=str(context.run_dir),
            verbose=0,
            callbacks=[progress],
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )


def settle_in_flight(run_dir: RunDir, stopped_by_budget: bool) -> None:
    """After Tune returns, no trial runs: one whose folder still says so was ended by Tune without a
    callback (what happens to the trials in flight when `time_budget_s` runs out)."""
    for record, status in run_dir.statuses():
        if status.status != "running":
            continue
        if stopped_by_budget:
            record.finish("stopped", pruned_at_epoch=status.epoch)
        else:
            record.finish("failed", reason="ended by Ray Tune without a result")


def finish_ensemble(spec: SpaceSpec, run_dir: RunDir, data: Any, console: Any) -> None:
    """Keep only the top-k trials' models and ensemble them (the sweep's last step)."""
    from stratsearch.ensemble.methods import ensemble_run, keep_top_models

    top_k = spec.ensemble.top_k
    keep_top_models(run_dir, spec.objective, top_k)
    if not run_dir.ranked(spec.objective):
        console.print("no trial finished: no ensemble", markup=False)
        return
    console.print(f"ensembling the top {top_k} trials ({spec.ensemble.method})", markup=False)
    ensemble_run(run_dir, data, spec.objective, top_k, spec.ensemble.method)
