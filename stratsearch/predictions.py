"""Stored predictions (and targets) as `.npz` files: one array, or ragged per-example arrays
(per-word predictions) stored flat with their lengths. Written atomically (`files.py`): a crash
leaves the old file or the new one."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from stratsearch import faults, files


def save_predictions(path: Path, predictions: Any) -> None:
    """Per-word predictions are ragged: stored flat with per-example lengths."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with files.atomic_file(path, "wb") as handle:
        if isinstance(predictions, list):
            np.savez(handle, values=np.concatenate(predictions), lengths=np.array([len(p) for p in predictions]))
        else:
            np.savez(handle, values=predictions)
        faults.point("trial.predictions")


def load_predictions(path: Path) -> Any:
    """The inverse of `save_predictions`."""
    with np.load(path) as stored:
        values = stored["values"]
        if "lengths" not in stored:
            return values
        return np.split(values, np.cumsum(stored["lengths"])[:-1])


def read_predictions(path: Path) -> Any | None:
    """`load_predictions`, or None when the file is missing or unreadable (truncated, garbled)."""
    try:
        return load_predictions(path)
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
        return None
