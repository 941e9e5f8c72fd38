"""`stratsearch init DATA`: the task and columns are guessed and said, a validation split is made
when there is none, and the space written validates (files made in the test, the tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from stratsearch.cli import main
from tests.conftest import ner_rows, regression_rows, sentiment_rows, write_jsonl


def init_and_validate(data: Path, out: Path, model: Path, capsys, *extra: str) -> tuple[dict, str]:
    assert main(["init", str(data), "--out", str(out), "--model", str(model), *extra]) == 0
    said = capsys.readouterr().err
    assert main(["validate", str(out)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return yaml.safe_load(out.read_text()), said


def test_a_csv_with_other_column_names_and_no_validation_split(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    rows = sentiment_rows(200, 1)
    frame = pd.DataFrame({"id": range(200), "review": [r["text"] for r in rows], "verdict": [r["label"] for r in rows]})
    frame.to_csv(tmp_path / "reviews.csv", index=False)
    space, said = init_and_validate(tmp_path / "reviews.csv", tmp_path / "reviews.yaml", tiny_model_dir, capsys)
    assert space["task"] == "classification"
    assert space["data"]["text"] == "review" and space["data"]["label"] == "verdict"
    assert space["data"]["train"] == "reviews.train.jsonl" and space["data"]["validation"] == "reviews.validation.jsonl"
    assert "text: 'review', the string column with the most words per row" in said
    assert "label: 'verdict', the column with fewest distinct values" in said
    assert "no validation split: 10% of the rows held out (stratified by label), seeded" in said
    train = [json.loads(line) for line in (tmp_path / "reviews.train.jsonl").read_text().splitlines()]
    validation = [json.loads(line) for line in (tmp_path / "reviews.validation.jsonl").read_text().splitlines()]
    assert len(train) + len(validation) == 200 and len(validation) == 20
    assert {r["id"] for r in train}.isdisjoint(r["id"] for r in validation)
    share = sum(r["label"] == "pos" for r in rows) / 200
    assert abs(sum(r["verdict"] == "pos" for r in validation) / 20 - share) <= 0.05  # stratified


def test_numbers_with_many_values_are_a_regression_target(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    rows = [{**r, "label": r["label"] + 0.01 * i} for i, r in enumerate(regression_rows(120, 1))]
    data = write_jsonl(tmp_path / "scores.jsonl", rows)
    space, said = init_and_validate(data, tmp_path / "scores.yaml", tiny_model_dir, capsys)
    assert space["task"] == "regression" and space["objective"] == {"metric": "rmse", "mode": "min"}
    assert "task: regression, as 'label' holds numbers with many distinct values" in said


def test_a_folder_of_tagged_splits_is_token_classification(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    folder = tmp_path / "ner"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", ner_rows(60, 1))
    write_jsonl(folder / "dev.jsonl", ner_rows(20, 2))
    space, said = init_and_validate(folder, tmp_path / "ner.yaml", tiny_model_dir, capsys)
    assert space["task"] == "token-classification"
    assert space["data"]["tokens"] == "tokens" and space["data"]["tags"] == "tags"
    assert space["data"]["validation"].endswith("dev.jsonl")
    assert "no validation split" not in said


def test_an_imbalanced_label_gets_macro_f1(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    rows = [{"text": f"message {i} good", "label": "spam" if i % 10 == 0 else "ham"} for i in range(100)]
    space, said = init_and_validate(
        write_jsonl(tmp_path / "sms.jsonl", rows), tmp_path / "sms.yaml", tiny_model_dir, capsys
    )
    assert space["objective"]["metric"] == "macro_f1"
    assert "objective: macro_f1, as the smallest class is 10% of the rows" in said


def test_init_refuses_to_overwrite_and_needs_a_text_column(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", sentiment_rows(50, 1))
    out = tmp_path / "space.yaml"
    out.write_text("mine")
    assert main(["init", str(data), "--out", str(out), "--model", str(tiny_model_dir)]) == 2
    assert "exists; choose another --out, or --force" in capsys.readouterr().err
    numbers = write_jsonl(tmp_path / "n.jsonl", [{"a": i, "b": i % 2} for i in range(20)])
    assert main(["init", str(numbers), "--out", str(tmp_path / "n.yaml"), "--model", str(tiny_model_dir)]) == 2
    assert "no column holds text in every row (columns: ['a', 'b'])" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "m.yaml")]) == 2
    assert "missing.csv: no such file or folder" in capsys.readouterr().err


def test_for_a_decoder_the_space_searches_lora_and_the_dropout_it_has(tmp_path: Path, capsys) -> None:
    from tests.conftest import save_tiny_encoder

    model = save_tiny_encoder(tmp_path / "llama", "llama")
    data = write_jsonl(tmp_path / "reviews.jsonl", sentiment_rows(120, 1))
    space, _ = init_and_validate(data, tmp_path / "reviews.yaml", model, capsys)
    assert space["space"]["scope"] == {"lora": {"r": {"choice": [8, 16]}, "target_modules": "all-linear"}}
    assert "attention_dropout" in space["space"] and "dropout" not in space["space"]  # Llama has no hidden dropout
