"""Parameter scope: which parameters train, and at what learning rate.

The scope registry (`apply(backbone, cfg) -> backbone`) picks full fine-tuning, BitFit or LoRA.
Orthogonal to it, and applied after it by the trainer:
- `freeze_bottom`: embeddings + bottom k layers frozen (the article's partial fine-tuning);
- `param_groups`: layer-wise LR decay ξ and the no-weight-decay split;
- `gradual_unfreeze`: ULMFiT-style, one more layer from the top each epoch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from stratsearch.errors import StratsearchError
from stratsearch.train.families import family_of
from stratsearch.train.strategies.kinds import Kind
from stratsearch.train.strategies.registry import Chosen, StrategyConfig, StrategyRegistry

if TYPE_CHECKING:
    import torch
    from torch import nn

ScopeFn = Callable[["nn.Module", StrategyConfig], "nn.Module"]
SCOPES: StrategyRegistry[ScopeFn] = StrategyRegistry("scope")


class LoraConfig(StrategyConfig):
    r: int = Field(8, ge=1)
    alpha: float = Field(16.0, gt=0.0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] | None = Field(
        None,
        min_length=1,
        description="module names to adapt, or all-linear (every linear layer of the encoder, as QLoRA does);"
        " default: the model family's attention projections (families.py)",
    )


@SCOPES.register("full", default=True)
def full(backbone: nn.Module, cfg: StrategyConfig) -> nn.Module:
    """Every backbone parameter trains."""
    return backbone.requires_grad_(True)


@SCOPES.register("bitfit", label="BitFit")
def bitfit(backbone: nn.Module, cfg: StrategyConfig) -> nn.Module:
    """BitFit: only the bias terms of the backbone train."""
    for name, param in backbone.named_parameters():
        param.requires_grad_(name.endswith("bias"))
    return backbone


@SCOPES.register("lora", LoraConfig, label="LoRA", shown=("r", "r"))
def lora(backbone: nn.Module, cfg: LoraConfig) -> nn.Module:
    """LoRA through peft: frozen weights plus trainable low-rank updates B·A on target modules."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import inject_adapter_in_model
    from transformers.pytorch_utils import Conv1D

    family = family_of(backbone.config.model_type)
    targets = cfg.target_modules or (list(family.lora_targets) if family else None)
    peft_cfg = PeftLoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=targets,
        fan_in_fan_out=any(isinstance(m, Conv1D) for m in backbone.modules()),  # GPT-2 stores Linear transposed
    )
    try:
        # inject_adapter_in_model marks only the adapters trainable and keeps the model's own class;
        # with no target_modules, peft picks its default for the model type (query/value for BERT).
        return inject_adapter_in_model(peft_cfg, backbone)
    except ValueError as err:
        raise StratsearchError(f"space.scope.lora.target_modules: {err}") from None


def freeze_bottom(blocks: list[nn.Module], depth: int) -> None:
    """Freeze the inputs and the bottom `depth` layers (blocks[0] is the inputs: the embeddings
    and what the family keeps beside them)."""
    if depth > 0:
        for block in blocks[: depth + 1]:
            block.requires_grad_(False)


def is_no_decay(name: str, module: nn.Module) -> bool:
    """Biases and normalisation weights (LayerNorm, RMSNorm, whatever a family calls its norms)
    are not shrunk by weight decay."""
    return name.endswith("bias") or "norm" in type(module).__name__.lower()


def param_groups(blocks: list[nn.Module], head: nn.Module, layer_decay: float) -> list[dict]:
    """Trainable parameters grouped by (depth, decay): head at full LR, block d at ξ^(depth of head − d)."""
    parts = [*blocks, head]
    top = len(parts) - 1
    groups: dict[tuple[int, bool], list[nn.Parameter]] = {}
    for depth, part in enumerate(parts):
        for module in part.modules():
            for name, param in module.named_parameters(recurse=False):
                if param.requires_grad:
                    key = (depth, not is_no_decay(name, module))
                    groups.setdefault(key, []).append(param)
    return [
        {"params": params, "lr_scale": layer_decay ** (top - depth), "decay": decay}
        for (depth, decay), params in sorted(groups.items())
    ]


def ungrouped(model: nn.Module, groups: list[dict]) -> list[str]:
    """Trainable parameters of `model` in no optimizer group, or in more than one: each would
    silently never train (or train twice), however it is counted."""
    seen = Counter(id(p) for group in groups for p in group["params"])
    return [name for name, p in model.named_parameters() if p.requires_grad and seen[id(p)] != 1]


def gradual_unfreeze(blocks: list[nn.Module], tunable: set[nn.Parameter], epoch: int) -> None:
    """Epoch 0 trains the head only; epoch e also trains the top e blocks that may train at all."""
    for rank_from_top, block in enumerate(reversed(blocks)):
        for param in block.parameters():
            param.requires_grad_(param in tunable and rank_from_top < epoch)


def merge_adapters(backbone: nn.Module) -> nn.Module:
    """Fold LoRA updates into the base weights and drop the adapter wrappers (in place)."""
    for name, module in list(backbone.named_modules()):
        if hasattr(module, "merge") and hasattr(module, "get_base_layer"):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(backbone.get_submodule(parent_name) if parent_name else backbone, child, module.get_base_layer())
    return backbone


def adapters(backbone: nn.Module) -> dict[str, torch.Tensor]:
    """LoRA's adapter weights ({} without LoRA). The encoder under them never trains (the scope
    freezes it), so they and the pretrained encoder are the whole trained encoder: a LoRA trial
    saves them alone, megabytes where a merged 1B-parameter encoder would take gigabytes."""
    return {name: param.detach() for name, param in backbone.named_parameters() if "lora_" in name}


def wrap(backbone: nn.Module, chosen: Chosen) -> nn.Module:
    return SCOPES[chosen.name].fn(backbone, chosen.params)


KIND = Kind("scope", SCOPES, wrap=wrap, adapter=adapters, merge=merge_adapters, updates=True, in_progress=True)
