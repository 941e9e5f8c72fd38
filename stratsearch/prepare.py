"""`stratsearch train`: from a validated space (or a config file) to a ready-to-train (trial, model
path, tokenized dataset), and the run it saves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stratsearch.predictions import save_predictions
from stratsearch.quiet import quiet_transformers
from stratsearch.rows import DataSpec
from stratsearch.space.load import SpaceSpec, load_space
from stratsearch.tasks import Task
from stratsearch.train.config import TrialConfig
from stratsearch.train.data import Dataset, load_dataset
from stratsearch.train.model_dir import resolve_model_path

if TYPE_CHECKING:
    from stratsearch.train.trainer import TrainResult


@dataclass
class Prepared:
    spec: SpaceSpec
    trial: TrialConfig
    model_path: Path
    data: Dataset


def tokenized_data(model_path: Path, data: DataSpec, task: Task) -> Dataset:
    """Read, check and tokenize every split once, with the model's tokenizer."""
    from transformers import AutoTokenizer

    quiet_transformers()
    return load_dataset(data, task, AutoTokenizer.from_pretrained(model_path))


def model_and_data(spec: SpaceSpec) -> tuple[Path, Dataset]:
    """Resolve the model and tokenize the data (for a run or a sweep)."""
    model_path = resolve_model_path(spec.model, spec.base_dir)
    return model_path, tokenized_data(model_path, spec.data, spec.task)


def prepare(config: SpaceSpec | str | Path) -> Prepared:
    """The config, validated (as a file alone where a path is given; every dimension fixed), with
    the model path and the data loaded."""
    spec = config if isinstance(config, SpaceSpec) else load_space(config)
    model_path, data = model_and_data(spec)
    return Prepared(spec, spec.fixed_trial().for_model(model_path), model_path, data)


def save_run(
    out: Path, run: SpaceSpec, trial: TrialConfig, model_path: Path, data: Dataset, result: TrainResult
) -> None:
    """`stratsearch train --out`: the model, its per-epoch history and its predictions."""
    from stratsearch.train.artifacts import save_model  # torch: only once a model trained

    manifest = {
        "name": run.name,
        "task": run.task.name,
        "base_model": run.model,
        "labels": data.label_names,
        "objective": run.objective.model_dump(),
        "config": trial.to_dict(),
        "best_epoch": result.best_epoch,
        "history": [
            {"epoch": r.epoch, "train_loss": r.train_loss, "seconds": r.seconds, **r.validation} for r in result.history
        ],
        "test": result.test_metrics,
        "trainable_parameters": result.trainable_parameters,
        "decisions": data.task.decisions(result.validation_predictions, data.validation.targets),
    }
    save_model(out, result.model, model_path, manifest)
    save_predictions(out / "predictions" / "validation.npz", result.validation_predictions)
    if result.test_predictions is not None:
        save_predictions(out / "predictions" / "test.npz", result.test_predictions)
