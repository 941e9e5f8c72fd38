"""The model under fine-tuning: a pretrained encoder ("backbone") plus a task head.

Backbones are BERT-, RoBERTa- or DistilBERT-style Hugging Face encoders loaded from a local
directory (`model_dir.py` finds it). Nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from stratsearch.errors import StratsearchError
from stratsearch.quiet import quiet_transformers
from stratsearch.tasks import Task
from stratsearch.train.strategies.heads import POOLINGS, HeadConfig, build_head

# Config attribute names for (hidden dropout, attention dropout) in the encoder families we support.
DROPOUT_KEYS = [("hidden_dropout_prob", "attention_probs_dropout_prob"), ("dropout", "attention_dropout")]


def set_dropout(config: Any, dropout: float, attention_dropout: float) -> None:
    """Hidden and attention dropout, under whichever names the encoder family uses."""
    for hidden_key, attention_key in DROPOUT_KEYS:
        if hasattr(config, hidden_key):
            setattr(config, hidden_key, dropout)
            setattr(config, attention_key, attention_dropout)
            return


def load_backbone(path: Path, dropout: float, attention_dropout: float) -> nn.Module:
    from transformers import AutoConfig, AutoModel

    quiet_transformers()
    config = AutoConfig.from_pretrained(path)
    set_dropout(config, dropout, attention_dropout)
    kwargs = {"add_pooling_layer": False} if config.model_type in {"bert", "roberta"} else {}
    return AutoModel.from_pretrained(path, config=config, **kwargs)


def encoder_layers(backbone: nn.Module) -> nn.ModuleList:
    """The stack of transformer layers, bottom first."""
    for owner in ("encoder", "transformer"):
        layers = getattr(getattr(backbone, owner, None), "layer", None)
        if isinstance(layers, nn.ModuleList):
            return layers
    raise StratsearchError(f"unsupported encoder {type(backbone).__name__}: no encoder.layer or transformer.layer")


def blocks(backbone: nn.Module) -> list[nn.Module]:
    """Embeddings then each transformer layer: the units freezing and layer-wise decay act on."""
    return [backbone.embeddings, *encoder_layers(backbone)]


class TaskModel(nn.Module):
    """Encoder → (pooling) → head. Token classification applies the head to every token."""

    def __init__(self, backbone: nn.Module, task: Task, num_outputs: int, head: HeadConfig):
        super().__init__()
        self.backbone = backbone
        self.head = build_head(backbone.config.hidden_size, num_outputs, head)
        self.pool = POOLINGS[head.pooling].fn
        self.token_level = task.token_level
        self.one_value = not task.has_classes  # regression: (N, 1) → (N,)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.from_states(hidden, attention_mask)

    def from_states(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The head's outputs from the encoder's top-layer states."""
        if self.token_level:
            return self.head(hidden)
        out = self.head(self.pool(hidden, attention_mask))
        return out.squeeze(-1) if self.one_value else out

    def set_train_mode(self) -> None:
        """Train mode, except blocks with nothing to train: held in eval so they stay deterministic."""
        self.train()
        for block in blocks(self.backbone):
            if not any(p.requires_grad for p in block.parameters()):
                block.eval()
