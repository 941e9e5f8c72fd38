"""Stored predictions (and targets) as `.npz` files: one array, or ragged per-example arrays
(per-word predictions) stored flat with their lengths. Written atomically (`files.py`): a crash
leaves the old file or the new one."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from stratsearch import faults, files

# What reading a missing, truncated or garbled .npz raises.
UNREADABLE = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile)


def save_predictions(
    path: Path, predictions: Any, beside: dict[str, np.ndarray] | None = None, fault: str | None = "trial.predictions"
) -> None:
    """Per-word predictions are ragged: stored flat with per-example lengths. `beside`: further
    arrays stored with them; `fault`: the chaos suite's point between writing and renaming (a
    trial's predictions; None for the run's own files, which the suite does not aim at)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = dict(beside or {})
    if isinstance(predictions, list):
        arrays |= {"values": np.concatenate(predictions), "lengths": np.array([len(p) for p in predictions])}
    else:
        arrays |= {"values": predictions}
    with files.atomic_file(path, "wb") as handle:
        np.savez(handle, **arrays)
        if fault:
            faults.point(fault)


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
    except UNREADABLE:
        return None
