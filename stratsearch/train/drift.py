"""How far fine-tuning moved the encoder from the pretrained one: linear CKA per layer.

Linear CKA (Kornblith et al., ICML 2019) compares two sets of representations of the same
examples, ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F ‖Yᵀ Y‖_F) on column-centred features: 1 when one is a rotation
and scaling of the other, near 0 when unrelated. A trial's **drift** is 1 − CKA between the
fine-tuned and the pretrained encoder's mean-pooled top-layer states on a probe set (training
texts drawn once per run), so 0 means the top layer represents these texts as before. Where the
space names a general-text file (`data.probe`), drift is measured on its texts too
(`general_drift`): text the task never showed the model, closer to what "forgetting" means.

It is a similarity of representations, not a measure of forgetting itself: a low drift says the
encoder still encodes these texts as it did; it does not say how well it would do on another
task (that needs a task), and a high drift on a probe of the training texts is what adapting
to them looks like.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stratsearch.rows import PROBE_SIZE, Split, read_probe_texts, subset
from stratsearch.train.data import Dataset, collate, encoder_inputs, sorted_batches
from stratsearch.train.strategies.heads import mean_pool

BATCH = 64


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA between two representations of the same n examples, (n, d1) and (n, d2)."""
    x = x.double() - x.double().mean(0)
    y = y.double() - y.double().mean(0)
    denominator = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
    return float(torch.linalg.matrix_norm(y.T @ x) ** 2 / denominator) if denominator > 0 else 0.0


# Called with each batch's example indices, its tensors and the top layer's states.
OnBatch = Callable[[np.ndarray, dict[str, torch.Tensor], torch.Tensor], None]


@torch.inference_mode()
def pooled_states(
    backbone: nn.Module,
    split: Split,
    pad_id: int,
    on_batch: OnBatch | None = None,
    feed: Callable[[np.ndarray, int], None] | None = None,
    device: torch.device | None = None,
) -> list[torch.Tensor]:
    """Mean-pooled states of every example of `split`, in its order, per layer the backbone runs
    (the embeddings first), on the CPU. Batches are cut from the examples sorted by length, which
    spares most of the padding. `on_batch` sees each batch's top-layer states (the trial's own
    outputs need them); `feed` hands each batch to the frozen-prefix cache, whose states then come
    first (a backbone running from the cache may hold no parameters to find its device by)."""
    device = device or next(backbone.parameters()).device
    was_training = backbone.training
    backbone.eval()
    layers: list[torch.Tensor] = []
    for idx in sorted_batches(split.lengths, BATCH):
        batch = {k: v.to(device) for k, v in collate(split, idx, pad_id).items()}
        mask = batch["attention_mask"]
        if feed:
            feed(idx, mask.shape[1])
        out = backbone(**encoder_inputs(batch), output_hidden_states=True)
        # A backbone running no layer at all (every one frozen and served by the cache) records no
        # hidden states: its output is the cached states.
        hidden_states = out.hidden_states or (out.last_hidden_state,)
        if not layers:
            layers = [torch.zeros(len(split), h.shape[-1]) for h in hidden_states]
        for i, hidden in enumerate(hidden_states):
            layers[i][torch.from_numpy(idx)] = mean_pool(hidden.float(), mask).cpu()
        if on_batch:
            on_batch(idx, batch, hidden_states[-1])
    backbone.train(was_training)
    return layers


@dataclass(frozen=True)
class ProbeSet:
    """Probe texts, tokenized, and the pretrained encoder's states on them."""

    split: Split
    reference: list[torch.Tensor]  # per layer, embeddings first


@dataclass(frozen=True)
class Probe:
    """What every trial of a run is measured on: training examples drawn once per run and, where
    the space names one, a general-text file."""

    train: ProbeSet
    general: ProbeSet | None = None

    def sets(self) -> dict[str, ProbeSet]:
        return {"train": self.train} | ({"general": self.general} if self.general else {})


def drawn(n: int, seed: int) -> np.ndarray:
    """At most PROBE_SIZE of n rows, the same ones every time for a seed, in their order."""
    return np.sort(np.random.default_rng(seed).choice(n, size=min(PROBE_SIZE, n), replace=False))


def make_probe(
    model_path: Path, data: Dataset, general: Path | None = None, text: str = "text", encoding: str | None = None
) -> Probe:
    """The run's probe sets, with the pretrained encoder's states computed once (in the driver)."""
    from transformers import AutoTokenizer

    from stratsearch.train.model import load_backbone

    pretrained = load_backbone(model_path, 0.0, 0.0)

    def probe_set(split: Split) -> ProbeSet:
        return ProbeSet(split, pooled_states(pretrained, split, data.pad_id))

    train = probe_set(subset(data.train, drawn(len(data.train), seed=0)))
    if general is None:
        return Probe(train)
    texts = read_probe_texts(general, text, encoding)
    texts = [texts[i] for i in drawn(len(texts), seed=0)]
    ids = AutoTokenizer.from_pretrained(model_path)(texts, truncation=True, max_length=data.max_length)["input_ids"]
    blank = [0] * len(texts)  # no labels: only the encoder's states are read
    return Probe(train, probe_set(Split("probe", ids, blank, blank, texts)))


@dataclass(frozen=True)
class Drift:
    cka: list[float]  # per layer against the pretrained encoder, embeddings first

    @property
    def top(self) -> float:
        """1 − CKA of the top layer: the trial's drift."""
        return 1.0 - self.cka[-1]


@dataclass(frozen=True)
class Frozen:
    """A trial's frozen bottom, seen by its probe pass: the embeddings and `depth` layers still
    hold the pretrained weights, so their states are the reference's, and `feed` hands the
    frozen-prefix cache's states after them to a backbone running only the layers above."""

    depth: int
    feed: Callable[[np.ndarray, int], None]
    device: torch.device


def measure_drift(
    backbone: nn.Module,
    probe: ProbeSet,
    pad_id: int,
    on_batch: OnBatch | None = None,
    frozen: Frozen | None = None,
) -> Drift:
    """CKA per layer to the pretrained encoder on a probe set; `on_batch` as in pooled_states."""
    trained = any(p.requires_grad for p in backbone.parameters())  # else: the pretrained encoder
    cka = [1.0] * len(probe.reference)
    if trained or on_batch:
        depth, feed, device = (frozen.depth, frozen.feed, frozen.device) if frozen else (0, None, None)
        states = probe.reference[:depth] + pooled_states(backbone, probe.split, pad_id, on_batch, feed, device)
        if trained:
            cka = [linear_cka(tuned, before) for tuned, before in zip(states, probe.reference, strict=True)]
    return Drift(cka)
