"""The Optuna study: the sweep's memory, kept in SQLite inside the run directory.

Rerunning the same command reconciles it with the trial folders (the source of truth): every
finished trial is kept, unfinished ones restart under a new number with the same parameters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stratsearch.rundir import RunDir

if TYPE_CHECKING:
    from stratsearch.space.load import SpaceSpec
    from stratsearch.space.starts import Starts


def open_study(spec: SpaceSpec, run_dir: RunDir) -> tuple[Any, Starts | None]:
    """Create or load the study; on first creation plan and enqueue the baselines, then the
    portfolio and warm starts, so they run first and in that order. The starts are returned when
    they were planned (a new study), else None: a resumed study already holds them."""
    import optuna

    from stratsearch.space.starts import plan_starts

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = [o.direction for o in [spec.objective, *spec.secondary]]
    url = run_dir.study_url
    names = [s.study_name for s in optuna.get_all_study_summaries(url)] if run_dir.study_path.exists() else []
    study = optuna.create_study(study_name=spec.name, storage=url, directions=directions, load_if_exists=True)
    if spec.name in names:
        return study, None
    starts = plan_starts(spec)
    for i, _ in enumerate(spec.baselines):
        study.enqueue_trial({}, user_attrs={"baseline": i})
    for start in starts.trials:
        study.enqueue_trial(start.params, user_attrs={"origin": start.origin})
    return study, starts


def reconcile(study: Any, run_dir: RunDir) -> int:
    """After a crash: settle trials the study still thinks are running, from their folders.

    A trial whose folder says it ended is told to the study as such; any other is marked
    interrupted and enqueued again with the same parameters, to restart (a confirmation run is
    not: its confirmation owes it again, under a new number). Returns the number of trials
    restarted.
    """
    from optuna.trial import TrialState

    restarted = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        record = run_dir.trial(t.number)
        status = record.status()
        if status.status in ("finished", "pruned", "stopped") and status.objectives:
            values = status.objectives
            study.tell(t.number, values if len(study.directions) > 1 else values[0])
            continue
        study.tell(t.number, state=TrialState.FAIL)
        if status.status == "failed":
            continue
        if record.folder.exists():
            record.set_status(status="interrupted")
        if "confirms" not in t.user_attrs:
            study.enqueue_trial(t.params, user_attrs=t.user_attrs)
        restarted += 1
    return restarted


def optuna_storage(run_dir: RunDir) -> Any:
    import optuna

    return optuna.storages.RDBStorage(run_dir.study_url)
