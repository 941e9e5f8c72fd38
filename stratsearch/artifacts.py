"""Writing a trained model and its predictions to a directory.

Layout: `model/` (the encoder in save_pretrained format, LoRA merged in, plus tokenizer),
`head.safetensors`, `stratsearch.json` (task, labels, resolved config, metrics) and
`predictions/{validation,test}.npz`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .config import TrialConfig
from .space import SpaceSpec
from .trainer import TrainResult


def merge_adapters(backbone: nn.Module) -> nn.Module:
    """Fold LoRA updates into the base weights and drop the adapter wrappers (in place)."""
    for name, module in list(backbone.named_modules()):
        if hasattr(module, "merge") and hasattr(module, "get_base_layer"):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(backbone.get_submodule(parent_name) if parent_name else backbone, child, module.get_base_layer())
    return backbone


def save_predictions(path: Path, predictions: Any) -> None:
    """Per-word predictions are ragged: stored flat with per-example lengths."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(predictions, list):
        np.savez(path, values=np.concatenate(predictions), lengths=np.array([len(p) for p in predictions]))
    else:
        np.savez(path, values=predictions)


def save_run(
    out: Path, run: SpaceSpec, trial: TrialConfig, model_path: Path, label_names: list | None, result: TrainResult
) -> None:
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    out.mkdir(parents=True, exist_ok=True)
    backbone = merge_adapters(result.model.backbone)
    backbone.save_pretrained(out / "model")
    AutoTokenizer.from_pretrained(model_path).save_pretrained(out / "model")
    save_file({k: v.contiguous() for k, v in result.model.head.state_dict().items()}, out / "head.safetensors")
    summary = {
        "name": run.name,
        "task": run.task,
        "base_model": run.model,
        "labels": label_names,
        "objective": run.objective.model_dump(),
        "config": trial.to_dict(),
        "best_epoch": result.best_epoch,
        "history": [
            {"epoch": r.epoch, "train_loss": r.train_loss, "seconds": r.seconds, **r.validation} for r in result.history
        ],
        "test": result.test_metrics,
        "trainable_parameters": result.trainable_parameters,
    }
    (out / "stratsearch.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    save_predictions(out / "predictions" / "validation.npz", result.validation_predictions)
    if result.test_predictions is not None:
        save_predictions(out / "predictions" / "test.npz", result.test_predictions)
