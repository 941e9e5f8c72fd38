"""The confirmation phase of a sweep: the top candidates trained again on fresh seeds, in rounds.

Round r trains every candidate still in the race with its seed + r (full epochs, no pruning, no
dud rule), as ordinary trials of the run directory. Their numbers are taken from the Optuna study,
so trial numbers never collide with a search that is extended later; there they are recorded like
baselines (no sampled parameters). After each round, racing (`confirm/stats.py: race`) drops the
candidates significantly worse than the leader. A seed run that failed is owed once more.

With a time budget, the search phase leaves a reserve for this phase: `Reserve` ends the search
once the time left is what the seed runs still owed would take (each candidate's own measured
full run, a pruned one scaled up to its full epochs, the slowest of each wave of parallel runs),
capped at `RESERVE_SHARE` of the budget so that a long budget with slow trials still searches,
but never less than a test needs (the best searched strategy and the baseline on two fresh
seeds), up to `TEST_SHARE`. The confirmation is then planned for a test (`fit_to_time`): fewer
seeds while every candidate keeps two, else fewer candidates, one seed only where even the best
and the baseline cannot have two, each said before it starts; a round is started only when it
ends less than one run's time past the deadline: the run overruns its budget by less than one
trial's time.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from ray.tune.stopper import Stopper

from stratsearch import faults
from stratsearch.confirm.plan import CONFIRMATION, Candidate, Confirmation, plan_confirmation, record_fit
from stratsearch.confirm.stats import ALPHA, MIN_PAIRS, POWER
from stratsearch.objective import Objective
from stratsearch.rundir import RunDir

if TYPE_CHECKING:
    from stratsearch.space.load import Confirm
    from stratsearch.sweep.trial import SweepContext

RESERVE_SHARE = 0.5  # the most of a time budget held back for the whole confirmation asked for
TEST_SHARE = 0.75  # … and for the least that gives a test: the best strategy and the baseline on two fresh seeds


def run_seconds(candidate: Candidate) -> float:
    """What one more seed run of a candidate takes: the mean of its seed runs so far, else its search
    run's wall time, scaled up to its full epochs where it was pruned or stopped early."""
    seeds = [run.wall_s for r, run in candidate.runs.items() if r > 0 and run.status == "finished" and run.wall_s]
    if seeds:
        return sum(seeds) / len(seeds)
    search, epochs = candidate.runs[0], int(candidate.config.get("epochs") or 0)
    wall = search.wall_s or 0.0
    cut = search.status in ("pruned", "stopped") and 0 < search.epochs_run < epochs
    return wall * epochs / search.epochs_run if cut else wall


def round_seconds(walls: list[float], at_once: int) -> float:
    """The wall time of one round's runs, `at_once` side by side: the slowest of each wave."""
    walls = sorted(walls, reverse=True)
    return sum(walls[i] for i in range(0, len(walls), at_once))


def rounds_seconds(confirmation: Confirmation, at_once: int) -> list[tuple[int, float, float]]:
    """(round, its wall seconds, its longest run) for every round still owed, as the race stands
    (racing can only make it less)."""
    dropped = confirmation.dropped()
    live = [c for c in confirmation.candidates if c.source not in dropped and not c.unconfirmed]
    walls = {c.source: run_seconds(c) for c in live}
    out = []
    for r in range(1, confirmation.seeds + 1):
        owed = [walls[c.source] for c in live if not c.seed_group.settled(r)]
        if owed:
            out.append((r, round_seconds(owed, at_once), max(owed)))
    return out


def start_seconds(run_dir: RunDir, since: float) -> float | None:
    """What a fresh Tune run takes before its first trial starts (Ray's workers importing torch and
    transformers: seconds a run's own wall time leaves out, paid again by every round): from `since`,
    when the Tune run began, to the first trial that started after it; None before one has."""
    starts = [s for r in run_dir.trials() if (s := r.status().started) is not None and s >= since]
    return min(starts) - since if starts else None


def reserve_seconds(
    run_dir: RunDir, objective: Objective, confirm: Confirm, at_once: int, start_s: float = 0.0
) -> float | None:
    """Wall seconds the confirmation would need if the search ended now (what is already confirmed
    subtracted; each round's Tune start `start_s` added); None before any trial finished."""
    confirmation = plan_confirmation(run_dir, objective, confirm.top_k, confirm.seeds, write=False)
    if confirmation is None:
        return None
    return sum(seconds + start_s for _, seconds, _ in rounds_seconds(confirmation, at_once))


class Reserve(Stopper):
    """Ends the search phase (every trial in flight, as the time budget would) when only the
    confirmation's reserve is left before `deadline` (an epoch time): what the confirmation asked
    for, at most `cap` seconds (`RESERVE_SHARE` of the budget), but at least what a test needs (the
    best searched strategy and the baseline on two fresh seeds), at most `test_cap` seconds
    (`TEST_SHARE`). Each round pays a Tune start as long as the search's own (`start_seconds`
    from `began`)."""

    RECHECK_S = 1.0  # Tune asks every loop; the folders are read again only where they changed

    def __init__(
        self,
        run_dir: RunDir,
        objective: Objective,
        confirm: Confirm,
        at_once: int,
        deadline: float,
        cap: float,
        test_cap: float | None = None,
    ):
        test = confirm.model_copy(update={"top_k": 1, "seeds": min(confirm.seeds, MIN_PAIRS)})
        self.run_dir = run_dir
        self.plans = [(run_dir, objective, confirm, at_once), (run_dir, objective, test, at_once)]
        self.deadline, self.caps = deadline, (cap, cap if test_cap is None else test_cap)
        self.began = time.time()
        self.start_s: float | None = None  # measured once the search's first trial has started
        self.checked = 0.0
        self.stop = False

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        now = time.time()
        if now - self.checked >= self.RECHECK_S:
            self.checked = now
            if self.start_s is None:
                self.start_s = start_seconds(self.run_dir, self.began)
            asked, test = (reserve_seconds(*plan, start_s=self.start_s or 0.0) for plan in self.plans)
            if asked is not None and test is not None:
                need = max(min(asked, self.caps[0]), min(test, self.caps[1]))
                self.stop = now + need >= self.deadline
        return self.stop


def rounds_that_fit(confirmation: Confirmation, at_once: int, left: float, start_s: float) -> int:
    """The last round owed that ends in the `left` seconds (each with its Tune start `start_s`; a
    round may end less than one run's time past them), or the last round already settled."""
    rounds = rounds_seconds(confirmation, at_once)
    spent, fits = 0.0, rounds[0][0] - 1 if rounds else confirmation.seeds
    for r, seconds, longest in rounds:
        if spent + start_s + seconds > left + longest:
            break
        spent, fits = spent + start_s + seconds, r
    return fits


def for_a_test(confirmation: Confirmation, fits: Any) -> Confirmation:
    """The confirmation with candidates left out, the lowest search score first, until the rounds a
    test needs (MIN_PAIRS fresh seeds) fit (`fits`: confirmation → rounds that fit). Never the
    baseline, the best searched candidate, or one that has run a seed already."""
    need = min(confirmation.seeds, MIN_PAIRS)
    o = confirmation.objective
    plan = confirmation
    while fits(plan) < need:
        searched = [c for c in plan.candidates if c.source != plan.baseline]
        ran = {c.source for c in searched if c.seed_group.ended()}
        best = min(searched, key=lambda c: search_key(o, c), default=None)
        droppable = [c for c in searched if c is not best and c.source not in ran]
        if not droppable:
            break
        last = max(droppable, key=lambda c: search_key(o, c))
        plan = dataclasses.replace(plan, candidates=[c for c in plan.candidates if c is not last])
    return plan


def search_key(objective: Objective, c: Candidate) -> tuple[float, int]:
    """Best search run first; a search run with no value (failed) last."""
    value = c.runs[0].validation if 0 in c.runs else None
    return (objective.sort_key(value) if value is not None else float("inf")), c.source


def fit_to_time(
    run_dir: RunDir, confirmation: Confirmation, at_once: int, left: float, start_s: float, console: Any
) -> Confirmation:
    """The confirmation that fits in the `left` seconds, planned for a test: all it asks where that
    fits; else fewer seeds, as long as every candidate keeps two (MIN_PAIRS); else fewer candidates
    (`for_a_test`) so that the best searched one and the baseline have two; one seed only where
    even those two cannot, said before it starts with the time a test would have needed. What is
    planned is recorded (a later `confirm` with more time asks for the rest again)."""

    def fits(plan: Confirmation) -> int:
        return rounds_that_fit(plan, at_once, left, start_s)

    asked, need, all_fit = confirmation.seeds, min(confirmation.seeds, MIN_PAIRS), fits(confirmation)
    if all_fit >= asked:
        return confirmation
    plan = confirmation if all_fit >= need else for_a_test(confirmation, fits)
    seeds = min(asked, fits(plan))
    per_round = rounds_seconds(plan, at_once)[0][1] / 60
    where = f"about {per_round:.1f} min a round, {left / 60:.1f} min left"
    left_out = [c.source for c in confirmation.candidates if c not in plan.candidates]
    if left_out:
        console.print(
            f"confirmation planned for a test: trial(s) {left_out} left out (lowest search scores), so that"
            f" {len(plan.candidates)} candidates get {seeds} fresh seed(s) each, of {asked} asked ({where})",
            markup=False,
        )
    if seeds < need:
        two = dataclasses.replace(plan, seeds=need)
        test_s = sum(start_s + s for _, s, _ in rounds_seconds(two, at_once))
        console.print(
            (
                f"no time left for a round of the confirmation ({where}): the ranking stays unconfirmed."
                if seeds == 0
                else f"one fresh seed only ({where}): no test of the winner against the baseline is possible."
            )
            + f" A test ({need} fresh seeds for the best searched strategy and the baseline) needs about"
            f" {test_s / 60:.1f} min after the search: a time budget about {(test_s - left) / 60:.1f} min longer"
            f" would have given one; `stratsearch confirm {run_dir.path}` gives it now",
            markup=False,
        )
    elif seeds < asked and not left_out:
        console.print(
            f"confirmation sized to the time left: {seeds} fresh seed(s) instead of {asked} ({where})", markup=False
        )
    record_fit(run_dir, [c.source for c in plan.candidates], seeds)
    return dataclasses.replace(plan, seeds=seeds)


def say_detectable(confirmation: Confirmation, run_dir: RunDir, console: Any) -> None:
    """Before any time is spent: from what difference from the baseline the confirmation calls one
    with POWER at best on this validation set, and whether the search's own gap is as large."""
    found = confirmation.detectable()
    if found is None:
        return
    top, base, floor = found
    o = confirmation.objective
    examples = run_dir.info().sizes.get("validation", "the")
    searched, baseline = top.values().get(0), base.values().get(0)
    gap = None if searched is None or baseline is None else searched - baseline
    console.print(
        f"confirmation: {confirmation.seeds} fresh seed(s) × {examples} validation examples. From how the"
        f" search runs of trial {top.source} and the baseline differ example by example, it calls a"
        f" difference in {o.metric} with {POWER:.0%} power (α = {ALPHA}) from about"
        f" {o.signed(floor).lstrip('+')} at best, when the seeds agree; runs that differ from seed to seed"
        " need more seeds for that, and only more validation examples lower it"
        + ("" if gap is None else f". The search runs differ by {o.signed(gap)}"),
        markup=False,
    )
    if gap is not None and abs(gap) < floor:
        console.print("  the search's gap is below that: expect 'within noise' from this confirmation", markup=False)


def ended_runs(confirmation: Confirmation) -> int:
    """Seed runs that ended with a result or a failure: a round that adds none ran nothing."""
    return sum(c.seed_group.ended() for c in confirmation.candidates)


def run_confirmation(
    run_dir: RunDir,
    study: Any,
    context: SweepContext,
    confirm: Confirm,
    make_tuner: Any,  # (context, search_alg, samples, progress, time_left=, param_space=) → a Tuner; the driver's
    console: Any,
    deadline: float | None,
    at_once: int = 1,
    start_s: float = 0.0,
) -> Confirmation | None:
    """Run the rounds still owed (all of them, or what a crash left, or what the time left allows);
    `start_s`: what a Tune run takes before its first trial starts, as last measured (each round
    measures it again). Returns the confirmation."""
    from ray import tune

    from stratsearch.sweep.progress import SweepProgress
    from stratsearch.sweep.study import reconcile

    objective = context.objective
    confirmation = plan_confirmation(run_dir, objective, confirm.top_k, confirm.seeds)
    if confirmation is None:
        console.print("no search trial finished: nothing to confirm", markup=False)
        return None
    if deadline is not None:
        confirmation = fit_to_time(run_dir, confirmation, at_once, deadline - time.time(), start_s, console)
    if confirmation.owed():
        say_detectable(confirmation, run_dir, console)
    runs_context = dataclasses.replace(context, trivial=None, save_every_model=True)
    while owed := confirmation.owed():
        round_, seconds, longest = rounds_seconds(confirmation, at_once)[0]  # the round `owed` asks for
        if deadline is not None and time.time() + start_s + seconds > deadline + longest:
            console.print("time budget spent: confirmation stopped with rounds still owed", markup=False)
            break
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
        # A round whose runs take longer than measured is cut one run's time past the deadline.
        time_left = None if deadline is None else max(1.0, deadline - time.time() + start_s + longest)
        tuner = make_tuner(round_context, None, 1, progress, time_left=time_left, param_space=space)
        faults.point("confirm.round")
        before, began = ended_runs(confirmation), time.time()
        tuner.fit()
        start_s = start_seconds(run_dir, began) or start_s
        progress.raise_if_halted()
        reconcile(study, run_dir)
        # the candidates recorded (top_k 0 adds none: those `fit_to_time` left out stay out)
        confirmation = plan_confirmation(run_dir, objective, 0, confirmation.seeds)
        for source, (after, drop) in confirmation.dropped().items():
            if after == round_:
                console.print(
                    f"  racing: trial {source} dropped, worse than the leader by {drop.gap:.4f} over"
                    f" {drop.pairs} paired seeds (test over {drop.over}, Bonferroni-adjusted p = {drop.p:.2g})",
                    markup=False,
                )
        if ended_runs(confirmation) == before:  # the round ended no run: do not loop
            console.print("confirmation stopped: its last round ended no run", markup=False)
            break
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
