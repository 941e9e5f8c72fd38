"""Data: read train / validation / test files, check them, tokenize once, batch by length.

Files are .jsonl, .csv or .parquet with configurable columns. Every problem names file, line
and column. Batches use dynamic padding; training batches come from length buckets so that
little compute goes to padding.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stratsearch.errors import DataError

if TYPE_CHECKING:
    import torch

    from stratsearch.tasks import Task
    from stratsearch.train.config import DataSpec

SPLITS = ("train", "validation", "test")
# Texts a trial's drift is measured on (train/drift.py): within about 0.02 of what 1,024 texts read
# (bench/probe_size.py), at a quarter of the cost.
PROBE_SIZE = 256
IGNORE_INDEX = -100  # label of positions no loss or metric looks at (later sub-tokens, padding)


@dataclass
class Split:
    """One tokenized split. `targets` are what metrics compare against (per word for tokens)."""

    name: str
    input_ids: list[list[int]]
    labels: list[Any]  # int / float per example, or per sub-token ids (IGNORE_INDEX off first sub-tokens)
    targets: list[Any]
    raw: list[Any] | None = None  # the inputs as read (text, or words): what augmentation rewrites

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self))


def subset(split: Split, idx: np.ndarray) -> Split:
    """The examples `idx` of a split, in that order."""
    raw = None if split.raw is None else [split.raw[i] for i in idx]
    pick = [split.input_ids[i] for i in idx], [split.labels[i] for i in idx], [split.targets[i] for i in idx]
    return Split(split.name, *pick, raw)


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

        if not self.task.has_classes:
            return None
        flat = np.concatenate([np.atleast_1d(t) for t in self.train.targets]).astype(np.int64)
        return torch.from_numpy(np.bincount(flat, minlength=len(self.label_names)))


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """Rows with the line number (or row number for parquet) that error messages point at."""
    file = str(path)
    if not path.is_file():
        raise DataError(file, "file not found")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = []
        for line_no, raw in enumerate(path.read_bytes().splitlines(), start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(file, f"text is not valid UTF-8 ({err.reason} at byte {err.start})", line_no) from None
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as err:
                raise DataError(file, f"not valid JSON ({err.msg})", line_no) from None
            if not isinstance(row, dict):
                raise DataError(file, f"expected a JSON object, found {type(row).__name__}", line_no)
            rows.append((line_no, row))
        return rows
    if suffix in (".csv", ".parquet"):
        import pandas as pd

        try:
            frame = pd.read_csv(path, encoding="utf-8") if suffix == ".csv" else pd.read_parquet(path)
        except UnicodeDecodeError as err:
            raise DataError(file, f"text is not valid UTF-8 ({err.reason})") from None
        except Exception as err:
            raise DataError(file, f"cannot read: {err}") from None
        first = 2 if suffix == ".csv" else 1  # CSV line 1 is the header
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        return [(first + i, row) for i, row in enumerate(records)]
    raise DataError(file, f"unsupported file type '{suffix}'; expected .jsonl, .csv or .parquet")


def column(file: str, line: int, row: dict, name: str) -> Any:
    if name not in row:
        raise DataError(file, f"column missing (row has {sorted(row)})", line, name)
    value = row[name]
    if value is None:
        raise DataError(file, "empty value", line, name)
    return value


def text_value(file: str, line: int, row: dict, name: str) -> str:
    value = column(file, line, row, name)
    if not isinstance(value, str):
        raise DataError(file, f"expected text, found {type(value).__name__} {value!r}", line, name)
    if not value.strip():
        raise DataError(file, "empty text", line, name)
    return value


def float_value(file: str, line: int, row: dict, name: str) -> float:
    value = column(file, line, row, name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(file, f"expected a number, found {value!r}", line, name) from None
    if not math.isfinite(number):
        raise DataError(file, f"regression target must be finite, found {value!r}", line, name)
    return number


def class_value(file: str, line: int, row: dict, name: str) -> str | int:
    value = column(file, line, row, name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(file, f"expected a string or integer class label, found {value!r}", line, name)
    return value


def token_list(file: str, line: int, row: dict, name: str) -> list[str]:
    tokens = column(file, line, row, name)
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise DataError(file, "expected a list of strings", line, name)
    if not tokens:
        raise DataError(file, "empty token list", line, name)
    return tokens


def read_probe_texts(path: Path, column: str) -> list[str]:
    """A general-text probe (`data.probe`): a .txt file's non-empty lines, or the `column` of a data file."""
    if path.suffix == ".txt":
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [text_value(str(path), line, row, column) for line, row in read_rows(path)]


def read_split(path: Path, spec: DataSpec, task: Task, limit: int | None = None) -> tuple[list, list, list[int]]:
    """(inputs, raw labels, line numbers) of one file, checked row by row."""
    file = str(path)
    rows = read_rows(path)[:limit]
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
    """Pad a batch to its own longest sequence. Labels keep their kind: ids, per-token ids, or floats."""
    import torch

    width = max(len(split.input_ids[i]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        seq = split.input_ids[i]
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    first = split.labels[idx[0]]
    if isinstance(first, list):
        labels = torch.full((len(idx), width), IGNORE_INDEX, dtype=torch.long)
        for row, i in enumerate(idx):
            labels[row, : len(split.labels[i])] = torch.tensor(split.labels[i])
    else:
        dtype = torch.float32 if isinstance(first, float) else torch.long
        labels = torch.tensor([split.labels[i] for i in idx], dtype=dtype)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
