"""From a config file to a ready-to-train (model path, tokenized dataset): what `train` needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import RunConfig, load_run_config
from .data import Dataset, load_dataset
from .model import quiet_transformers, resolve_model_path


@dataclass
class Prepared:
    run: RunConfig
    model_path: Path
    data: Dataset


def prepare(config_path: str | Path) -> Prepared:
    """Validate the config, resolve the model, read and tokenize the data once."""
    from transformers import AutoTokenizer

    run = load_run_config(config_path)
    model_path = resolve_model_path(run.model, run.base_dir)
    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    return Prepared(run, model_path, load_dataset(run.data, run.task, tokenizer))
