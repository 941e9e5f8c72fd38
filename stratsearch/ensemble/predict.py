"""`stratsearch predict`: apply a run's ensemble (or its best single model) to a new file.

The input is read with the run's own column names and max_length and checked row by row (a
missing column or empty text names its line). Each member model predicts with the batch size
its trial evaluated with, so a re-prediction of the test split reproduces the stored figures.
When the input carries labels, the metrics on it are returned as well.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratsearch.choice import built_for, choose, chosen_model, stale_ensemble
from stratsearch.ensemble.combine import Prediction, vote, weighted_mean
from stratsearch.ensemble.methods import BEST_SINGLE
from stratsearch.errors import DataError, StratsearchError
from stratsearch.formats import read_rows
from stratsearch.rundir import RunDir, RunInfo
from stratsearch.train.data import Encoding


@dataclass
class Recipe:
    """Which saved models to run and how to combine their predictions."""

    description: str
    rule: str  # mean | vote (a soup is one saved model, combined by "mean" of one)
    folders: list[Path]
    weights: list[float]
    decisions: dict[str, Any]  # what turns the combined outputs into answers (multi-label thresholds)


def recipe_for(run_dir: RunDir, info: RunInfo, best: bool) -> Recipe:
    from stratsearch.train.artifacts import has_model

    choice = choose(run_dir, info.objective)
    if best:
        model = chosen_model(run_dir, choice)
        decisions = json.loads((model.folder / "stratsearch.json").read_text()).get("decisions", {})
        return Recipe(f"best single model (trial {model.number})", "mean", [model.folder], [1.0], decisions)
    ensemble = run_dir.read_ensemble()
    if not built_for(ensemble, choice):
        raise StratsearchError(stale_ensemble(run_dir, ensemble, choice))
    decisions = ensemble.get("decisions", {})
    if ensemble["rule"] == "soup":
        return Recipe(f"soup of trials {list(ensemble['weights'])}", "mean", [run_dir.soup_dir], [1.0], decisions)
    folders = [run_dir.trial(int(t)).folder for t in ensemble["weights"]]
    missing = [str(f) for f in folders if not has_model(f)]
    if missing:
        raise StratsearchError(f"{run_dir}: the ensemble's models are missing: {', '.join(missing)}")
    method = ensemble["method"]
    described = method if method == BEST_SINGLE else f"{method} ensemble of trials {list(ensemble['weights'])}"
    return Recipe(described, ensemble["rule"], folders, list(ensemble["weights"].values()), decisions)


def read_inputs(path: Path, info: RunInfo) -> tuple[list, list | None]:
    """The rows' model inputs, and their label ids when every row has a label (else None)."""
    file, task = str(path), info.task
    rows = read_rows(path, info.data.encoding)
    if not rows:
        raise DataError(file, "no rows to predict")
    inputs = [task.read_input(file, line, row, info.data) for line, row in rows]
    column = task.label_column(info.data)
    if not all(column in row for _, row in rows):
        return inputs, None
    labels = [task.read_label(file, line, row, info.data, len(x)) for (line, row), x in zip(rows, inputs, strict=True)]
    if info.labels is None:
        return inputs, labels
    index = {name: i for i, name in enumerate(info.labels)}
    return inputs, task.map_labels(labels, [line for line, _ in rows], index, file, column)


def run_recipe(recipe: Recipe, inputs: list, info: RunInfo, device_name: str | None) -> Prediction:
    from transformers import AutoTokenizer

    from stratsearch.quiet import quiet_transformers
    from stratsearch.train.artifacts import backbone_dir, load_model
    from stratsearch.train.trainer import pick_device, predict

    device = pick_device(device_name)
    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(backbone_dir(recipe.folders[0]))
    split = info.task.tokenize(tokenizer, "input", inputs, info.task.placeholder_targets(inputs), info.data.max_length)
    encoding = Encoding(info.task, info.labels, tokenizer.pad_token_id or 0)
    predictions = []
    for folder in recipe.folders:
        model, manifest = load_model(folder)
        batch_size = 2 * manifest["config"]["batch_size"]  # as the trial evaluated: same padding, same numbers
        predictions.append(predict(model.to(device), split, encoding, batch_size, device))
    if recipe.rule == "vote":
        return vote(predictions, info.task.multi_label)
    return weighted_mean(predictions, recipe.weights)


def write_rows(rows: list[dict[str, Any]], out: Path | None) -> None:
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    if out is not None and out.suffix.lower() == ".csv":
        import pandas as pd

        pd.json_normalize(rows).to_csv(out, index=False)
        return
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)


def predict_file(
    run_dir: RunDir, input_path: Path, info: RunInfo, best: bool, out: Path | None, device: str | None
) -> tuple[Recipe, int, dict[str, float] | None]:
    """Predict every row of `input_path`; returns the recipe used, the row count, and the metrics
    on the input's own labels when it has them."""
    recipe = recipe_for(run_dir, info, best)
    inputs, labels = read_inputs(input_path, info)
    prediction = run_recipe(recipe, inputs, info, device)
    write_rows(info.task.output_rows(prediction, info.labels, recipe.decisions), out)
    metrics = None if labels is None else info.task.score(prediction, labels, info.labels)
    return recipe, len(inputs), metrics
