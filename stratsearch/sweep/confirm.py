"""The confirmation phase of a sweep: the top candidates trained again on fresh seeds, in rounds.

Round r trains every candidate still in the race with its seed + r (full epochs, no pruning, no
dud rule), as ordinary trials of the run directory. Their numbers are taken from the Optuna study,
so trial numbers never collide with a search that is extended later; there they are recorded like
baselines (no sampled parameters). After each round, racing (`confirm/stats.py: race`) drops the
candidates significantly worse than the leader.

With a time budget, the search phase leaves a reserve for this phase: `Reserve` ends the search
once the time left is what the candidates' own measured full runs would take again, for every
seed (the candidates being the current top-k and the baseline; racing can only make it less).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, Any

from ray.tune.stopper import Stopper

from stratsearch import faults
from stratsearch.confirm.plan import CONFIRMATION, Confirmation, pick_candidates, plan_confirmation
from stratsearch.objective import Objective
from stratsearch.rundir import RunDir

if TYPE_CHECKING:
    from stratsearch.space.load import Confirm
    from stratsearch.sweep.trial import SweepContext


def reserve_seconds(run_dir: RunDir, objective: Objective, confirm: Confirm, at_once: int) -> float | None:
    """Wall seconds the confirmation would need if the search ended now; None before any trial finished."""
    candidates = pick_candidates(run_dir, objective, confirm.top_k, [])
    if not candidates:
        return None
    per_round = sum(run_dir.trial(n).status().wall_s or 0.0 for n in candidates)
    rounds_per_seed = math.ceil(len(candidates) / at_once)  # the slowest of each wave of parallel runs
    return confirm.seeds * per_round / len(candidates) * rounds_per_seed


class Reserve(Stopper):
    """Ends the search phase (every trial in flight, as the time budget would) when only the
    confirmation's reserve is left before `deadline` (an epoch time)."""

    RECHECK_S = 1.0  # Tune asks every loop; reading every trial folder that often would cost more than it saves

    def __init__(self, run_dir: RunDir, objective: Objective, confirm: Confirm, at_once: int, deadline: float):
        self.args = (run_dir, objective, confirm, at_once)
        self.deadline = deadline
        self.checked = 0.0
        self.stop = False

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        now = time.time()
        if now - self.checked >= self.RECHECK_S:
            self.checked = now
            need = reserve_seconds(*self.args)
            self.stop = need is not None and now + need >= self.deadline
        return self.stop


def run_confirmation(
    run_dir: RunDir,
    study: Any,
    context: SweepContext,
    confirm: Confirm,
    make_tuner: Any,  # (context, search_alg, samples, progress, param_space=) → a Tuner; the driver's
    console: Any,
    deadline: float | None,
) -> Confirmation | None:
    """Run the rounds still owed (all of them, or what a crash left); returns the confirmation."""
    from ray import tune

    from stratsearch.sweep.progress import SweepProgress
    from stratsearch.sweep.study import reconcile

    objective = context.objective
    confirmation = plan_confirmation(run_dir, objective, confirm.top_k, confirm.seeds)
    if confirmation is None:
        console.print("no search trial finished: nothing to confirm", markup=False)
        return None
    runs_context = dataclasses.replace(context, trivial=None, save_every_model=True)
    previous: list[tuple[int, int]] = []
    while owed := confirmation.owed():
        if [(c.source, r) for c, r in owed] == previous:  # the last round ended none of them: do not loop
            console.print("confirmation stopped: its last round ended no run", markup=False)
            break
        previous = [(c.source, r) for c, r in owed]
        if deadline is not None and time.time() >= deadline:
            console.print("time budget spent: confirmation stopped with rounds still owed", markup=False)
            break
        round_ = owed[0][1]
        jobs = []
        for candidate, r in owed:
            number = allocate(study, candidate.source, r)
            jobs.append(
                {
                    "trial_config": candidate.seed_config(r),
                    "optuna_number": number,
                    "baseline": None,
                    "origin": CONFIRMATION,
                    "confirms": candidate.source,
                    "round": r,
                }
            )
        sources = ", ".join(str(c.source) for c, _ in owed)
        console.print(f"confirmation round {round_}/{confirmation.seeds}: trials {sources} on a new seed", markup=False)
        progress = SweepProgress(run_dir, objective, len(jobs), None, console, quiet=True, already={})
        # Tune runs one trial per number (a grid); each finds its configuration in the context.
        round_context = dataclasses.replace(runs_context, jobs={job["optuna_number"]: job for job in jobs})
        space = {"optuna_number": tune.grid_search(list(round_context.jobs))}
        tuner = make_tuner(round_context, None, 1, progress, param_space=space)
        faults.point("confirm.round")
        tuner.fit()
        progress.raise_if_halted()
        reconcile(study, run_dir)
        confirmation = plan_confirmation(run_dir, objective, confirm.top_k, confirm.seeds)
        for source, (after, drop) in confirmation.dropped().items():
            if after == round_:
                console.print(
                    f"  racing: trial {source} dropped, worse than the leader by {drop.gap:.4f} over"
                    f" {drop.pairs} paired seeds (Holm-adjusted p = {drop.p:.2g})",
                    markup=False,
                )
    return confirmation


def allocate(study: Any, source: int, round_: int) -> int:
    """A trial number from the study, held by a running trial without parameters: the folder it
    names is the record; `reconcile` tells the study its value once it has ended."""
    import optuna

    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState.RUNNING, user_attrs={"confirms": source, "round": round_}
    )
    study.add_trial(trial)
    return study.trials[-1].number
