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
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from stratsearch import files
from stratsearch.confirm.plan import CONFIRMATION, plan_confirmation
from stratsearch.errors import StratsearchError
from stratsearch.rundir import FINAL, RunDir, TrialRecord
from stratsearch.space.load import Confirm, SpaceSpec, parse_time
from stratsearch.sweep.confirm import RESERVE_SHARE, TEST_SHARE, Reserve, run_confirmation
from stratsearch.sweep.duds import trivial_scores
from stratsearch.sweep.resources import PerTrial, check_cluster
from stratsearch.sweep.search import OBJECTIVE, PRUNERS, DefineByRun, sampler_name, session_sampler
from stratsearch.sweep.starts import Starts
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
    confirm_only: Confirm | None = None,
) -> RunDir:
    """Run (or resume) the sweep of a space, then its confirmation over seeds; returns its run
    directory. `confirm_only`: run or extend the confirmation of the run with these settings, and
    no search trial (`stratsearch confirm`)."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # our own progress display replaces Tune's
    import ray
    from rich.console import Console

    from stratsearch.prepare import model_and_data
    from stratsearch.sweep.progress import TrialFailuresSaidOnce
    from stratsearch.train.drift import make_probe
    from stratsearch.train.prefix_cache import usage as prefix_usage

    TrialFailuresSaidOnce.install()

    console = Console(stderr=True, soft_wrap=True)
    run_dir = RunDir((runs_dir / spec.name).resolve())
    confirm = confirm_only or spec.confirm
    if spec.secondary and confirm.seeds:
        console.print("confirmation over seeds: off for a sweep of several objectives", markup=False)
        confirm = confirm.model_copy(update={"seeds": 0})
    with run_dir.lock(), full_disk_stops(run_dir):
        run_dir.check_fingerprint(spec.fingerprint(), resume_changed)
        files.write_text(run_dir.path / "space.yaml", Path(spec.file).read_text())
        study, starts = open_study(spec, run_dir)
        restarted = reconcile(study, run_dir)
        ended = Counter(s.status for r, s in run_dir.statuses() if s.status in FINAL and not is_confirmation(r))
        done = sum(ended.values())
        budget_s = parse_time(spec.budget.time)
        # `stratsearch confirm` is asked for after the run, whatever time its budget had left
        left = budget_s - run_dir.elapsed() if budget_s is not None and not confirm_only else None
        spent = left is not None and left <= 0
        if restarted or done:
            console.print(f"resuming {run_dir}: {done} trial(s) kept, {restarted} restarted", markup=False)
        searching = confirm_only is None and done < spec.budget.trials and not spent
        if not (searching or (not spent and confirmation_owed(run_dir, spec, confirm))):
            console.print("budget already spent: nothing to run", markup=False)
            run_dir.write_results(spec.objective.metric)
            if not run_dir.has_ensemble():  # the last run stopped before it
                finish_ensemble(spec, run_dir, model_and_data(spec)[1], console)
            return run_dir
        model_path, data = model_and_data(spec)
        run_dir.write_info(spec, model_path, data)
        start_ray(address, node_ip_address)
        try:
            # The budget counts from here, as `elapsed` does: not the model load or Ray's start.
            with run_dir.clock() as started:
                deadline = None if left is None else started + left
                want, at_once = check_cluster(spec.resources)
                context = SweepContext(
                    data=data,
                    model_path=model_path,
                    run_dir=run_dir,
                    objective=spec.objective,
                    secondary=[o.metric for o in spec.secondary],
                    keep_top=spec.ensemble.top_k,
                    trivial=trivial_scores(data) if spec.search.stop_not_learning else None,
                    probe=make_probe(model_path, data, spec.data.probe, spec.data.text, spec.data.encoding),
                )
                reserve = None
                if deadline is not None and budget_s is not None and confirm.seeds:
                    cap, test_cap = RESERVE_SHARE * budget_s, TEST_SHARE * budget_s
                    reserve = Reserve(run_dir, spec.objective, confirm, at_once, deadline, cap, test_cap)
                    console.print(
                        f"the search leaves the confirmation the time its seed runs need, at most {cap / 60:.1f}"
                        f" min ({RESERVE_SHARE:.0%} of the budget), and at least what a test of the best strategy"
                        f" against the baseline needs, up to {test_cap / 60:.1f} min ({TEST_SHARE:.0%})",
                        markup=False,
                    )
                console.print(prefix_usage(model_path), markup=False)
                console.print(
                    f"each trial: {want.cpus:g} CPU, {want.gpus:g} GPU; up to {at_once} at once", markup=False
                )
                if searching and not out_of_time(deadline, reserve):
                    search(spec, context, study, starts, want, ended, reserve, deadline, quiet, console, mlflow_uri)
                elif searching:
                    console.print("the time left is the confirmation's reserve: no more search trials", markup=False)
                if confirm.seeds:
                    tuner = partial(make_tuner, spec, want, "confirm")
                    start_s = (reserve.start_s if reserve else None) or 0.0
                    run_confirmation(run_dir, study, context, confirm, tuner, console, deadline, at_once, start_s)
        finally:
            try:
                run_dir.write_results(spec.objective.metric)
            except OSError as err:  # on a full disk, the error that stopped the sweep says so already
                if not files.disk_full(err):
                    raise
            console.print(prefix_usage(model_path), markup=False)
            if not address:
                ray.shutdown()
        finish_ensemble(spec, run_dir, data, console)
    return run_dir


@contextmanager
def full_disk_stops(run_dir: RunDir) -> Iterator[None]:
    """A full disk met by any writer (ours, SQLite's, Ray Tune's) ends the sweep with the error that
    says where, how much a trial needs and how to go on, rather than a traceback."""
    try:
        yield
    except StratsearchError:
        raise
    except Exception as err:
        if (full := files.full_disk_line(err) or files.out_of_space(run_dir.path)) is None:
            raise
        raise run_dir.disk_full(full) from None


def is_confirmation(record: TrialRecord) -> bool:
    return record.config().get("origin") == CONFIRMATION


def confirmation_owed(run_dir: RunDir, spec: SpaceSpec, confirm: Confirm) -> bool:
    """Whether a confirmation has seed runs to do once the search is over."""
    if not confirm.seeds:
        return False
    confirmation = plan_confirmation(run_dir, spec.objective, confirm.top_k, confirm.seeds)
    return confirmation is not None and bool(confirmation.owed())


def out_of_time(deadline: float | None, reserve: Reserve | None) -> bool:
    """Whether the search phase has no time left (what is left being the confirmation's reserve)."""
    return deadline is not None and (time.time() >= deadline or (reserve is not None and reserve.stop_all()))


def search(
    spec: SpaceSpec,
    context: SweepContext,
    study: Any,
    starts: Starts | None,
    want: PerTrial,
    ended: Counter,
    reserve: Reserve | None,
    deadline: float | None,
    quiet: bool,
    console: Any,
    mlflow_uri: str | None,
) -> None:
    """The search phase: the trials the budget still owes, sampled by Optuna, pruned by the scheduler."""
    from ray.tune.search.optuna import OptunaSearch

    from stratsearch.sweep.progress import SweepProgress

    run_dir = context.run_dir
    if starts is not None:  # a new study: say what runs before the sampler
        console.print(
            f"sampler: {sampler_name(spec)}; first: {len(spec.baselines)} baseline(s),"
            f" {len(starts.trials)} portfolio/warm-start trial(s)",
            markup=False,
        )
        for note in starts.notes:
            console.print(f"  {note}", markup=False)
    tracker = None
    if mlflow_uri:
        from stratsearch.sweep.tracking import MlflowTracker

        tracker = MlflowTracker(mlflow_uri, run_dir, spec.name, Path(spec.file))
    time_left = None if deadline is None else deadline - time.time()
    progress = SweepProgress(
        run_dir, spec.objective, spec.budget.trials, time_left, console, quiet, ended, tracker, reserve
    )
    multi = bool(spec.secondary)
    searcher = OptunaSearch(
        space=DefineByRun(spec.space, [b.to_dict() for b in spec.baselines]),
        metric=[OBJECTIVE, *(o.metric for o in spec.secondary)] if multi else OBJECTIVE,
        mode=[o.mode for o in [spec.objective, *spec.secondary]] if multi else spec.objective.mode,
        sampler=session_sampler(spec, study),
        study_name=spec.name,
        storage=optuna_storage(run_dir),
    )
    scheduler = PRUNERS[spec.search.pruner].build(spec.search, spec.objective.mode, spec.max_epochs())
    samples = spec.budget.trials - sum(ended.values())
    tuner = make_tuner(spec, want, "tune", context, searcher, samples, progress, scheduler, time_left, reserve)
    with progress:
        tuner.fit()
    progress.raise_if_halted()
    settle_in_flight(run_dir, budget_ended=out_of_time(deadline, reserve))
    reconcile(study, run_dir)


def make_tuner(
    spec: SpaceSpec,
    want: PerTrial,
    name: str,
    context: SweepContext,
    search_alg: Any,
    samples: int,
    progress: Any,
    scheduler: Any = None,
    time_left: float | None = None,
    stop: Any = None,
    param_space: dict | None = None,
) -> Any:
    """Ray Tune running `samples` trials of the common trainer, proposed by `search_alg` (Optuna's
    sampler in the search; the fixed seed runs of a confirmation), stopped early by `scheduler`."""
    from ray import tune
    from ray.tune.stopper import CombinedStopper

    resources = {"cpu": want.cpus, "gpu": want.gpus}
    return tune.Tuner(
        tune.with_resources(tune.with_parameters(run_trial, context=context), resources),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=samples,
            max_concurrent_trials=spec.resources.max_concurrent,
            time_budget_s=time_left,
            reuse_actors=True,  # a fresh worker per trial re-imports torch and transformers
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(context.run_dir),
            verbose=0,
            callbacks=[progress],
            failure_config=tune.FailureConfig(max_failures=0),
            stop=CombinedStopper(progress.halt, *([stop] if stop else [])),
        ),
    )


def settle_in_flight(run_dir: RunDir, budget_ended: bool) -> None:
    """After Tune returns, no trial runs: one whose folder still says so was ended by Tune without a
    callback. When the time budget (or the confirmation's reserve) ended the search, that is what
    happened to the trials in flight: stopped, at their best value so far. Otherwise nothing
    stopped it on purpose (its worker died): it failed, and its partial value is no result."""
    for record, status in run_dir.statuses():
        if status.status != "running":
            continue
        if budget_ended:
            record.finish("stopped", pruned_at_epoch=status.epoch)
        else:
            record.finish("failed", reason="ended by Ray Tune without a result")


def finish_ensemble(spec: SpaceSpec, run_dir: RunDir, data: Any, console: Any) -> None:
    """Keep only the top-k trials' models and ensemble them (the sweep's last step)."""
    from stratsearch.choice import choose
    from stratsearch.ensemble.methods import ensemble_run, keep_top_models

    top_k = spec.ensemble.top_k
    keep_top_models(run_dir, spec.objective, top_k)
    if choose(run_dir, spec.objective).strategy is None:
        console.print("no trial finished: no ensemble", markup=False)
        return
    console.print(f"ensembling the top {top_k} trials ({spec.ensemble.method})", markup=False)
    try:
        ensemble_run(run_dir, data, spec.objective, top_k, spec.ensemble.method)
    except Exception as err:  # the trials are the night's work: an ensemble that fails must not hide them
        if files.disk_full(err):
            raise
        console.print(
            f"ensemble not built: {type(err).__name__}: {err} (the trials are kept; retry with"
            f" `stratsearch ensemble {run_dir}`)",
            markup=False,
        )
