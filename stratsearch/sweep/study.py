"""The Optuna study: the sweep's memory, kept in SQLite inside the run directory.

Rerunning the same command reconciles it with the trial folders (the source of truth): every
finished trial is kept, unfinished ones restart under a new number with the same parameters.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from stratsearch.confirm.plan import CONFIRMATION
from stratsearch.errors import StratsearchError
from stratsearch.rundir import LINEAGE, RunDir, TrialRecord

if TYPE_CHECKING:
    from stratsearch.space.load import SpaceSpec
    from stratsearch.sweep.starts import Starts


def open_study(spec: SpaceSpec, run_dir: RunDir) -> tuple[Any, Starts | None]:
    """Create or load the study; on first creation plan and enqueue the baselines, then the
    portfolio and warm starts, so they run first and in that order. The starts are returned when
    they were planned (a new study), else None: a resumed study already holds them.

    A study lost while trial folders remain (study.db deleted, or damaged and moved aside) is
    rebuilt from the folders, which are the source of truth: the same trial numbers, parameters
    and values, and the starts that had not run yet are enqueued again."""
    import optuna

    from stratsearch.sweep.starts import plan_starts

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = [o.direction for o in [spec.objective, *spec.secondary]]
    path = run_dir.study_path
    if spec.name in study_names(run_dir):
        return optuna.load_study(study_name=spec.name, storage=run_dir.study_url), None
    # A new study is made whole in a file beside study.db and renamed over it: a crash half way
    # leaves no study (made again next time), never one without its starts or rebuilt trials.
    tmp = path.with_name(f".{path.name}.new")
    tmp.unlink(missing_ok=True)
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp}")
    study = optuna.create_study(study_name=spec.name, storage=storage, directions=directions)
    starts, records = plan_starts(spec), run_dir.trials()
    if records:
        rebuild(study, spec, records)
        starts.notes.insert(0, f"{path.name} held no study of this run: rebuilt from {len(records)} trial folder(s)")
    # Starts already run, or left running (reconcile restarts those); an interrupted one's restart
    # was in the lost study, so it is enqueued again like one that never ran.
    ran = [r.config() for r in records if r.status().status != "interrupted"]
    baselines_ran, origins_ran = {c.get("baseline") for c in ran}, {c.get("origin") for c in ran}
    for i, _ in enumerate(spec.baselines):
        if i not in baselines_ran:
            study.enqueue_trial({}, user_attrs={"baseline": i})
    for start in starts.trials:
        if start.origin not in origins_ran:
            study.enqueue_trial(start.params, user_attrs={"origin": start.origin})
    storage.engine.dispose()
    os.replace(tmp, path)
    return optuna.load_study(study_name=spec.name, storage=run_dir.study_url), starts


def study_names(run_dir: RunDir) -> list[str]:
    """The studies study.db holds. One SQLite cannot read (damaged) is moved aside, to be rebuilt;
    one another process holds locked is a clear error."""
    import optuna
    from sqlalchemy.exc import DatabaseError

    path = run_dir.study_path
    if not path.exists():
        return []
    try:
        return [s.study_name for s in optuna.get_all_study_summaries(run_dir.study_url)]
    except DatabaseError as err:
        if "locked" in str(err):
            raise StratsearchError(
                f"{path}: the Optuna study is locked by another process ({err.orig}); close whatever has it"
                " open (an optuna-dashboard, a notebook), then rerun the same command"
            ) from None
        aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
        path.rename(aside)
        return []


def rebuild(study: Any, spec: SpaceSpec, records: list[TrialRecord]) -> None:
    """Add the trials of `records` to an empty study under their own numbers (a number no folder
    kept is added as failed), each with its parameters, their distributions, and its values."""
    import optuna
    from optuna.trial import TrialState, create_trial

    from stratsearch.sweep.search import DefineByRun

    define = DefineByRun(spec.space, [b.to_dict() for b in spec.baselines])
    by_number = {r.number: r for r in records}
    for number in range(max(by_number) + 1):
        record = by_number.get(number)
        if record is None:
            study.add_trial(create_trial(state=TrialState.FAIL))
            continue
        config, status = record.config(), record.status()
        attrs = {k: config[k] for k in LINEAGE if config.get(k) is not None}
        if config.get("baseline") is not None:
            attrs["baseline"] = config["baseline"]
        elif config.get("origin") not in ("sampler", CONFIRMATION):
            attrs["origin"] = config["origin"]
        # Replaying the space on the recorded parameters gives their distributions back.
        probe = optuna.create_study(directions=study.directions)
        probe.enqueue_trial(config.get("params") or {}, user_attrs=attrs)
        trial = probe.ask()
        if "confirms" not in attrs:
            define(trial)
        values = status.objectives if status.scored and status.objectives else None
        state = TrialState.COMPLETE if values else TrialState.FAIL
        if values and None in values:  # ended before its drift was measured (the time budget)
            values, state = None, TrialState.PRUNED
        params = {"params": trial.params, "distributions": trial.distributions, "user_attrs": attrs}
        study.add_trial(create_trial(state=state, values=values, **params))


def reconcile(study: Any, run_dir: RunDir) -> int:
    """After a crash: settle trials the study still thinks are running, from their folders.

    A trial whose folder says it ended is told to the study as such; any other is marked
    interrupted and enqueued again with the same parameters, to restart (a confirmation run is
    not: its confirmation owes it again, under a new number). So is a trial the study has ended
    but whose folder never said how (its worker could not write to a full disk), or whose
    status.json can no longer be read (a disk fault): its result is not known, so it runs again.
    Returns the number of trials restarted.
    """
    from optuna.trial import TrialState

    restarted = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        record = run_dir.trial(t.number)
        status = record.status()
        if status.status in ("finished", "pruned", "stopped") and status.objectives:
            values = status.objectives
            if None in values:  # ended before its drift was measured (the time budget)
                study.tell(t.number, state=TrialState.PRUNED)
            else:
                study.tell(t.number, values if len(study.directions) > 1 else values[0])
            continue
        study.tell(t.number, state=TrialState.FAIL)
        if status.status == "failed":
            continue
        restarted += restart(study, t, record, "interrupted")
    for record in run_dir.trials():
        status = record.status().status
        if status in ("", "running") and record.number < len(study.trials):
            why = "status.json was unreadable" if not status else "it never recorded its end"
            restarted += restart(study, study.trials[record.number], record, why)
    return restarted


def restart(study: Any, trial: Any, record: TrialRecord, why: str) -> int:
    """Mark a trial's folder interrupted and enqueue its parameters again (a confirmation run is
    owed again by its confirmation instead). Returns 1, the trials restarted."""
    from stratsearch.train.artifacts import remove_model

    if record.folder.exists():
        record.set_status(status="interrupted", reason=why)
        remove_model(record.folder)  # whatever it saved before it stopped: the restart saves its own
    if "confirms" not in trial.user_attrs:
        study.enqueue_trial(trial.params, user_attrs=trial.user_attrs)
    return 1


def optuna_storage(run_dir: RunDir) -> Any:
    import optuna

    return optuna.storages.RDBStorage(run_dir.study_url)
