"""A trial's strategy in a few words, e.g. "AdamW 3e-5, cosine, freeze 2, MLP-256, focal γ=2".

The optimizer, schedule, freeze depth and head are always named; the rest only where they
differ from the trainer's defaults, so that a leaderboard row shows what makes a trial itself.
"""

from __future__ import annotations

from typing import Any

from stratsearch.tasks import TASKS, Task
from stratsearch.train.config import Scalars
from stratsearch.train.strategies import KINDS, POOLINGS


def branch(config: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    """The entry of strategy `kind` a recorded trial config chose, and its parameters."""
    return KINDS[kind].branch(config)


def describe(config: dict[str, Any], task: Task = TASKS["classification"]) -> str:
    """How the weights move (each kind that `updates`), the freeze depth and the head, the other
    kinds where they differ from their default, then the scalars that do."""
    parts = [kind.words(config) for kind in KINDS if kind.updates]
    parts.append(f"freeze {config.get('freeze_depth', 0)}")
    if config.get("gradual_unfreezing"):
        parts.append("gradual unfreezing")
    head = config.get("head") or {}
    hidden = head.get("hidden", 0)
    pooling = POOLINGS[head.get("pooling", "cls")]
    shown = not task.token_level and not pooling.default  # tagging pools nothing
    parts.append((f"MLP-{hidden}" if hidden else "linear head") + (f", {pooling.label}" if shown else ""))
    parts += [kind.words(config) for kind in KINDS if not kind.updates]
    defaults = Scalars()
    if config.get("dropout", defaults.dropout) != defaults.dropout:
        parts.append(f"dropout {config['dropout']:g}")
    if config.get("layer_decay", defaults.layer_decay) != defaults.layer_decay:
        parts.append(f"layer decay {config['layer_decay']:g}")
    parts.append(f"{config.get('epochs', defaults.epochs)} epochs")
    return ", ".join(p for p in parts if p)
