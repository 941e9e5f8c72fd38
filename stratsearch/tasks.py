"""Tasks as objects: what differs between classification, regression, multi-label and token classification.

A task knows its metrics (and which way each is better), its default loss, how to read a row's
input and label, how labels map to ids, what one prediction looks like, how to score
predictions and how to write them out for `predict`, and what a saved model keeps to decide
(multi-label thresholds). Everything else takes a `Task` and asks it, so a new task is one class
here plus its registration.

Light on purpose: no torch at import (the tensors a task is handed bring their own methods).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from stratsearch.augment.examples import Example
from stratsearch.errors import DataError
from stratsearch.registry import Registry
from stratsearch.rows import (
    IGNORE_INDEX,
    DataSpec,
    Split,
    class_name,
    class_value,
    column,
    float_value,
    text_value,
    token_list,
)


@dataclass(frozen=True, eq=False)
class Task:
    """The sentence-level base: one text in, one target out. A task says what it can do (its
    capabilities, below); callers ask those, never its name. The losses that fit a task, and its
    default one, are facts of the loss registry's entries."""

    name: str
    metrics: dict[str, str]  # metric → "max" | "min"; the first is the default objective
    token_level: bool = False  # one prediction per word instead of per example
    has_classes: bool = True  # targets are class ids (False: numbers)
    multi_label: bool = False  # a set of classes per example, each decided apart

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    # --- reading data ---------------------------------------------------------------------------

    def columns(self, spec: DataSpec) -> dict[str, str]:
        """The data section's keys this task reads → the column names they hold."""
        pair = {} if spec.text_pair is None else {"text_pair": spec.text_pair}
        return {"text": spec.text, **pair, "label": spec.label}

    def label_column(self, spec: DataSpec) -> str:
        return spec.label

    def read_input(self, file: str, line: int, row: dict, spec: DataSpec) -> Any:
        """The text, or a sentence pair's two texts (`data.text_pair`)."""
        text = text_value(file, line, row, spec.text)
        return text if spec.text_pair is None else (text, text_value(file, line, row, spec.text_pair))

    def read_label(self, file: str, line: int, row: dict, spec: DataSpec, words: int) -> Any:
        return class_value(file, line, row, spec.label, spec.label_names)

    def flat_labels(self, labels: list) -> list:
        return labels

    def label_index(self, train_labels: list, file: str) -> dict[Any, int] | None:
        """Label → id from the training split, in sorted order (ints numerically, strings alphabetically)."""
        flat = self.flat_labels(train_labels)
        kinds = {type(v) for v in flat}
        if len(kinds) > 1:
            raise DataError(file, f"labels mix types {sorted(k.__name__ for k in kinds)}; use one type")
        names = sorted(set(flat))
        if len(names) < 2:
            raise DataError(file, f"need at least two classes in training, found {names}")
        return {name: i for i, name in enumerate(names)}

    def map_labels(self, labels: list, lines: list[int], index: dict, file: str, column_name: str) -> list:
        return [lookup(index, v, file, line, column_name) for v, line in zip(labels, lines, strict=True)]

    def placeholder_targets(self, inputs: list) -> list:
        """Targets for inputs that have none (prediction): tokenizing needs their shape only."""
        return [0] * len(inputs)

    def tokenize(self, tokenizer: Any, name: str, inputs: list, targets: list, max_length: int) -> Split:
        """One text, or a pair as the model was pretrained to read two: `[CLS] a [SEP] b [SEP]` (each
        family its own way), with segment ids where it has them; the longer text is cut first."""
        if not is_pair(inputs):
            enc = tokenizer(inputs, truncation=True, max_length=max_length)
            return Split(name, enc["input_ids"], list(targets), list(targets), list(inputs))
        firsts, seconds = zip(*inputs, strict=True)
        enc = tokenizer(list(firsts), list(seconds), truncation=True, max_length=max_length)
        return Split(name, enc["input_ids"], list(targets), list(targets), list(inputs), enc.get("token_type_ids"))

    # --- augmentation: examples as words --------------------------------------------------------

    def examples(self, split: Split, label_names: list | None) -> list[Example]:
        """Each text as its words; a sentence pair's two texts one after the other (row r's are
        examples 2r and 2r + 1), so that each is rewritten apart."""
        texts = [t for raw in split.raw for t in raw] if is_pair(split.raw) else split.raw
        return [Example(tuple(text.split())) for text in texts]

    def from_examples(self, pairs: list[tuple[int, Example]], split: Split, label_names: list | None) -> tuple:
        """(inputs, targets) of augmented copies: a copy keeps its source's label; a pair's copy has one
        of its texts rewritten and the other as it was (a hypothesis rewritten on its own may no
        longer follow from a premise rewritten too)."""
        if not is_pair(split.raw):
            return [" ".join(e.words) for _, e in pairs], [split.targets[i] for i, _ in pairs]
        inputs = []
        for i, example in pairs:
            texts = list(split.raw[i // 2])
            texts[i % 2] = " ".join(example.words)
            inputs.append(tuple(texts))
        return inputs, [split.targets[i // 2] for i, _ in pairs]

    # --- predictions ----------------------------------------------------------------------------

    def num_outputs(self, label_names: list | None) -> int:
        return len(label_names or [])

    def decisions(self, predictions: Any, targets: list) -> dict[str, Any]:
        """What a saved model keeps beside its weights to turn its outputs into answers, chosen on
        the validation split's predictions and targets (never the test's): nothing here."""
        return {}

    def outputs(self, logits: Any, labels: Any, split: Split, idx: np.ndarray, label_names: list | None) -> Any:
        """One batch's predictions, one row per example: class probabilities here."""
        return logits.softmax(-1).cpu().numpy()

    def stack(self, rows: list) -> Any:
        return np.stack(rows)

    def score(self, predictions: Any, targets: list, label_names: list | None) -> dict[str, float]:
        from sklearn.metrics import f1_score

        preds = predictions.argmax(-1)
        y = np.asarray(targets)
        labels = np.arange(predictions.shape[-1])
        return {
            "accuracy": float((preds == y).mean()),
            "macro_f1": float(f1_score(y, preds, labels=labels, average="macro", zero_division=0)),
        }

    def majority(self, train_targets: list, label_names: list | None) -> np.ndarray:
        """The most frequent training class (tag) as probabilities: all on it."""
        flat = np.asarray(self.flat_labels(train_targets), dtype=np.int64)
        counts = np.bincount(flat, minlength=self.num_outputs(label_names))
        return np.eye(len(counts), dtype=np.float32)[counts.argmax()]

    def trivial(self, train_targets: list, targets: list, label_names: list | None) -> Any:
        """What a model that learnt nothing but the label counts predicts: always the majority class."""
        return np.tile(self.majority(train_targets, label_names), (len(targets), 1))

    def output_rows(self, prediction: Any, label_names: list | None, decisions: dict | None = None) -> list[dict]:
        names = label_names or []
        return [
            {
                "label": names[int(p.argmax())],
                "probabilities": {str(n): float(x) for n, x in zip(names, p, strict=True)},
            }
            for p in prediction
        ]


def is_pair(inputs: list | None) -> bool:
    """Whether the inputs (a split's raw ones, or those about to be tokenized) are sentence pairs."""
    return bool(inputs) and isinstance(inputs[0], tuple | list)


def lookup(index: dict, value: Any, file: str, line: int, column_name: str) -> int:
    if value not in index:
        raise DataError(file, f"label {value!r} never appears in the training split", line, column_name)
    return index[value]


class Regression(Task):
    """One text in, one number out."""

    def read_label(self, file: str, line: int, row: dict, spec: DataSpec, words: int) -> Any:
        return float_value(file, line, row, spec.label)

    def label_index(self, train_labels: list, file: str) -> dict[Any, int] | None:
        return None  # targets are the numbers themselves

    def num_outputs(self, label_names: list | None) -> int:
        return 1

    def outputs(self, logits: Any, labels: Any, split: Split, idx: np.ndarray, label_names: list | None) -> Any:
        return logits.cpu().numpy()

    def score(self, predictions: Any, targets: list, label_names: list | None) -> dict[str, float]:
        from scipy.stats import pearsonr, spearmanr

        y = np.asarray(targets, dtype=np.float64)
        p = predictions.astype(np.float64)
        constant = np.ptp(p) == 0  # correlation is undefined for a constant predictor; call it 0
        return {
            "rmse": float(np.sqrt(np.mean((p - y) ** 2))),
            "pearson": 0.0 if constant else float(pearsonr(p, y).statistic),
            "spearman": 0.0 if constant else float(spearmanr(p, y).statistic),
        }

    def trivial(self, train_targets: list, targets: list, label_names: list | None) -> Any:
        """The training mean for every example."""
        return np.full(len(targets), np.mean(train_targets), dtype=np.float32)

    def output_rows(self, prediction: Any, label_names: list | None, decisions: dict | None = None) -> list[dict]:
        return [{"value": float(v)} for v in prediction]


class TokenClassification(Task):
    """A list of words in, one BIO tag per word out; a word's first sub-token carries its tag."""

    def columns(self, spec: DataSpec) -> dict[str, str]:
        return {"tokens": spec.tokens, "tags": spec.tags}

    def label_column(self, spec: DataSpec) -> str:
        return spec.tags

    def read_input(self, file: str, line: int, row: dict, spec: DataSpec) -> Any:
        return token_list(file, line, row, spec.tokens)

    def read_label(self, file: str, line: int, row: dict, spec: DataSpec, words: int) -> Any:
        tags = column(file, line, row, spec.tags)
        if isinstance(tags, list) and spec.label_names is not None:  # tag ids, as `datasets` holds them
            tags = [class_name(file, line, spec.tags, t, spec.label_names) for t in tags]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            how = "" if spec.label_names else " (tag ids? set data.label_names)"
            raise DataError(file, f"expected a list of strings{how}", line, spec.tags)
        if len(tags) != words:
            raise DataError(file, f"{words} tokens but {len(tags)} tags", line, spec.tags)
        return tags

    def flat_labels(self, labels: list) -> list:
        return [t for tags in labels for t in tags]

    def map_labels(self, labels: list, lines: list[int], index: dict, file: str, column_name: str) -> list:
        return [
            [lookup(index, t, file, line, column_name) for t in tags] for tags, line in zip(labels, lines, strict=True)
        ]

    def placeholder_targets(self, inputs: list) -> list:
        return [[0] * len(words) for words in inputs]

    def tokenize(self, tokenizer: Any, name: str, inputs: list, targets: list, max_length: int) -> Split:
        enc = tokenizer(inputs, is_split_into_words=True, truncation=True, max_length=max_length)
        labels = []
        for i, tags in enumerate(targets):
            seen: set[int] = set()
            row = []
            for word in enc.word_ids(i):
                # Only a word's first sub-token carries its tag; the rest, and special tokens, are ignored.
                row.append(IGNORE_INDEX if word is None or word in seen else tags[word])
                if word is not None:
                    seen.add(word)
            labels.append(row)
        return Split(name, enc["input_ids"], labels, list(targets), list(inputs))

    def examples(self, split: Split, label_names: list | None) -> list[Example]:
        names = label_names or []
        return [
            Example(tuple(words), tuple(str(names[t]) for t in tags))
            for words, tags in zip(split.raw, split.targets, strict=True)
        ]

    def from_examples(self, pairs: list[tuple[int, Example]], split: Split, label_names: list | None) -> tuple:
        index = {str(name): i for i, name in enumerate(label_names or [])}
        return [list(e.words) for _, e in pairs], [[index[t] for t in e.tags] for _, e in pairs]

    def outputs(self, logits: Any, labels: Any, split: Split, idx: np.ndarray, label_names: list | None) -> Any:
        """Per-word class probabilities, read at each word's first sub-token.

        Words cut off by max_length have no sub-token left; they are predicted as the 'O' tag
        (or class 0 where no 'O' exists), which is what an untagged word means in BIO.
        """
        probs = logits.softmax(-1)
        names = label_names or []
        outside = names.index("O") if "O" in names else 0
        rows = []
        for row, i in enumerate(idx):
            seen = probs[row][labels[row] != IGNORE_INDEX].cpu().numpy()
            full = np.zeros((len(split.targets[i]), probs.shape[-1]), dtype=np.float32)
            full[:, outside] = 1.0
            full[: len(seen)] = seen
            rows.append(full)
        return rows

    def stack(self, rows: list) -> Any:
        return rows  # ragged: one (words, classes) array per example

    def trivial(self, train_targets: list, targets: list, label_names: list | None) -> Any:
        """The most frequent training tag ('O') for every word."""
        one_hot = self.majority(train_targets, label_names)
        return [np.tile(one_hot, (len(t), 1)) for t in targets]

    def score(self, predictions: Any, targets: list, label_names: list | None) -> dict[str, float]:
        """Entity-level precision / recall / F1 over BIO tags (seqeval, CoNLL rules), plus tag accuracy."""
        from seqeval.metrics import f1_score, precision_score, recall_score

        names = label_names or []
        y_true = [[str(names[t]) for t in seq] for seq in targets]
        y_pred = [[str(names[t]) for t in p.argmax(-1)] for p in predictions]
        flat_true = np.concatenate([np.asarray(t) for t in targets])
        flat_pred = np.concatenate([p.argmax(-1) for p in predictions])
        return {
            "f1": float(f1_score(y_true, y_pred, zero_division=0)),
            "precision": float(precision_score(y_true, y_pred, zero_division=0)),
            "recall": float(recall_score(y_true, y_pred, zero_division=0)),
            "accuracy": float((flat_true == flat_pred).mean()),
        }

    def output_rows(self, prediction: Any, label_names: list | None, decisions: dict | None = None) -> list[dict]:
        names = label_names or []
        return [{"tags": [names[i] for i in words.argmax(-1)]} for words in prediction]


class MultiLabel(Task):
    """One text in, a set of classes out (topics, tags, moderation categories): one sigmoid per
    class, each decided apart. Metrics decide at 0.5, so that trials compare on one rule; a saved
    model also keeps per-class thresholds chosen on validation (`decisions`), which `predict` and the
    export apply."""

    def read_label(self, file: str, line: int, row: dict, spec: DataSpec, words: int) -> Any:
        """A row's set of labels; the empty set is one ("none of these": most rows of a moderation
        set), written `[]`, or as an empty cell where labels are one delimited string."""
        if spec.label_delimiter is not None and row.get(spec.label, "") is None:
            return []  # a spreadsheet's empty cell: no label
        value = column(file, line, row, spec.label)
        if isinstance(value, str) and spec.label_delimiter is not None:
            value = [part.strip() for part in value.split(spec.label_delimiter) if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            how = f"split on {spec.label_delimiter!r}" if spec.label_delimiter else "set data.label_delimiter"
            raise DataError(
                file,
                f"expected a list of labels (strings or whole numbers), or one string ({how}); found {value!r}",
                line,
                spec.label,
            )
        if spec.label_names is not None:
            value = [class_name(file, line, spec.label, v, spec.label_names) for v in value]
        return sorted(set(value), key=str)

    def flat_labels(self, labels: list) -> list:
        return [label for row in labels for label in row]

    def label_index(self, train_labels: list, file: str) -> dict[Any, int] | None:
        if not any(train_labels):
            raise DataError(file, "no training row carries a label: there is nothing to learn")
        return super().label_index(train_labels, file)

    def map_labels(self, labels: list, lines: list[int], index: dict, file: str, column_name: str) -> list:
        """Each row's labels as a multi-hot vector over the training split's labels."""
        rows = []
        for row, line in zip(labels, lines, strict=True):
            hot = np.zeros(len(index), dtype=np.float32)
            hot[[lookup(index, label, file, line, column_name) for label in row]] = 1.0
            rows.append(hot)
        return rows

    def placeholder_targets(self, inputs: list) -> list:
        return [np.zeros(1, dtype=np.float32)] * len(inputs)

    def outputs(self, logits: Any, labels: Any, split: Split, idx: np.ndarray, label_names: list | None) -> Any:
        """Each class's probability, apart: a sigmoid per class."""
        return logits.float().sigmoid().cpu().numpy()

    def score(self, predictions: Any, targets: list, label_names: list | None) -> dict[str, float]:
        """F1 over every (example, class) decision (micro), per class then averaged (macro), per example
        then averaged (samples), and the share of examples whose set is exactly right; at 0.5.

        An example with no label that is given none is exactly right: its F1 is 1 (sklearn's
        `zero_division=0` would call it 0, and punish the model that learnt to say "none of these")."""
        from sklearn.metrics import f1_score

        y = np.stack(targets).astype(np.int64)
        decided = (predictions >= 0.5).astype(np.int64)
        sizes = y.sum(axis=1) + decided.sum(axis=1)
        per_example = np.where(sizes == 0, 1.0, 2 * (y & decided).sum(axis=1) / np.maximum(sizes, 1))
        return {
            "micro_f1": float(f1_score(y, decided, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(y, decided, average="macro", zero_division=0)),
            "samples_f1": float(per_example.mean()),
            "subset_accuracy": float((y == decided).all(axis=1).mean()),
        }

    def trivial(self, train_targets: list, targets: list, label_names: list | None) -> Any:
        """Each class's share of the training rows, for every example: the label counts alone."""
        return np.tile(np.mean(np.stack(train_targets), axis=0), (len(targets), 1)).astype(np.float32)

    def decisions(self, predictions: Any, targets: list) -> dict[str, Any]:
        """Per class, the threshold with the best F1 on these (validation) predictions: 0.5 where the
        class never occurs or no threshold beats it."""
        return {"thresholds": [best_threshold(predictions[:, c], y) for c, y in enumerate(np.stack(targets).T)]}

    def output_rows(self, prediction: Any, label_names: list | None, decisions: dict | None = None) -> list[dict]:
        names = label_names or []
        thresholds = np.asarray((decisions or {}).get("thresholds") or [0.5] * len(names))
        return [
            {
                "labels": [names[c] for c in np.flatnonzero(p >= thresholds)],
                "probabilities": {str(n): float(x) for n, x in zip(names, p, strict=True)},
            }
            for p in prediction
        ]


def best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """The cut on one class's scores with the best F1 against the truth; 0.5 unless one beats it
    (of equals, the one nearest 0.5). Candidates lie midway between neighbouring distinct scores
    (the lowest: the lowest score), so a cut separates real predictions; one sort, any n."""
    positives = truth > 0
    if not positives.any():
        return 0.5
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], np.cumsum(positives[order])
    ends = np.flatnonzero(np.r_[ranked[:-1] > ranked[1:], True])  # the last example above each cut
    cuts = (ranked[ends] + ranked[np.minimum(ends + 1, len(ranked) - 1)]) / 2
    f1 = 2 * hits[ends] / (ends + 1 + positives.sum())
    at_half = scores >= 0.5
    candidates = [(2 * (at_half & positives).sum() / (at_half.sum() + positives.sum()), 0.5)]
    candidates += list(zip(f1.tolist(), cuts.tolist(), strict=True))
    return float(max(candidates, key=lambda c: (c[0], -abs(c[1] - 0.5)))[1])


# What a strategy may ask of a task (strategy registry entries' `fits`): a capability, not a name.
Capability = Callable[[Task], bool]


def class_outputs(task: Task) -> bool:
    """One class per example (or per word)."""
    return task.has_classes and not task.multi_label


def class_set_outputs(task: Task) -> bool:
    """A set of classes per example (multi-label)."""
    return task.multi_label


def value_outputs(task: Task) -> bool:
    return not task.has_classes


def sentence_inputs(task: Task) -> bool:
    return not task.token_level


def word_inputs(task: Task) -> bool:
    return task.token_level


def task_with(token_level: bool, has_classes: bool, multi_label: bool = False) -> Task:
    """The registered task with these capabilities (what `init` reads off the data)."""
    return next(
        t
        for t in TASKS
        if t.token_level == token_level and t.has_classes == has_classes and t.multi_label == multi_label
    )


TASKS: Registry[Task] = Registry("task")
TASKS.add(Task("classification", {"accuracy": "max", "macro_f1": "max"}))
TASKS.add(Regression("regression", {"rmse": "min", "pearson": "max", "spearman": "max"}, has_classes=False))
TASKS.add(
    MultiLabel(
        "multi-label-classification",
        {"micro_f1": "max", "macro_f1": "max", "samples_f1": "max", "subset_accuracy": "max"},
        multi_label=True,
    )
)
TASKS.add(
    TokenClassification(
        "token-classification", {"f1": "max", "precision": "max", "recall": "max", "accuracy": "max"}, token_level=True
    )
)
