"""From a config file to a ready-to-train (trial, model path, tokenized dataset): what `train` needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stratsearch.space.load import SpaceSpec, load_space
from stratsearch.tasks import Task
from stratsearch.train.config import DataSpec, TrialConfig
from stratsearch.train.data import Dataset, load_dataset
from stratsearch.train.model_dir import quiet_transformers, resolve_model_path


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


def prepare(config_path: str | Path) -> Prepared:
    """Validate the config (every dimension fixed), then load the model path and the data."""
    spec = load_space(config_path)
    model_path, data = model_and_data(spec)
    return Prepared(spec, spec.fixed_trial().for_model(model_path), model_path, data)
