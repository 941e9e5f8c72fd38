"""A trial's strategy in a few words, e.g. "AdamW 3e-5, cosine, freeze 2, MLP-256, focal γ=2".

The optimizer, schedule, freeze depth and head are always named; the rest only where they
differ from the trainer's defaults, so that a leaderboard row shows what makes a trial itself.
"""

from __future__ import annotations

from typing import Any

from stratsearch.train.config import Scalars

NAMES = {"adamw": "AdamW", "adam": "Adam", "sgd": "SGD", "adafactor": "Adafactor", "lora": "LoRA", "bitfit": "BitFit"}
LOSS_PARAMS = {"focal": ("gamma", "γ"), "label_smoothing": ("epsilon", "ε"), "huber": ("delta", "δ")}
PENALTY_SYMBOL = "λ"


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


def describe(config: dict[str, Any], task: str = "classification") -> str:
    parts = []
    optimizer, params = branch(config, "optimizer")
    parts.append(f"{NAMES.get(optimizer, optimizer)} {number(params['lr'])}" if "lr" in params else optimizer)
    schedule, _ = branch(config, "schedule")
    warmup = config.get("warmup_ratio") or 0
    parts.append(schedule + (f" (warmup {warmup:.0%})" if warmup else ""))
    scope, scope_params = branch(config, "scope")
    if scope and scope != "full":
        rank = f" r={scope_params['r']}" if "r" in scope_params else ""
        parts.append(NAMES.get(scope, scope) + rank)
    parts.append(f"freeze {config.get('freeze_depth', 0)}")
    if config.get("gradual_unfreezing"):
        parts.append("gradual unfreezing")
    head = config.get("head") or {}
    hidden = head.get("hidden", 0)
    pooling = "" if task == "token-classification" or head.get("pooling", "cls") == "cls" else ", mean pooling"
    parts.append((f"MLP-{hidden}" if hidden else "linear head") + pooling)
    loss, loss_params = branch(config, "loss")
    if loss and loss not in ("cross_entropy", "mse"):
        key, symbol = LOSS_PARAMS.get(loss, ("", ""))
        parts.append(loss.replace("_", " ") + (f" {symbol}={number(loss_params[key])}" if key in loss_params else ""))
    penalty, penalty_params = branch(config, "penalty")
    if penalty and penalty != "none":
        parts.append(f"{penalty.upper()} {PENALTY_SYMBOL}={number(penalty_params.get('lambda', 0))}")
    augment, _ = branch(config, "augment")
    if augment and augment != "none":
        parts.append(f"{augment.replace('_', '-')} augmentation ×{config.get('n_aug', 1)}")
    defaults = Scalars()
    if config.get("dropout", defaults.dropout) != defaults.dropout:
        parts.append(f"dropout {config['dropout']:g}")
    if config.get("layer_decay", defaults.layer_decay) != defaults.layer_decay:
        parts.append(f"layer decay {config['layer_decay']:g}")
    parts.append(f"{config.get('epochs', defaults.epochs)} epochs")
    return ", ".join(p for p in parts if p)
