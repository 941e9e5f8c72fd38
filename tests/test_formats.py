"""Files as users' tools write them: a spreadsheet's CSV (a UTF-8 byte-order mark, CRLF line ends,
quoted newlines), TSV, a declared or UTF-16 encoding, integer label ids with their names, and the
folders the `datasets` library's `save_to_disk` writes; read by validate, train and init alike."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
import yaml

from stratsearch.cli import main
from stratsearch.errors import DataError
from stratsearch.formats import read_rows
from stratsearch.prepare import prepare
from tests.conftest import sentiment_rows

ROWS = sentiment_rows(40, 3)


def csv_text(rows: list[dict], sep: str = ",", newline: str = "\r\n") -> str:
    """What a spreadsheet saves: a header, each text quoted."""
    lines = [sep.join(["text", "label"])] + [f'"{r["text"]}"{sep}{r["label"]}' for r in rows]
    return newline.join(lines) + newline


def space_on(make_config, tmp_path: Path, **data) -> Path:
    path = make_config()
    config = yaml.safe_load(path.read_text())
    config["data"] |= {key: str(value) if isinstance(value, Path) else value for key, value in data.items()}
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_spreadsheet_csv_with_a_byte_order_mark_and_crlf_reads_as_plain_csv(make_config, tmp_path, capsys) -> None:
    """The defect: the BOM stuck to the first column's name ('\\ufefftext' not 'text')."""
    train = tmp_path / "reviews.csv"
    train.write_bytes(codecs.BOM_UTF8 + csv_text(ROWS).encode())
    rows = read_rows(train)
    assert list(rows[0][1]) == ["text", "label"] and rows[0][1]["text"] == ROWS[0]["text"]
    assert [line for line, _ in rows[:2]] == [2, 3]
    path = space_on(make_config, tmp_path, train=train)
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    assert prepare(path).data.label_names == ["neg", "pos"]


def test_quoted_newlines_keep_each_row_on_the_line_it_starts_on(tmp_path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text('text,label\n"a review\nover two lines",pos\n"one line",neg\n"",pos\n', encoding="utf-8")
    rows = read_rows(path)
    assert [(line, row["text"]) for line, row in rows[:2]] == [(2, "a review\nover two lines"), (4, "one line")]
    assert rows[2] == (5, {"text": None, "label": "pos"})  # an empty cell is a missing value, on its own line


def test_tsv_and_its_errors_name_the_line(tmp_path) -> None:
    path = tmp_path / "train.tsv"
    path.write_text(csv_text(ROWS[:3], sep="\t") + "only one value\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train\.tsv, line 5: 1 values, but the header names 2 columns"):
        read_rows(path)
    path.write_text(csv_text(ROWS[:3], sep="\t"), encoding="utf-8")
    assert [row["label"] for _, row in read_rows(path)] == [r["label"] for r in ROWS[:3]]


def test_a_header_naming_a_column_twice_is_refused(tmp_path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("text,label,text\na,pos,b\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"twice\.csv, line 1: the header names \['text'\] more than once"):
        read_rows(path)


def test_a_file_in_another_encoding_says_to_set_data_encoding_and_then_reads(make_config, tmp_path, capsys) -> None:
    rows = [{"text": f"{r['text']} café", "label": r["label"]} for r in ROWS]
    train = tmp_path / "excel.csv"
    train.write_bytes(csv_text(rows).encode("cp1252"))
    path = space_on(make_config, tmp_path, train=train)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "excel.csv, line 2: text is not valid UTF-8" in err and "set data.encoding" in err
    path = space_on(make_config, tmp_path, train=train, encoding="cp1252")
    assert main(["validate", str(path)]) == 0
    assert prepare(path).data.train.raw[0].endswith("café")
    path = space_on(make_config, tmp_path, train=train, encoding="klingon")
    assert main(["validate", str(path)]) == 2
    assert "data.encoding: unknown encoding 'klingon'" in capsys.readouterr().err


def test_utf16_with_its_byte_order_mark_needs_no_setting(tmp_path) -> None:
    """Excel's "Unicode text": tab-separated UTF-16."""
    path = tmp_path / "unicode.tsv"
    path.write_bytes(csv_text(ROWS[:4], sep="\t").encode("utf-16"))
    assert [row["text"] for _, row in read_rows(path)] == [r["text"] for r in ROWS[:4]]


def test_integer_label_ids_are_named_by_data_label_names(make_config, tmp_path, capsys) -> None:
    ids = [{"text": r["text"], "label": int(r["label"] == "pos")} for r in ROWS]
    train = tmp_path / "ids.csv"
    train.write_text(csv_text(ids, newline="\n"), encoding="utf-8")
    path = space_on(make_config, tmp_path, train=train, label_names=["negative", "positive"])
    assert main(["validate", str(path)]) == 2  # the validation file still says pos/neg, not the names
    assert "column 'label': label 'pos' never appears in the training split" in capsys.readouterr().err
    validation = tmp_path / "ids-validation.csv"
    validation.write_text(csv_text(ids[:10], newline="\n"), encoding="utf-8")
    names = {"label_names": ["negative", "positive"]}
    path = space_on(make_config, tmp_path, train=train, validation=validation, test=validation, **names)
    data = prepare(path).data
    assert data.label_names == ["negative", "positive"]
    out_of_range = [*ids[:10], {"text": "odd", "label": 7}]
    validation.write_text(csv_text(out_of_range, newline="\n"), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    assert "line 12, column 'label': label id 7 has no name: data.label_names has 2 (ids 0 to 1)" in (
        capsys.readouterr().err
    )


@pytest.fixture
def saved_dataset(tmp_path: Path) -> Path:
    """A DatasetDict with class labels, as `load_dataset(...).save_to_disk(...)` leaves it."""
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})

    def split(rows: list[dict]) -> datasets.Dataset:
        return datasets.Dataset.from_list(
            [{"text": r["text"], "label": int(r["label"] == "pos")} for r in rows], features
        )

    folder = tmp_path / "hf"
    datasets.DatasetDict(
        {"train": split(ROWS), "validation": split(ROWS[:12]), "test": split(ROWS[12:24])}
    ).save_to_disk(folder)
    return folder


def test_a_datasets_folder_is_read_with_its_class_names(saved_dataset, make_config, tmp_path, capsys) -> None:
    rows = read_rows(saved_dataset / "train")
    assert rows[0] == (1, {"text": ROWS[0]["text"], "label": ROWS[0]["label"]})  # ClassLabel ids as their names
    path = space_on(make_config, tmp_path, train=saved_dataset / "train", validation=saved_dataset / "validation")
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    assert prepare(path).data.label_names == ["neg", "pos"]
    path = space_on(make_config, tmp_path, train=saved_dataset)
    assert main(["validate", str(path)]) == 2
    assert f"holds the splits of a DatasetDict: name one of {saved_dataset / 'train'}" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["bom-crlf.csv", "tabs.tsv", "cp1252.csv", "datasets"])
def test_init_reads_each_format(kind, saved_dataset, tmp_path, tiny_model_dir, capsys) -> None:
    data, encoding = tmp_path / kind, []
    if kind == "datasets":
        data = saved_dataset
    elif kind == "bom-crlf.csv":
        data.write_bytes(codecs.BOM_UTF8 + csv_text(ROWS * 3).encode())
    elif kind == "cp1252.csv":
        data.write_bytes(csv_text([{**r, "text": r["text"] + " café"} for r in ROWS * 3]).encode("cp1252"))
        encoding = ["--encoding", "cp1252"]
    else:
        data.write_text(csv_text(ROWS * 3, sep="\t", newline="\n"), encoding="utf-8")
    out = tmp_path / "space.yaml"
    assert main(["init", str(data), "--out", str(out), "--model", str(tiny_model_dir), *encoding]) == 0
    space = yaml.safe_load(out.read_text())
    assert space["task"] == "classification" and space["data"]["text"] == "text" and space["data"]["label"] == "label"
    assert space["data"].get("encoding") == (encoding[1] if encoding else None)
    if kind == "datasets":
        assert {Path(space["data"][s]).name for s in ("train", "validation", "test")} == {"train", "validation", "test"}
    assert main(["validate", str(out)]) == 0, capsys.readouterr().err
