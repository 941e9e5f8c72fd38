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

from .combine import Prediction, vote, weighted_mean
from .data import Encoding, label_column, map_labels, read_input, read_label, read_rows, tokenize
from .ensemble import BEST_SINGLE, ranked_trials, read_ensemble
from .errors import DataError, StratsearchError
from .run_info import RunInfo


@dataclass
class Recipe:
    """Which saved models to run and how to combine their predictions."""

    description: str
    rule: str  # mean | vote (a soup is one saved model, combined by "mean" of one)
    folders: list[Path]
    weights: list[float]


def recipe_for(run_dir: Path, info: RunInfo, best: bool) -> Recipe:
    from .artifacts import has_model

    if best:
        ranked = ranked_trials(run_dir, info.mode)
        if not ranked or not has_model(ranked[0].folder):
            raise StratsearchError(f"{run_dir}: no finished trial with a saved model")
        return Recipe(f"best single model (trial {ranked[0].number})", "mean", [ranked[0].folder], [1.0])
    ensemble = read_ensemble(run_dir)
    if ensemble["rule"] == "soup":
        return Recipe(f"soup of trials {list(ensemble['weights'])}", "mean", [run_dir / "ensemble" / "soup"], [1.0])
    folders = [run_dir / "trials" / f"{int(t):04d}" for t in ensemble["weights"]]
    missing = [str(f) for f in folders if not has_model(f)]
    if missing:
        raise StratsearchError(f"{run_dir}: the ensemble's models are missing: {', '.join(missing)}")
    method = ensemble["method"]
    described = method if method == BEST_SINGLE else f"{method} ensemble of trials {list(ensemble['weights'])}"
    return Recipe(described, ensemble["rule"], folders, list(ensemble["weights"].values()))


def read_inputs(path: Path, info: RunInfo) -> tuple[list, list | None]:
    """The rows' model inputs, and their label ids when every row has a label (else None)."""
    file = str(path)
    rows = read_rows(path)
    if not rows:
        raise DataError(file, "no rows to predict")
    inputs = [read_input(file, line, row, info.data, info.task) for line, row in rows]
    column = label_column(info.data, info.task)
    if not all(column in row for _, row in rows):
        return inputs, None
    labels = [
        read_label(file, line, row, info.data, info.task, len(x)) for (line, row), x in zip(rows, inputs, strict=True)
    ]
    if info.labels is None:
        return inputs, labels
    index = {name: i for i, name in enumerate(info.labels)}
    return inputs, map_labels(labels, [line for line, _ in rows], index, info.task, file, column)


def placeholder_targets(inputs: list, task: str) -> list:
    """Tokenizing for tags needs one target per word, to find each word's first sub-token."""
    return [[0] * len(words) for words in inputs] if task == "token-classification" else [0] * len(inputs)


def run_recipe(recipe: Recipe, inputs: list, info: RunInfo, device_name: str | None) -> Prediction:
    from transformers import AutoTokenizer

    from .artifacts import load_model
    from .model import quiet_transformers
    from .trainer import pick_device, predict

    device = pick_device(device_name)
    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(recipe.folders[0] / "model")
    split = tokenize(
        tokenizer, "input", inputs, placeholder_targets(inputs, info.task), info.task, info.data.max_length
    )
    encoding = Encoding(info.task, info.labels, tokenizer.pad_token_id or 0)
    predictions = []
    for folder in recipe.folders:
        model, manifest = load_model(folder)
        batch_size = 2 * manifest["config"]["batch_size"]  # as the trial evaluated: same padding, same numbers
        predictions.append(predict(model.to(device), split, encoding, batch_size, device))
    if recipe.rule == "vote":
        return vote(predictions)
    return weighted_mean(predictions, recipe.weights)


def output_rows(prediction: Prediction, info: RunInfo) -> list[dict[str, Any]]:
    if info.task == "regression":
        return [{"value": float(v)} for v in prediction]
    names = info.labels or []
    if info.task == "token-classification":
        return [{"tags": [names[i] for i in words.argmax(-1)]} for words in prediction]
    return [
        {"label": names[int(p.argmax())], "probabilities": {str(n): float(x) for n, x in zip(names, p, strict=True)}}
        for p in prediction
    ]


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
    run_dir: Path, input_path: Path, info: RunInfo, best: bool, out: Path | None, device: str | None
) -> tuple[Recipe, int, dict[str, float] | None]:
    """Predict every row of `input_path`; returns the recipe used, the row count, and the metrics
    on the input's own labels when it has them."""
    from .metrics import compute_metrics

    recipe = recipe_for(run_dir, info, best)
    inputs, labels = read_inputs(input_path, info)
    prediction = run_recipe(recipe, inputs, info, device)
    write_rows(output_rows(prediction, info), out)
    metrics = None if labels is None else compute_metrics(info.task, prediction, labels, info.labels)
    return recipe, len(inputs), metrics
