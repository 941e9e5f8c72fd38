"""The frozen-prefix cache: a trial that freezes the embeddings and the bottom k layers computes
their output once, and trains only what is above it.

Frozen blocks are held in eval mode by the trainer, so their output for an example never
changes: it depends on the pretrained weights, the token ids and k only (LoRA adapters in frozen
layers start as exact zeros and stay frozen; BitFit's frozen biases are the pretrained ones).
The states after layer k are stored per split as one flat float32 array of every example's
tokens (memory-mapped) plus offsets, keyed by (model, token ids, k), under
`$STRATSEARCH_CACHE/prefix/`, and shared by every trial and epoch that asks for the same k.
A cache for k is derived from the largest cached k' < k by running only layers k'..k-1. The
folder is kept under `STRATSEARCH_CACHE_GB` (default 10) by deleting the least recently used
caches; `STRATSEARCH_PREFIX_CACHE=off` turns the cache off. A family whose record says the cache
cannot stand in for its bottom exactly (ALBERT's shared layers, GPT-2's position embeddings added
inside its forward) runs without it, and the run log says so.

While a trial trains from the cache, the encoder's embeddings are replaced by a module that
returns the cached states of the current batch and its layer list starts at layer k; the
model's own code still builds the attention mask, so nothing else changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stratsearch.disk_cache import cache_dir, computing
from stratsearch.rows import Split
from stratsearch.train.data import collate, encoder_inputs, sorted_batches
from stratsearch.train.model import encoder_layers, known_family, present
from stratsearch.train.model_dir import model_family

Feed = Callable[[str, np.ndarray, int], None]  # (split name, example indices, padded width) per batch


def enabled() -> bool:
    return os.environ.get("STRATSEARCH_PREFIX_CACHE", "on").lower() not in ("0", "off", "false", "no")


def limit_bytes() -> int:
    return int(float(os.environ.get("STRATSEARCH_CACHE_GB", "10")) * 1e9)


class States:
    """One split's hidden states after layer k: every token of every example, flat."""

    def __init__(self, values: np.ndarray, offsets: np.ndarray):
        self.values, self.offsets = values, offsets

    def batch(self, idx: np.ndarray, width: int) -> torch.Tensor:
        out = torch.zeros((len(idx), width, self.values.shape[1]), dtype=torch.float32)
        for row, i in enumerate(idx):
            start, end = self.offsets[i], self.offsets[i + 1]
            out[row, : end - start] = torch.from_numpy(np.array(self.values[start:end]))  # a copy of the mmap
        return out


class CachedStates(nn.Module):
    """Stands in for the embeddings: returns the states it was last given."""

    def __init__(self) -> None:
        super().__init__()
        self.current: torch.Tensor | None = None

    def forward(self, *args: object, **kwargs: object) -> torch.Tensor:
        return self.current


@contextmanager
def swapped(backbone: nn.Module, start: int, stop: int | None = None, cached: bool = True) -> Iterator[CachedStates]:
    """Within the block the backbone runs layers start..stop-1 only, its embeddings replaced by a
    `CachedStates` when `cached` (and what its family applies to their output before the first
    layer by nothing); up to a `stop`, what the family applies above the top layer (a final norm)
    is left out too. The family's record says where these are; everything is put back afterwards."""
    family = known_family(backbone.config)
    stand_in = CachedStates()
    replaced: dict[str, nn.Module | None] = {family.layers: nn.ModuleList(list(encoder_layers(backbone))[start:stop])}
    if cached:
        replaced |= {path: nn.Identity() for path in present(backbone, family.applied_after_embeddings)}
        replaced[family.inputs[0]] = stand_in
    if start > 0:  # what the encoder applies with its first layer is in the states already (None: the
        replaced |= dict.fromkeys(present(backbone, family.with_first_layer))  # model's own "has none")
    if stop is not None:
        replaced |= {path: nn.Identity() for path in present(backbone, family.outputs)}
    kept = {path: backbone.get_submodule(path) for path in replaced}
    for path, module in replaced.items():
        put(backbone, path, module)
    try:
        yield stand_in
    finally:
        for path, module in kept.items():
            put(backbone, path, module)


def put(backbone: nn.Module, path: str, module: nn.Module | None) -> None:
    owner, _, name = path.rpartition(".")
    setattr(backbone.get_submodule(owner) if owner else backbone, name, module)


@torch.no_grad()
def compute_states(
    backbone: nn.Module, split: Split, pad_id: int, depth: int, start: tuple[int, States] | None, device: torch.device
) -> States:
    """States after layer `depth`, from the embeddings or from cached states after layer start[0]."""
    lengths = split.lengths
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = np.zeros((int(offsets[-1]), backbone.config.hidden_size), dtype=np.float32)
    was_training = backbone.training
    backbone.eval()
    first = start[0] if start else 0
    with swapped(backbone, first, depth, cached=start is not None) as stand_in:
        for idx in sorted_batches(lengths, 64):
            batch = {k: v.to(device) for k, v in encoder_inputs(collate(split, idx, pad_id)).items()}
            if start is not None:
                stand_in.current = start[1].batch(idx, batch["input_ids"].shape[1]).to(device)
            hidden = backbone(**batch).last_hidden_state
            for row, i in enumerate(idx):
                values[offsets[i] : offsets[i + 1]] = hidden[row, : lengths[i]].float().cpu().numpy()
    backbone.train(was_training)
    return States(values, offsets)


def data_key(model_path: Path, split: Split) -> str:
    config = (Path(model_path) / "config.json").read_text()
    tokens = split.input_ids if split.token_type_ids is None else [split.input_ids, split.token_type_ids]
    ids = hashlib.sha256(json.dumps(tokens).encode()).hexdigest()
    return hashlib.sha256(f"{Path(model_path).resolve()}|{config}|{ids}".encode()).hexdigest()[:24]


def load(folder: Path) -> States:
    os.utime(folder)  # least recently used goes first when the cache is over its limit
    return States(np.load(folder / "values.npy", mmap_mode="r"), np.load(folder / "offsets.npy"))


def save(folder: Path, states: States) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "values.npy", states.values)
    np.save(tmp / "offsets.npy", states.offsets)
    os.replace(tmp, folder)


def off_for(backbone: nn.Module) -> bool:
    """Whether the model's family is one the cache cannot stand in for exactly (families.py)."""
    return bool(known_family(backbone.config).no_prefix_cache)


def usage(model_path: Path) -> str:
    """For the run log: where the cache is, how much it holds, its limit; or why it is off."""
    if not enabled():
        return "frozen-prefix cache: off (STRATSEARCH_PREFIX_CACHE)"
    family = model_family(Path(model_path))
    if family is not None and family.no_prefix_cache:
        return f"frozen-prefix cache: off for {family.label} ({family.no_prefix_cache}): frozen layers run every step"
    root = cache_dir("prefix")
    used = sum(size_of(f) for f in root.iterdir() if f.is_dir()) if root.is_dir() else 0
    limit = f"{limit_bytes() / 1e9:g} GB (STRATSEARCH_CACHE_GB)"
    return f"frozen-prefix cache: {root}, {used / 1e6:,.0f} MB used of {limit}"


def size_of(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir())


def evict(root: Path, keep: Path) -> None:
    """Delete least recently used caches until the folder fits its limit (never `keep`)."""
    folders = sorted((f for f in root.iterdir() if f.is_dir() and "-k" in f.name), key=lambda f: f.stat().st_mtime)
    total = sum(size_of(f) for f in folders)
    for folder in folders:
        if total <= limit_bytes():
            break
        if folder != keep:
            total -= size_of(folder)
            shutil.rmtree(folder, ignore_errors=True)


def states_for(
    backbone: nn.Module, model_path: Path, split: Split, pad_id: int, depth: int, device: torch.device
) -> States:
    """The cached states after layer `depth` for a split, computed (once, under a lock) if needed."""
    root = cache_dir("prefix")
    key = data_key(model_path, split)
    target = root / f"{key}-k{depth}"
    with computing(root / f"{key}.lock"):
        if target.is_dir():
            return load(target)
        below = next((k for k in range(depth - 1, 0, -1) if (root / f"{key}-k{k}").is_dir()), None)
        start = None if below is None else (below, load(root / f"{key}-k{below}"))
        save(target, compute_states(backbone, split, pad_id, depth, start, device))
        evict(root, keep=target)
        return load(target)


@contextmanager
def prefix_feed(
    backbone: nn.Module, splits: dict[str, Split], pad_id: int, depth: int, model_path: Path
) -> Iterator[Feed | None]:
    """Within the block the backbone runs these splits from cached states after layer `depth`,
    fed batch by batch (None: run the full encoder)."""
    if depth == 0 or not enabled() or off_for(backbone):
        yield None
        return
    device = next(backbone.parameters()).device
    states = {name: states_for(backbone, model_path, split, pad_id, depth, device) for name, split in splits.items()}
    with swapped(backbone, depth) as stand_in:

        def feed(name: str, idx: np.ndarray, width: int) -> None:
            stand_in.current = states[name].batch(idx, width).to(device)

        yield feed
