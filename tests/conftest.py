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


# What a tiny model of a family needs beyond its shape: ELECTRA-small's and ALBERT's projected
# embeddings, DeBERTa-v3's relative positions, ModernBERT's alternating local and global attention,
# a decoder's key-value heads; special tokens' ids inside the tiny vocabulary.
SPECIAL_IDS = {"bos_token_id": 2, "eos_token_id": 3}
TINY_EXTRA = {
    "electra": {"embedding_size": 8},
    "albert": {"embedding_size": 8},
    "deberta-v2": {
        "relative_attention": True,
        "position_buckets": 8,
        "norm_rel_ebd": "layer_norm",
        "pos_att_type": ["p2c", "c2p"],
        "max_relative_positions": -1,
        "type_vocab_size": 0,
    },
    "modernbert": {"global_attn_every_n_layers": 2, "local_attention": 4, "cls_token_id": 2, "sep_token_id": 3},
    "gpt2": {"n_inner": 32},
    "llama": {"num_key_value_heads": 1},
    "qwen2": {"num_key_value_heads": 1},
}


def save_tiny_encoder(out: Path, family: str = "bert") -> Path:
    """A tiny random model of a family (hidden 16, 3 layers) plus a real tokenizer: WordPiece for
    an encoder; for a decoder byte-level BPE under its family's tokenizer class, as GPT-2, Llama 3
    and Qwen2 ship theirs: no special tokens added, and (but Qwen2's) no padding token."""
    import torch
    from transformers import AutoConfig, AutoModel, BertTokenizerFast

    from stratsearch.quiet import quiet_transformers
    from stratsearch.train.families import FAMILIES

    quiet_transformers()
    if FAMILIES[family].causal:
        tokenizer = byte_level_bpe(out, DECODER_TOKENIZERS.get(family))
        size = {"vocab_size": len(tokenizer), "max_position_embeddings": 64, "bos_token_id": 0, "eos_token_id": 0}
    else:
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "b", "##is", "per", "##son"]
        BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}).save_pretrained(out)
        size = {"vocab_size": len(vocab), "max_position_embeddings": 64, "pad_token_id": 0, **SPECIAL_IDS}
    torch.manual_seed(0)
    shape = {"hidden_size": 16, "num_hidden_layers": 3, "num_attention_heads": 2, "intermediate_size": 32}
    if family == "distilbert":
        shape = {"dim": 16, "n_layers": 3, "n_heads": 2, "hidden_dim": 32}
    config = AutoConfig.for_model(family, **shape, **size, **TINY_EXTRA.get(family, {}))
    if family in ("bert", "roberta"):  # saved without a pooler, as the bundled MiniLM is
        AutoModel.from_config(config, add_pooling_layer=False).save_pretrained(out)
    else:
        AutoModel.from_config(config).save_pretrained(out)  # with its pooler, as real checkpoints have it
    return out


DECODER_TOKENIZERS = {"gpt2": "GPT2Tokenizer", "qwen2": "Qwen2Tokenizer"}  # Llama 3's is the generic one


def byte_level_bpe(out: Path, tokenizer_class: str | None) -> object:
    """A byte-level BPE tokenizer learnt from the test words, saved under `tokenizer_class`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=alphabet)
    bpe.train_from_iterator([" ".join(WORDS), "b is per son"], trainer)
    PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>").save_pretrained(out)
    if tokenizer_class:
        settings = json.loads((out / "tokenizer_config.json").read_text()) | {"tokenizer_class": tokenizer_class}
        (out / "tokenizer_config.json").write_text(json.dumps(settings))
    return AutoTokenizer.from_pretrained(out)


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


def multi_label_rows(n: int, seed: int) -> list[dict]:
    """A sentiment sentence and its set of labels: 'praise' when it is positive, 'film' when it
    names one (movie, film): some rows have two labels, and a negative one that names no film has
    none ("none of these", as most rows of a moderation set)."""
    rows = []
    for row in sentiment_rows(n, seed):
        labels = ["praise"] if row["label"] == "pos" else []
        labels += ["film"] if {"movie", "film"} & set(row["text"].split()) else []
        rows.append({"text": row["text"], "label": labels})
    return rows


ROWS = {
    "classification": sentiment_rows,
    "regression": regression_rows,
    "token-classification": ner_rows,
    "multi-label-classification": multi_label_rows,
}


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
