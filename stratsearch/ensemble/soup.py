"""Model soup (Wortsman et al., 2022): one model whose weights are the mean of several fine-tunes.

Averaging weights only makes sense between models of one architecture fine-tuned from the same
pretrained encoder, so members are first matched on their head (width, activation, pooling) and
on the name and shape of every weight; dropout rates do not count, as they play no part at
inference. A LoRA trial's adapters are merged into its base when it is loaded, so it can join a soup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from stratsearch.train.artifacts import load_model
from stratsearch.train.model import TaskModel


def architecture(model: TaskModel, manifest: dict[str, Any]) -> dict[str, Any]:
    head = {k: v for k, v in manifest["config"]["head"].items() if k != "dropout"}
    return {"head": head, "weights": {name: tuple(t.shape) for name, t in model.state_dict().items()}}


def difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    """How architecture `b` differs from `a`, in words."""
    changed = [f"{k} {b['head'].get(k)} vs {a['head'].get(k)}" for k in a["head"] if a["head"][k] != b["head"].get(k)]
    if changed:
        return "head " + ", ".join(changed)
    return "weight names or shapes"


def average(models: list[TaskModel]) -> TaskModel:
    """The first model, its floating-point weights replaced by the mean over all models (in place)."""
    states = [m.state_dict() for m in models]
    mean = {
        name: torch.stack([s[name].float() for s in states]).mean(0).to(tensor.dtype)
        if tensor.is_floating_point()
        else tensor
        for name, tensor in states[0].items()
    }
    models[0].load_state_dict(mean)
    return models[0]


def matching(folders: list[Path]) -> tuple[list[int], list[str], list[TaskModel]]:
    """Indices of the folders whose model shares the first one's architecture, reasons for the
    others being left out, and the matching models themselves (loaded)."""
    first, first_manifest = load_model(folders[0])
    reference = architecture(first, first_manifest)
    keep, reasons, models = [0], [], [first]
    for i, folder in enumerate(folders[1:], start=1):
        model, manifest = load_model(folder)
        arch = architecture(model, manifest)
        if arch == reference:
            keep.append(i)
            models.append(model)
        else:
            reasons.append(difference(reference, arch))
    return keep, reasons, models
