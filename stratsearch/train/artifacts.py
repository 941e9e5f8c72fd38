"""Writing a trained model and its predictions to a directory, and reading them back.

Layout: `model/` (the encoder in save_pretrained format, plus tokenizer), `head.safetensors`,
`stratsearch.json` (task, labels, resolved config, metrics) and `predictions/{validation,test}.npz`.
A LoRA trial keeps only its adapters (`adapter.safetensors`; `model/` then holds the config and
tokenizer, no weights) and names the pretrained encoder they go on (`adapter_of` in the
manifest: `minilm-l6` for the bundled model, whose folder moves with each virtual environment,
else its absolute path). Both are written so that a crash leaves the old files or the new ones
(`files.py`), never half a model that `has_model` would take for whole.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from stratsearch import faults, files
from stratsearch.errors import StratsearchError
from stratsearch.tasks import TASKS
from stratsearch.train.model import TaskModel, load_backbone
from stratsearch.train.model_dir import find_model_dir, model_name
from stratsearch.train.strategies import KINDS
from stratsearch.train.strategies.heads import HeadConfig

STAGING = ".saving"  # a model being saved, moved into place once whole
HEAD, ADAPTER = "head.safetensors", "adapter.safetensors"


def save_model(out: Path, model: TaskModel, source: Path, manifest: dict[str, Any]) -> None:
    """The encoder and tokenizer in `out/model`, the head beside it, and a manifest (`task`,
    `labels`, `config` at least) that `load_model` rebuilds the model from. `source` is the model
    directory the encoder was loaded from: its tokenizer is saved, and where the trial added
    adapters to a frozen encoder (LoRA) they are saved alone, `source` named as their base.

    Everything is written to `out/.saving/` first and moved into place after, the manifest last:
    a model counts as saved (`has_model`) once its manifest is there."""
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    staging = out / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    backbone = model.backbone
    adapter = {name: t for kind in KINDS if kind.adapter for name, t in kind.adapter(backbone).items()}
    if adapter:
        backbone.config.save_pretrained(backbone_dir(staging))
        save_file({k: v.contiguous() for k, v in adapter.items()}, staging / ADAPTER)
        manifest = manifest | {"adapter_of": model_name(source)}
    else:  # a whole encoder (a soup of LoRA trials too: their adapters are merged in by then)
        backbone.save_pretrained(backbone_dir(staging))
        manifest = {k: v for k, v in manifest.items() if k != "adapter_of"}
    faults.point("trial.model")
    AutoTokenizer.from_pretrained(source).save_pretrained(backbone_dir(staging))
    save_file({k: v.contiguous() for k, v in model.head.state_dict().items()}, staging / HEAD)
    written = [*backbone_dir(staging).iterdir(), *(f for f in staging.iterdir() if f.is_file())]
    for path in written:
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    remove_saved(out)
    for path in staging.iterdir():
        path.rename(out / path.name)
    staging.rmdir()
    files.write_text(out / "stratsearch.json", json.dumps(manifest, indent=2, default=str) + "\n")


def backbone_dir(folder: Path) -> Path:
    """Where a saved model's encoder and tokenizer are (save_pretrained format)."""
    return folder / "model"


def has_model(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("stratsearch.json", HEAD, "model/config.json"))


def remove_model(folder: Path) -> None:
    """Delete a saved model, and whatever a save cut short left staged."""
    remove_saved(folder)
    shutil.rmtree(folder / STAGING, ignore_errors=True)


def remove_saved(folder: Path) -> None:
    (folder / "stratsearch.json").unlink(missing_ok=True)  # first: from here on it is not a saved model
    (folder / HEAD).unlink(missing_ok=True)
    (folder / ADAPTER).unlink(missing_ok=True)
    shutil.rmtree(backbone_dir(folder), ignore_errors=True)


def load_model(folder: Path) -> tuple[TaskModel, dict[str, Any]]:
    """A model saved by `save_model`, in eval mode, with its manifest; a LoRA trial's adapters put
    on its base encoder again and merged in."""
    from safetensors.torch import load_file

    manifest = json.loads((folder / "stratsearch.json").read_text())
    labels = manifest["labels"]
    head = HeadConfig(**manifest["config"]["head"])
    task = TASKS[manifest["task"]]
    if "adapter_of" in manifest:
        backbone = with_adapter(folder, manifest, task)
    else:
        backbone = load_backbone(backbone_dir(folder), 0.0, 0.0)
    model = TaskModel(backbone, task, task.num_outputs(labels), head)
    model.head.load_state_dict(load_file(folder / HEAD))
    return model.eval(), manifest


def with_adapter(folder: Path, manifest: dict[str, Any], task: Any) -> Any:
    """The base encoder a LoRA trial trained on, wrapped as the trial wrapped it, its adapters
    loaded, merged in."""
    from safetensors.torch import load_file

    from stratsearch.train.config import trial_from_space

    base = find_model_dir(manifest["adapter_of"]) or Path(manifest["adapter_of"])
    if not (base / "config.json").is_file():
        raise StratsearchError(
            f"{folder} holds LoRA adapters for the model in {base}, which is no longer there: put the model"
            " back at that path (the adapters are trained for exactly its weights)"
        )
    backbone = load_backbone(base, 0.0, 0.0)
    trial = trial_from_space(manifest["config"], task, str(folder / "stratsearch.json"))
    for kind, chosen in KINDS.chosen(trial):
        if kind.wrap:
            backbone = kind.wrap(backbone, chosen)
    loaded = backbone.load_state_dict(load_file(folder / ADAPTER), strict=False)
    if wrong := [name for name in loaded.missing_keys if "lora_" in name] + loaded.unexpected_keys:
        raise StratsearchError(f"{folder / ADAPTER} does not fit the model it was saved for: {wrong[:5]}")
    for kind in KINDS:
        if kind.merge:
            backbone = kind.merge(backbone)
    return backbone
