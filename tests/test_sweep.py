"""The sweep end to end on a tiny random BERT, with real Ray Tune (embedded, 2 CPUs), real Optuna
(SQLite) and real files: results, failures and the run-directory lock (a SIGKILL and its resume: tests/chaos)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from stratsearch.cli import main
from stratsearch.report.tradeoffs import sweep_front
from stratsearch.report.view import load_run
from stratsearch.rundir import LAYOUT, RunDir
from stratsearch.sweep.driver import out_of_time, settle_in_flight
from tests.conftest import run_args, sweep_space

pytestmark = pytest.mark.usefixtures("no_ray_left_behind")


def test_sweep_runs_records_and_fails_one_trial(make_config, tmp_path: Path) -> None:
    # The baseline diverges (SGD at lr 1e12, no clipping): it must end `failed` with its reason
    # while the sweep completes the other trials.
    diverging = {"optimizer": {"sgd": {"lr": 1.0e12, "momentum": 0.0}}, "grad_clip": 0.0, "schedule": "constant"}
    diverging["epochs"] = 2  # within budget.max_epochs
    path = sweep_space(make_config, tmp_path, trials=4, baseline=[diverging])
    runs = tmp_path / "runs"
    assert main(run_args(path, runs.parent, "--quiet")) == 0
    run_dir = runs / "tiny-sweep"
    assert RunDir(run_dir).info().layout == LAYOUT  # run.json says which layout it was written in
    results = pd.read_csv(run_dir / "results.csv")
    assert len(results) == 4
    failed = results[results["status"] == "failed"]
    assert failed["trial"].tolist() == [0]
    assert "TrainingDiverged: training diverged" in failed["reason"].iloc[0]
    ok = results[results["status"].isin(["finished", "pruned"])]
    assert len(ok) == 3 and ok["best_accuracy"].notna().all()
    # every trial folder: resolved config, per-epoch metrics, validation predictions
    for record in RunDir(run_dir).trials():
        assert "optimizer" in record.config()["config"] and "versions" in record.config()
        if record.status().status != "failed":
            assert record.metrics() and record.predictions_path("validation").is_file()
    finished = [r for r in RunDir(run_dir).trials() if r.status().status == "finished"]
    assert all(r.predictions_path("test").is_file() for r in finished)
    # what each cost, and how far it moved the encoder (train/cost.py, train/drift.py)
    for s in (r.status() for r in finished):
        assert s.train_flops > 0 and s.examples_seen > 0 and s.peak_memory_mb > 0
        assert 0.0 <= s.drift <= 1.0 and len(s.cka) == 4 and s.drift_seconds < s.wall_s
        assert set(s.train_metrics) == {"accuracy", "macro_f1"}  # on the probe's training examples
    # cost is recorded every epoch (a pruned trial has one), drift and the fit once a trial finishes
    assert results["train_flops"].notna().sum() == len(ok)
    assert results["train_accuracy"].notna().sum() == results["drift"].notna().sum() == len(finished)
    # the Optuna study persisted in SQLite, conditional names as in the space
    study = optuna.load_study(study_name="tiny-sweep", storage=f"sqlite:///{run_dir / 'study.db'}")
    assert len(study.trials) == 4
    assert "optimizer.adamw.lr" in study.trials[1].params
    # running again does nothing: the budget is spent
    assert main(run_args(path, runs.parent, "--quiet")) == 0
    assert len(pd.read_csv(run_dir / "results.csv")) == 4
    # ... except build the ensemble, if the last run stopped before it
    shutil.rmtree(run_dir / "ensemble")
    assert main(run_args(path, runs.parent, "--quiet")) == 0
    assert (run_dir / "ensemble" / "ensemble.json").is_file()


def test_multi_objective_sweep_with_nsga2(make_config, tmp_path: Path) -> None:
    path = sweep_space(make_config, tmp_path, trials=3)
    config = yaml.safe_load(path.read_text())
    config["objective"] = {"metric": ["accuracy", "trainable_parameters"], "mode": ["max", "min"]}
    config["search"]["sampler"] = "nsga2"
    path.write_text(yaml.safe_dump(config))
    runs = tmp_path / "runs"
    assert main(run_args(path, runs.parent, "--quiet")) == 0
    study = optuna.load_study(study_name="tiny-sweep", storage=f"sqlite:///{runs / 'tiny-sweep' / 'study.db'}")
    assert len(study.directions) == 2
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3
    for t in complete:
        record = RunDir(runs / "tiny-sweep").trial(t.number)
        status = record.status()
        assert t.values == status.objectives
        assert t.values[0] == status.best_value


def test_a_two_objective_sweep_returns_a_non_dominated_front(make_config, tmp_path: Path) -> None:
    """[accuracy, drift] with NSGA-II: drift is measured once a trial has trained to its end, and
    the report's front is the study's own (Optuna's best_trials), checked by brute force too."""
    path = sweep_space(make_config, tmp_path, trials=5, sampler="nsga2", pruner="none", stop_not_learning=False)
    config = yaml.safe_load(path.read_text())
    config["objective"] = {"metric": ["accuracy", "drift"]}  # drift's mode, min, is its default
    path.write_text(yaml.safe_dump(config))
    runs = tmp_path / "runs"
    assert main(run_args(path, runs.parent, "--quiet")) == 0
    run_dir = runs / "tiny-sweep"
    study = optuna.load_study(study_name="tiny-sweep", storage=f"sqlite:///{run_dir / 'study.db'}")
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    points = {}
    for t in study.trials:
        status = RunDir(run_dir).trial(t.number).status()
        assert t.state == optuna.trial.TrialState.COMPLETE and status.status == "finished"
        assert t.values == [status.best_value, status.drift] and 0.0 <= status.drift <= 1.0
        points[t.number] = (status.best_value, status.drift)

    def beaten(a: tuple, b: tuple) -> bool:  # b at least as good on both, better on one
        return b[0] >= a[0] and b[1] <= a[1] and b != a

    brute = {n for n, p in points.items() if not any(beaten(p, q) for q in points.values())}
    view = load_run(run_dir)
    front = sweep_front(view)
    assert {t.number for t in front.front} == brute == {t.number for t in study.best_trials}
    verdict = (tmp_path / "reports" / "tiny-sweep.md").read_text().split("## Verdict")[1].split("##")[0]
    assert "no single trial wins" in verdict and "not beaten on both" in verdict


def test_second_run_on_the_same_directory_refuses(make_config, tmp_path: Path, capsys) -> None:
    path = sweep_space(make_config, tmp_path, trials=1)
    runs = tmp_path / "runs"
    with RunDir(runs / "tiny-sweep").lock():
        assert main(run_args(path, runs.parent)) == 2
    assert "is in use by another `stratsearch run`" in capsys.readouterr().err


def test_no_cluster_at_address_exits_2(make_config, tmp_path: Path, capsys) -> None:
    path = sweep_space(make_config, tmp_path, trials=1)
    assert main(run_args(path, tmp_path, "--address", "auto")) == 2
    assert "--address auto: cannot attach to a Ray cluster" in capsys.readouterr().err


def test_sweep_on_an_existing_ray_cluster(make_config, tmp_path: Path) -> None:
    """`ray start --head` on 127.0.0.1, a tiny sweep attached with --address, then `ray stop`."""
    ray_bin = Path(sys.executable).with_name("ray")
    port = 6391
    # Single-machine cluster mode: Ray keeps every address on the loopback interface instead of
    # swapping 127.0.0.1 for the machine's network address (traffic here stays on 127.0.0.1).
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    head = [
        str(ray_bin),
        "start",
        "--head",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
    ]
    subprocess.run(head, check=True, capture_output=True, env=env, timeout=120)
    try:
        path = sweep_space(make_config, tmp_path, trials=2)
        runs = tmp_path / "runs"
        extra = ("--quiet", "--address", "auto", "--node-ip-address", "127.0.0.1")
        command = [sys.executable, "-m", "stratsearch", *run_args(path, tmp_path, *extra)]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr
        results = pd.read_csv(runs / "tiny-sweep" / "results.csv")
        assert len(results) == 2 and set(results["status"]) <= {"finished", "pruned"}
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True, timeout=120)


def test_a_run_directory_never_mixes_two_experiments(make_config, tmp_path: Path, capsys) -> None:
    """The same name over other data is refused, saying what changed, unless --resume-changed says
    to go on. (More budget on the same experiment resumes it: the MLflow test and the chaos tests
    extend a finished run.)"""
    path = sweep_space(make_config, tmp_path, trials=2)
    assert main(run_args(path, tmp_path, "--quiet")) == 0
    run_dir = RunDir(tmp_path / "runs" / "tiny-sweep")
    config = yaml.safe_load(path.read_text())
    train = Path(config["data"]["train"])
    train.write_text(train.read_text().replace("movie", "plot"))  # other data under the same file name
    config["budget"]["trials"] = 3
    path.write_text(yaml.safe_dump(config))
    assert main(run_args(path, tmp_path, "--quiet")) == 2
    err = capsys.readouterr().err
    assert "holds a run of another experiment: data.train changed since it started" in err
    assert len(run_dir.trials()) == 2
    assert main(run_args(path, tmp_path, "--quiet", "--resume-changed")) == 0
    assert len(run_dir.trials()) == 3


def test_run_refuses_a_trial_the_cluster_cannot_hold_and_says_what_it_uses(make_config, tmp_path: Path, capsys):
    path = sweep_space(make_config, tmp_path, trials=1)
    config = yaml.safe_load(path.read_text())
    config["resources"] = {"cpus_per_trial": 4096}
    path.write_text(yaml.safe_dump(config))
    assert main(run_args(path, tmp_path, "--quiet")) == 2
    err = capsys.readouterr().err
    assert "warning: resources.cpus_per_trial: 4096 CPUs per trial, but this machine" in err
    assert "error: resources.cpus_per_trial: 4096 CPUs per trial, but the Ray cluster has at most" in err
    config["resources"] = {"cpus_per_trial": 1}
    path.write_text(yaml.safe_dump(config))
    assert main(run_args(path, tmp_path, "--quiet")) == 0
    assert "each trial: 1 CPU, " in capsys.readouterr().err


def test_a_sweep_shows_up_in_mlflow_and_a_resume_continues_the_same_runs(
    make_config, tmp_path: Path, monkeypatch, capsys
):
    """Real MLflow, a local SQLite store: a parent run per sweep, a nested run per trial with its
    parameters, per-epoch metrics and status; more budget adds to the same parent."""
    from mlflow.tracking import MlflowClient

    path = sweep_space(make_config, tmp_path, trials=2)
    store = tmp_path / "mlruns"
    elsewhere = tmp_path / "started-here"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(run_args(path, tmp_path, "--quiet", "--mlflow", str(store))) == 0
    assert list(elsewhere.iterdir()) == []  # artifacts beside the store, not under the current folder
    assert (store / "artifacts").is_dir()
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny-sweep")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    trials = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(trials) == 2
    parent = parents[0].info.run_id
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parent}
    artifacts = {a.path for a in client.list_artifacts(parent)}
    assert {"space.yaml", "tiny-sweep.html", "results.csv", "table.csv"} <= artifacts
    run_dir = RunDir(tmp_path / "runs" / "tiny-sweep")
    for trial in trials:
        number = int(trial.data.tags["mlflow.runName"].split()[1])
        status = run_dir.trial(number).status()
        assert trial.data.tags["stratsearch.status"] == status.status
        assert "optimizer.adamw.lr" in trial.data.params and trial.data.params["freeze_depth"] in "0123"
        history = client.get_metric_history(trial.info.run_id, "accuracy")
        assert [m.step for m in history] == list(range(1, status.epoch + 1))
        assert trial.data.metrics["best_validation"] == status.best_value
        assert trial.data.metrics["train_seconds"] == pytest.approx(status.train_seconds)
        if status.status == "finished":  # what it cost and how far it moved the encoder
            assert trial.data.metrics["drift"] == pytest.approx(status.drift)
            assert trial.data.metrics["train_accuracy"] == status.train_metrics["accuracy"]
    config = yaml.safe_load(path.read_text())
    config["budget"]["trials"] = 3
    path.write_text(yaml.safe_dump(config))
    capsys.readouterr()
    assert main(run_args(path, tmp_path, "--quiet", "--mlflow", str(store))) == 0
    assert "resuming" in capsys.readouterr().err  # more budget: the same experiment
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4  # the same parent and one more trial, nothing logged twice
    assert {r.data.tags.get("mlflow.parentRunId") for r in runs} == {None, parent}


def test_a_trial_left_running_before_the_deadline_failed_and_was_not_stopped(tmp_path: Path) -> None:
    # Tune returned with a trial whose folder still says running: its worker died. Only when the
    # time budget (or the reserve) ended the search is it "stopped" at its best value so far.
    now = time.time()
    for deadline, expected in ((now + 3600, "failed"), (now - 1, "stopped")):
        run_dir = RunDir(tmp_path / expected)
        record = run_dir.trial(0)
        record.start({"seed": 0}, {}, None)
        record.epoch({"epoch": 1, "accuracy": 0.7}, 0.7, 1, [0.7])
        settle_in_flight(run_dir, budget_ended=out_of_time(deadline, reserve=None))
        assert record.status().status == expected
