"""Reading data rows and the tokenized split: what a task reads, checks and tokenizes with.

Files are read as rows by formats.py, with configurable columns (`DataSpec`). Every problem names
file, line and column. Which columns make an input and a target is the task's business (tasks.py);
the dataset it builds, and batching, are in data.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from stratsearch.errors import DataError
from stratsearch.formats import read_rows


class DataSpec(BaseModel):
    """The data section of a space: the files, their columns, the tokenization length."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train: Path
    validation: Path
    test: Path | None = None
    text: str = "text"
    text_pair: str | None = Field(
        None, description="the column of a sentence pair's second text (NLI, paraphrase, similarity)"
    )
    label: str = "label"
    label_delimiter: str | None = Field(
        None, description="multi-label: a row's labels as one string split on this ('|', ','); else a list"
    )
    label_names: list[str] | None = Field(
        None, min_length=2, description="the class names of integer label ids: id i is the i-th name"
    )
    encoding: str | None = Field(
        None, description="the text files' encoding (cp1252, latin-1…); default UTF-8, or UTF-16 by its byte-order mark"
    )
    tokens: str = "tokens"
    tags: str = "tags"
    max_length: int = Field(128, ge=8, le=8192)
    max_train_rows: int | None = Field(None, ge=1, description="use only the first N training rows")
    probe: Path | None = Field(
        None, description="general text (.txt lines, or the text column of a data file) drift is also measured on"
    )


DATA_FILES = ("train", "validation", "test", "probe")  # the data section's files, read relative to the space


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
    raw: list[Any] | None = None  # the inputs as read (text, a pair of texts, or words): what augmentation rewrites
    # Which segment each token is in, for a sentence pair on a family that has segment embeddings
    # (BERT's token_type_ids); None for one text, or where the tokenizer gives none (RoBERTa).
    token_type_ids: list[list[int]] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self))


def subset(split: Split, idx: np.ndarray) -> Split:
    """The examples `idx` of a split, in that order."""
    raw = None if split.raw is None else [split.raw[i] for i in idx]
    pick = [split.input_ids[i] for i in idx], [split.labels[i] for i in idx], [split.targets[i] for i in idx]
    segments = None if split.token_type_ids is None else [split.token_type_ids[i] for i in idx]
    return Split(split.name, *pick, raw, segments)


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


def class_value(file: str, line: int, row: dict, name: str, names: list[str] | None = None) -> str | int:
    """A class label; an integer id is given its name where `data.label_names` lists them."""
    value = column(file, line, row, name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(file, f"expected a string or integer class label, found {value!r}", line, name)
    return value if names is None else class_name(file, line, name, value, names)


def class_name(file: str, line: int, name: str, value: str | int, names: list[str]) -> str | int:
    """The name of an integer label id by `data.label_names`; a name is kept as it is."""
    if not isinstance(value, int) or isinstance(value, bool):
        return value
    if not 0 <= value < len(names):
        raise DataError(
            file,
            f"label id {value} has no name: data.label_names has {len(names)} (ids 0 to {len(names) - 1})",
            line,
            name,
        )
    return names[value]


def token_list(file: str, line: int, row: dict, name: str) -> list[str]:
    tokens = column(file, line, row, name)
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise DataError(file, "expected a list of strings", line, name)
    if not tokens:
        raise DataError(file, "empty token list", line, name)
    return tokens


def read_probe_texts(path: Path, column: str, encoding: str | None = None) -> list[str]:
    """A general-text probe (`data.probe`): a .txt file's non-empty lines, or the `column` of a data file."""
    if path.suffix == ".txt":
        return [line.strip() for line in path.read_text(encoding=encoding or "utf-8-sig").splitlines() if line.strip()]
    return [text_value(str(path), line, row, column) for line, row in read_rows(path, encoding)]
