"""Sentence pairs (`data.text_pair`): two texts read as the model was pretrained to read them, with
segment ids where the family has them, through training, the prefix cache, a sweep, `predict` and
the export; validation names the file, line and column of a missing second text; `init` finds the
two text columns."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from stratsearch.choice import choose
from stratsearch.cli import main
from stratsearch.prepare import prepare
from stratsearch.rundir import RunDir
from stratsearch.train.artifacts import load_model
from stratsearch.train.data import collate, encoder_inputs
from stratsearch.train.trainer import build_model
from tests.conftest import FILLER, NEGATIVE, POSITIVE, run_args, write_jsonl
from tests.test_prefix_cache import numbers, run


def pair_rows(n: int, seed: int) -> list[dict]:
    """Two sentences each; the label says whether they lean the same way: only both texts tell."""
    rng = random.Random(seed)

    def sentence(positive: bool) -> str:
        words = [rng.choice(FILLER) for _ in range(rng.randint(1, 4))]
        words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if positive else NEGATIVE))
        return " ".join(words)

    rows = []
    for _ in range(n):
        a, b = rng.random() < 0.5, rng.random() < 0.5
        rows.append({"premise": sentence(a), "hypothesis": sentence(b), "label": "same" if a == b else "different"})
    return rows


@pytest.fixture
def pair_config(make_config, tmp_path: Path):
    """A space over the pair data (classification), its files written beside it."""

    def make(n_train: int = 96, **changes) -> Path:
        config = yaml.safe_load(make_config(n_train=n_train).read_text())
        for split, (n, seed) in {"train": (n_train, 1), "validation": (48, 2), "test": (48, 3)}.items():
            config["data"][split] = str(write_jsonl(tmp_path / f"pairs-{split}.jsonl", pair_rows(n, seed)))
        config["data"] |= {"text": "premise", "text_pair": "hypothesis", "max_length": 24}
        for key, value in changes.items():
            config[key] = config.get(key, {}) | value if isinstance(value, dict) else value
        path = tmp_path / "pairs.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    return make


def test_a_pair_reaches_the_model_as_two_segments_and_their_order_matters(pair_config) -> None:
    prepared = prepare(pair_config())
    train = prepared.data.train
    ids, segments = train.input_ids[0], train.token_type_ids[0]
    assert len(segments) == len(ids) and segments[0] == 0 and segments[-1] == 1 and sorted(segments) == segments
    assert train.raw[0] == tuple(pair_rows(96, 1)[0][k] for k in ("premise", "hypothesis"))
    from transformers import AutoTokenizer

    task, tokenizer = prepared.spec.task, AutoTokenizer.from_pretrained(prepared.model_path)
    swapped = task.tokenize(tokenizer, "swapped", [(b, a) for a, b in train.raw[:8]], train.targets[:8], 24)
    model = build_model(prepared.model_path, prepared.data, prepared.trial).eval()
    idx = np.arange(8)
    with torch.no_grad():
        batch = collate(train, idx, prepared.data.pad_id)
        assert "token_type_ids" in batch and batch["token_type_ids"].shape == batch["input_ids"].shape
        as_read = model(**encoder_inputs(batch))
        other_way = model(**encoder_inputs(collate(swapped, idx, prepared.data.pad_id)))
    assert not torch.allclose(as_read, other_way)  # "a, then b" is not "b, then a" to BERT


def test_the_prefix_cache_keeps_a_pair_exact(pair_config, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("STRATSEARCH_CACHE", str(tmp_path / "cache"))
    prepared = prepare(pair_config(n_train=48))
    full, cached = run(prepared, monkeypatch, "off"), run(prepared, monkeypatch, "on")
    np.testing.assert_allclose(numbers(cached), numbers(full), rtol=1e-5, atol=1e-6)


@pytest.mark.usefixtures("no_ray_left_behind")
def test_a_pair_sweep_end_to_end(pair_config, tmp_path, capsys) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    space = pair_config(
        budget={"trials": 2},
        ensemble={"top_k": 2, "method": "mean"},
        space={"epochs": 2, "freeze_depth": {"choice": [0, 1]}, "optimizer": {"adamw": {"lr": 3e-3}}},
        search={"sampler": "random", "pruner": "none", "stop_not_learning": False},  # XOR of two texts: slow
        resources={"cpus_per_trial": 1},
        confirm={"seeds": 1, "top_k": 1},
    )
    assert main(run_args(space, tmp_path)) == 0
    run_dir = RunDir(tmp_path / "runs" / "pairs")
    assert (tmp_path / "reports" / "pairs.html").is_file() and run_dir.confirm_json.is_file()
    ranked = choose(run_dir, run_dir.info().objective).ranking()
    assert len(ranked) >= 2 and all(r.status().best_value is not None for r in ranked)  # with the seed runs
    test_file = Path(yaml.safe_load(space.read_text())["data"]["test"])
    out = tmp_path / "predictions.jsonl"
    capsys.readouterr()
    assert main(["predict", str(run_dir.path), str(test_file), "--out", str(out)]) == 0
    assert "accuracy" in capsys.readouterr().err and len(out.read_text().splitlines()) == 48
    exported = tmp_path / "exported"
    best = ranked[0].number
    assert main(["export", str(run_dir.path), str(exported), "--trial", str(best)]) == 0
    ours, _ = load_model(run_dir.trial(best).folder)
    theirs = AutoModelForSequenceClassification.from_pretrained(exported, trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(exported)
    rows = pair_rows(4, 9)
    batch = tokenizer([r["premise"] for r in rows], [r["hypothesis"] for r in rows], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(ours(**batch), theirs(**batch).logits, atol=1e-5, rtol=1e-5)
    classify = pipeline("text-classification", model=str(exported), trust_remote_code=True)
    said = classify({"text": rows[0]["premise"], "text_pair": rows[0]["hypothesis"]})
    assert said["label"] in ("same", "different")


def test_each_text_of_a_pair_is_augmented_apart(pair_config, monkeypatch, tmp_path) -> None:
    from transformers import AutoTokenizer

    from stratsearch.train.augmented import with_augmented_train
    from stratsearch.train.config import trial_from_space

    monkeypatch.setenv("STRATSEARCH_CACHE", str(tmp_path / "cache"))
    prepared = prepare(pair_config(n_train=16))
    trial = trial_from_space({"augment": {"eda": {}}, "n_aug": 2}, prepared.spec.task)
    data = with_augmented_train(prepared.data, trial, AutoTokenizer.from_pretrained(prepared.model_path))
    source, copies = data.train.raw[:16], data.train.raw[16:]
    assert copies and len(data.train.token_type_ids) == len(data.train.input_ids) == len(data.train)
    for (a, b), label in zip(copies, data.train.targets[16:], strict=True):
        originals = [(i, pair) for i, pair in enumerate(source) if pair[0] == a or pair[1] == b]
        assert originals, (a, b)  # one text rewritten, the other as it was
        assert label in {data.train.targets[i] for i, _ in originals}  # with its source's label
    assert {a for a, _ in copies} - {a for a, _ in source} and {b for _, b in copies} - {b for _, b in source}


def test_a_pair_file_with_a_missing_second_text_names_file_line_and_column(pair_config, tmp_path, capsys) -> None:
    path = pair_config()
    config = yaml.safe_load(path.read_text())
    rows = pair_rows(20, 5)
    rows[2]["hypothesis"] = "  "
    config["data"]["validation"] = str(write_jsonl(tmp_path / "broken.jsonl", rows))
    path.write_text(yaml.safe_dump(config))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "broken.jsonl" in err and "line 3" in err and "hypothesis" in err and "empty text" in err


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"task": "token-classification"}, "data.text_pair: token-classification reads one list of words per row"),
        ({"data": {"text_pair": "premise"}}, "data.text_pair: names the same column as data.text"),
    ],
)
def test_what_a_pair_cannot_be_is_refused(pair_config, capsys, change, said) -> None:
    assert main(["validate", str(pair_config(**change))]) == 2
    assert said in capsys.readouterr().err


def test_init_takes_two_text_columns_as_a_pair_and_says_which(tmp_path, tiny_model_dir, capsys) -> None:
    frame = pd.DataFrame(pair_rows(120, 1)).rename(columns={"premise": "sentence1", "hypothesis": "sentence2"})
    frame.insert(0, "id", [f"q{i}" for i in range(120)])  # an id column is no text
    frame.to_csv(tmp_path / "paraphrase.csv", index=False)
    out = tmp_path / "paraphrase.yaml"
    assert main(["init", str(tmp_path / "paraphrase.csv"), "--out", str(out), "--model", str(tiny_model_dir)]) == 0
    assert "a sentence pair: text 'sentence1', text_pair 'sentence2'" in capsys.readouterr().err
    data = yaml.safe_load(out.read_text())["data"]
    assert (data["text"], data["text_pair"], data["label"]) == ("sentence1", "sentence2", "label")
    assert main(["validate", str(out)]) == 0
