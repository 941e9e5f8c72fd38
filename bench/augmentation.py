"""Augmentation: samples, throughput, and the effect on accuracy, on real data.

    python bench/augmentation.py [--seeds 3] [--train-rows 500] [--skip-effect]

1. Samples: each augmenter on rt-snippets sentences and, for tagging, on a wnut16-ner sentence.
2. Throughput: augmented sentences per second on 2,000 rt-snippets sentences (one copy each).
3. Effect: the bundled MiniLM on rt-snippets with the first N training rows, each augmenter
   (one copy per example) against none, the same seeds for all; mean ± std of test accuracy.
Needs ../shared/datasets beside the repository and the Debian packages `.ci/run` installs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import stratsearch  # noqa: F401 - offline Hugging Face settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SENTENCE_AUGMENTERS = {
    "synonym": {"alpha": 0.1},
    "eda": {},
    "back_translation": {},
}
TAG_AUGMENTERS = {"synonym": {"alpha": 0.3}, "eda": {}, "mention": {"p": 1.0}}


def read(dataset: str, split: str, n: int | None = None) -> list[dict]:
    lines = (SHARED / dataset / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:n]]


def run(name: str, params: dict, examples: list, seed: int = 0) -> list:
    from stratsearch.train.strategies.augmenters import AUGMENTERS

    entry = AUGMENTERS[name]
    return entry.fn(examples, entry.config(**params), random.Random(seed))


def samples() -> None:
    from stratsearch.train.strategies.augmenters import Example

    print("## Samples (seed 0)\n")
    sentences = [Example(tuple(r["text"].split())) for r in read("rt-snippets", "train", 3)]
    for name, params in SENTENCE_AUGMENTERS.items():
        for before, after in zip(sentences, run(name, params, sentences), strict=True):
            print(f"- {name}: `{' '.join(before.words)}` → `{' '.join(after.words)}`")
    rows = [r for r in read("wnut16-ner", "train") if any(t != "O" for t in r["tags"])][:40]
    tagged = [Example(tuple(r["tokens"]), tuple(r["tags"])) for r in rows]
    for name, params in TAG_AUGMENTERS.items():
        before, after = tagged[0], run(name, params, tagged)[0]
        show = lambda e: " ".join(w if t == "O" else f"[{w}/{t}]" for w, t in zip(e.words, e.tags, strict=True))  # noqa: E731
        print(f"- wnut16 {name}: `{show(before)}` → `{show(after)}`")


def throughput() -> None:
    from stratsearch.augment.lexicon import synonym_table
    from stratsearch.train.strategies.augmenters import Example

    synonym_table.cache_clear()  # the samples loaded it: time a cold load
    start = time.perf_counter()
    synonym_table()
    print(f"\n## Throughput (2,000 rt-snippets sentences)\n\nWordNet table load: {time.perf_counter() - start:.2f} s")
    sentences = [Example(tuple(r["text"].split())) for r in read("rt-snippets", "train", 2000)]
    print("| augmenter | seconds | sentences/s |\n|---|---:|---:|")
    for name, params in SENTENCE_AUGMENTERS.items():
        start = time.perf_counter()
        run(name, params, sentences)
        seconds = time.perf_counter() - start
        print(f"| {name} | {seconds:.2f} | {len(sentences) / seconds:,.0f} |")


def effect(seeds: int, train_rows: int, only: list[str]) -> None:
    import os

    from stratsearch.objective import Objective
    from stratsearch.prepare import tokenized_data
    from stratsearch.rows import DataSpec, Split
    from stratsearch.tasks import TASKS
    from stratsearch.train.augmented import augmented_examples
    from stratsearch.train.config import trial_from_space
    from stratsearch.train.model_dir import resolve_model_path
    from stratsearch.train.trainer import train as train_model

    os.environ["STRATSEARCH_CACHE"] = tempfile.mkdtemp(prefix="stratsearch-bench-")
    spec = DataSpec(
        train=SHARED / "rt-snippets/train.jsonl",
        validation=SHARED / "rt-snippets/validation.jsonl",
        test=SHARED / "rt-snippets/test.jsonl",
        max_length=64,
        max_train_rows=train_rows,
    )
    model = resolve_model_path("minilm-l6")
    data = tokenized_data(model, spec, TASKS["classification"])
    base = {"epochs": 3, "batch_size": 32, "optimizer": {"adamw": {"lr": 1e-4}}, "schedule": "linear"}
    print(f"\n## Effect: {train_rows} training rows, MiniLM, AdamW 1e-4, 3 epochs, best epoch by validation\n")
    print("| augmenter | train rows | test accuracy per seed | mean ± std | Δ vs none | seconds per run |")
    print("|---|---:|---|---:|---:|---:|")
    # Augmenting doubles the training steps; "duplicated" trains on each example twice, so the
    # same number of steps with no new text: what the augmenters must beat to have helped.
    train = data.train
    doubled = Split("train", train.input_ids * 2, train.labels * 2, train.targets * 2, train.raw * 2)
    conditions = {"none": {}, "duplicated": {}, **SENTENCE_AUGMENTERS}
    baseline = None
    for name, params in conditions.items():
        if only and name not in only:
            continue
        accuracies, seconds, rows = [], [], 0
        for seed in range(seeds):
            augment = {name: params} if params else (name if name in SENTENCE_AUGMENTERS else "none")
            trial = trial_from_space({**base, "seed": seed, "augment": augment}, TASKS["classification"])
            used = dataclasses.replace(data, train=doubled) if name == "duplicated" else data
            start = time.perf_counter()
            result = train_model(model, used, trial, Objective(metric="accuracy", mode="max"))
            seconds.append(time.perf_counter() - start)
            accuracies.append(result.test_metrics["accuracy"])
            copies = []
            if name in SENTENCE_AUGMENTERS:  # cached by now
                copies = augmented_examples(train, data.task, data.label_names, trial)[0]
            rows = len(used.train) + len(copies)
        mean = statistics.mean(accuracies)
        std = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        baseline = mean if baseline is None else baseline
        per_seed = ", ".join(f"{a:.4f}" for a in accuracies)
        print(
            f"| {name} | {rows} | {per_seed} | {mean:.4f} ± {std:.4f} | {mean - baseline:+.4f} |"
            f" {statistics.mean(seconds):.0f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train-rows", type=int, default=500)
    parser.add_argument("--skip-effect", action="store_true")
    parser.add_argument("--only", nargs="*", default=[], help="effect: only these conditions (none, duplicated, …)")
    args = parser.parse_args()
    samples()
    throughput()
    if not args.skip_effect:
        effect(args.seeds, args.train_rows, args.only)


if __name__ == "__main__":
    main()
