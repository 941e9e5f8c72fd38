"""`stratsearch init DATA`: a commented space.yaml for a data file, with the task and columns guessed
and the guesses said, a validation split made when there is none, and a default search over the
article's strategies sized to the data.

Guessing, in order: a column of word lists with a same-length column of string lists is token
classification (tokens, tags); otherwise the text is the string column with the most words per row,
and the label a column named like one (label, target, class, …) or else the other column with the
fewest distinct values. Whole numbers or strings with few distinct values are classes; other
numbers are a regression target.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from stratsearch.errors import DataError, StratsearchError
from stratsearch.formats import SUFFIXES, is_dataset_folder, read_rows, readable
from stratsearch.tasks import TASKS, Task, task_with

LABEL_NAMES = ("label", "labels", "target", "class", "category", "sentiment", "y", "score", "rating", "tag")
SPLIT_NAMES = {"train": ("train",), "validation": ("validation", "valid", "val", "dev"), "test": ("test",)}
MAX_CLASSES = 50  # more distinct values than this in a numeric column: a regression target
VALIDATION_SHARE = 0.1
IMBALANCED = 0.2  # a smallest class below this share: macro-F1 rather than accuracy


@dataclass
class Guess:
    task: Task
    columns: dict[str, str]  # data-section key → column name
    files: dict[str, Path]  # split → file
    inputs: list = field(default_factory=list)  # the training rows' inputs (texts or word lists)
    imbalanced: bool = False  # the smallest class is rare enough for macro-F1 to be the objective
    reasons: list[str] = field(default_factory=list)


def find_files(data: Path) -> dict[str, Path]:
    """The splits' files of a data file (training only), a `datasets` split or DatasetDict folder,
    or a folder with train.* (and validation.*, test.*) files or `datasets` split folders in it."""
    if data.is_file() or is_dataset_folder(data):
        return {"train": data}
    if not data.is_dir():
        raise StratsearchError(f"{data}: no such file or folder")
    files = {}
    for split, names in SPLIT_NAMES.items():
        candidates = [data / f"{n}{s}" for n in names for s in SUFFIXES] + [data / n for n in names]
        found = [path for path in candidates if readable(path)]
        if found:
            files[split] = found[0]
    if "train" not in files:
        raise StratsearchError(
            f"{data}: expected a data file, a datasets folder, or a folder with train.jsonl|csv|tsv|parquet in it"
        )
    return files


def is_word_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(w, str) for w in value)


def guess(rows: list[dict], task: Task | None) -> tuple[Task, dict[str, str], list[str], bool]:
    """(task, columns, reasons, imbalanced) from the rows of the training file: what the data hold
    (lists of words, numbers, classes) picks the registered task with those capabilities."""
    names = list(rows[0])
    values = {n: [r.get(n) for r in rows] for n in names}
    word_lists = [n for n in names if all(is_word_list(v) for v in values[n])]
    if len(word_lists) >= 2 and (task is None or task.token_level):
        tags = next((n for n in word_lists if any(k in n.lower() for k in ("tag", "ner", "label"))), word_lists[1])
        tokens = next(n for n in word_lists if n != tags)
        task = task_with(token_level=True, has_classes=True)
        reason = f"{task}: '{tokens}' and '{tags}' hold lists of strings of the same length"
        return task, {"tokens": tokens, "tags": tags}, [reason], False
    texts = [n for n in names if all(isinstance(v, str) for v in values[n])]
    if not texts:
        raise StratsearchError(f"no column holds text in every row (columns: {names}); name one with --text")
    text = max(texts, key=lambda n: sum(len(v.split()) for v in values[n]))
    others = [n for n in names if n != text]
    named = [n for n in others if n.lower() in LABEL_NAMES]
    label = named[0] if named else min(others, key=lambda n: len({repr(v) for v in values[n]}), default=None)
    if label is None:
        raise StratsearchError(f"only one column ('{text}'): a label column is needed beside the text")
    reasons = [f"text: '{text}', the string column with the most words per row"]
    columns = {"text": text}
    if pair := second_text(rows, values, [n for n in texts if n not in (text, label)]):
        first, second = sorted((text, pair), key=names.index)  # as the file has them: premise, then hypothesis
        columns = {"text": first, "text_pair": second}
        reasons[0] = (
            f"a sentence pair: text '{first}', text_pair '{second}', the two columns of running text"
            " (in the file's order)"
        )
    reasons.append(
        f"label: '{label}'" + (", named like a label" if named else ", the column with fewest distinct values")
    )
    distinct = {repr(v) for v in values[label]}
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values[label])
    whole = numbers and all(float(v).is_integer() for v in values[label])
    if all(isinstance(v, list) for v in values[label]) and (task is None or task.multi_label):
        task = task_with(token_level=False, has_classes=True, multi_label=True)
        names = {str(name) for v in values[label] for name in v}
        reasons.append(f"task: {task}, as '{label}' holds a list of labels per row ({len(names)} distinct labels)")
        return task, columns | {"label": label}, reasons, False
    if task is None:
        task = task_with(token_level=False, has_classes=not numbers or (whole and len(distinct) <= MAX_CLASSES))
        reasons.append(
            f"task: {task}, as '{label}' holds "
            + (f"{len(distinct)} distinct values" if task.has_classes else "numbers with many distinct values")
        )
    imbalanced = False
    if task.has_classes:
        counts = Counter(repr(v) for v in values[label])
        smallest = min(counts.values()) / len(rows)
        imbalanced = smallest < IMBALANCED
        if imbalanced:
            reasons.append(f"objective: macro_f1, as the smallest class is {smallest:.0%} of the rows")
    return task, columns | {"label": label}, reasons, imbalanced


def second_text(rows: list[dict], values: dict[str, list], candidates: list[str]) -> str | None:
    """Another column of running text beside the text (a hypothesis beside its premise): words in
    most rows (not a code or an id) and different in most rows; the wordiest of them."""
    wordy = [
        n
        for n in candidates
        if sum(len(v.split()) for v in values[n]) >= 2 * len(rows) and len(set(values[n])) > len(rows) / 2
    ]
    return max(wordy, key=lambda n: sum(len(v.split()) for v in values[n]), default=None)


def split_validation(train: Path, rows: list[dict], label: str | None, seed: int = 0) -> tuple[Path, Path]:
    """Hold out a stratified, seeded tenth of the training rows as validation, written beside the data."""
    by_label: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_label[json.dumps(row.get(label), sort_keys=True) if label else ""].append(row)
    rng = random.Random(seed)
    train_rows, validation_rows = [], []
    for group in by_label.values():
        rng.shuffle(group)
        cut = round(len(group) * VALIDATION_SHARE)
        validation_rows += group[:cut]
        train_rows += group[cut:]
    stem = train.with_suffix("")
    out = {}
    for split, part in (("train", train_rows), ("validation", validation_rows)):
        path = Path(f"{stem}.{split}.jsonl")
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8")
        out[split] = path
    return out["train"], out["validation"]


def examine(data: Path, task: Task | None, encoding: str | None = None) -> Guess:
    files = find_files(data)
    try:
        rows = [row for _, row in read_rows(files["train"], encoding)]
    except DataError as err:
        raise StratsearchError(str(err)) from None
    if not rows:
        raise StratsearchError(f"{files['train']}: no rows")
    task, columns, reasons, imbalanced = guess(rows, task)
    if task.token_level:
        inputs = [row[columns["tokens"]] for row in rows]
    elif "text_pair" in columns:
        inputs = [(row[columns["text"]], row[columns["text_pair"]]) for row in rows]
    else:
        inputs = [row[columns["text"]] for row in rows]
    if "validation" not in files:
        label = columns.get("label") if task.has_classes else None
        files["train"], files["validation"] = split_validation(files["train"], rows, label)
        reasons.append(
            f"no validation split: {VALIDATION_SHARE:.0%} of the rows held out"
            + (" (stratified by label)" if label else "")
            + f", seeded: {files['validation'].name}, training rows in {files['train'].name}"
        )
    return Guess(task, columns, files, inputs, imbalanced, reasons)


def relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


def fitting_max_length(found: Guess, model_dir: Path) -> int:
    """Tokens that hold 95% of the training examples, in steps of 16, within the model's positions."""
    from stratsearch.train.model_dir import max_positions, measuring_tokenizer

    positions = max_positions(json.loads((model_dir / "config.json").read_text())) or 512
    tokenizer = measuring_tokenizer(model_dir)
    if tokenizer is None:
        return min(128, positions)
    sample = found.inputs[:5000]
    encodings = tokenizer.encode_batch(sample, is_pretokenized=found.task.token_level)
    lengths = sorted(len(e.ids) for e in encodings)
    p95 = lengths[int(0.95 * (len(lengths) - 1))]
    return max(16, min(positions, -(-p95 // 16) * 16))


def write_space(data: Path, out: Path, task: str | None, model: str, encoding: str | None = None) -> Guess:
    """Examine the data and write a commented space (`task`: a registered task's name, else
    guessed); returns the guess (for the command to say)."""
    from stratsearch.train.model_dir import BUNDLED, find_model_dir, model_depth, model_family
    from stratsearch.train.strategies.losses import LOSSES

    model_dir = find_model_dir(model, Path.cwd())
    if model_dir is None:
        raise StratsearchError(f"--model {model}: expected 'minilm-l6' or a local Hugging Face model directory")
    found = examine(data, None if task is None else TASKS[task], encoding)
    rows = len(found.inputs)
    layers = model_depth(model_dir) or 6
    family = model_family(model_dir)
    layer_word = family.layer_word if family else "layers"
    # Llama and Qwen2 have attention dropout only; a decoder of a billion parameters trains adapters.
    dropout = "dropout" if family is None or family.hidden_dropout else "attention_dropout"
    lora = "{lora: {r: {choice: [8, 16]}, target_modules: all-linear}}"
    scope = f"\n  scope: {lora}  # a decoder: LoRA on every linear layer" if family and family.causal else ""
    max_length = fitting_max_length(found, model_dir)
    base = out.parent
    model_entry = model if model in BUNDLED else relative(model_dir, base)  # paths in a space are relative to it
    files = "\n".join(f"  {split}: {relative(path, base)}" for split, path in found.files.items())
    columns = "\n".join(f"  {key}: {name}" for key, name in found.columns.items())
    columns += f"\n  encoding: {encoding}" if encoding else ""
    small = rows < 2000
    epochs = "{int: [2, 5]}" if small else "{int: [1, 3]}"
    metrics = found.task.metrics
    metric = "macro_f1" if found.imbalanced else next(iter(metrics))  # the task's first metric is its default
    objective = f"{{metric: {metric}, mode: {metrics[metric]}}}"
    losses = "[" + ", ".join(LOSSES.fitting(found.task)) + "]"
    guesses = "\n".join(f"#   {r}" for r in found.reasons)
    text = f"""# A space for {data}, written by `stratsearch init`. What it guessed:
{guesses}
# Check the guesses, then: stratsearch validate {out.name}  and  stratsearch run {out.name}
name: {out.stem}
model: {model_entry}                      # or a local Hugging Face model directory
task: {found.task}
data:
{files}
{columns}
  max_length: {max_length}                    # 95% of the training examples fit; validate prints the rest
objective: {objective}
budget: {{trials: 20, time: 2h}}      # stops at whichever comes first; rerun with more to extend
search:
  sampler: tpe
  pruner: asha                      # stops poor trials after their first epochs
  seed: 0
  baseline:                         # the plain default, evaluated first: the search must beat it
    - {{}}
space:                              # the article's strategies, kept to ranges that usually learn
  epochs: {epochs}
  batch_size: 32
  freeze_depth: {{int: [0, {layers}]}}          # embeddings + this many bottom {layer_word} frozen{scope}
  optimizer:
    adamw: {{lr: {{loguniform: [1.0e-5, 2.0e-4]}}, weight_decay: {{uniform: [0.0, 0.1]}}}}
  schedule: {{choice: [linear, cosine]}}
  warmup_ratio: {{uniform: [0.0, 0.1]}}
  {dropout}: {{uniform: [0.0, 0.2]}}
  head: {{hidden: {{choice: [0, 256]}}}}       # 0: linear head; 256: an MLP adaptation layer
  loss: {{choice: {losses}}}
ensemble: {{top_k: 3, method: greedy}}
"""
    out.write_text(text, encoding="utf-8")
    return found
