"""Published checkpoints' configs (tests/zoo/*.json: each the config.json of a public checkpoint,
named owner--name), and the layouts users build from them: every structural key kept exactly, only
widths, depth, positions and the vocabulary shrunk, so that a tiny random model is built from each
(no download). Each validates; full, freeze depth, layer-wise decay, BitFit and LoRA each train
with every trainable parameter in exactly one optimizer group (`train` refuses otherwise); the
prefix cache gives the full encoder's numbers where the family claims it; the export reloads with
equal logits. A layout a record cannot serve is refused at validate, naming the config key."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from stratsearch.cli import main
from stratsearch.prepare import prepare
from stratsearch.train.artifacts import load_model
from stratsearch.train.config import trial_from_space
from stratsearch.train.families import FAMILIES
from stratsearch.train.layout import layout_problems
from stratsearch.train.model_dir import model_problems
from stratsearch.train.trainer import train
from tests.conftest import WORDS, byte_level_bpe
from tests.test_export import one_trial_run
from tests.test_families import assert_exported_equal

ZOO = Path(__file__).parent / "zoo"
PUBLISHED = {path.stem: json.loads(path.read_text()) for path in sorted(ZOO.glob("*.json"))}


# Layouts users bring beyond the checkpoints: a config of the family's defaults (what
# `DebertaV2Config()` builds: no relative attention, no norm_rel_ebd), ALBERT with several groups of
# several shared layers, DistilBERT's sinusoidal positions, a Llama with biases.
def defaults(model_type: str) -> dict:
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type).to_dict()


VARIANTS = {
    "deberta-v2 defaults": (defaults("deberta-v2"), {}),
    "albert 2 groups x 2 inner": (PUBLISHED["albert--albert-base-v2"], {"num_hidden_groups": 2, "inner_group_num": 2}),
    "distilbert sinusoidal": (PUBLISHED["distilbert--distilbert-base-uncased"], {"sinusoidal_pos_embds": True}),
    "llama biased": (PUBLISHED["TinyLlama--TinyLlama-1.1B-Chat-v1.0"], {"attention_bias": True, "mlp_bias": True}),
}
CONFIGS = {**PUBLISHED, **{name: {**base, **changed} for name, (base, changed) in VARIANTS.items()}}

HIDDEN, HEADS, LAYERS = 16, 4, 3
WIDTH_KEYS = ("hidden_size", "dim", "n_embd")
HEAD_KEYS = ("num_attention_heads", "n_heads", "n_head")
INNER_KEYS = ("intermediate_size", "hidden_dim", "n_inner")
DEPTH_KEYS = ("num_hidden_layers", "n_layers", "n_layer")
POSITION_KEYS = ("max_position_embeddings", "n_positions", "n_ctx")
SPECIAL = {
    "pad_token_id": "pad",
    "bos_token_id": "bos",
    "cls_token_id": "bos",
    "eos_token_id": "eos",
    "sep_token_id": "eos",
}


def shrunk(config: dict, vocab_size: int, ids: dict[str, int]) -> dict:
    """The config with its widths, depth, positions and vocabulary made tiny; every other key as
    published. Sizes keep their relations: an embedding narrower than the hidden states stays
    narrower, grouped-query attention keeps fewer key-value heads, RoBERTa keeps its 2 offset."""
    out = dict(config)
    width = next((out[k] for k in WIDTH_KEYS if k in out), None)
    for key in (*WIDTH_KEYS, "pooler_hidden_size"):
        if key in out:
            out[key] = HIDDEN
    for key in HEAD_KEYS:
        if key in out:
            out[key] = HEADS
    if "num_key_value_heads" in out:  # grouped-query attention stays grouped
        out["num_key_value_heads"] = HEADS if out["num_key_value_heads"] == config.get("num_attention_heads") else 2
    for key in ("head_dim", "attention_head_size"):
        if key in out:
            out[key] = HIDDEN // HEADS
    for key in INNER_KEYS:
        if out.get(key) is not None:
            out[key] = 2 * HIDDEN
    if "embedding_size" in out:
        out["embedding_size"] = HIDDEN if out["embedding_size"] == width else HIDDEN // 2
    for key in DEPTH_KEYS:
        if key in out:
            out[key] = 2 * out["num_hidden_groups"] if "num_hidden_groups" in out else LAYERS
    for key in POSITION_KEYS:
        if key in out:
            out[key] = 64 + (2 if out[key] in (514, 8194) else 0)
    if "local_attention" in out:  # ModernBERT: a window short enough to bite within 64 tokens
        out["local_attention"] = 4
    if "max_window_layers" in out:
        out["max_window_layers"] = min(out["max_window_layers"], LAYERS)
    for key, token in SPECIAL.items():
        if out.get(key) is not None:
            out[key] = ids[token]
    out["vocab_size"] = vocab_size
    return out


def save_zoo_model(out: Path, config: dict) -> Path:
    """A tiny random model of a (shrunk) published config, with a real tokenizer as in conftest."""
    from transformers import AutoConfig, AutoModel, BertTokenizerFast

    family = FAMILIES[config["model_type"]]
    if family.causal:
        tokenizer = byte_level_bpe(out, None)
        ids = {"pad": 0, "bos": 0, "eos": 0}
    else:
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
        tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)})
        tokenizer.save_pretrained(out)
        ids = {"pad": 0, "bos": 2, "eos": 3}
    small = shrunk(config, len(tokenizer), ids)
    torch.manual_seed(0)
    model_type = small.pop("model_type")
    AutoModel.from_config(AutoConfig.for_model(model_type, **small)).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def zoo_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zoo")
    return {name: save_zoo_model(root / name.replace(" ", "-"), config) for name, config in CONFIGS.items()}


def space_for(make_config, model_dir: Path, tmp_path: Path) -> Path:
    config = yaml.safe_load(make_config(n_train=16).read_text()) | {"model": str(model_dir)}
    path = tmp_path / "zoo.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


SCOPES = {  # what each trains: every trainable parameter in exactly one optimizer group, or train refuses
    "full": {},
    "freeze depth 1": {"freeze_depth": 1},
    "layer decay": {"layer_decay": 0.8},
    "bitfit": {"scope": "bitfit", "freeze_depth": 1},
    "lora": {"scope": {"lora": {"r": 2}}, "freeze_depth": 1},
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_each_published_layout_validates_trains_caches_and_exports(
    name, zoo_dirs, make_config, tmp_path, monkeypatch
) -> None:
    model_dir = zoo_dirs[name]
    assert model_problems(model_dir, 16) == [] and layout_problems(model_dir) == []
    prepared = prepare(space_for(make_config, model_dir, tmp_path))
    task, objective = prepared.spec.task, prepared.spec.objective
    for scope, space in SCOPES.items():
        trial = trial_from_space({"epochs": 1, "batch_size": 8, **space}, task)
        assert train(prepared.model_path, prepared.data, trial, objective).history, scope
    family = FAMILIES[CONFIGS[name]["model_type"]]
    if not family.no_prefix_cache:  # frozen layers from the cache: the full encoder's numbers
        monkeypatch.setenv("STRATSEARCH_CACHE", str(tmp_path / "cache"))
        trial = trial_from_space({"epochs": 1, "batch_size": 8, "freeze_depth": 2}, task)
        results = []
        for cache in ("off", "on"):
            monkeypatch.setenv("STRATSEARCH_PREFIX_CACHE", cache)
            results.append(train(prepared.model_path, prepared.data, trial, objective))
        assert (tmp_path / "cache" / "prefix").is_dir()
        full, cached = ([r.train_loss, *r.validation.values()] for r in (res.history[-1] for res in results))
        np.testing.assert_allclose(cached, full, rtol=1e-5, atol=1e-6)
    head = {"hidden": 0, "pooling": "auto" if family.causal else "mean"}
    run_dir = one_trial_run(make_config, tmp_path / "export", "classification", head, model_dir=model_dir, epochs=1)
    model, _ = load_model(run_dir.trial(0).folder)
    assert_exported_equal(model, run_dir, tmp_path / "out")


def test_a_layout_the_record_cannot_place_is_refused_at_validate_naming_the_config_key(
    zoo_dirs, make_config, tmp_path, monkeypatch, capsys
) -> None:
    """deberta-v2-xlarge's convolution (conv_kernel_size 3) with the record made to forget it."""
    record = FAMILIES["deberta-v2"]
    monkeypatch.setitem(FAMILIES._entries, "deberta-v2", replace(record, with_first_layer=()))
    path = space_for(make_config, zoo_dirs["microsoft--deberta-v2-xlarge"], tmp_path)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "this config builds ['encoder.conv'] (built by conv_kernel_size=3)" in err and "families.py" in err


def test_a_deberta_config_without_norm_rel_ebd_trains(zoo_dirs, make_config, tmp_path) -> None:
    """The defect: a DeBERTa-v2 config of the transformers defaults (no relative-position norm)
    passed validate, then `train` died on the record's `encoder.LayerNorm`."""
    out = tmp_path / "single"
    path = space_for(make_config, zoo_dirs["deberta-v2 defaults"], tmp_path)
    config = yaml.safe_load(path.read_text())
    config["space"] = {"epochs": 1, "batch_size": 8, "freeze_depth": 1}
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--out", str(out)]) == 0
    assert (out / "stratsearch.json").is_file()
