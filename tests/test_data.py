"""Data reading: formats, label maps, token alignment, bucketing, and every bad-data message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from transformers import AutoTokenizer

from stratsearch.errors import DataError
from stratsearch.rows import DataSpec
from stratsearch.tasks import TASKS
from stratsearch.train.data import length_bucketed_batches, load_dataset
from tests.conftest import write_jsonl

GOOD = [{"text": "good movie", "label": "pos"}, {"text": "bad film", "label": "neg"}]


@pytest.fixture
def tokenizer(tiny_model_dir: Path):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def spec(tmp_path: Path, train: list | None = None, validation: list | None = None, **kw) -> DataSpec:
    paths = {}
    for split, rows in (("train", train), ("validation", validation)):
        if rows is not None:
            paths[split] = write_jsonl(tmp_path / f"{split}.jsonl", rows)
    paths.setdefault("train", tmp_path / "train.jsonl")
    paths.setdefault("validation", tmp_path / "validation.jsonl")
    return DataSpec(**paths, **kw)


def test_classification_label_map_from_train(tmp_path: Path, tokenizer) -> None:
    data = load_dataset(spec(tmp_path, GOOD * 3, GOOD), TASKS["classification"], tokenizer)
    assert data.label_names == ["neg", "pos"]
    assert data.train.targets[:2] == [1, 0]
    assert data.class_counts().tolist() == [3, 3]


def test_integer_labels_sort_numerically(tmp_path: Path, tokenizer) -> None:
    rows = [{"text": "good", "label": v} for v in (10, 2, 2)]
    data = load_dataset(spec(tmp_path, rows, rows), TASKS["classification"], tokenizer)
    assert data.label_names == [2, 10]


def test_csv_and_parquet_with_custom_columns(tmp_path: Path, tokenizer) -> None:
    frame = pd.DataFrame({"sentence": ["good movie", "bad film"], "y": [0.5, -1.0]})
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.to_parquet(tmp_path / "validation.parquet")
    data_spec = DataSpec(
        train=tmp_path / "train.csv", validation=tmp_path / "validation.parquet", text="sentence", label="y"
    )
    data = load_dataset(data_spec, TASKS["regression"], tokenizer)
    assert data.label_names is None
    assert data.validation.targets == [0.5, -1.0]


def test_max_train_rows_takes_the_first_rows(tmp_path: Path, tokenizer) -> None:
    data = load_dataset(spec(tmp_path, GOOD * 5, GOOD, max_train_rows=3), TASKS["classification"], tokenizer)
    assert len(data.train) == 3


def test_token_tags_on_first_sub_token_only(tmp_path: Path, tokenizer) -> None:
    rows = [{"tokens": ["person", "bis", "good"], "tags": ["B-person", "I-person", "O"]}]
    data = load_dataset(spec(tmp_path, rows, rows), TASKS["token-classification"], tokenizer)
    names = data.label_names
    # [CLS] per ##son b ##is good [SEP]: tags on "per", "b", "good"; -100 elsewhere.
    tokens = tokenizer.convert_ids_to_tokens(data.train.input_ids[0])
    assert tokens == ["[CLS]", "per", "##son", "b", "##is", "good", "[SEP]"]
    labels = data.train.labels[0]
    first_sub = [i for i, lab in enumerate(labels) if lab != -100]
    assert [names[labels[i]] for i in first_sub] == ["B-person", "I-person", "O"]
    assert labels[0] == -100 and labels[-1] == -100


def test_max_length_truncates(tmp_path: Path, tokenizer) -> None:
    rows = [{"text": " ".join(["good"] * 50), "label": "pos"}, {"text": "bad", "label": "neg"}]
    data = load_dataset(spec(tmp_path, rows, rows, max_length=10), TASKS["classification"], tokenizer)
    assert max(data.train.lengths) == 10


def test_length_buckets_cover_everything_once_with_little_padding() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 100, size=1000)
    batches = length_bucketed_batches(lengths, 32, np.random.default_rng(1))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    random_padded = sum(len(b) * lengths[b].max() for b in np.array_split(rng.permutation(1000), 32))
    assert padded < 0.75 * random_padded
    assert [b.tolist() for b in length_bucketed_batches(lengths, 32, np.random.default_rng(1))] == [
        b.tolist() for b in batches
    ]


# --- bad data: each case names file, line and column ----------------------------------------------

BAD = [
    ("missing file", None, None, "classification", r"train\.jsonl: file not found"),
    ("empty split", [], GOOD, "classification", r"train\.jsonl: split is empty"),
    (
        "missing column",
        [{"txt": "good", "label": "pos"}],
        GOOD,
        "classification",
        r"train\.jsonl, line 1, column 'text': column missing",
    ),
    (
        "unseen validation label",
        GOOD,
        [*GOOD, {"text": "meh", "label": "neutral"}],
        "classification",
        r"validation\.jsonl, line 3, column 'label': label 'neutral' never appears in the training split",
    ),
    (
        "NaN regression target",
        [{"text": "a", "label": 1.0}, {"text": "b", "label": "nan"}],
        GOOD,
        "regression",
        r"train\.jsonl, line 2, column 'label': regression target must be finite",
    ),
    (
        "non-numeric regression target",
        [{"text": "a", "label": "high"}],
        GOOD,
        "regression",
        r"line 1, column 'label': expected a number, found 'high'",
    ),
    (
        "text not a string",
        [{"text": 3, "label": "pos"}],
        GOOD,
        "classification",
        r"line 1, column 'text': expected text, found int 3",
    ),
    (
        "empty text value",
        [{"text": None, "label": "pos"}],
        GOOD,
        "classification",
        r"line 1, column 'text': empty value",
    ),
    ("one class only", [{"text": "a", "label": "pos"}], GOOD, "classification", r"need at least two classes"),
    (
        "tokens and tags differ",
        [{"tokens": ["a", "b"], "tags": ["O"]}],
        None,
        "token-classification",
        r"line 1, column 'tags': 2 tokens but 1 tags",
    ),
]


@pytest.mark.parametrize(("case", "train", "validation", "task", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_data_messages(tmp_path: Path, tokenizer, case, train, validation, task, message) -> None:
    with pytest.raises(DataError, match=message):
        load_dataset(spec(tmp_path, train, validation if validation is not None else GOOD), TASKS[task], tokenizer)


def test_undecodable_text_names_the_line(tmp_path: Path, tokenizer) -> None:
    (tmp_path / "train.jsonl").write_bytes(b'{"text": "good", "label": "pos"}\n{"text": "caf\xe9", "label": "neg"}\n')
    write_jsonl(tmp_path / "validation.jsonl", GOOD)
    with pytest.raises(DataError, match=r"train\.jsonl, line 2: text is not valid UTF-8"):
        load_dataset(spec(tmp_path), TASKS["classification"], tokenizer)


def test_broken_json_names_the_line(tmp_path: Path, tokenizer) -> None:
    (tmp_path / "train.jsonl").write_text('{"text": "good", "label": "pos"}\n{"text": "bad", \n')
    write_jsonl(tmp_path / "validation.jsonl", GOOD)
    with pytest.raises(DataError, match=r"train\.jsonl, line 2: not valid JSON"):
        load_dataset(spec(tmp_path), TASKS["classification"], tokenizer)


def test_csv_missing_column_names_csv_line(tmp_path: Path, tokenizer) -> None:
    pd.DataFrame({"text": ["good", "bad"]}).to_csv(tmp_path / "train.csv", index=False)
    write_jsonl(tmp_path / "validation.jsonl", GOOD)
    data_spec = DataSpec(train=tmp_path / "train.csv", validation=tmp_path / "validation.jsonl")
    with pytest.raises(DataError, match=r"train\.csv, line 2, column 'label': column missing"):
        load_dataset(data_spec, TASKS["classification"], tokenizer)


def test_unsupported_suffix(tmp_path: Path, tokenizer) -> None:
    (tmp_path / "train.txt").write_text("x")
    write_jsonl(tmp_path / "validation.jsonl", GOOD)
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'"):
        load_dataset(
            DataSpec(train=tmp_path / "train.txt", validation=tmp_path / "validation.jsonl"),
            TASKS["classification"],
            tokenizer,
        )
