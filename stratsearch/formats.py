"""Data files as users' tools write them, read as rows: JSON lines, CSV and TSV (as spreadsheets
save them: a UTF-8 byte-order mark, CRLF line ends, quoted newlines), Parquet, and a folder that the
`datasets` library's `save_to_disk` wrote.

Each row comes with the line it starts on (a row number for Parquet and `datasets`), which every
error message points at. Text is UTF-8 unless `data.encoding` says otherwise; a byte-order mark is
read as nothing, and one of UTF-16 (Excel's "Unicode text") decides the encoding by itself.
A `datasets` column of class labels (`ClassLabel`) is read as its names.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from stratsearch.errors import DataError

DELIMITERS = {".csv": ",", ".tsv": "\t"}
SUFFIXES = (".jsonl", ".csv", ".tsv", ".parquet")
ENCODING_HINT = (
    "set data.encoding (stratsearch init: --encoding) to the file's encoding: cp1252 for Excel on Windows,"
    " latin-1, utf-16"
)
# A `datasets` folder: one split (save_to_disk of a Dataset) or several (of a DatasetDict).
DATASET_FILES = ("dataset_info.json", "state.json")
DATASET_DICT = "dataset_dict.json"
INTEGER = re.compile(r"[+-]?\d+")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def is_dataset_folder(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in DATASET_FILES)


def is_dataset_dict(path: Path) -> bool:
    return path.is_dir() and (path / DATASET_DICT).is_file()


def dataset_splits(path: Path) -> list[str]:
    """The split names of a folder a DatasetDict was saved to."""
    try:
        splits = json.loads((path / DATASET_DICT).read_text())["splits"]
    except (OSError, ValueError, KeyError, TypeError):
        raise DataError(str(path), f"{DATASET_DICT} is not readable: save the data again with save_to_disk") from None
    return [str(s) for s in splits]


def readable(path: Path) -> bool:
    """A data file, or a `datasets` folder: what `read_rows` reads."""
    return path.is_file() or is_dataset_folder(path)


def check_encoding(name: str) -> str | None:
    """What is wrong with `data.encoding`, or None."""
    try:
        codecs.lookup(name)
    except LookupError:
        return f"unknown encoding {name!r}: use a Python codec name such as cp1252, latin-1 or utf-16"
    return None


def read_rows(path: Path, encoding: str | None = None) -> list[tuple[int, dict]]:
    """Rows with the line number (a row number for Parquet and `datasets`) error messages point at."""
    file = str(path)
    if is_dataset_dict(path):
        splits = dataset_splits(path)
        raise DataError(
            file, f"a DatasetDict folder with splits {splits}: name one split's folder, e.g. {path / splits[0]}"
        )
    if is_dataset_folder(path):
        return read_dataset(path)
    if not path.is_file():
        raise DataError(file, "file not found")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_json_lines(path, encoding)
    if suffix in DELIMITERS:
        return read_table(path, DELIMITERS[suffix], encoding)
    if suffix == ".parquet":
        return read_parquet(path)
    raise DataError(
        file, f"unsupported file type '{suffix}'; expected .jsonl, .csv, .tsv, .parquet or a datasets folder"
    )


def decode(path: Path, encoding: str | None) -> str:
    """A text file's content: in `encoding`, else UTF-8 (or UTF-16 where its byte-order mark says
    so); a byte-order mark is dropped. A decoding error names the line and what to set."""
    data = path.read_bytes()
    if encoding is None:
        utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        encoding = "utf-16" if utf16 else "utf-8-sig"
    elif codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # the byte-order mark is no part of the first column's name
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        said = "valid UTF-8" if encoding == "utf-8-sig" else f"valid {encoding}"
        hint = ENCODING_HINT if encoding == "utf-8-sig" else "check data.encoding"
        raise DataError(str(path), f"text is not {said} ({err.reason} at byte {err.start}): {hint}", line) from None
    return text.removeprefix("\ufeff")


def read_json_lines(path: Path, encoding: str | None) -> list[tuple[int, dict]]:
    file, rows = str(path), []
    # Lines end at \n alone (\r\n too): str.splitlines would also cut at U+2028, U+0085 and the
    # like, which JSON strings may hold raw (real review snippets do).
    for line_no, text in enumerate(decode(path, encoding).split("\n"), start=1):
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


def header(path: Path, encoding: str | None = None) -> list[str] | None:
    """Column names of a data file or `datasets` folder, cheaply where the format allows; None when
    they cannot be read (reading the rows then says why)."""
    try:
        suffix = path.suffix.lower()
        if is_dataset_folder(path):
            features = json.loads((path / "dataset_info.json").read_text()).get("features") or {}
            return list(features)
        if suffix in DELIMITERS:
            text = decode(path, encoding)
            return table_header(next(csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[suffix]), []))
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        rows = read_json_lines(path, encoding) if suffix == ".jsonl" else []
        return list(rows[0][1]) if rows else None
    except (OSError, ValueError, DataError, csv.Error):
        return None


def table_header(names: list[str]) -> list[str]:
    """The header's names, a byte-order mark and spaces around them dropped (what a spreadsheet
    adds), unnamed columns (pandas' index) kept as ''."""
    return [name.strip() for name in names]


def read_table(path: Path, delimiter: str, encoding: str | None) -> list[tuple[int, dict]]:
    """CSV or TSV with a header row. A cell may hold quoted newlines: each row keeps the line it
    starts on. Empty cells are missing values; a column whose every value is a whole number (or a
    number) is read as numbers, as pandas does, so that `0`/`1` labels and targets are numbers."""
    file = str(path)
    reader = csv.reader(io.StringIO(decode(path, encoding), newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as err:
        raise DataError(file, f"not valid {'TSV' if delimiter == chr(9) else 'CSV'} ({err})", start) from None
    if not records:
        raise DataError(file, "no header row: the file is empty")
    names = table_header(records[0][1])
    named = [name for name in names if name]
    if duplicated := sorted({name for name in named if named.count(name) > 1}):
        raise DataError(file, f"the header names {duplicated} more than once: give each column its own name", 1)
    rows = []
    for line, cells in records[1:]:
        if len(cells) != len(names):
            raise DataError(
                file, f"{len(cells)} values, but the header names {len(names)} columns (a stray delimiter?)", line
            )
        rows.append((line, {name: cell for name, cell in zip(names, cells, strict=True) if name}))
    for name in named:
        typed(rows, name)
    return rows


def typed(rows: list[tuple[int, dict]], name: str) -> None:
    """Read one column's cells in place: '' as missing, and numbers as numbers where every value is one."""
    values = [row[name] for _, row in rows if row[name].strip()]
    kind = int if values and all(INTEGER.fullmatch(v.strip()) for v in values) else None
    if kind is None and values and all(NUMBER.fullmatch(v.strip()) for v in values):
        kind = float
    for _, row in rows:
        cell = row[name]
        row[name] = None if not cell.strip() else kind(cell) if kind else cell


def read_parquet(path: Path) -> list[tuple[int, dict]]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as err:
        raise DataError(str(path), f"cannot read: {err}") from None
    return records_of(frame)


def records_of(frame: Any) -> list[tuple[int, dict]]:
    """A pandas frame's rows, numbered from 1, missing values as None."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [(1 + i, row) for i, row in enumerate(records)]


def read_dataset(path: Path) -> list[tuple[int, dict]]:
    """A split that the `datasets` library saved (`save_to_disk`), its class labels as their names."""
    import datasets

    try:
        dataset = datasets.load_from_disk(str(path))
    except Exception as err:
        raise DataError(str(path), f"cannot read as a datasets folder: {err}") from None
    named = {name: class_names(feature) for name, feature in dataset.features.items()}
    named = {name: names for name, names in named.items() if names}
    rows = []
    for i, row in enumerate(dataset, start=1):
        for name, names in named.items():
            row[name] = as_names(row[name], names)
        rows.append((i, row))
    return rows


def class_names(feature: Any) -> list[str] | None:
    """The names of a `ClassLabel` feature, or of the one a list feature holds (NER tags, label sets)."""
    import datasets

    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    inner = getattr(feature, "feature", None)  # Sequence / List of class labels
    return class_names(inner) if inner is not None else None


def as_names(value: Any, names: list[str]) -> Any:
    if isinstance(value, list):
        return [as_names(v, names) for v in value]
    return names[value] if isinstance(value, int) and 0 <= value < len(names) else value
