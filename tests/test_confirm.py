"""Confirmation over seeds: the statistics against hand-computed values, racing on known per-seed
values, the plan and the ranking on real run directories, and real sweeps (Ray Tune embedded,
Optuna in SQLite, a tiny random BERT) that confirm, resume after SIGKILL and extend."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from rich.console import Console

from stratsearch.choice import choose, confirmed_winner
from stratsearch.cli import main, summarize_run
from stratsearch.confirm.plan import CONFIRMATION, load_confirmation, pick_candidates, plan_confirmation
from stratsearch.confirm.stats import interval, one_sided_worse, paired, race
from stratsearch.ensemble.methods import roles
from stratsearch.objective import Objective
from stratsearch.rundir import RunDir, TrialRecord, read_json
from stratsearch.space.load import Confirm, load_space
from stratsearch.sweep.confirm import Reserve, fit_to_time, reserve_seconds, start_seconds
from tests.conftest import run_args, sweep_space

pytestmark = pytest.mark.usefixtures("no_ray_left_behind")

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


def test_racing_drops_a_clearly_worse_candidate_and_keeps_two_equal_ones() -> None:
    runs = {
        0: {1: 0.80, 2: 0.81, 3: 0.79},
        1: {1: 0.70, 2: 0.72, 3: 0.69},  # ten points behind on every seed
        2: {1: 0.80, 2: 0.80, 3: 0.80},  # the leader's equal
    }
    leader, drops = race(runs, higher_is_better=True, protected=set())
    assert leader == 0
    assert [d.candidate for d in drops] == [1]
    # one-sided p of t = 0.0966667 / (0.0152753 / √3) with 2 df, times 3 × 2 ordered pairs
    assert drops[0].pairs == 3 and drops[0].gap == pytest.approx(0.0966667, abs=1e-6)
    assert drops[0].p == pytest.approx(6 * one_sided_worse([0.70, 0.72, 0.69], [0.80, 0.81, 0.79], True))
    # the baseline is the reference every candidate is compared with: never dropped
    assert race(runs, higher_is_better=True, protected={1})[1] == []
    # two paired seeds are too few to drop anyone, however far behind
    assert race({c: {r: v for r, v in s.items() if r < 3} for c, s in runs.items()}, True, set())[1] == []
    # each further look racing takes divides α again
    assert race(runs, True, set(), looks=10**6)[1] == []


def test_racing_never_drops_on_a_gap_that_does_not_vary() -> None:
    # Accuracy on a small validation set moves in steps of 1/N: the same one-step gap on three
    # seeds has no spread, and a t-test would give p = 0 (the old rule dropped the candidate).
    # The exact sign-flip test gives 2⁻³ = 0.125 before any correction.
    runs = {0: {1: 0.80, 2: 0.82, 3: 0.78}, 1: {1: 0.79, 2: 0.81, 3: 0.77}}
    assert one_sided_worse([0.79, 0.81, 0.77], [0.80, 0.82, 0.78], higher_is_better=True) == pytest.approx(0.125)
    assert race(runs, higher_is_better=True, protected=set())[1] == []


# --- the plan and the ranking, on real run directories --------------------------------------------


def trial(run_dir: RunDir, number: int, value: float | None, config: dict, **start: object) -> None:
    """A trial folder as the sweep writes it (real files, no training): finished with `value`, or
    failed when it is None."""
    record = run_dir.trial(number)
    lineage = {k: start.pop(k) for k in ("confirms", "round") if k in start}
    record.start(config, {}, start.get("baseline"), str(start.get("origin", "sampler")), **lineage)
    if value is None:
        record.finish("failed", reason="RuntimeError: boom")
        return
    record.epoch({"epoch": 1, "accuracy": value}, value, 1, [value])
    record.finish("finished", best_value=value, test={"accuracy": value - 0.01})


def saved_model(record: TrialRecord) -> None:
    """The files by which a trial folder holds a saved model (`artifacts.has_model`), for tests of
    which trials keep one; nothing here loads it."""
    for name in ("stratsearch.json", "head.safetensors", "model/config.json"):
        (record.folder / name).parent.mkdir(parents=True, exist_ok=True)
        (record.folder / name).write_text("{}")


def seed_runs(run_dir: RunDir, first: int, seeds: dict[int, list[float | None]], rounds: range, offset: int = 0) -> int:
    """Seed runs of each source, round by round (`values[r - 1]` is round r + `offset`), numbered
    from `first`; returns the next number."""
    number = first
    for r in rounds:
        for source, values in seeds.items():
            at = r + offset
            trial(run_dir, number, values[r - 1], {"seed": at}, origin=CONFIRMATION, confirms=source, round=at)
            number += 1
    return number


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


def test_racing_replayed_from_the_folders_on_fresh_seeds(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    trial(run_dir, 1, 0.85, {"seed": 0, "lr": 2})
    trial(run_dir, 2, 0.80, {"seed": 0, "lr": 3})
    trial(run_dir, 3, 0.60, {"seed": 0, "lr": 4})
    plan_confirmation(run_dir, ACCURACY, 3, 4)
    seeds = {1: [0.76, 0.77, 0.78], 2: [0.80, 0.81, 0.79], 3: [0.50, 0.52, 0.49], 0: [0.71, 0.70, 0.72]}
    seed_runs(run_dir, 4, seeds, range(1, 4))
    for number in (3, 6, 10, 14):  # trial 3's search run and its three seed runs took 30 s each
        run_dir.trial(number).set_status(wall_s=30.0)
    confirmation = load_confirmation(run_dir, ACCURACY)
    assert confirmation is not None
    # after round 3 (three fresh pairs), trial 3 is far behind the leader: no fourth seed for it
    assert set(confirmation.dropped()) == {3} and confirmation.dropped()[3][0] == 3
    assert sorted(c.source for c, r in confirmation.owed()) == [0, 1, 2]
    assert confirmation.saved_runs() == 1 and confirmation.saved_seconds() == pytest.approx(30.0)
    winner = confirmed_winner(confirmation)
    assert winner is not None and winner.source == 2 and winner.fresh().mean == pytest.approx(0.80)
    # the run's one ranking follows the confirmation: trial 2's runs first, best first
    ranked = [r.number for r in choose(run_dir, ACCURACY).ranking()]
    assert ranked[:4] == [9, 2, 5, 13]
    for number in range(len(run_dir.trials())):
        saved_model(run_dir.trial(number))
    pool = choose(run_dir, ACCURACY).pool(top_k=2)
    # the confirmation's fresh runs alone (a search run's validation flatters it): the top 2, and
    # every fresh run of the winner
    assert [r.number for r in pool] == [9, 5, 13]
    assert roles(pool) == {
        "9": "winner: trial 2 on seed +2",
        "5": "winner: trial 2 on seed +1",
        "13": "winner: trial 2 on seed +3",
    }


def test_the_winner_is_chosen_on_fresh_seeds_not_on_its_lucky_search_run(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    trial(run_dir, 1, 0.90, {"seed": 0, "lr": 2})  # lucky: picked for scoring high
    trial(run_dir, 2, 0.80, {"seed": 0, "lr": 3})
    plan_confirmation(run_dir, ACCURACY, 2, 2)
    seed_runs(run_dir, 3, {1: [0.78, 0.78], 2: [0.80, 0.80], 0: [0.70, 0.71]}, range(1, 3))
    confirmation = load_confirmation(run_dir, ACCURACY)
    assert confirmation is not None
    winner = confirmed_winner(confirmation)  # over all runs trial 1 would have won: 0.82 against 0.80
    assert winner is not None and winner.source == 2
    assert choose(run_dir, ACCURACY).ranking()[0].source() == 2


def test_a_failed_seed_run_is_retried_once_then_its_candidate_is_unconfirmed(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    trial(run_dir, 1, 0.95, {"seed": 0, "lr": 2})  # the best search run, whose seed runs crash
    trial(run_dir, 2, 0.80, {"seed": 0, "lr": 3})
    plan_confirmation(run_dir, ACCURACY, 2, 1)
    seed_runs(run_dir, 3, {1: [None], 2: [0.80], 0: [0.72]}, range(1, 2))
    confirmation = load_confirmation(run_dir, ACCURACY)
    assert confirmation is not None
    assert [(c.source, r) for c, r in confirmation.owed()] == [(1, 1)]  # failed once: owed once more
    assert confirmed_winner(confirmation).source == 2  # not by its single search run
    trial(run_dir, 6, None, {"seed": 1}, origin=CONFIRMATION, confirms=1, round=1)  # failed again
    confirmation = load_confirmation(run_dir, ACCURACY)
    assert confirmation is not None and confirmation.owed() == []
    assert confirmation.by_source()[1].unconfirmed
    # one decision: the verdict's winner is what predict --best, export and the ensemble take
    winner = confirmed_winner(confirmation)
    assert winner is not None and winner.source == 2
    assert choose(run_dir, ACCURACY).ranking()[0].source() == 2 == choose(run_dir, ACCURACY).strategy


def test_extending_a_finished_run_confirms_a_better_new_trial(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    trial(run_dir, 1, 0.80, {"seed": 0, "lr": 2})
    plan_confirmation(run_dir, ACCURACY, 1, 2)
    seed_runs(run_dir, 2, {1: [0.79, 0.80], 0: [0.70, 0.71]}, range(1, 3))
    for number in range(6):
        run_dir.trial(number).set_status(wall_s=10.0)
    confirm = Confirm(top_k=1, seeds=2)
    assert reserve_seconds(run_dir, ACCURACY, confirm, at_once=1) == 0.0  # everything is confirmed
    trial(run_dir, 6, 0.90, {"seed": 0, "lr": 5})  # the search, extended, found a better one
    run_dir.trial(6).set_status(wall_s=10.0)
    # the reserve counts only the new trial's two seed runs, not the confirmed ones again
    assert reserve_seconds(run_dir, ACCURACY, confirm, at_once=1) == pytest.approx(20.0)
    confirmation = plan_confirmation(run_dir, ACCURACY, 1, 2)
    assert confirmation is not None
    assert [c.source for c in confirmation.candidates] == [1, 0, 6]
    assert [(c.source, r) for c, r in confirmation.owed()] == [(6, 1)]


# --- the time reserve ------------------------------------------------------------------------------


def test_the_reserve_is_each_wave_s_slowest_full_run_and_capped(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1, "epochs": 3}, baseline=0, origin="baseline")
    trial(run_dir, 1, 0.80, {"seed": 0, "lr": 2, "epochs": 3})
    trial(run_dir, 2, 0.75, {"seed": 0, "lr": 3, "epochs": 3})
    for number, wall in ((0, 10.0), (1, 40.0), (2, 90.0)):
        run_dir.trial(number).set_status(wall_s=wall)
    confirm = Confirm(top_k=1, seeds=3)  # candidates: trial 1 (40 s) and the baseline (10 s)
    assert reserve_seconds(run_dir, ACCURACY, confirm, at_once=1) == pytest.approx(3 * (40 + 10))
    assert reserve_seconds(run_dir, ACCURACY, confirm, at_once=2) == pytest.approx(3 * 40)  # the slower
    # a pruned baseline ran 1 of its 3 epochs in its 10 s: a full run takes 30 s
    run_dir.trial(0).set_status(status="pruned", epoch=1)
    assert reserve_seconds(run_dir, ACCURACY, confirm, at_once=1) == pytest.approx(3 * (40 + 30))
    now = time.time()
    assert Reserve(run_dir, ACCURACY, confirm, 1, deadline=now + 200, cap=1e6).stop_all()  # 210 s needed
    assert not Reserve(run_dir, ACCURACY, confirm, 1, deadline=now + 250, cap=1e6).stop_all()
    # capped: a long budget with slow trials still searches (an 8 h budget with 1 h trials)
    assert not Reserve(run_dir, ACCURACY, confirm, 1, deadline=now + 200, cap=100).stop_all()
    assert reserve_seconds(RunDir(tmp_path / "empty"), ACCURACY, confirm, 1) is None  # nothing measured yet


def test_each_round_of_the_reserve_pays_the_tune_start_the_search_measured(tmp_path: Path) -> None:
    # a round's runs start in fresh Ray workers that import torch first: seconds that no run's own
    # wall time holds, which a budget of tiny trials would otherwise not keep for the confirmation
    run_dir = RunDir(tmp_path / "run")
    began = time.time()
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    trial(run_dir, 1, 0.80, {"seed": 0, "lr": 2})
    for number in (0, 1):
        run_dir.trial(number).set_status(wall_s=1.0, started=began + 8.0 + number)
    assert start_seconds(run_dir, began) == pytest.approx(8.0)  # to the first trial's start
    assert start_seconds(run_dir, began + 20) is None  # no trial started since
    confirm = Confirm(top_k=1, seeds=3)
    assert reserve_seconds(run_dir, ACCURACY, confirm, 1, start_s=8.0) == pytest.approx(3 * (8 + 1 + 1))
    reserve = Reserve(run_dir, ACCURACY, confirm, 1, deadline=time.time() + 20, cap=1e6)
    reserve.began = began
    assert reserve.stop_all() and reserve.start_s == pytest.approx(8.0)  # 30 s needed, 20 s left
    confirmation = plan_confirmation(run_dir, ACCURACY, 1, 3)
    said = Console(file=io.StringIO(), width=200)
    assert fit_to_time(run_dir, confirmation, 1, left=21.0, start_s=8.0, console=said).seeds == 2


def test_the_confirmation_runs_the_seeds_that_fit_in_the_time_left(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "run")
    trial(run_dir, 0, 0.70, {"seed": 0, "lr": 1}, baseline=0, origin="baseline")
    trial(run_dir, 1, 0.80, {"seed": 0, "lr": 2})
    for number in (0, 1):
        run_dir.trial(number).set_status(wall_s=30.0)
    confirmation = plan_confirmation(run_dir, ACCURACY, 1, 3)
    said = Console(file=io.StringIO(), width=200)
    # a round takes 60 s and may end one 30 s run past the time left: two fit in 130 s, not three
    fitted = fit_to_time(run_dir, confirmation, 1, left=130.0, start_s=0.0, console=said)
    assert fitted.seeds == 2 and load_confirmation(run_dir, ACCURACY).seeds == 2
    assert read_json(run_dir.confirm_json)["asked"] == 3  # `stratsearch confirm` asks for them again
    assert "2 fresh seed(s) instead of 3" in said.file.getvalue()
    none = fit_to_time(run_dir, fitted, 1, left=25.0, start_s=0.0, console=said)
    assert none.seeds == 0 and none.owed() == [] and "stays unconfirmed" in said.file.getvalue()
    # a later confirmation with more time asks for every seed again
    assert plan_confirmation(run_dir, ACCURACY, 1, 3).seeds == 3


def test_time_spent_is_recorded_as_the_run_goes(tmp_path: Path) -> None:
    # SIGKILL lets no `finally` run: the clock records as it goes, so a killed run's resume does
    # not get its whole time budget again.
    code = (
        "import sys, time; from stratsearch.rundir import RunDir\n"
        "with RunDir(sys.argv[1]).clock(every=0.2):\n    time.sleep(60)\n"
    )
    (tmp_path / "run").mkdir()
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "run")])
    run_dir, deadline = RunDir(tmp_path / "run"), time.time() + 60
    while run_dir.elapsed() < 1.0 and time.time() < deadline:
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert 1.0 <= run_dir.elapsed() < 2.0


def test_the_ranking_reads_a_trial_folder_again_only_once_it_changed(tmp_path: Path, monkeypatch) -> None:
    run_dir = RunDir(tmp_path / "run")
    for number in range(20):
        trial(run_dir, number, 0.5 + number / 100, {"seed": 0, "lr": number})
    reads = []
    real = TrialRecord.status
    monkeypatch.setattr(TrialRecord, "status", lambda self: reads.append(self.number) or real(self))
    assert choose(run_dir, ACCURACY).ranking()[0].number == 19
    assert len(reads) == 20
    for _ in range(5):  # the reserve asks every second, each trial's end asks again
        choose(run_dir, ACCURACY).ranking()
    assert len(reads) == 20
    RunDir(tmp_path / "run").trial(3).set_status(best_value=0.99)  # another process writes
    reads.clear()
    assert choose(run_dir, ACCURACY).ranking()[0].number == 3 and reads == [3]


# --- real sweeps ----------------------------------------------------------------------------------


def confirming_space(make_config, tmp_path: Path, trials: int, confirm: dict, **budget: object) -> Path:
    path = sweep_space(make_config, tmp_path, trials=trials, baseline=[{"epochs": 2}])
    config = yaml.safe_load(path.read_text())
    config["confirm"] = confirm
    config["budget"] |= budget
    path.write_text(yaml.safe_dump(config))
    return path


def confirmation_runs(run_dir: Path) -> list[tuple[int, int, str]]:
    """(source, round, status) of every confirmation run the folders hold."""
    out = []
    for record, status in RunDir(run_dir).statuses():
        config = record.config()
        if config.get("origin") == CONFIRMATION:
            out.append((config["confirms"], config["round"], status.status))
    return sorted(out)


def test_run_confirms_the_top_candidates_and_reports_the_verdict(make_config, tmp_path: Path) -> None:
    path = confirming_space(make_config, tmp_path, trials=4, confirm={"top_k": 1, "seeds": 2})
    assert main(run_args(path, tmp_path, "--quiet")) == 0
    run_dir = tmp_path / "runs" / "tiny-sweep"
    confirmation = load_confirmation(RunDir(run_dir), ACCURACY)
    assert confirmation is not None and confirmation.baseline == 0
    assert len(confirmation.candidates) == 2  # the best searched strategy and the baseline
    runs = confirmation_runs(run_dir)
    assert [(s, r) for s, r, _ in runs] == sorted((c.source, r) for c in confirmation.candidates for r in (1, 2))
    assert {status for *_, status in runs} == {"finished"}
    # the seed runs train the source's configuration with seed + round
    for record in RunDir(run_dir).trials():
        config = record.config()
        if config.get("origin") == CONFIRMATION:
            source = RunDir(run_dir).trial(config["confirms"]).config()["config"]
            assert config["config"] == {**source, "seed": source["seed"] + config["round"]}
    # the study numbered them and knows their values, with no sampled parameters
    study = optuna.load_study(study_name="tiny-sweep", storage=f"sqlite:///{run_dir / 'study.db'}")
    assert len(study.trials) == 4 + len(runs)
    assert all(t.state == optuna.trial.TrialState.COMPLETE and not t.params for t in study.trials[4:])
    results = pd.read_csv(run_dir / "results.csv")
    assert results["confirms"].notna().sum() == len(runs)
    # the ensemble draws on the confirmation's fresh runs (the winner's every one) and says which is which
    ensemble = json.loads((run_dir / "ensemble" / "ensemble.json").read_text())
    winner = confirmed_winner(confirmation)
    assert winner is not None
    assert {int(t) for t in ensemble["roles"]} >= {run.trial for r, run in winner.runs.items() if r > 0}
    assert set(ensemble["members"]) <= {run.trial for c in confirmation.candidates for r, run in c.runs.items() if r}
    assert ensemble["chosen_on"].startswith("the confirmation's fresh seed runs")
    # the verdict's test reads every fresh run's stored validation predictions against the targets
    base = confirmation.by_source()[0]
    assert set(confirmation.fresh_examples(winner)) == {1, 2} and set(confirmation.fresh_examples(base)) == {1, 2}
    mine, base_s = confirmation.fresh_examples(winner), confirmation.fresh_examples(base)
    same = all(np.array_equal(mine[r], base_s[r]) for r in (1, 2))
    assert (confirmation.compare(winner, base).crossed is None) == same  # no test where nothing differs
    html = (tmp_path / "reports" / "tiny-sweep.html").read_text()
    assert html.index("Verdict") < html.index("Summary") < html.index("Confirmation over seeds")
    assert "winner" in html
    # the summary leads with the confirmed choice's fresh-seed figures, not a search run's
    md = (tmp_path / "reports" / "tiny-sweep.md").read_text()
    assert f"| chosen | trial {winner.source}, confirmed: validation" in md and "| best trial |" not in md
    # an ensemble that could not be built is a failure, never exit 0
    shutil.rmtree(run_dir / "ensemble")
    assert summarize_run(load_space(path), RunDir(run_dir), tmp_path / "reports", None) == 1


def test_sigkill_in_the_confirmation_resumes_without_running_a_seed_twice(make_config, tmp_path: Path) -> None:
    path = confirming_space(make_config, tmp_path, trials=3, confirm={"top_k": 1, "seeds": 2})
    run_dir = tmp_path / "runs" / "tiny-sweep"
    command = [sys.executable, "-m", "stratsearch", *run_args(path, tmp_path, "--quiet")]
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not any(s == "finished" for *_, s in confirmation_runs(run_dir)):
        time.sleep(0.3)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver's process group: Ray's workers go with it
    driver.wait()
    before = {(s, r): status for s, r, status in confirmation_runs(run_dir) if status == "finished"}
    assert before, "the kill must land inside the confirmation"

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    runs = confirmation_runs(run_dir)
    finished = [(s, r) for s, r, status in runs if status == "finished"]
    assert len(finished) == len(set(finished)), "a seed ran twice"
    assert set(before) <= set(finished)
    confirmation = load_confirmation(RunDir(run_dir), ACCURACY)
    assert confirmation is not None and not confirmation.owed()
    assert set(finished) == {(c.source, r) for c in confirmation.candidates for r in (1, 2)}


def test_confirm_command_on_a_finished_run_then_extends_it(make_config, tmp_path: Path, capsys) -> None:
    path = confirming_space(make_config, tmp_path, trials=3, confirm={"seeds": 0})
    assert main(run_args(path, tmp_path, "--quiet")) == 0
    run_dir = tmp_path / "runs" / "tiny-sweep"
    assert not confirmation_runs(run_dir) and not (run_dir / "confirm.json").exists()
    reports = ["--reports-dir", str(tmp_path / "reports")]
    assert main(["confirm", str(run_dir), "--top-k", "1", "--seeds", "1", *reports]) == 0
    first = confirmation_runs(run_dir)
    assert [r for _, r, _ in first] == [1, 1]  # the best searched strategy and the baseline, one seed each
    assert main(["confirm", str(run_dir), "--seeds", "2", *reports]) == 0  # the same candidates, one seed more
    second = confirmation_runs(run_dir)
    assert second[: len(first)] == first or set(first) <= set(second)
    assert sorted(r for _, r, _ in second) == [1, 1, 2, 2]  # only the new round ran
    assert "Verdict" in (tmp_path / "reports" / "tiny-sweep.html").read_text()
    # every command follows the one choice: the ensemble was built for it, `predict --best` and
    # `export` use its model
    choice = choose(RunDir(run_dir), ACCURACY)
    model = choice.model_run()
    assert model is not None and model.source() == choice.strategy
    assert json.loads((run_dir / "ensemble" / "ensemble.json").read_text())["strategy"] == choice.strategy
    capsys.readouterr()
    test_file = str(tmp_path / "test.jsonl")
    assert main(["predict", str(run_dir), test_file, "--best", "--out", str(tmp_path / "best.jsonl")]) == 0
    assert f"best single model (trial {model.number})" in capsys.readouterr().err
    assert main(["predict", str(run_dir), test_file, "--out", str(tmp_path / "ensemble.jsonl")]) == 0
    assert main(["export", str(run_dir), str(tmp_path / "export")]) == 0
    assert f"exported the trial {model.number}" in " ".join(capsys.readouterr().err.split())
    capsys.readouterr()
    assert main(["confirm", str(tmp_path / "nowhere")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_a_time_budget_keeps_time_for_the_confirmation(make_config, tmp_path: Path) -> None:
    # the tiny trials take well under a second: 200 of them would take minutes, the budget is 25 s
    # (a worker's first trial takes some 8 s with its imports: the reserve, at most half the
    # budget, must hold a round of that)
    path = confirming_space(make_config, tmp_path, trials=200, confirm={"top_k": 1, "seeds": 1}, time=25)
    assert main(run_args(path, tmp_path, "--quiet")) == 0
    run_dir = tmp_path / "runs" / "tiny-sweep"
    searched = [r for r in RunDir(run_dir).trials() if r.config().get("origin") != CONFIRMATION]
    assert len(searched) < 200  # the time ended the search…
    assert {s for *_, s in confirmation_runs(run_dir)} == {"finished"}  # …with time left for the confirmation
    # the best searched strategy and the baseline, one seed each: one run alone where the baseline is the best
    confirmation = load_confirmation(RunDir(run_dir), ACCURACY)
    assert confirmation is not None and len(confirmation_runs(run_dir)) == len(confirmation.candidates) >= 1
    # …and both fit the budget, overrunning it by less than one trial's time
    assert RunDir(run_dir).elapsed() < 25 + 10
