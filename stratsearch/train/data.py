"""The dataset a trial trains on: train / validation / test read and checked by the task
(rows.py reads the rows), tokenized once; batches by length.

Batches use dynamic padding; training batches come from length buckets so that little compute
goes to padding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stratsearch.errors import DataError
from stratsearch.formats import read_rows
from stratsearch.rows import IGNORE_INDEX, SPLITS, DataSpec, Split
from stratsearch.tasks import Task

if TYPE_CHECKING:
    import torch


@dataclass
class Encoding:
    """What turning model outputs into predictions needs: the task, its labels, the padding id."""

    task: Task
    label_names: list[Any] | None  # None for regression
    pad_id: int


@dataclass
class Dataset(Encoding):
    train: Split
    validation: Split
    test: Split | None
    max_length: int = 128

    @property
    def num_outputs(self) -> int:
        return self.task.num_outputs(self.label_names)

    def class_counts(self) -> torch.Tensor | None:
        import torch

        if not self.task.has_classes or self.task.multi_label:  # class weights weigh one class per example
            return None
        flat = np.concatenate([np.atleast_1d(t) for t in self.train.targets]).astype(np.int64)
        return torch.from_numpy(np.bincount(flat, minlength=len(self.label_names)))


def read_split(path: Path, spec: DataSpec, task: Task, limit: int | None = None) -> tuple[list, list, list[int]]:
    """(inputs, raw labels, line numbers) of one file, checked row by row."""
    file = str(path)
    rows = read_rows(path, spec.encoding)[:limit]
    if not rows:
        raise DataError(file, "split is empty")
    inputs, labels, lines = [], [], []
    for line, row in rows:
        x = task.read_input(file, line, row, spec)
        inputs.append(x)
        labels.append(task.read_label(file, line, row, spec, len(x)))
        lines.append(line)
    return inputs, labels, lines


def load_dataset(spec: DataSpec, task: Task, tokenizer: Any) -> Dataset:
    """Read, check and tokenize every split once."""
    raw = {}
    for split in SPLITS:
        path = getattr(spec, split)
        if path is not None:
            raw[split] = read_split(Path(path), spec, task, spec.max_train_rows if split == "train" else None)
    index = task.label_index(raw["train"][1], str(spec.train))
    splits = {}
    for split, (inputs, labels, lines) in raw.items():
        file = str(getattr(spec, split))
        targets = labels if index is None else task.map_labels(labels, lines, index, file, task.label_column(spec))
        splits[split] = task.tokenize(tokenizer, split, inputs, targets, spec.max_length)
    return Dataset(
        task=task,
        label_names=None if index is None else list(index),
        train=splits["train"],
        validation=splits["validation"],
        test=splits.get("test"),
        pad_id=tokenizer.pad_token_id or 0,
        max_length=spec.max_length,
    )


def length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle, sort within pools of 50 batches by length, cut into batches, shuffle the batches.

    Examples of similar length share a batch (little padding) while the order stays random.
    """
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Evaluation batches: all examples sorted by length (order is restored afterwards)."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(split: Split, idx: np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch to its own longest sequence. Labels keep their kind: ids, per-token ids, floats,
    or multi-hot rows;
    a sentence pair's segment ids come along."""
    import torch

    width = max(len(split.input_ids[i]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        seq = split.input_ids[i]
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if split.token_type_ids is not None:  # a sentence pair: which text each token is in
        segments = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            segments[row, : len(split.token_type_ids[i])] = torch.tensor(split.token_type_ids[i])
        batch["token_type_ids"] = segments
    first = split.labels[idx[0]]
    if isinstance(first, list):
        labels = torch.full((len(idx), width), IGNORE_INDEX, dtype=torch.long)
        for row, i in enumerate(idx):
            labels[row, : len(split.labels[i])] = torch.tensor(split.labels[i])
    elif isinstance(first, np.ndarray):  # a multi-hot set of classes
        labels = torch.from_numpy(np.stack([split.labels[i] for i in idx])).float()
    else:
        dtype = torch.float32 if isinstance(first, float) else torch.long
        labels = torch.tensor([split.labels[i] for i in idx], dtype=dtype)
    return batch | {"labels": labels}


def encoder_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What the encoder reads of a batch: the token ids, the mask, a pair's segment ids."""
    return {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
