"""Every model family with a record (train/families.py), on a tiny random model of it built from its
config (no download): it validates, every trainable parameter is in exactly one optimizer group
whatever the scope, freeze depth k freezes exactly the inputs and the bottom k layers, LoRA trains
only adapters and the head, a short training learns a separable toy task (well above chance), and
the export reloads with equal logits. The prefix cache's equality is tests/test_prefix_cache.py's, over the same
families."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

from stratsearch.cli import main
from stratsearch.errors import StratsearchError
from stratsearch.prepare import prepare
from stratsearch.train.artifacts import load_model
from stratsearch.train.config import trial_from_space
from stratsearch.train.families import FAMILIES
from stratsearch.train.model import blocks, encoder_layers
from stratsearch.train.model_dir import model_depth, model_problems
from stratsearch.train.strategies.scope import param_groups, ungrouped
from stratsearch.train.trainer import build_model, train
from tests.conftest import save_tiny_encoder
from tests.test_export import one_trial_run

NAMES = FAMILIES.names()


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {name: save_tiny_encoder(root / name, name) for name in NAMES}


def prepared_for(make_config, model_dir: Path, tmp_path: Path):
    config = yaml.safe_load(make_config().read_text())
    config["model"] = str(model_dir)
    path = tmp_path / "family.yaml"
    path.write_text(yaml.safe_dump(config))
    return prepare(path)


@pytest.mark.parametrize("name", NAMES)
def test_each_family_validates_groups_freezes_and_adapts(name, family_dirs, make_config, tmp_path) -> None:
    assert model_problems(family_dirs[name], 16) == []
    prepared = prepared_for(make_config, family_dirs[name], tmp_path)
    task = prepared.spec.task
    for scope in ("full", "bitfit", {"lora": {"r": 2}}):
        for depth in (0, 1):
            trial = trial_from_space({"scope": scope, "freeze_depth": depth}, task)
            model = build_model(prepared.model_path, prepared.data, trial)
            groups = param_groups(blocks(model.backbone), model.head, 0.9)
            assert ungrouped(model, groups) == [], (scope, depth)  # every trainable parameter, in one group
            trainable = {n for n, p in model.backbone.named_parameters() if p.requires_grad}
            if scope == "full":
                parts = blocks(model.backbone)
                frozen = [p for part in parts[: depth + 1] for p in part.parameters()] if depth else []
                assert not any(p.requires_grad for p in frozen)  # the inputs and the bottom k layers
                assert all(p.requires_grad for part in parts[depth + 1 :] for p in part.parameters())
            elif scope != "bitfit":
                assert all("lora_" in n for n in trainable)  # adapters only (none under a frozen top), and the head
                assert trainable or depth == len(encoder_layers(model.backbone))
                assert all(p.requires_grad for p in model.head.parameters())
    assert len(encoder_layers(model.backbone)) == model_depth(family_dirs[name])  # ALBERT: its 1 shared group


@pytest.mark.parametrize("name", NAMES)
def test_each_family_learns_and_exports_with_equal_logits(name, make_config, tmp_path) -> None:
    lr = {"adamw": {"lr": 3e-3}}
    causal = FAMILIES[name].causal
    head = {"hidden": 0, "pooling": "auto" if causal else "mean"}  # auto: a decoder's last token
    run_dir = one_trial_run(make_config, tmp_path, "classification", head, name, n_train=128, epochs=4, optimizer=lr)
    assert run_dir.trial(0).status().best_value > 0.7  # a separable toy task: well above chance (0.53)
    model, manifest = load_model(run_dir.trial(0).folder)
    assert manifest["config"]["head"]["pooling"] == ("last" if causal else "mean")
    assert_exported_equal(model, run_dir, tmp_path / "out")


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama", "qwen2"])
def test_a_lora_trial_saves_its_adapters_alone_and_exports_merged(name, make_config, tmp_path) -> None:
    lora = {"lora": {"r": 4, "target_modules": "all-linear"}}
    head = {"hidden": 0, "pooling": "auto"}
    run_dir = one_trial_run(make_config, tmp_path, "classification", head, name, epochs=1, scope=lora)
    folder = run_dir.trial(0).folder
    assert (folder / "adapter.safetensors").is_file() and not list((folder / "model").glob("*.safetensors"))
    model, manifest = load_model(folder)
    assert manifest["adapter_of"] and not any("lora_" in n for n, _ in model.named_parameters())  # merged
    assert_exported_equal(model, run_dir, tmp_path / "out")


@pytest.mark.parametrize("name", NAMES)
def test_each_family_exports_a_linear_tagger_with_equal_logits(name, make_config, tmp_path) -> None:
    run_dir = one_trial_run(make_config, tmp_path, "token-classification", {"hidden": 0}, name, n_train=16, epochs=1)
    model, _ = load_model(run_dir.trial(0).folder)
    assert_exported_equal(model, run_dir, tmp_path / "out", "AutoModelForTokenClassification")
    stock = FAMILIES[name].token_head is not None
    assert (tmp_path / "out" / "modeling_stratsearch.py").is_file() != stock  # the family's own class, or ours


def assert_exported_equal(model, run_dir, out: Path, auto: str = "AutoModelForSequenceClassification") -> None:
    """The run's export loads in plain transformers and gives our model's logits, padding included."""
    import transformers

    assert main(["export", str(run_dir.path), str(out)]) == 0
    exported = getattr(transformers, auto).from_pretrained(out, trust_remote_code=True).eval()
    ids = torch.tensor([[2, 5, 9, 11, 3], [2, 7, 3, 0, 0]])  # the second padded: pooling must skip its padding
    mask = (torch.arange(5) < torch.tensor([[5], [3]])).long()
    with torch.no_grad():
        ours = model(ids, mask)
        theirs = exported(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_a_record_that_misses_a_module_is_an_error_not_a_parameter_that_never_trains(
    family_dirs, make_config, tmp_path, monkeypatch
) -> None:
    record = FAMILIES["deberta-v2"]
    monkeypatch.setitem(FAMILIES._entries, "deberta-v2", replace(record, inputs=("embeddings", "encoder.LayerNorm")))
    with pytest.raises(
        StratsearchError, match=r"builds \['encoder\.rel_embeddings'\] \(built by relative_attention=True\)"
    ):
        prepared_for(make_config, family_dirs["deberta-v2"], tmp_path)  # refused at validate, before a trial


@pytest.mark.parametrize("name", ["bert", "llama"])
def test_gradient_checkpointing_trains_to_the_same_numbers(name, family_dirs, make_config, tmp_path) -> None:
    prepared = prepared_for(make_config, family_dirs[name], tmp_path)
    for scope, depth in (("full", 0), ({"lora": {"r": 2, "target_modules": "all-linear"}}, 1)):
        space = {"epochs": 1, "batch_size": 8, "scope": scope, "freeze_depth": depth, "dropout": 0.1}
        results = [
            train(
                prepared.model_path,
                prepared.data,
                trial_from_space(space | checkpointing, prepared.spec.task),
                prepared.spec.objective,
            )
            for checkpointing in ({}, {"gradient_checkpointing": True})
        ]
        plain, recomputed = ([r.train_loss, *r.validation.values()] for r in (res.history[-1] for res in results))
        torch.testing.assert_close(recomputed, plain, rtol=1e-5, atol=1e-6)


def test_last_token_pooling_reads_the_last_real_token_whatever_the_padding_side() -> None:
    from stratsearch.train.strategies.heads import last_pool

    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])
    assert last_pool(hidden, right).flatten().tolist() == [2.0, 7.0]
    assert last_pool(hidden, left).flatten().tolist() == [3.0, 7.0]


def test_validate_says_what_a_family_makes_of_the_space(family_dirs, make_config, tmp_path, capsys) -> None:
    for name, space, said in (
        ("albert", {"freeze_depth": {"int": [0, 3]}}, "3 exceeds the model's 1 groups of shared layers (at most 1)"),
        ("llama", {"dropout": {"uniform": [0.0, 0.3]}}, "Llama models have no hidden dropout to set"),
        ("gpt2", {"head": {"pooling": {"choice": ["cls", "last"]}}}, "GPT-2 is a decoder: its first token has read"),
    ):
        config = yaml.safe_load(make_config().read_text()) | {"model": str(family_dirs[name])}
        config["space"] |= space
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        assert main(["validate", str(path)]) == 2
        assert said in capsys.readouterr().err


@pytest.mark.parametrize("name", ["bert", "llama"])
def test_frozen_weights_held_in_bf16_train_to_nearly_the_same_numbers(
    name, family_dirs, make_config, tmp_path, monkeypatch
) -> None:
    """Under bf16 autocast (on the CPU here; `auto` does it on a GPU) the weights that never train are
    held in bf16: the layers compute in bf16 either way, so the numbers barely move; afterwards the
    model is float32 again for the probe pass and the save."""
    from stratsearch.train import trainer

    prepared = prepared_for(make_config, family_dirs[name], tmp_path)
    seen: list[set[torch.dtype]] = []  # frozen weights' dtypes (norms aside) at each epoch's evaluation

    def evaluated(model, *args, **kwargs):
        frozen = [m for m in model.backbone.modules() if "norm" not in type(m).__name__.lower()]
        seen.append({p.dtype for m in frozen for p in m.parameters(recurse=False) if not p.requires_grad})
        return trainer_predict(model, *args, **kwargs)

    trainer_predict = trainer.predict
    monkeypatch.setattr(trainer, "predict", evaluated)
    results = {}
    for frozen_weights in ("fp32", "bf16"):
        space = {"epochs": 1, "batch_size": 8, "precision": "bf16", "frozen_weights": frozen_weights}
        trial = trial_from_space(space | {"scope": {"lora": {"r": 2}}, "freeze_depth": 1}, prepared.spec.task)
        seen.clear()
        results[frozen_weights] = train(prepared.model_path, prepared.data, trial, prepared.spec.objective)
        assert seen[0] == {torch.bfloat16 if frozen_weights == "bf16" else torch.float32}
        assert {p.dtype for p in results[frozen_weights].model.parameters()} == {torch.float32}
    plain, held = ([r.train_loss, *r.validation.values()] for r in (res.history[-1] for res in results.values()))
    torch.testing.assert_close(held, plain, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("name", NAMES)
def test_each_family_measures_drift_per_layer(name, family_dirs, make_config, tmp_path) -> None:
    from stratsearch.train.drift import make_probe, measure_drift

    prepared = prepared_for(make_config, family_dirs[name], tmp_path)
    probe = make_probe(prepared.model_path, prepared.data)
    trial = trial_from_space({"epochs": 1, "optimizer": {"adamw": {"lr": 3e-3}}}, prepared.spec.task)
    model = train(prepared.model_path, prepared.data, trial, prepared.spec.objective).model
    drift = measure_drift(model.backbone, probe.train, prepared.data.pad_id)
    config = model.backbone.config
    assert len(drift.cka) == config.num_hidden_layers + 1  # the embeddings, then every layer (ALBERT's shared too)
    assert all(0.0 <= c <= 1.0 + 1e-9 for c in drift.cka) and drift.top > 0.0  # it trained: the top moved
