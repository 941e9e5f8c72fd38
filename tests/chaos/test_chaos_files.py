"""Damaged and degenerate run directories: records a disk fault truncated or garbled, the Optuna
study deleted, damaged or locked, a run directory read while its sweep runs, and runs whose
every trial scored the same, that finished one trial, or none. Nothing may crash `run`,
`report`, `ensemble` or `predict`; what cannot be computed says why."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from stratsearch.choice import choose
from stratsearch.cli import main
from stratsearch.predictions import read_predictions
from stratsearch.rundir import RunDir
from tests.chaos.conftest import add_row, assert_kept, assert_whole, chaos_space, ended, spawn
from tests.conftest import run_args

pytestmark = [pytest.mark.chaos, pytest.mark.usefixtures("no_ray_left_behind")]


def finished(run_dir: Path) -> list[int]:
    return [r.number for r in choose(RunDir(run_dir), RunDir(run_dir).info().objective).ranking()]


def test_truncated_and_garbled_records_are_run_again_or_rebuilt(
    make_config, tmp_path: Path, capsys, chaos_figures
) -> None:
    space = chaos_space(make_config, tmp_path, "damaged", trials=3, ensemble={"top_k": 2, "method": "mean"})
    assert main(run_args(space, tmp_path, "--quiet")) == 0
    run_dir = tmp_path / "runs" / "damaged"
    rd = RunDir(run_dir)
    member, other, *_ = finished(run_dir)
    garbled_status = next(n for n in (r.number for r in rd.trials()) if n not in (member, other))
    prediction = rd.trial(member).predictions_path("validation")
    prediction.write_bytes(prediction.read_bytes()[:40])  # a truncated npz
    (rd.trial(other).folder / "metrics.jsonl").open("a").write('{"epoch": 3, "accur\x00\x00')  # a torn line
    status = rd.trial(garbled_status).folder / "status.json"
    status.write_text(status.read_text()[:25])  # half a JSON object
    kept = {n: state for n, state in ended(run_dir).items() if n != garbled_status}

    for command in (["report", str(run_dir), "--out", str(tmp_path / "r.html")], ["ensemble", str(run_dir)]):
        assert main(command) == 0, capsys.readouterr().err
    assert read_predictions(prediction) is not None  # the ensemble predicted again with the saved model
    test_file = Path(yaml.safe_load(space.read_text())["data"]["test"])
    assert main(["predict", str(run_dir), str(test_file), "--out", str(tmp_path / "p.jsonl")]) == 0

    assert main(run_args(space, tmp_path, "--quiet")) == 0  # the unreadable trial runs again, anew
    assert rd.trial(garbled_status).status().status == "interrupted"
    assert_kept(kept, run_dir)
    assert_whole(run_dir, 3, tmp_path / "reports")
    add_row(
        chaos_figures,
        "status.json, metrics.jsonl, predictions truncated or garbled",
        ["after a sweep"],
        2,
        "the unreadable trial ran again; predictions rebuilt from the model; torn line skipped",
        kept=(kept, run_dir),
    )


def test_a_lost_or_damaged_study_is_rebuilt_from_the_trial_folders_and_a_locked_one_is_a_clear_error(
    make_config, tmp_path: Path, capsys, chaos_figures
) -> None:
    space = chaos_space(make_config, tmp_path, "no-study", trials=2)
    assert main(run_args(space, tmp_path, "--quiet")) == 0
    run_dir = tmp_path / "runs" / "no-study"
    study = run_dir / "study.db"

    with sqlite3.connect(study, isolation_level=None) as holder:  # another process's write lock
        holder.execute("BEGIN EXCLUSIVE")
        assert main(run_args(space, tmp_path, "--quiet")) == 2
        holder.execute("ROLLBACK")
    assert "the Optuna study is locked by another process" in capsys.readouterr().err

    before = original = ended(run_dir)
    study.unlink()
    config = yaml.safe_load(space.read_text())
    config["budget"]["trials"] = 3  # more budget: the rebuilt study goes on numbering after the folders
    space.write_text(yaml.safe_dump(config))
    start = time.time()
    assert main(run_args(space, tmp_path)) == 0
    recovered = time.time() - start
    assert "rebuilt from 2 trial folder(s)" in capsys.readouterr().err
    assert_kept(before, run_dir)
    assert_whole(run_dir, 3, tmp_path / "reports")

    before = ended(run_dir)
    study.write_bytes(b"not a database" * 100)
    config["budget"]["trials"] = 4
    space.write_text(yaml.safe_dump(config))
    assert main(run_args(space, tmp_path, "--quiet")) == 0
    assert list(run_dir.glob("study.db.damaged-*"))
    assert_kept(before, run_dir)
    assert_whole(run_dir, 4, tmp_path / "reports")
    said = f"rebuilt from the folders, the rerun done in {recovered:.0f} s; damaged: moved aside, rebuilt;"
    said += " locked: exit 2, says so"
    faults = ["deleted", "garbage", "locked"]
    add_row(chaos_figures, "study.db deleted, damaged, or locked", faults, 3, said, kept=(original, run_dir))


def test_commands_on_a_run_directory_while_its_sweep_runs(make_config, tmp_path: Path, capsys, chaos_figures):
    """A second `run` and `ensemble` are refused, `report` reads a consistent snapshot, `predict`
    says the sweep has not built its ensemble yet, and the sweep ends whole."""
    import subprocess
    import sys

    slow = {"epochs": 6, "batch_size": 8, "optimizer": {"adamw": {"lr": {"loguniform": [1e-4, 1e-2]}}}}
    search = {"sampler": "random", "pruner": "none", "seed": 0, "stop_not_learning": False}
    budget = {"trials": 4, "max_epochs": 6}
    space = chaos_space(make_config, tmp_path, "busy", trials=4, space=slow, budget=budget, search=search)
    run_dir = tmp_path / "runs" / "busy"
    command = [sys.executable, "-m", "stratsearch", *run_args(space, tmp_path, "--quiet")]
    sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and sweep.poll() is None and not any(s.ended for _, s in RunDir(run_dir).statuses()):
        time.sleep(0.2)
    assert sweep.poll() is None, "the sweep ended before the commands could meet it"
    assert main(run_args(space, tmp_path)) == 2
    assert main(["ensemble", str(run_dir)]) == 2
    assert "is in use by another `stratsearch run`" in capsys.readouterr().err
    assert main(["report", str(run_dir), "--out", str(tmp_path / "during.html")]) == 0
    test_file = Path(yaml.safe_load(space.read_text())["data"]["test"])
    assert main(["predict", str(run_dir), str(test_file)]) == 2
    assert "a sweep is running there" in capsys.readouterr().err
    _, err = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, err
    assert_whole(run_dir, 4, tmp_path / "reports")
    said = "run/ensemble refused (exit 2); report from a snapshot; predict says the sweep runs"
    add_row(chaos_figures, "a second run, ensemble, report, predict during a sweep", ["after the first trial"], 1, said)


@pytest.mark.parametrize("case", ["same-score", "one-trial", "all-failed"])
def test_degenerate_runs_end_with_a_report_never_a_traceback(make_config, tmp_path: Path, capsys, case: str):
    top: dict = {}
    if case == "same-score":  # too small a learning rate to move any prediction: every trial scores alike
        top["space"] = {"epochs": 1, "batch_size": 8, "freeze_depth": {"int": [0, 3]}}
        top["space"]["optimizer"] = {"adamw": {"lr": {"loguniform": [1e-12, 1e-11]}}}
        top["budget"] = {"trials": 5, "max_epochs": 1}
        top["search"] = {"sampler": "random", "seed": 0, "stop_not_learning": False, "portfolio": "none"}
    elif case == "one-trial":
        top["budget"] = {"trials": 1, "max_epochs": 2}
    else:  # the baseline diverges, and it is the only trial
        top["budget"] = {"trials": 1, "max_epochs": 2}
        top["search"] = {"baseline": [{"optimizer": {"sgd": {"lr": 1.0e12}}, "grad_clip": 0.0, "epochs": 2}]}
    space = chaos_space(make_config, tmp_path, case, trials=1, **top)
    out = spawn(space, tmp_path)  # a process of its own: its stderr is all the user would see
    code, err = out.rc, out.stderr
    assert "Traceback" not in err
    report = (tmp_path / "reports" / f"{case}.md").read_text()
    run_dir = tmp_path / "runs" / case
    if case == "all-failed":
        assert code == 1 and "no trial produced a result" in err  # never success when nothing worked
        assert "no trial finished: no ensemble" in err and "TrainingDiverged" in report
    else:
        assert code == 0 and RunDir(run_dir).has_ensemble()
    if case == "same-score":
        values = {s.best_value for _, s in RunDir(run_dir).statuses()}
        assert len(values) == 1, values
        assert "not computed: every sampled trial scored the same" in report
    shutil.rmtree(run_dir / "ensemble", ignore_errors=True)
    assert main(["report", str(run_dir), "--out", str(tmp_path / "again.html")]) == 0
