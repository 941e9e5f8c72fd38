"""The model under fine-tuning: a pretrained encoder ("backbone") plus a task head.

Backbones are Hugging Face encoders of a family with a record in `families.py`, loaded from a local
directory (`model_dir.py` finds it). Nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from stratsearch.errors import StratsearchError
from stratsearch.quiet import NO_HUB_KERNELS, quiet_transformers
from stratsearch.tasks import Task
from stratsearch.train.families import Family, family_of, unknown_family
from stratsearch.train.strategies.heads import POOLINGS, HeadConfig, build_head


def known_family(config: Any) -> Family:
    """The record of a model config's family; a clear error where it has none."""
    family = family_of(config.model_type)
    if family is None:
        raise StratsearchError(unknown_family(config.model_type))
    return family


def set_dropout(config: Any, dropout: float, attention_dropout: float) -> None:
    """Hidden and attention dropout, under the names the model's family uses."""
    family = known_family(config)
    for key in family.hidden_dropout:
        setattr(config, key, dropout)
    for key in family.attention_dropout:
        setattr(config, key, attention_dropout)


def load_backbone(path: Path, dropout: float, attention_dropout: float) -> nn.Module:
    from transformers import AutoConfig, AutoModel

    quiet_transformers()
    config = AutoConfig.from_pretrained(path)
    set_dropout(config, dropout, attention_dropout)
    pooler_off = {"add_pooling_layer": False} if known_family(config).pooler else {}
    # float32 whatever the checkpoint was saved in (Llama's and Qwen's `torch_dtype: bfloat16`, which
    # transformers 5 would keep): bf16 is autocast's business and frozen_weights', per trial.
    return AutoModel.from_pretrained(path, config=config, dtype=torch.float32, **pooler_off, **NO_HUB_KERNELS)


def encoder_layers(backbone: nn.Module) -> nn.ModuleList:
    """The stack of transformer layers, bottom first."""
    return backbone.get_submodule(known_family(backbone.config).layers)


def present(backbone: nn.Module, paths: tuple[str, ...]) -> dict[str, nn.Module]:
    """Of the modules a family's record names, those this model's config built (path → module)."""
    found = {}
    for path in paths:
        owner, _, name = path.rpartition(".")
        module = getattr(backbone.get_submodule(owner) if owner else backbone, name, None)
        if isinstance(module, nn.Module):
            found[path] = module
    return found


def blocks(backbone: nn.Module) -> list[nn.Module]:
    """The units freezing and layer-wise decay act on, bottom first: the inputs (the embeddings
    and what the family keeps beside them), then each layer, what is applied with the first layer
    and above the top layer (a final norm) with them. They hold every parameter of the encoder
    (`param_groups` checks; train/layout.py at validate)."""
    family = known_family(backbone.config)
    layers = list(encoder_layers(backbone))
    inputs = nn.ModuleList(present(backbone, family.inputs).values())
    if with_first := list(present(backbone, family.with_first_layer).values()):
        layers[0] = nn.ModuleList([layers[0], *with_first])
    if outputs := list(present(backbone, family.outputs).values()):
        layers[-1] = nn.ModuleList([layers[-1], *outputs])
    return [inputs, *layers]


class TaskModel(nn.Module):
    """Encoder → (pooling) → head. Token classification applies the head to every token."""

    def __init__(self, backbone: nn.Module, task: Task, num_outputs: int, head: HeadConfig):
        super().__init__()
        self.backbone = backbone
        self.head = build_head(backbone.config.hidden_size, num_outputs, head)
        self.pool = POOLINGS[head.pooling].fn
        self.token_level = task.token_level
        self.one_value = not task.has_classes  # regression: (N, 1) → (N,)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`token_type_ids`: a sentence pair's segment ids, on a family that has segment embeddings."""
        segments = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **segments).last_hidden_state
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
