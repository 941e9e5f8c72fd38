"""The frozen-prefix cache: training from cached states gives the numbers of the full encoder,
for each model family whose record claims it exact, and with LoRA; the other families train
without it; caches are reused, derived from a smaller k, and evicted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from stratsearch.prepare import prepare
from stratsearch.train import prefix_cache
from stratsearch.train.config import trial_from_space
from stratsearch.train.families import FAMILIES
from stratsearch.train.trainer import train
from tests.conftest import save_tiny_encoder


def run(prepared, monkeypatch, cache: str, **space):
    monkeypatch.setenv("STRATSEARCH_PREFIX_CACHE", cache)
    trial = trial_from_space({"epochs": 2, "batch_size": 8, "freeze_depth": 2, **space}, prepared.spec.task)
    return train(prepared.model_path, prepared.data, trial, prepared.spec.objective)


def numbers(result) -> list[float]:
    return [r.train_loss for r in result.history] + [v for r in result.history for v in r.validation.values()]


def prepared_family(family: str, make_config, tmp_path: Path):
    config = yaml.safe_load(make_config(n_train=48).read_text())
    config["model"] = str(save_tiny_encoder(tmp_path / family, family))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return prepare(path)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("STRATSEARCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "prefix"


@pytest.mark.parametrize("family", [f.name for f in FAMILIES if not f.no_prefix_cache])
def test_cached_training_matches_the_full_encoder(family, make_config, tmp_path, monkeypatch, cache_dir) -> None:
    prepared = prepared_family(family, make_config, tmp_path)
    full = run(prepared, monkeypatch, "off")
    assert not cache_dir.exists()
    cached = run(prepared, monkeypatch, "on")
    assert sorted(p.name.rsplit("-", 1)[1] for p in cache_dir.iterdir() if p.is_dir()) == ["k2", "k2"]  # train, val
    np.testing.assert_allclose(numbers(cached), numbers(full), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cached.test_predictions, full.test_predictions, rtol=1e-4, atol=1e-6)
    assert cached.best_epoch == full.best_epoch


@pytest.mark.parametrize("family", [f.name for f in FAMILIES if f.no_prefix_cache])
def test_a_family_the_cache_cannot_stand_in_for_trains_without_it_and_the_log_says_so(
    family, make_config, tmp_path, monkeypatch, cache_dir
) -> None:
    prepared = prepared_family(family, make_config, tmp_path)
    result = run(prepared, monkeypatch, "on", freeze_depth=1)
    assert result.history and not cache_dir.exists()
    said = prefix_cache.usage(prepared.model_path)
    assert said.startswith(f"frozen-prefix cache: off for {FAMILIES[family].label} (") and "every step" in said


@pytest.mark.parametrize("task", ["regression", "token-classification"])
def test_other_tasks_and_lora_match_too(task, make_config, monkeypatch, cache_dir) -> None:
    prepared = prepare(make_config(task, n_train=40))
    space = {"scope": {"lora": {"r": 4}}} if task == "regression" else {}
    full, cached = run(prepared, monkeypatch, "off", **space), run(prepared, monkeypatch, "on", **space)
    np.testing.assert_allclose(numbers(cached), numbers(full), rtol=1e-5, atol=1e-6)


def test_gradual_unfreezing_trains_from_the_cache_too(make_config, monkeypatch, cache_dir) -> None:
    # It thaws the layers above freeze_depth one by one; the frozen bottom never changes.
    prepared = prepare(make_config(n_train=40))
    space = {"gradual_unfreezing": True, "epochs": 3}
    full, cached = run(prepared, monkeypatch, "off", **space), run(prepared, monkeypatch, "on", **space)
    assert any(p.name.endswith("-k2") for p in cache_dir.iterdir())
    np.testing.assert_allclose(numbers(cached), numbers(full), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("depth", [2, 3])  # 3: every layer frozen, the backbone runs nothing
def test_the_probe_pass_runs_only_the_layers_above_the_cache(depth, make_config, monkeypatch, cache_dir) -> None:
    """Drift and the training fit measured from the probe's prefix cache equal the full pass's."""
    from stratsearch.sweep.trial import probe_measures
    from stratsearch.train.drift import make_probe

    prepared = prepare(make_config(n_train=48))
    result = run(prepared, monkeypatch, "off", freeze_depth=depth, optimizer={"adamw": {"lr": 3e-3}})
    probe = make_probe(prepared.model_path, prepared.data)
    full = probe_measures(result, probe, prepared.data, prepared.model_path)
    monkeypatch.setenv("STRATSEARCH_PREFIX_CACHE", "on")
    cached = probe_measures(result, probe, prepared.data, prepared.model_path)
    key = prefix_cache.data_key(prepared.model_path, probe.train.split)
    assert (cache_dir / f"{key}-k{depth}").is_dir()
    np.testing.assert_allclose(cached["cka"], full["cka"], atol=1e-5)
    assert cached["cka"][: depth + 1] == pytest.approx([1.0] * (depth + 1))  # the frozen bottom
    assert (cached["drift"] > 1e-6) == (depth < 3)  # the top layer trained (a little: two tiny epochs)
    assert cached["train_metrics"] == pytest.approx(full["train_metrics"])


def test_caches_are_reused_and_derived_from_a_smaller_depth(make_config, monkeypatch, cache_dir) -> None:
    prepared = prepare(make_config(n_train=40))
    run(prepared, monkeypatch, "on", freeze_depth=1)
    calls = []
    original = prefix_cache.compute_states

    def spy(backbone, split, pad_id, depth, start, device):
        calls.append((split.name, depth, start and start[0]))
        return original(backbone, split, pad_id, depth, start, device)

    monkeypatch.setattr(prefix_cache, "compute_states", spy)
    run(prepared, monkeypatch, "on", freeze_depth=1)
    assert calls == []  # the second trial at k=1 computes nothing
    run(prepared, monkeypatch, "on", freeze_depth=3)
    assert calls == [("train", 3, 1), ("validation", 3, 1)]  # layers 1..2 only, from the k=1 cache
    # the derived states equal states computed from the embeddings
    import torch

    from stratsearch.train.model import load_backbone

    data = prepared.data
    derived = prefix_cache.load(cache_dir / f"{prefix_cache.data_key(prepared.model_path, data.train)}-k3")
    backbone = load_backbone(prepared.model_path, 0.1, 0.1)
    direct = original(backbone, data.train, data.pad_id, 3, None, torch.device("cpu"))
    np.testing.assert_allclose(np.asarray(derived.values), direct.values, atol=1e-5)


def test_cache_is_kept_under_its_size_limit(make_config, monkeypatch, cache_dir) -> None:
    prepared = prepare(make_config(n_train=40))
    monkeypatch.setenv("STRATSEARCH_CACHE_GB", "0.00001")  # 10 kB: room for about one split's states
    run(prepared, monkeypatch, "on", freeze_depth=1)
    run(prepared, monkeypatch, "on", freeze_depth=2)
    left = [p.name for p in cache_dir.iterdir() if p.is_dir()]
    assert len(left) == 1 and left[0].endswith("-k2")  # the newest stays even over the limit
