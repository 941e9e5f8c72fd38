"""The data as the sweep will read them, checked when a space is loaded: every split once, with the
task's own readers (label types, empty splits, labels unseen in training), then a short summary
and warnings (examples cut by max_length, tokens the vocabulary does not know, rare classes).

Token statistics use the model's `tokenizer.json` through the `tokenizers` library, so that
`validate` imports neither torch nor transformers; a model without one gets no token figures.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stratsearch.errors import DataError, Problems
from stratsearch.rows import PROBE_SIZE, SPLITS, DataSpec, read_probe_texts
from stratsearch.tasks import Task
from stratsearch.train.data import read_split
from stratsearch.train.model_dir import measuring_tokenizer

TOKEN_SAMPLE = 20_000  # rows of the training split measured in tokens
CUT_WARNING = 0.10  # share of training examples longer than max_length
UNKNOWN_WARNING = 0.05  # share of training tokens the vocabulary maps to its unknown token
RARE_CLASS_WARNING = 0.05  # share of the smallest class in training


def check_probe(data: DataSpec, report: DataReport, problems: Problems) -> None:
    try:
        texts = read_probe_texts(Path(data.probe), data.text, data.encoding)
    except (DataError, OSError, UnicodeDecodeError) as err:
        problems.add("data.probe", str(err))
        return
    if len(set(texts)) < 2:
        problems.add("data.probe", f"{data.probe}: expected at least 2 different texts to compare representations on")
        return
    drawn = "all" if len(texts) <= PROBE_SIZE else f"{PROBE_SIZE} drawn once"
    report.summary.append(f"probe: {len(texts):,} general texts ({drawn}) for the drift measure")


@dataclass
class DataReport:
    summary: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (key, message)


def check_data_content(data: DataSpec, task: Task, model_dir: Path | None, problems: Problems) -> DataReport:
    """Read every split; problems stop the run, the report says what the data look like."""
    report = DataReport()
    read: dict[str, tuple[list, list, list[int]]] = {}
    for split in SPLITS:
        path = getattr(data, split)
        if path is None:
            continue
        try:
            read[split] = read_split(Path(path), data, task, data.max_train_rows if split == "train" else None)
        except DataError as err:
            problems.add(f"data.{split}", str(err))
    if data.probe is not None:
        check_probe(data, report, problems)
    if "train" not in read:
        return report
    try:
        index = task.label_index(read["train"][1], str(data.train))
        for split, (_, labels, lines) in read.items():
            if index is not None:
                task.map_labels(labels, lines, index, str(getattr(data, split)), task.label_column(data))
    except DataError as err:
        problems.add("data", str(err))
        return report
    report.summary.append("rows: " + ", ".join(f"{split} {len(rows[0]):,}" for split, rows in read.items()))
    labels = read["train"][1]
    if task.multi_label:
        describe_label_sets(labels, report)
    elif task.has_classes:
        describe_classes(task.flat_labels(labels), task.token_level, report)
    else:
        values = np.asarray(labels, dtype=np.float64)
        spread = f"mean {values.mean():.3g}, sd {values.std():.3g}"
        report.summary.append(f"targets (train): {spread}, range [{values.min():.3g}, {values.max():.3g}]")
    if model_dir is not None:
        describe_tokens(read["train"][0], task, model_dir, data.max_length, report)
    return report


def describe_label_sets(labels: list[list], report: DataReport) -> None:
    """Multi-label: how many rows carry each label, and labels per row."""
    counts = Counter(label for row in labels for label in row)
    shares = ", ".join(f"{label} {n / len(labels):.0%}" for label, n in counts.most_common(8))
    more = f", … ({len(counts)} in all)" if len(counts) > 8 else ""
    per_row = sum(len(row) for row in labels) / len(labels)
    none = sum(not row for row in labels) / len(labels)
    report.summary.append(
        f"labels (train, share of rows): {shares}{more}; {per_row:.2f} labels per row;"
        f" {none:.0%} of training rows carry no label"
    )


def describe_classes(flat: list, per_token: bool, report: DataReport) -> None:
    counts = Counter(flat)
    total = sum(counts.values())
    what = "tags" if per_token else "classes"
    shares = ", ".join(f"{label} {n / total:.0%}" for label, n in counts.most_common(8))
    more = f", … ({len(counts)} in all)" if len(counts) > 8 else ""
    report.summary.append(f"{what} (train): {shares}{more}")
    label, smallest = min(counts.items(), key=lambda item: item[1])
    if not per_token and smallest / total < RARE_CLASS_WARNING:
        report.warnings.append(
            (
                "data.train",
                f"class {label!r} is {smallest / total:.1%} of the training rows: accuracy hides it;"
                " consider objective macro_f1 and loss class_weighted or focal",
            )
        )


def describe_tokens(inputs: list, task: Task, model_dir: Path, max_length: int, report: DataReport) -> None:
    tokenizer = measuring_tokenizer(model_dir)
    if tokenizer is None:
        report.summary.append(f"tokens: not measured ({model_dir} has no tokenizer.json)")
        return
    sample = inputs[:TOKEN_SAMPLE]
    encodings = tokenizer.encode_batch(sample, is_pretokenized=task.token_level)
    lengths = np.array([len(e.ids) for e in encodings])
    unknown_token = json.loads((model_dir / "tokenizer.json").read_text()).get("model", {}).get("unk_token")
    unknown_id = tokenizer.token_to_id(unknown_token) if unknown_token else None
    cut = float((lengths > max_length).mean())
    p50, p90 = np.percentile(lengths, [50, 90])
    line = f"tokens per example (train): median {p50:.0f}, 90th percentile {p90:.0f}, max {lengths.max()}"
    line += f"; {cut:.1%} longer than max_length {max_length}"
    if unknown_id is not None:
        unknown = sum(e.ids.count(unknown_id) for e in encodings) / max(1, int(lengths.sum()))
        line += f"; unknown tokens {unknown:.1%}"
        if unknown > UNKNOWN_WARNING:
            report.warnings.append(
                (
                    "model",
                    f"{unknown:.0%} of the training tokens are unknown to the model's vocabulary (text in a script"
                    " or language it was not trained on?); a model whose vocabulary covers the data will do better",
                )
            )
    if len(sample) < len(inputs):
        line += f" (first {len(sample):,} rows)"
    report.summary.append(line)
    if cut > CUT_WARNING:
        report.warnings.append(
            (
                "data.max_length",
                f"{cut:.0%} of the training examples are longer than {max_length} tokens and will be cut"
                f" (90th percentile {p90:.0f}); raise max_length to keep more of them",
            )
        )
