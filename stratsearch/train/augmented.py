"""Augmented training sets, computed once and cached on disk for every trial that asks.

A set is keyed by (augmenter, its parameters, n_aug, seed, the training data itself) and kept
as JSON lines under `$STRATSEARCH_CACHE/augment/` (default `~/.cache/stratsearch`), written
atomically under a file lock so that concurrent trials compute it once. Copies identical to
their source or to an earlier copy are dropped (a deterministic augmenter such as
back-translation yields one copy whatever n_aug asks). Validation and test are never augmented.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
from typing import TYPE_CHECKING, Any

from stratsearch.augment.examples import Example
from stratsearch.disk_cache import cache_dir, computing
from stratsearch.rows import Split
from stratsearch.train.config import TrialConfig
from stratsearch.train.data import Dataset
from stratsearch.train.strategies.augmenters import AUGMENTERS

if TYPE_CHECKING:
    from stratsearch.tasks import Task


def cache_key(trial: TrialConfig, split: Split) -> str:
    data = hashlib.sha256(json.dumps([split.raw, split.targets]).encode()).hexdigest()
    identity = {
        "augment": trial.augment.name,
        "params": trial.augment.params.model_dump(by_alias=True),
        "n_aug": trial.scalars.n_aug,
        "seed": trial.scalars.seed,
        "data": data,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def compute(base: list[Example], trial: TrialConfig) -> list[tuple[int, Example]]:
    augment = AUGMENTERS[trial.augment.name].fn
    seen: set[tuple[int, Example]] = set()
    out = []
    for copy in range(trial.scalars.n_aug):
        rng = random.Random(trial.scalars.seed * 1000 + copy)
        for i, example in enumerate(augment(base, trial.augment.params, rng)):
            if example.words and example != base[i] and (i, example) not in seen:
                seen.add((i, example))
                out.append((i, example))
    return out


def augmented_examples(
    split: Split, task: Task, label_names: list[Any] | None, trial: TrialConfig
) -> tuple[list[tuple[int, Example]], bool]:
    """(source index, augmented example) pairs, and whether they came from the cache."""
    path = cache_dir("augment") / f"{cache_key(trial, split)}.jsonl"
    with computing(path.with_suffix(".lock")):  # one computer per set; the others wait, then read
        if path.is_file():
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            return [(r["source"], Example(tuple(r["words"]), r["tags"] and tuple(r["tags"]))) for r in rows], True
        pairs = compute(task.examples(split, label_names), trial)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            "".join(json.dumps({"source": i, "words": e.words, "tags": e.tags}) + "\n" for i, e in pairs),
            encoding="utf-8",
        )
        os.replace(tmp, path)
        return pairs, False


def with_augmented_train(data: Dataset, trial: TrialConfig, tokenizer: Any) -> Dataset:
    """The dataset with the augmented copies appended to its training split."""
    train = data.train
    pairs, _ = augmented_examples(train, data.task, data.label_names, trial)
    if not pairs:
        return data
    inputs, targets = data.task.from_examples(pairs, train, data.label_names)
    extra = data.task.tokenize(tokenizer, "train", inputs, targets, data.max_length)
    combined = Split(
        "train",
        train.input_ids + extra.input_ids,
        train.labels + extra.labels,
        train.targets + extra.targets,
        train.raw + extra.raw,
        None if train.token_type_ids is None else train.token_type_ids + extra.token_type_ids,
    )
    return dataclasses.replace(data, train=combined)
