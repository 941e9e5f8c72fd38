"""`stratsearch export`: the exported directory loads in plain transformers (in a process that never
imports stratsearch) and gives the same outputs as the model stratsearch trained.

The run directories are made without a sweep: one real training of the tiny model per case, saved
as a finished trial the way the sweep saves it (no Ray needed for what export reads)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from stratsearch.cli import main
from stratsearch.prepare import prepare
from stratsearch.rundir import RunDir
from stratsearch.train.artifacts import load_model, save_model
from stratsearch.train.trainer import train

LOAD_AND_RUN = """
import json, sys
import transformers
auto = getattr(transformers, sys.argv[2])
model = auto.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
import torch
with torch.no_grad():
    logits = [model(input_ids=torch.tensor([ids])).logits[0].tolist() for ids in json.loads(sys.argv[3])]
print(json.dumps({"logits": logits, "stratsearch_imported": "stratsearch" in sys.modules,
                  "class": type(model).__name__}))
"""


def one_trial_run(make_config, tmp_path: Path, task: str, head: dict) -> RunDir:
    """A run directory holding one finished trial with its saved model, as a sweep leaves it."""
    path = make_config(task, space={"head": head})
    config = yaml.safe_load(path.read_text())
    config["name"] = f"export-{task}"
    path.write_text(yaml.safe_dump(config))
    prepared = prepare(path)
    spec = prepared.spec
    result = train(prepared.model_path, prepared.data, prepared.trial, spec.objective)
    run_dir = RunDir(tmp_path / "runs" / spec.name)
    run_dir.path.mkdir(parents=True)
    run_dir.write_info(spec, prepared.model_path, prepared.data)
    record = run_dir.trial(0)
    record.start(prepared.trial.to_dict(), {}, 0)
    manifest = {"task": task, "labels": prepared.data.label_names, "config": prepared.trial.to_dict()}
    save_model(record.folder, result.model, prepared.model_path, manifest)
    best = result.best.validation[spec.objective.metric]
    record.finish("finished", best_value=best, test=result.test_metrics)
    return run_dir


CASES = [
    ("classification", {"hidden": 0}, "AutoModelForSequenceClassification", "StratsearchForSequenceClassification"),
    (
        "classification",
        {"hidden": 8, "pooling": "mean", "activation": "tanh"},
        "AutoModelForSequenceClassification",
        "StratsearchForSequenceClassification",
    ),
    ("regression", {"hidden": 0}, "AutoModelForSequenceClassification", "StratsearchForSequenceClassification"),
    ("token-classification", {"hidden": 0}, "AutoModelForTokenClassification", "BertForTokenClassification"),
    ("token-classification", {"hidden": 8}, "AutoModelForTokenClassification", "StratsearchForTokenClassification"),
]


@pytest.mark.parametrize(("task", "head", "auto", "cls"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_export_loads_in_plain_transformers_with_the_same_outputs(
    make_config, tmp_path: Path, task: str, head: dict, auto: str, cls: str
) -> None:
    run_dir = one_trial_run(make_config, tmp_path, task, head)
    out = tmp_path / "exported"
    assert main(["export", str(run_dir.path), str(out)]) == 0
    model, _ = load_model(run_dir.trial(0).folder)
    examples = [[2, 5, 9, 11, 3], [2, 7, 3], [2, 6, 8, 12, 10, 9, 3]]
    with torch.no_grad():
        ours = [model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0] for ids in examples]
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_RUN, str(out), auto, json.dumps(examples)],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["class"] == cls and not loaded["stratsearch_imported"]
    for mine, theirs in zip(ours, loaded["logits"], strict=True):
        assert torch.allclose(mine.reshape(-1), torch.tensor(theirs).reshape(-1), atol=1e-5)
    config = json.loads((out / "config.json").read_text())
    card = (out / "README.md").read_text()
    assert "trial 0" in card and "**Strategy**" in card
    if task == "regression":
        assert config["problem_type"] == "regression" and len(config["id2label"]) == 1
    else:
        assert set(config["label2id"]) == {str(n) for n in model_labels(run_dir)}
    assert ("auto_map" in config) == cls.startswith("Stratsearch")


def model_labels(run_dir: RunDir) -> list:
    return json.loads((run_dir.trial(0).folder / "stratsearch.json").read_text())["labels"]


def test_a_blend_of_several_models_is_refused_with_what_can_be_exported(make_config, tmp_path: Path, capsys) -> None:
    run_dir = one_trial_run(make_config, tmp_path, "classification", {"hidden": 0})
    run_dir.ensemble_dir.mkdir()
    blend = {"method": "greedy", "rule": "mean", "weights": {"0": 1.0, "3": 2.0}, "table": []}
    run_dir.ensemble_json.write_text(json.dumps(blend))
    assert main(["export", str(run_dir.path), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "the chosen ensemble (greedy of trials [0, 3]) combines 2 models" in err
    assert "--trial N (trials with a saved model: [0])" in err
    assert main(["export", str(run_dir.path), str(tmp_path / "out"), "--trial", "5"]) == 2
    assert "trial 5 kept no model" in capsys.readouterr().err
    assert main(["export", str(run_dir.path), str(tmp_path / "out"), "--trial", "0"]) == 0
