"""Writing a trained model and its predictions to a directory, and reading them back.

Layout: `model/` (the encoder in save_pretrained format, LoRA merged in, plus tokenizer),
`head.safetensors`, `stratsearch.json` (task, labels, resolved config, metrics) and
`predictions/{validation,test}.npz`. Both are written so that a crash leaves the old files or the
new ones (`files.py`), never half a model that `has_model` would take for whole.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from stratsearch import faults, files
from stratsearch.tasks import TASKS
from stratsearch.train.model import TaskModel, load_backbone
from stratsearch.train.strategies import KINDS
from stratsearch.train.strategies.heads import HeadConfig

STAGING = ".saving"  # a model being saved, moved into place once whole


def save_model(out: Path, model: TaskModel, tokenizer_path: Path, manifest: dict[str, Any]) -> None:
    """The encoder (LoRA merged in) and tokenizer in `out/model`, the head beside it, and a manifest
    (`task`, `labels`, `config` at least) that `load_model` rebuilds the model from.

    Everything is written to `out/.saving/` first and moved into place after, the manifest last:
    a model counts as saved (`has_model`) once its manifest is there."""
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    staging = out / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    backbone = model.backbone
    for kind in KINDS:  # a kind's training-time wrapping (LoRA's adapters) is not saved as such
        if kind.before_save:
            backbone = kind.before_save(backbone)
    backbone.save_pretrained(backbone_dir(staging))
    faults.point("trial.model")
    AutoTokenizer.from_pretrained(tokenizer_path).save_pretrained(backbone_dir(staging))
    save_file({k: v.contiguous() for k, v in model.head.state_dict().items()}, staging / "head.safetensors")
    for written in [*backbone_dir(staging).iterdir(), staging / "head.safetensors"]:
        with open(written, "rb") as handle:
            os.fsync(handle.fileno())
    remove_saved(out)
    backbone_dir(staging).rename(backbone_dir(out))
    (staging / "head.safetensors").rename(out / "head.safetensors")
    staging.rmdir()
    files.write_text(out / "stratsearch.json", json.dumps(manifest, indent=2, default=str) + "\n")


def backbone_dir(folder: Path) -> Path:
    """Where a saved model's encoder and tokenizer are (save_pretrained format)."""
    return folder / "model"


def has_model(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("stratsearch.json", "head.safetensors", "model/config.json"))


def remove_model(folder: Path) -> None:
    """Delete a saved model, and whatever a save cut short left staged."""
    remove_saved(folder)
    shutil.rmtree(folder / STAGING, ignore_errors=True)


def remove_saved(folder: Path) -> None:
    (folder / "stratsearch.json").unlink(missing_ok=True)  # first: from here on it is not a saved model
    (folder / "head.safetensors").unlink(missing_ok=True)
    shutil.rmtree(backbone_dir(folder), ignore_errors=True)


def load_model(folder: Path) -> tuple[TaskModel, dict[str, Any]]:
    """A model saved by `save_model`, in eval mode, with its manifest."""
    from safetensors.torch import load_file

    manifest = json.loads((folder / "stratsearch.json").read_text())
    labels = manifest["labels"]
    head = HeadConfig(**manifest["config"]["head"])
    backbone = load_backbone(backbone_dir(folder), 0.0, 0.0)
    task = TASKS[manifest["task"]]
    model = TaskModel(backbone, task, task.num_outputs(labels), head)
    model.head.load_state_dict(load_file(folder / "head.safetensors"))
    return model.eval(), manifest
