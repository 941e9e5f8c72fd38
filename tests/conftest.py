"""Shared fixtures: a tiny random BERT saved as a real Hugging Face directory, and small datasets.

The tiny model goes through exactly the loading path the bundled model does (AutoConfig,
AutoModel, AutoTokenizer from a local folder), so tests exercise the real code, offline.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

import stratsearch  # noqa: F401 - sets HF_HUB_OFFLINE before any Hugging Face import

WORDS = ["good", "great", "fine", "bad", "awful", "poor", "the", "movie", "film", "plot", "was", "is", "very"]
POSITIVE, NEGATIVE = WORDS[:3], WORDS[3:6]
FILLER = WORDS[6:]


def run_args(space: Path, root: Path, *extra: str) -> list[str]:
    """`stratsearch run SPACE` with its run directories and report under `root` (never the repo's)."""
    return ["run", str(space), "--runs-dir", str(root / "runs"), "--reports-dir", str(root / "reports"), *extra]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# What a tiny model of a family needs beyond its shape: ELECTRA-small's projected embeddings,
# DeBERTa-v3's relative positions.
TINY_EXTRA = {
    "electra": {"embedding_size": 8},
    "deberta-v2": {
        "relative_attention": True,
        "position_buckets": 8,
        "norm_rel_ebd": "layer_norm",
        "pos_att_type": ["p2c", "c2p"],
        "max_relative_positions": -1,
        "type_vocab_size": 0,
    },
}


def save_tiny_encoder(out: Path, family: str = "bert") -> Path:
    """A tiny random encoder of a family (hidden 16, 3 layers) plus a real WordPiece tokenizer."""
    import torch
    from transformers import (
        BertConfig,
        BertModel,
        BertTokenizerFast,
        DistilBertConfig,
        DistilBertModel,
        RobertaConfig,
        RobertaModel,
    )

    from stratsearch.quiet import quiet_transformers

    quiet_transformers()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "b", "##is", "per", "##son"]
    BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}).save_pretrained(out)
    torch.manual_seed(0)
    size = {"vocab_size": len(vocab), "max_position_embeddings": 64, "pad_token_id": 0}
    if family == "distilbert":
        config = DistilBertConfig(dim=16, n_layers=3, n_heads=2, hidden_dim=32, **size)
        DistilBertModel(config).save_pretrained(out)
    elif family not in ("bert", "roberta"):  # the other families of train/families.py
        from transformers import AutoConfig, AutoModel

        shape = {"hidden_size": 16, "num_hidden_layers": 3, "num_attention_heads": 2, "intermediate_size": 32}
        config = AutoConfig.for_model(family, **shape, **size, **TINY_EXTRA.get(family, {}))
        AutoModel.from_config(config).save_pretrained(out)  # with its pooler, as real checkpoints have it
    else:
        config_cls, model_cls = (BertConfig, BertModel) if family == "bert" else (RobertaConfig, RobertaModel)
        config = config_cls(hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32, **size)
        model_cls(config, add_pooling_layer=False).save_pretrained(out)
    return out


@pytest.fixture(scope="session", autouse=True)
def augmentation_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Augmented training sets are cached here, not in the user's ~/.cache (tests read it too)."""
    import os

    folder = tmp_path_factory.mktemp("cache")
    os.environ["STRATSEARCH_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"))


def sentiment_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        words = [rng.choice(FILLER) for _ in range(rng.randint(1, 6))]
        words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if label == "pos" else NEGATIVE))
        rows.append({"text": " ".join(words), "label": label})
    return rows


def regression_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        k = rng.randint(0, 4)
        words = ["good"] * k + [rng.choice(FILLER) for _ in range(rng.randint(1, 4))]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": float(k) - 2.0})
    return rows


def ner_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(rng.randint(2, 7)):
            if rng.random() < 0.3:
                tokens += ["person", "bis"]
                tags += ["B-person", "I-person"]
            else:
                tokens.append(rng.choice(FILLER))
                tags.append("O")
        rows.append({"tokens": tokens, "tags": tags})
    return rows


ROWS = {"classification": sentiment_rows, "regression": regression_rows, "token-classification": ner_rows}


@pytest.fixture
def make_config(tmp_path: Path, tiny_model_dir: Path):
    """Write a train config (and its data) for a task; `space` entries override the defaults."""

    def make(task: str = "classification", space: dict | None = None, n_train: int = 64, **top) -> Path:
        rows = ROWS[task]
        data = {
            "train": str(write_jsonl(tmp_path / "train.jsonl", rows(n_train, 1))),
            "validation": str(write_jsonl(tmp_path / "validation.jsonl", rows(32, 2))),
            "test": str(write_jsonl(tmp_path / "test.jsonl", rows(32, 3))),
            "max_length": 16,
        }
        config = {
            "model": str(tiny_model_dir),
            "task": task,
            "data": data,
            "space": {"epochs": 2, "batch_size": 8, "optimizer": {"adamw": {"lr": 1e-3}}, **(space or {})},
            # The confirmation over seeds triples a sweep's trials: off unless a test is about it.
            "confirm": {"seeds": 0},
            **top,
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    return make


@pytest.fixture
def no_ray_left_behind():
    """For the modules that start Ray in-process (`pytestmark`): shut it down after each test."""
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


def sweep_space(make_config, tmp_path: Path, trials: int, **search) -> Path:
    config = yaml.safe_load(make_config(n_train=48).read_text())
    config.update(
        name="tiny-sweep",
        budget={"trials": trials, "max_epochs": 2},
        resources={"cpus_per_trial": 1},
        search={"sampler": "random", "pruner": "asha", "seed": 0, **search},
        space={
            "epochs": 2,
            "batch_size": 8,
            "freeze_depth": {"int": [0, 3]},
            "optimizer": {"adamw": {"lr": {"loguniform": [1e-4, 1e-2]}}},
        },
    )
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
