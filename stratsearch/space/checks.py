"""Checks of a parsed space before anything runs.

Every value a dimension can take is checked against the trainer's own config classes
(torchtune's "validate against the code" idea): the bounds and midpoint of a range, each option
of a choice, each branch and its parameters. Then the model's depth and the data files' columns.
What the file names elsewhere (a sampler, an ensemble method, MLflow, a warm start) is checked by
what it names: sweep/validate.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stratsearch import formats
from stratsearch.errors import Problems
from stratsearch.formats import check_encoding, dataset_splits, is_dataset_dict, readable
from stratsearch.rows import DATA_FILES, DataSpec
from stratsearch.space.dims import Branches, Choice, Dim, Fixed, FloatRange, IntRange, Space, is_number
from stratsearch.tasks import Task
from stratsearch.train.config import parse_trial
from stratsearch.train.model_dir import model_depth, model_family


def candidates(dim: Dim) -> list[tuple[str, Any]]:
    if isinstance(dim, Fixed):
        return [("value", dim.value)]
    if isinstance(dim, Choice):
        return [("option", v) for v in dim.options]
    if isinstance(dim, IntRange):
        return [("lower bound", dim.lo), ("upper bound", dim.hi)]
    # A fractional value inside the range catches a float range on an integer setting, whose bounds
    # (and midpoint) alone may look whole.
    share = 0.3819  # of the way from lo to hi: no round number for common ranges
    inside = dim.lo * (dim.hi / dim.lo) ** share if dim.log else dim.lo + share * (dim.hi - dim.lo)
    return [("lower bound", dim.lo), ("upper bound", dim.hi), ("inner value", inside)]


def one_key_configs(space: Space) -> list[tuple[str, Dim | None, dict]]:
    """(label, dimension, a config that sets the dimension to one of its values) for every candidate."""
    out: list[tuple[str, Dim | None, dict]] = []
    for key, dim in space.items():
        if isinstance(dim, dict):  # head
            for sub, sub_dim in dim.items():
                out += [(f"{label} {v!r}", sub_dim, {key: {sub: v}}) for label, v in candidates(sub_dim)]
        elif isinstance(dim, Branches):
            for branch, params in dim.options.items():
                out.append(("branch", None, {key: branch}))
                for p, p_dim in params.items():
                    out += [(f"{label} {v!r}", p_dim, {key: {branch: {p: v}}}) for label, v in candidates(p_dim)]
        else:
            out += [(f"{label} {v!r}", dim, {key: v}) for label, v in candidates(dim)]
    return out


def explained(message: str, dim: Dim | None) -> str:
    """The trainer's complaint, with the DSL form that fixes it where the dimension's form is the cause."""
    if isinstance(dim, FloatRange) and "valid integer" in message:
        kind = "loguniform" if dim.log else "uniform"
        fix = f"{{int: [{int(dim.lo)}, {int(dim.hi)}]{', log: true' if dim.log else ''}}}"
        return f"an integer setting, but {kind} samples fractions: write {fix}"
    if isinstance(dim, Fixed) and isinstance(dim.value, list) and "valid" in message:
        options = dim.value
        return f"{message}; to search these values write {{choice: {options}}}, or {{int: [lo, hi]}} for a range"
    return message


def check_against_trainer(space: Space, task: Task, problems: Problems) -> None:
    """Every value a dimension can take goes through the trainer's own config parsing. A problem is
    reported once per place, with the value that shows it when the value is the cause."""
    seen: set[tuple[str, str]] = set()
    for label, dim, config in one_key_configs(space):
        trial_problems = Problems()
        parse_trial(config, task, trial_problems)
        for p in trial_problems.items:
            message = explained(p.message, dim)
            if (p.where, message) in seen:
                continue
            seen.add((p.where, message))
            value_specific = (
                not label.startswith(("value", "branch")) and message == p.message and "unknown key" not in message
            )
            problems.add(p.where, f"{label}: {message}" if value_specific else message)


def max_value(dim: Dim) -> Any:
    if isinstance(dim, Fixed):
        return dim.value
    if isinstance(dim, Choice):
        return max((v for v in dim.options if is_number(v)), default=None)
    return dim.hi if isinstance(dim, IntRange | FloatRange) else None


def check_against_model(space: Space, model_dir: Path | None, problems: Problems) -> None:
    """What the model's family makes of the space: freeze depth within its layers (ALBERT: its
    groups of shared layers); no [CLS] pooling on a decoder; no hidden dropout on a family that has
    none (Llama)."""
    family = model_family(model_dir) if model_dir else None
    if family is None:
        return
    dim = space.get("freeze_depth")
    depth = model_depth(model_dir)
    top = max_value(dim) if dim is not None else None
    if depth is not None and is_number(top) and top > depth:
        problems.add("space.freeze_depth", f"{top} exceeds the model's {depth} {family.layer_word} (at most {depth})")
    head = space.get("head")
    pooling = head.get("pooling") if isinstance(head, dict) else None
    if family.causal and pooling is not None and "cls" in [value for _, value in candidates(pooling)]:
        problems.add(
            "space.head.pooling",
            f"{family.label} is a decoder: its first token has read none of the text; pool with last (what auto"
            " picks for it) or mean",
        )
    if "dropout" in space and not family.hidden_dropout:
        problems.add(
            "space.dropout",
            f"{family.label} models have no hidden dropout to set (their config has only attention dropout):"
            " remove the key, or search attention_dropout",
        )


def check_pair(data: DataSpec, task: Task, problems: Problems) -> None:
    """A sentence pair (`data.text_pair`) is two texts of a sentence-level task."""
    if data.text_pair is None:
        return
    if task.token_level:
        problems.add("data.text_pair", f"{task} reads one list of words per row, not a pair of texts: remove the key")
    elif data.text_pair == data.text:
        problems.add("data.text_pair", f"names the same column as data.text ('{data.text}'): name the second text's")


def check_epochs_fit_budget(space: Space, max_epochs: int | None, problems: Problems) -> None:
    """A trial may not be asked to train longer than budget.max_epochs allows."""
    top = max_value(space["epochs"]) if "epochs" in space else 3
    if max_epochs is not None and is_number(top) and top > max_epochs:
        problems.add("space.epochs", f"{top} exceeds budget.max_epochs {max_epochs}")


def check_data(data: DataSpec, task: Task, problems: Problems) -> None:
    """Files exist and their first row has the configured columns (the full check runs at load)."""
    if data.encoding is not None and (problem := check_encoding(data.encoding)):
        problems.add("data.encoding", problem)
        return
    for split in DATA_FILES:
        path = getattr(data, split)
        if path is None:
            continue
        if is_dataset_dict(Path(path)):
            splits = ", ".join(f"{Path(path) / name}" for name in dataset_splits(Path(path)))
            problems.add(f"data.{split}", f"{path} holds the splits of a DatasetDict: name one of {splits}")
            continue
        if not readable(Path(path)):
            problems.add(f"data.{split}", f"file not found: {path}")
            continue
        columns = expected_columns(split, Path(path), data, task)
        header = formats.header(Path(path), data.encoding)
        if header is None:
            continue
        for key, column in columns.items():
            if column not in header:
                problems.add(f"data.{key}", f"column '{column}' not in {path} (it has {sorted(header)})")


def expected_columns(split: str, path: Path, data: DataSpec, task: Task) -> dict[str, str]:
    """The columns a data file must have, by the key that names them. The probe is plain text: a
    .txt file's lines, or the text column of a data file."""
    if split != "probe":
        return task.columns(data)
    return {} if path.suffix == ".txt" else {"probe": data.text}
