"""One owner of the choice (choice.py): the winner among racing's survivors on their shared fresh
seeds, one tie-break, the models a later confirmation may need kept, a stale ensemble refused,
warm start from distinct strategies, the best-of-k adjustment of the verdict's test, and a
confirmation planned for a test. Run directories are real folders written as the sweep writes
them (no training: the values are given)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from stratsearch.choice import choose, confirmed_winner, current_ensemble
from stratsearch.cli import main
from stratsearch.confirm.plan import load_confirmation, plan_confirmation
from stratsearch.confirm.stats import holm
from stratsearch.ensemble.methods import keep_top_models
from stratsearch.ensemble.predict import recipe_for
from stratsearch.errors import StratsearchError
from stratsearch.rundir import RunDir, read_json
from stratsearch.sweep.confirm import fit_to_time
from stratsearch.train.artifacts import has_model
from tests.test_confirm import ACCURACY, saved_model, seed_runs, trial


def one_round(run_dir: RunDir, first: int, round_: int, values: dict[int, float]) -> int:
    """Round `round_` of the given sources alone (the others dropped or not run yet)."""
    return seed_runs(run_dir, first, {s: [v] for s, v in values.items()}, range(1, 2), round_ - 1)


def test_a_candidate_racing_dropped_cannot_win(tmp_path: Path) -> None:
    # Trial 2 is dropped after round 3, significantly worse than the leader; the leader's fourth
    # seed then falls low. Over their own seeds trial 2's mean (0.70 over 3) beats the leader's
    # (0.6575 over 4): a winner picked that way is one racing had ruled out.
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.55, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    trial(run_dir, 1, 0.85, {"seed": 0, "lr": 2})
    trial(run_dir, 2, 0.80, {"seed": 0, "lr": 3})
    plan_confirmation(run_dir, ACCURACY, 2, 4)
    number = seed_runs(run_dir, 3, {1: [0.80, 0.81, 0.82], 2: [0.70, 0.70, 0.70], 0: [0.5, 0.52, 0.5]}, range(1, 4))
    one_round(run_dir, number, 4, {1: 0.20, 0: 0.51})
    confirmation = load_confirmation(run_dir, ACCURACY)
    assert confirmation is not None and 2 in confirmation.dropped()
    winner = confirmed_winner(confirmation)
    assert winner is not None and winner.source == 1
    assert choose(run_dir, ACCURACY).strategy == 1 == choose(run_dir, ACCURACY).ranking()[0].source()


def test_the_winner_is_compared_on_the_fresh_rounds_every_survivor_shares(tmp_path: Path) -> None:
    # Trial 1 has run a second seed that the baseline has not (the round was cut): on the one seed
    # they share the baseline is ahead; trial 1's lucky extra seed must not decide.
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    trial(run_dir, 1, 0.80, {"seed": 0, "lr": 2})
    plan_confirmation(run_dir, ACCURACY, 1, 2)
    number = seed_runs(run_dir, 2, {1: [0.70], 0: [0.75]}, range(1, 2))
    one_round(run_dir, number, 2, {1: 0.95})
    confirmation = load_confirmation(run_dir, ACCURACY)
    assert confirmed_winner(confirmation).source == 0


def test_a_tie_is_broken_one_way_for_the_verdict_and_for_every_command(tmp_path: Path) -> None:
    # The baseline was pruned during the search at a high partial value; on the fresh seeds it ties
    # with trial 1. The verdict read its search run as missing, the ranking as 0.90: they named
    # different winners. A tie now goes to the baseline everywhere.
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.90, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    run_dir.trial(0).set_status(status="pruned")
    trial(run_dir, 1, 0.80, {"seed": 0, "lr": 2})
    plan_confirmation(run_dir, ACCURACY, 1, 2)
    seed_runs(run_dir, 2, {1: [0.80, 0.80], 0: [0.80, 0.80]}, range(1, 3))
    confirmation = load_confirmation(run_dir, ACCURACY)
    choice = choose(run_dir, ACCURACY)
    assert confirmed_winner(confirmation).source == 0 == choice.strategy
    assert choice.ranking()[0].source() == 0 and {r.source() for r in choice.runs()} == {0}


def moved_winner(tmp_path: Path) -> RunDir:
    """A run whose confirmation over two seeds chose trial 1, and whose third seed (a later
    `stratsearch confirm --seeds 3`) moves the choice to the baseline, whose search run (pruned)
    kept no model."""
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    run_dir.trial(0).set_status(status="pruned")
    trial(run_dir, 1, 0.80, {"seed": 0, "lr": 2})
    trial(run_dir, 2, 0.60, {"seed": 0, "lr": 3})
    saved_model(run_dir.trial(1))
    plan_confirmation(run_dir, ACCURACY, 1, 2)
    number = seed_runs(run_dir, 3, {1: [0.80, 0.79], 0: [0.78, 0.78]}, range(1, 3))
    for n in range(3, number):  # a confirmation's seed runs always save their model
        saved_model(run_dir.trial(n))
    return run_dir


def test_a_later_confirmation_that_moves_the_winner_keeps_the_models_every_command_needs(tmp_path: Path) -> None:
    run_dir = moved_winner(tmp_path)
    assert choose(run_dir, ACCURACY).strategy == 1
    keep_top_models(run_dir, ACCURACY, top_k=1)  # the end of the first run
    one_round(run_dir, 7, 3, {1: 0.70, 0: 0.80})  # `confirm --seeds 3`: the baseline leads
    saved_model(run_dir.trial(7))
    saved_model(run_dir.trial(8))
    plan_confirmation(run_dir, ACCURACY, 1, 3)
    keep_top_models(run_dir, ACCURACY, top_k=1)  # the end of `confirm`
    choice = choose(run_dir, ACCURACY)
    assert choice.strategy == 0
    # the new winner's model is one of its own seed runs; the old winner's models are all still there
    assert choice.model_run() is not None and choice.model_run().source() == 0
    assert all(has_model(run_dir.trial(n).folder) for n in (1, 3, 5, 7))
    assert not has_model(run_dir.trial(2).folder)  # never a candidate, outside the top 1
    pool = choice.pool(top_k=1)
    assert pool[0].source() == 0 and {r.source() for r in pool} == {0}  # every saved run of the winner
    assert [r.number for r in choice.runs()] == [8, 4, 6]  # its finished runs, best first


def test_an_ensemble_built_for_another_choice_is_never_used(tmp_path: Path) -> None:
    run_dir = moved_winner(tmp_path)
    run_dir.ensemble_dir.mkdir()
    built = {"method": "mean", "rule": "mean", "weights": {"1": 1.0, "3": 1.0}, "strategy": 1, "table": []}
    run_dir.ensemble_json.write_text(json.dumps(built))
    info = SimpleNamespace(objective=ACCURACY)
    assert current_ensemble(run_dir, choose(run_dir, ACCURACY)) is not None
    one_round(run_dir, 7, 3, {1: 0.70, 0: 0.80})
    saved_model(run_dir.trial(8))
    plan_confirmation(run_dir, ACCURACY, 1, 3)
    assert current_ensemble(run_dir, choose(run_dir, ACCURACY)) is None
    with pytest.raises(StratsearchError, match=r"built for trial 1's strategy, but the run now chooses trial 0's"):
        recipe_for(run_dir, info, best=False)  # type: ignore[arg-type]
    assert recipe_for(run_dir, info, best=True).folders == [run_dir.trial(8).folder]  # type: ignore[arg-type]


def test_warm_start_draws_on_distinct_searched_strategies_not_on_the_winner_s_seed_runs(tmp_path: Path) -> None:
    run_dir = moved_winner(tmp_path)
    assert [r.number for r in choose(run_dir, ACCURACY).ranking()][:3] == [1, 3, 5]  # one strategy thrice
    assert [r.number for r in choose(run_dir, ACCURACY).searched()] == [1, 2]  # trial 0 was pruned


def test_holm_adjusts_as_by_hand() -> None:
    # sorted: 0.01 × 3, 0.02 × 2, 0.04 × 1, made non-decreasing
    assert holm({7: 0.04, 3: 0.01, 5: 0.02}) == pytest.approx({3: 0.03, 5: 0.04, 7: 0.04})
    assert holm({1: 0.5, 2: 0.6}) == pytest.approx({1: 1.0, 2: 1.0})
    assert holm({4: 0.03}) == {4: 0.03}


def test_the_verdict_allows_for_the_winner_being_the_best_of_k(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    for n in (1, 2, 3):
        trial(run_dir, n, 0.80 - n / 100, {"seed": 0, "lr": n + 1})
    plan_confirmation(run_dir, ACCURACY, 3, 3)
    seeds = {1: [0.74, 0.77, 0.75], 2: [0.71, 0.72, 0.70], 3: [0.70, 0.71, 0.71], 0: [0.70, 0.71, 0.71]}
    seed_runs(run_dir, 4, seeds, range(1, 4))
    confirmation = load_confirmation(run_dir, ACCURACY)
    winner = confirmed_winner(confirmation)
    tested = confirmation.versus_baseline(winner)
    assert winner.source == 1 and tested is not None and tested.k == 3
    ps = {}
    for c in confirmation.candidates:
        if c.source != 0:
            ps[c.source] = confirmation.compare(c, confirmation.by_source()[0]).seeds.p
    assert tested.p == pytest.approx(ps[1]) and tested.adjusted == pytest.approx(holm(ps)[1])
    assert tested.adjusted > tested.p


def test_the_confirmation_is_planned_for_a_test_before_it_drops_to_one_seed(tmp_path: Path) -> None:
    # three searched candidates and the baseline, 30 s a run, a round may end one run past the time
    # left: with 100 s, two rounds of four (240 s) or three (180 s) do not fit, one round would; two
    # candidates (the best searched and the baseline) get 2 seeds each (120 s) instead.
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    for n, value in ((1, 0.80), (2, 0.79), (3, 0.78)):
        trial(run_dir, n, value, {"seed": 0, "lr": n + 1})
    for n in range(4):
        run_dir.trial(n).set_status(wall_s=30.0)
    confirmation = plan_confirmation(run_dir, ACCURACY, 3, 3)
    said = Console(file=io.StringIO(), width=400)
    planned = fit_to_time(run_dir, confirmation, 1, left=100.0, start_s=0.0, console=said)
    assert [c.source for c in planned.candidates] == [1, 0] and planned.seeds == 2
    assert "trial(s) [2, 3] left out (lowest search scores)" in said.file.getvalue()
    recorded = read_json(run_dir.confirm_json)
    assert recorded["candidates"] == [1, 0] and recorded["seeds"] == 2 and recorded["asked"] == 3
    # where even the best and the baseline cannot have two, one seed, said with what a test needs
    plan_confirmation(run_dir, ACCURACY, 3, 3)
    one = fit_to_time(run_dir, load_confirmation(run_dir, ACCURACY), 1, left=70.0, start_s=0.0, console=said)
    assert [c.source for c in one.candidates] == [1, 0] and one.seeds == 1
    assert "one fresh seed only" in said.file.getvalue() and "needs about 2.0 min" in said.file.getvalue()
    # a later `stratsearch confirm` with the time asks for every candidate and seed again
    again = plan_confirmation(run_dir, ACCURACY, 3, 3)
    assert [c.source for c in again.candidates] == [1, 0, 2, 3] and again.seeds == 3


def test_a_baseline_longer_than_the_budget_s_max_epochs_is_refused(make_config, tmp_path: Path, capsys) -> None:
    path = make_config(budget={"trials": 2, "max_epochs": 2}, search={"baseline": [{"epochs": 3}]})
    assert main(["validate", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "search.baseline[0].epochs" in err and "3 exceeds budget.max_epochs 2" in err
