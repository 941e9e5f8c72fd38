"""The ensemble at the end of a real sweep (tiny random encoders, embedded Ray, SQLite Optuna),
`stratsearch ensemble` on demand, and `stratsearch predict` reproducing the stored figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from stratsearch.choice import choose
from stratsearch.cli import main
from stratsearch.ensemble.combine import flatten
from stratsearch.objective import Objective
from stratsearch.predictions import load_predictions
from stratsearch.rundir import RunDir
from stratsearch.train.artifacts import has_model
from tests.conftest import run_args, write_jsonl

pytestmark = pytest.mark.usefixtures("no_ray_left_behind")


def run_sweep(make_config, tmp_path: Path, task: str, trials: int, top_k: int) -> Path:
    config = yaml.safe_load(make_config(task, n_train=48).read_text())
    config.update(
        name=f"tiny-{task}",
        budget={"trials": trials, "max_epochs": 2},
        resources={"cpus_per_trial": 1},
        search={"sampler": "random", "pruner": "none", "seed": 0},
        space={
            "epochs": 2,
            "batch_size": 8,
            "optimizer": {"adamw": {"lr": {"loguniform": [1e-3, 3e-2]}}},
            "head": {"hidden": {"choice": [0, 8]}},
        },
        ensemble={"top_k": top_k, "method": "greedy"},
    )
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(run_args(path, tmp_path, "--quiet")) == 0
    return tmp_path / "runs" / config["name"]


def predict(run_dir: Path, input_path: Path, out: Path, *flags: str) -> list[dict]:
    assert main(["predict", str(run_dir), str(input_path), "--out", str(out), *flags]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def stored(run_dir: Path) -> dict:
    return json.loads((run_dir / "ensemble" / "ensemble.json").read_text())


def chosen_row(summary: dict) -> dict:
    return next(row for row in summary["table"] if row["chosen"])


def test_sweep_ensembles_its_top_k_and_predict_reproduces_it(make_config, tmp_path: Path, capsys) -> None:
    run_dir = run_sweep(make_config, tmp_path, "classification", trials=4, top_k=2)
    ranked = choose(RunDir(run_dir), Objective(metric="accuracy", mode="max")).ranking()
    # only the top-k finished trials keep their models
    assert [has_model(r.folder) for r in ranked] == [True, True, False, False]
    summary = stored(run_dir)
    assert summary["members"] == [r.number for r in ranked[:2]]
    assert summary["method"] == "greedy" and summary["requested"] == "greedy"
    table = {row["method"]: row for row in summary["table"]}
    assert table["best single"]["validation_accuracy"] == ranked[0].status().best_value
    assert table["best single"]["test_accuracy"] == ranked[0].status().test["accuracy"]
    assert table["greedy"]["validation_accuracy"] >= table["best single"]["validation_accuracy"]
    assert (run_dir / "ensemble" / "table.csv").is_file()

    test_file = tmp_path / "test.jsonl"
    rows = predict(run_dir, test_file, tmp_path / "ensemble.jsonl")
    assert len(rows) == 32 and set(rows[0]) == {"label", "probabilities"}
    probabilities = np.array([[r["probabilities"][k] for k in ("neg", "pos")] for r in rows])
    np.testing.assert_allclose(
        probabilities, load_predictions(run_dir / "ensemble" / "predictions" / "test.npz"), atol=1e-5
    )
    assert f"accuracy {chosen_row(summary)['test_accuracy']:.4f}" in capsys.readouterr().err

    best = predict(run_dir, test_file, tmp_path / "best.jsonl", "--best")
    np.testing.assert_allclose(
        np.array([[r["probabilities"][k] for k in ("neg", "pos")] for r in best]),
        load_predictions(ranked[0].predictions_path("test")),
        atol=1e-5,
    )

    # on demand: another method, and fewer members
    assert main(["ensemble", str(run_dir), "--method", "vote", "--top-k", "1"]) == 0
    summary = stored(run_dir)
    assert summary["method"] == "vote" and summary["members"] == [ranked[0].number]
    predict(run_dir, test_file, tmp_path / "vote.jsonl")
    assert f"accuracy {chosen_row(summary)['test_accuracy']:.4f}" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["regression", "token-classification"])
def test_predict_other_tasks_reproduces_the_stored_test_predictions(make_config, tmp_path: Path, task: str) -> None:
    run_dir = run_sweep(make_config, tmp_path, task, trials=2, top_k=2)
    rows = predict(run_dir, tmp_path / "test.jsonl", tmp_path / "out.jsonl")
    expected = flatten(load_predictions(run_dir / "ensemble" / "predictions" / "test.npz"))[0]
    if task == "regression":
        np.testing.assert_allclose([r["value"] for r in rows], expected, atol=1e-5)
    else:
        labels = json.loads((run_dir / "run.json").read_text())["labels"]
        tags = [tag for r in rows for tag in r["tags"]]
        assert tags == [labels[i] for i in expected.argmax(-1)]


def test_ensemble_and_predict_errors_exit_2(make_config, tmp_path: Path, capsys) -> None:
    run_dir = run_sweep(make_config, tmp_path, "classification", trials=2, top_k=1)
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "good film"}, {"txt": "bad"}])
    assert main(["predict", str(run_dir), str(bad)]) == 2
    assert "bad.jsonl, line 2, column 'text': column missing" in capsys.readouterr().err
    write_jsonl(bad, [{"text": "good film"}, {"text": "  "}])
    assert main(["predict", str(run_dir), str(bad)]) == 2
    assert "line 2, column 'text': empty text" in capsys.readouterr().err
    # a trial of the top k that kept no model is left out of the pool, and said
    assert main(["ensemble", str(run_dir), "--top-k", "2"]) == 0
    said = " ".join(capsys.readouterr().err.split())
    assert "of the top 2 kept no model" in said and "left out of the ensemble" in said
    assert len(stored(run_dir)["members"]) == 1 and len(stored(run_dir)["left_out"]) == 1
    assert main(["predict", str(tmp_path), str(bad)]) == 2
    assert "not a run directory (no run.json)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["ensemble", str(run_dir), "--method", "stacking"])
    assert exit_info.value.code == 2
    # a run whose trials all failed, or none finished: nothing to ensemble, said plainly
    for record in RunDir(run_dir).trials():
        record.set_status(status="failed")
    assert main(["ensemble", str(run_dir)]) == 2
    assert "no finished trial to ensemble" in capsys.readouterr().err
