"""From a config file to a ready-to-train (trial, model path, tokenized dataset): what `train` needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import TrialConfig
from .data import Dataset, load_dataset
from .model import quiet_transformers, resolve_model_path
from .space import SpaceSpec, load_space


@dataclass
class Prepared:
    spec: SpaceSpec
    trial: TrialConfig
    model_path: Path
    data: Dataset


def prepare(config_path: str | Path) -> Prepared:
    """Validate the config (every dimension fixed), resolve the model, read and tokenize the data once."""
    from transformers import AutoTokenizer

    spec = load_space(config_path)
    trial = spec.fixed_trial()
    model_path = resolve_model_path(spec.model, spec.base_dir)
    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    return Prepared(spec, trial, model_path, load_dataset(spec.data, spec.task, tokenizer))
