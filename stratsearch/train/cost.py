"""What training a trial costs, beyond its wall time: an estimate of its FLOPs, and peak memory.

FLOPs are counted as scaling-law papers count them (Kaplan et al. 2020): a forward pass costs 2
FLOPs (a multiply and an add) per matrix weight per token, plus the attention scores and their
weighted sum, 4·n·d per token per layer for a padded length n and width d. Backward costs the
forward again for the activation gradients, in every layer at or above the lowest one holding a
trainable parameter (gradients never flow below it), plus 2 FLOPs per trainable matrix weight per
token for the weight gradients: 3× the forward for full fine-tuning, far less with the bottom
layers frozen; with BitFit or LoRA every layer still passes activation gradients down. Layers
the frozen-prefix cache serves run forward once, in the first epoch. Embedding lookups, norms,
biases and the softmax are left out (a few percent of the total for encoders of this size).
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class BlockCost:
    weights: int  # matrix weights (2-D parameters) applied to every token that passes
    trainable: int  # of which trainable
    width: int  # hidden width for the attention term; 0 for the embeddings and the head
    any_trainable: bool  # any parameter at all (a bias, a norm) trainable: gradients reach here


def block_cost(block: nn.Module, width: int) -> BlockCost:
    matrices = [p for p in block.parameters() if p.dim() >= 2]
    return BlockCost(
        weights=sum(p.numel() for p in matrices),
        trainable=sum(p.numel() for p in matrices if p.requires_grad),
        width=width,
        any_trainable=any(p.requires_grad for p in block.parameters()),
    )


def model_costs(parts: list[nn.Module], head: nn.Module, width: int) -> list[BlockCost]:
    """The embeddings (looked up, so no forward matrices), each encoder layer, then the head."""
    embeddings = block_cost(parts[0], 0)
    return [
        BlockCost(0, 0, 0, embeddings.any_trainable),
        *(block_cost(layer, width) for layer in parts[1:]),
        block_cost(head, 0),
    ]


def batch_flops(
    costs: list[BlockCost], examples: int, length: int, token_level: bool = False, skip_forward: int = 0
) -> float:
    """Training FLOPs of one batch of `examples` padded to `length` tokens; the head sees one
    position per example, or every token for a tagger (`token_level`). The forward pass of the
    first `skip_forward` blocks is not counted (the prefix cache serves them)."""
    lowest = next((i for i, c in enumerate(costs) if c.any_trainable), len(costs))
    head_tokens = examples * length if token_level else examples
    total = 0.0
    for i, cost in enumerate(costs):
        tokens = head_tokens if i == len(costs) - 1 else examples * length
        forward = 2 * cost.weights * tokens + 4 * length * cost.width * tokens
        if i >= skip_forward:
            total += forward
        if i >= lowest:  # activation gradients, and the weight gradients of what trains
            total += forward + 2 * cost.trainable * tokens
    return total


def peak_memory_mb(device: torch.device) -> float:
    """The most memory the training held: CUDA's peak allocation since the last reset on a GPU;
    on the CPU the process's peak resident set (a reused Ray worker's peak over its trials)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
