"""A trial's strategy in a few words, e.g. "AdamW 3e-5, cosine, freeze 2, MLP-256, focal γ=2".

The optimizer, schedule, freeze depth and head are always named; the rest only where they
differ from the trainer's defaults, so that a leaderboard row shows what makes a trial itself.
"""

from __future__ import annotations

from typing import Any

from stratsearch.tasks import TASKS, Task
from stratsearch.train.config import Scalars
from stratsearch.train.strategies import CHOICE_KINDS, POOLINGS


def number(x: float) -> str:
    """Learning rates and penalties as people write them: 3e-5, 1.2e-4, 0.1."""
    if x == 0 or abs(x) >= 1e-2:
        return f"{x:g}"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def branch(config: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    value = config.get(kind) or {}
    name = next(iter(value), "")
    return name, value.get(name) or {}


def words(config: dict[str, Any], kind: str, unless_default: bool = False) -> str:
    """A chosen strategy as its registry entry writes it ("focal γ=2", "LoRA r=8"); with
    `unless_default`, "" for the kind's default (named only where it differs)."""
    name, params = branch(config, kind)
    registry = CHOICE_KINDS[kind]
    if name not in registry:
        return name
    entry = registry[name]
    if unless_default and entry.default:
        return ""
    if not (entry.shown and entry.shown[0] in params):
        return entry.label
    key, symbol = entry.shown
    return f"{entry.label} {symbol}={number(params[key])}" if symbol else f"{entry.label} {number(params[key])}"


def describe(config: dict[str, Any], task: Task = TASKS["classification"]) -> str:
    warmup = config.get("warmup_ratio") or 0
    parts = [
        words(config, "optimizer"),
        words(config, "schedule") + (f" (warmup {warmup:.0%})" if warmup else ""),
        words(config, "scope", unless_default=True),
        f"freeze {config.get('freeze_depth', 0)}",
    ]
    if config.get("gradual_unfreezing"):
        parts.append("gradual unfreezing")
    head = config.get("head") or {}
    hidden = head.get("hidden", 0)
    pooling = POOLINGS[head.get("pooling", "cls")]
    shown = not task.token_level and not pooling.default  # tagging pools nothing
    parts.append((f"MLP-{hidden}" if hidden else "linear head") + (f", {pooling.label}" if shown else ""))
    parts += [words(config, "loss", unless_default=True), words(config, "penalty", unless_default=True)]
    if augment := words(config, "augment", unless_default=True):
        parts.append(f"{augment} augmentation ×{config.get('n_aug', 1)}")
    defaults = Scalars()
    if config.get("dropout", defaults.dropout) != defaults.dropout:
        parts.append(f"dropout {config['dropout']:g}")
    if config.get("layer_decay", defaults.layer_decay) != defaults.layer_decay:
        parts.append(f"layer decay {config['layer_decay']:g}")
    parts.append(f"{config.get('epochs', defaults.epochs)} epochs")
    return ", ".join(p for p in parts if p)
