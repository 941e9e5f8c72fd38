"""Confirmation over seeds: the statistics against hand-computed values, racing on known per-seed
values, the plan and the ranking on real run directories, and real sweeps (Ray Tune embedded,
Optuna in SQLite, a tiny random BERT) that confirm, resume after SIGKILL and extend."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from stratsearch.confirm.plan import CONFIRMATION, load_confirmation, pick_candidates, plan_confirmation
from stratsearch.confirm.stats import holm, interval, one_sided_worse, paired, race
from stratsearch.ensemble.methods import pool_records, roles
from stratsearch.objective import Objective
from stratsearch.rundir import RunDir

ACCURACY = Objective(metric="accuracy", mode="max")


# --- statistics, by hand --------------------------------------------------------------------------


def test_interval_matches_a_hand_computed_t_interval() -> None:
    got = interval([1.0, 2.0, 3.0])
    # mean 2, sd 1, t(0.975, df 2) = 4.302653: half-width 4.302653 / √3 = 2.484138
    assert (got.n, got.mean, got.sd) == (3, 2.0, 1.0)
    assert got.low == pytest.approx(2 - 2.484138, abs=1e-6) and got.high == pytest.approx(2 + 2.484138, abs=1e-6)
    assert interval([0.7]).low is None and interval([0.7]).mean == 0.7


def test_paired_t_test_matches_the_closed_form_for_two_degrees_of_freedom() -> None:
    got = paired([0.80, 0.82, 0.78], [0.75, 0.78, 0.74])
    # differences 0.05, 0.04, 0.04: mean 0.043333, sd 0.0057735, t = 13; for df = 2 the t
    # distribution's tail is 1/2 − t / (2√(t² + 2)), so p = 2 × (0.5 − 13 / (2√171)).
    assert got.diff.mean == pytest.approx(0.0433333, abs=1e-6)
    assert got.p == pytest.approx(2 * (0.5 - 13 / (2 * math.sqrt(171))), rel=1e-6)
    assert math.isnan(paired([0.8], [0.7]).p)  # one pair: no test
    assert one_sided_worse([0.70, 0.72, 0.69], [0.80, 0.81, 0.79], higher_is_better=True) < 0.01
    assert one_sided_worse([0.80, 0.81, 0.79], [0.70, 0.72, 0.69], higher_is_better=True) > 0.99
    assert one_sided_worse([0.30, 0.31], [0.20, 0.22], higher_is_better=False) < 0.5  # lower is better


def test_holm_adjustment_by_hand() -> None:
    # sorted: 0.01 × 3 = 0.03; 0.03 × 2 = 0.06; 0.04 × 1 = 0.04, raised to the running 0.06
    assert holm({1: 0.01, 2: 0.04, 3: 0.03}) == pytest.approx({1: 0.03, 3: 0.06, 2: 0.06})


def test_racing_drops_a_clearly_worse_candidate_and_keeps_two_equal_ones() -> None:
    runs = {
        0: {0: 0.80, 1: 0.81, 2: 0.79},
        1: {0: 0.70, 1: 0.72, 2: 0.69},  # ten points behind on every seed
        2: {0: 0.80, 1: 0.80, 2: 0.80},  # the leader's equal
    }
    leader, drops = race(runs, higher_is_better=True, protected=set())
    assert leader == 0
    assert [d.candidate for d in drops] == [1]
    assert drops[0].pairs == 3 and drops[0].gap == pytest.approx(0.0966667, abs=1e-6)
    # the baseline is the reference every candidate is compared with: never dropped
    assert race(runs, higher_is_better=True, protected={1})[1] == []
    # two paired seeds are too few to drop anyone, however far behind
    assert race({c: {r: v for r, v in s.items() if r < 2} for c, s in runs.items()}, True, set())[1] == []


# --- the plan and the ranking, on real run directories --------------------------------------------


def trial(run_dir: RunDir, number: int, value: float, config: dict, **start: object) -> None:
    """A finished trial folder as the sweep writes it (real files, no training)."""
    record = run_dir.trial(number)
    lineage = {k: start.pop(k) for k in ("confirms", "round") if k in start}
    record.start(config, {}, start.get("baseline"), str(start.get("origin", "sampler")), **lineage)
    record.epoch({"epoch": 1, "accuracy": value}, value, 1, [value])
    record.finish("finished", best_value=value, test={"accuracy": value - 0.01})


def test_candidates_are_the_best_distinct_strategies_and_the_baseline(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    trial(run_dir, 1, 0.80, {"seed": 0, "lr": 2})
    trial(run_dir, 2, 0.79, {"seed": 0, "lr": 2})  # the same strategy as trial 1
    trial(run_dir, 3, 0.78, {"seed": 0, "lr": 3})
    trial(run_dir, 4, 0.60, {"seed": 0, "lr": 4})
    assert pick_candidates(run_dir, ACCURACY, 2, []) == [1, 3, 0]
    confirmation = plan_confirmation(run_dir, ACCURACY, 2, 3)
    assert confirmation is not None and confirmation.baseline == 0
    assert [(c.source, r) for c, r in confirmation.owed()] == [(1, 1), (3, 1), (0, 1)]
    assert confirmation.candidates[0].seed_config(2) == {"seed": 2, "lr": 2}
    # extending: more candidates join, the first ones keep their place
    assert pick_candidates(run_dir, ACCURACY, 3, [1, 3, 0]) == [1, 3, 0, 4]


def test_racing_replayed_from_the_folders_and_the_winner_by_its_mean(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    trial(run_dir, 1, 0.85, {"seed": 0, "lr": 2})  # the lucky search run
    trial(run_dir, 2, 0.80, {"seed": 0, "lr": 3})
    trial(run_dir, 3, 0.60, {"seed": 0, "lr": 4})
    plan_confirmation(run_dir, ACCURACY, 3, 3)
    seeds = {1: [0.76, 0.77], 2: [0.80, 0.81], 3: [0.50, 0.52], 0: [0.71, 0.70]}
    number = 4
    for r in (1, 2):
        for source, values in seeds.items():
            trial(run_dir, number, values[r - 1], {"seed": r}, origin=CONFIRMATION, confirms=source, round=r)
            number += 1
    confirmation = load_confirmation(run_dir, ACCURACY)
    assert confirmation is not None
    # after round 2 (three paired runs), trial 3 is far behind the leader: no third seed for it
    assert set(confirmation.dropped()) == {3}
    assert sorted(c.source for c, r in confirmation.owed()) == [0, 1, 2]
    assert confirmation.saved_runs() == 1
    winner = confirmation.winner()
    assert winner is not None and winner.source == 2  # mean 0.803 beats trial 1's lucky 0.85 (mean 0.793)
    assert winner.fresh().mean == pytest.approx(0.805)
    # the run's one ranking follows the confirmation: trial 2's runs first, best first
    ranked = [r.number for r in run_dir.ranked(ACCURACY)]
    assert ranked[:3] == [9, 2, 5]
    pool = pool_records(run_dir, ACCURACY, top_k=2)
    assert [r.number for r in pool] == [9, 2, 5]  # the top 2 and every run of the winner
    assert roles(pool) == {"9": "winner: trial 2 on seed +2", "2": "winner: search run, confirmed",
                           "5": "winner: trial 2 on seed +1"}  # fmt: skip
