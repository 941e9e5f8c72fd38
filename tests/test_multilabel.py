"""Multi-label classification: a list of labels per row (or one delimited string), a sigmoid per
label, its own losses and metrics, thresholds chosen on validation (never on test) that `predict`
and the export apply, clear errors for what cannot be read, a sweep end to end, and `init`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from stratsearch.choice import choose
from stratsearch.cli import main
from stratsearch.predictions import load_predictions
from stratsearch.prepare import prepare
from stratsearch.rundir import RunDir
from stratsearch.tasks import TASKS, best_threshold
from stratsearch.train.artifacts import load_model
from tests.conftest import multi_label_rows, run_args, write_jsonl

TASK = "multi-label-classification"


def test_labels_read_as_lists_or_split_strings_become_multi_hot_rows(make_config, tmp_path) -> None:
    path = make_config(TASK)
    listed = prepare(path).data
    assert listed.label_names == ["film", "praise"]
    rows = multi_label_rows(64, 1)
    first = listed.train.targets[0]
    assert first.tolist() == [float(name in rows[0]["label"]) for name in listed.label_names]
    config = yaml.safe_load(path.read_text())
    for split in ("train", "validation", "test"):  # the same rows, each set written "a|b"
        written = [json.loads(line) for line in Path(config["data"][split]).read_text().splitlines()]
        joined = [{**r, "label": " | ".join(r["label"])} for r in written]
        config["data"][split] = str(write_jsonl(tmp_path / f"joined-{split}.jsonl", joined))
    config["data"]["label_delimiter"] = "|"
    path.write_text(yaml.safe_dump(config))
    split = prepare(path).data
    assert split.label_names == listed.label_names
    np.testing.assert_array_equal(np.stack(split.train.targets), np.stack(listed.train.targets))


@pytest.mark.parametrize(
    ("broken", "said"),
    [
        ({"label": ["praise", "sarcasm"]}, "line 3, column 'label': label 'sarcasm' never appears in the training"),
        ({"label": "praise"}, "line 3, column 'label': expected a list of labels (strings or whole numbers), or one"),
    ],
)
def test_what_a_multi_label_file_cannot_say_is_named_by_file_line_and_column(
    make_config, tmp_path, capsys, broken, said
) -> None:
    path = make_config(TASK)
    config = yaml.safe_load(path.read_text())
    rows = multi_label_rows(20, 4)
    rows[2] |= broken
    config["data"]["validation"] = str(write_jsonl(tmp_path / "broken.jsonl", rows))
    path.write_text(yaml.safe_dump(config))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "broken.jsonl" in err and said in err


def test_metrics_decide_at_one_half_and_thresholds_are_the_best_f1_cut() -> None:
    task = TASKS[TASK]
    targets = [np.array(row, dtype=np.float32) for row in ([1, 0], [1, 1], [0, 1], [0, 0])]
    predictions = np.array([[0.9, 0.3], [0.6, 0.4], [0.2, 0.45], [0.4, 0.1]])
    scores = task.score(predictions, targets, ["a", "b"])
    assert scores["subset_accuracy"] == 0.5  # rows 1 and 4 exactly right at 0.5
    assert scores["micro_f1"] == pytest.approx(2 * 2 / (2 + 4))
    # label b: 0.3, 0.4 and 0.45 against 0, 1, 1 → the cut between 0.3 and 0.4 gets every one right
    assert best_threshold(predictions[:, 1], np.array([0, 1, 1, 0])) == pytest.approx(0.35)
    assert best_threshold(predictions[:, 0], np.zeros(4)) == 0.5  # a label never present keeps 0.5


@pytest.mark.usefixtures("no_ray_left_behind")
def test_a_multi_label_sweep_end_to_end(make_config, tmp_path, capsys) -> None:
    from transformers import AutoModelForSequenceClassification

    space = make_config(
        TASK,
        {"epochs": 3, "loss": {"choice": ["bce", "asymmetric"]}, "optimizer": {"adamw": {"lr": 3e-3}}},
        n_train=128,
        budget={"trials": 2},
        resources={"cpus_per_trial": 1},
        search={"sampler": "random", "pruner": "none", "stop_not_learning": False},
        confirm={"seeds": 1, "top_k": 1},
        ensemble={"top_k": 2, "method": "mean"},
    )
    assert main(run_args(space, tmp_path)) == 0
    run_dir = RunDir(tmp_path / "runs" / "config")
    assert (tmp_path / "reports" / "config.html").is_file() and run_dir.confirm_json.is_file()
    ranked = choose(run_dir, run_dir.info().objective).ranking()
    best = ranked[0]
    assert best.status().best_value > 0.6  # micro-F1 of a learnable set of labels
    # The thresholds a trial keeps are the best cuts on its validation predictions, and the test's play no part.
    manifest = json.loads((best.folder / "stratsearch.json").read_text())
    validation = load_predictions(best.predictions_path("validation"))
    targets = list(load_predictions(run_dir.targets_path))  # the validation split's label sets
    assert manifest["decisions"] == TASKS[TASK].decisions(validation, targets)
    ensemble = run_dir.read_ensemble()
    assert set(ensemble["decisions"]) == {"thresholds"}
    config = yaml.safe_load(space.read_text())
    out = tmp_path / "predictions.jsonl"
    capsys.readouterr()
    assert main(["predict", str(run_dir.path), config["data"]["test"], "--out", str(out)]) == 0
    assert "micro_f1" in capsys.readouterr().err
    predicted = [json.loads(line) for line in out.read_text().splitlines()]
    thresholds = dict(zip(["film", "praise"], ensemble["decisions"]["thresholds"], strict=True))
    for row in predicted:  # a label is given where its probability reaches its own threshold
        assert row["labels"] == [n for n, p in row["probabilities"].items() if p >= thresholds[n]]
    assert any(row["labels"] == [] for row in predicted)  # "none of these", learnt from rows with no label
    exported = tmp_path / "exported"
    assert main(["export", str(run_dir.path), str(exported), "--trial", str(best.number)]) == 0
    saved = json.loads((exported / "config.json").read_text())
    assert saved["problem_type"] == "multi_label_classification"
    assert list(saved["stratsearch_thresholds"].values()) == manifest["decisions"]["thresholds"]
    theirs = AutoModelForSequenceClassification.from_pretrained(exported, trust_remote_code=True).eval()
    ours, _ = load_model(best.folder)
    ids = torch.tensor([[2, 5, 9, 11, 3], [2, 7, 3, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        torch.testing.assert_close(
            ours(ids, mask), theirs(input_ids=ids, attention_mask=mask).logits, atol=1e-5, rtol=0
        )


def test_init_reads_a_list_of_labels_per_row_as_multi_label(tmp_path, tiny_model_dir, capsys) -> None:
    rows = [{"id": i, "review": r["text"], "topics": r["label"]} for i, r in enumerate(multi_label_rows(120, 1))]
    data = write_jsonl(tmp_path / "topics.jsonl", rows)
    out = tmp_path / "topics.yaml"
    assert main(["init", str(data), "--out", str(out), "--model", str(tiny_model_dir)]) == 0
    said = capsys.readouterr().err
    assert "task: multi-label-classification, as 'topics' holds a list of labels per row (2 distinct labels)" in said
    space = yaml.safe_load(out.read_text())
    assert space["task"] == TASK and space["data"]["label"] == "topics"
    assert space["objective"]["metric"] == "micro_f1"
    assert set(space["space"]["loss"]["choice"]) == {"bce", "asymmetric"}
    assert main(["validate", str(out)]) == 0
    printed = capsys.readouterr()
    assert (
        "labels (train, share of rows): " in printed.out + printed.err and "labels per row" in printed.out + printed.err
    )


def test_rows_with_no_label_are_read_counted_and_scored_and_an_all_empty_set_is_refused(
    make_config, tmp_path, capsys
) -> None:
    path = make_config(TASK)
    config = yaml.safe_load(path.read_text())
    rows = multi_label_rows(64, 1)
    share = sum(not r["label"] for r in rows) / len(rows)
    assert 0 < share < 1
    # A spreadsheet writes a row's labels as one delimited cell, and no label as an empty cell.
    csv = tmp_path / "train.csv"
    csv.write_text("text,label\n" + "".join(f"{r['text']},{'|'.join(r['label'])}\n" for r in rows))
    config["data"] |= {"train": str(csv), "label_delimiter": "|"}
    path.write_text(yaml.safe_dump(config))
    data = prepare(path).data
    assert [t.sum() == 0 for t in data.train.targets] == [not r["label"] for r in rows]  # all-zero targets
    assert main(["validate", str(path)]) == 0
    assert f"{share:.0%} of training rows carry no label" in capsys.readouterr().out
    csv.write_text("text,label\n" + "".join(f"{r['text']},\n" for r in rows))
    assert main(["validate", str(path)]) == 2
    assert "no training row carries a label" in capsys.readouterr().err


def test_an_example_with_no_label_given_none_is_exactly_right() -> None:
    task = TASKS[TASK]
    targets = [np.array(row, dtype=np.float32) for row in ([0, 0], [1, 0], [0, 0])]
    predictions = np.array([[0.1, 0.2], [0.9, 0.1], [0.7, 0.1]])  # right, right, a label where none is
    scores = task.score(predictions, targets, ["a", "b"])
    assert scores["samples_f1"] == pytest.approx((1 + 1 + 0) / 3)
    assert scores["subset_accuracy"] == pytest.approx(2 / 3)
    trivial = task.trivial(targets, targets, ["a", "b"])
    np.testing.assert_allclose(trivial[0], [1 / 3, 0])  # each label's share, the empty rows counted
