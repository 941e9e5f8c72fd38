"""Task adaptation heads and the pooling that feeds them.

Pooling is a registry (`pool(hidden, mask) -> Tensor`); the head is a linear layer, or an MLP
adaptation layer of width `hidden` when hidden > 0 (the article's section 3.4).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from stratsearch.train.model_dir import model_family
from stratsearch.train.strategies.registry import StrategyConfig, StrategyRegistry

if TYPE_CHECKING:
    import torch
    from torch import nn

PoolFn = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]
POOLINGS: StrategyRegistry[PoolFn] = StrategyRegistry("pooling")
ACTIVATIONS = {"gelu": "GELU", "relu": "ReLU", "tanh": "Tanh"}  # torch.nn class names
AUTO = "auto"  # the pooling the checkpoint was trained with (`model_pooling`)


class HeadConfig(StrategyConfig):
    hidden: int = Field(0, ge=0, description="0 = linear head; > 0 = MLP adaptation layer of that width")
    activation: Literal["gelu", "relu", "tanh"] = "gelu"
    pooling: str = Field(
        AUTO, description="auto (the model's own) | cls | mean | last; not used for token classification"
    )
    dropout: float = Field(0.1, ge=0.0, lt=1.0)

    @field_validator("pooling")
    @classmethod
    def known_pooling(cls, name: str) -> str:
        if name != AUTO and name not in POOLINGS:
            raise ValueError(f"expected {AUTO} or one of {POOLINGS.names()}, found '{name}'")
        return name


@POOLINGS.register("cls", default=True)
def cls_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The first ([CLS]) token's hidden state."""
    return hidden[:, 0]


@POOLINGS.register("mean", label="mean pooling")
def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the hidden states over real (non-padding) tokens."""
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


@POOLINGS.register("last", label="last-token pooling")
def last_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The last real token's hidden state: the one a decoder has read the whole text by. Taken
    from the mask, so padding on either side is skipped."""
    import torch

    positions = torch.arange(mask.shape[1], device=mask.device)
    last = (positions * mask).argmax(-1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


# sentence-transformers' 1_Pooling/config.json flags → our pooling names
SENTENCE_TRANSFORMERS_MODES = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_lasttoken": "last",  # decoder embedders: e5-mistral, gte-Qwen
}


def model_pooling(model_dir: Path) -> str:
    """The pooling a checkpoint declares: a sentence-transformers model (all-MiniLM-L6-v2: mean) was
    trained to make its sentence embedding that way, so its head should read the same; a decoder
    has read the text by its last token; a plain encoder gets [CLS], as transformers' sequence
    classifiers use."""
    try:
        flags = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        flags = {}
    if declared := next((name for key, name in SENTENCE_TRANSFORMERS_MODES.items() if flags.get(key)), None):
        return declared
    family = model_family(model_dir)
    return "last" if family is not None and family.causal else "cls"


def build_head(in_dim: int, out_dim: int, cfg: HeadConfig) -> nn.Sequential:
    from torch import nn

    layers: list[nn.Module] = [nn.Dropout(cfg.dropout)]
    if cfg.hidden > 0:
        layers += [nn.Linear(in_dim, cfg.hidden), getattr(nn, ACTIVATIONS[cfg.activation])(), nn.Dropout(cfg.dropout)]
        in_dim = cfg.hidden
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)
