"""Linear CKA and the drift a trial records: known values, invariances, an encoder against itself,
unrelated representations, and a fine-tuned encoder against the pretrained one."""

from __future__ import annotations

import pytest
import torch

from stratsearch.prepare import prepare
from stratsearch.rows import PROBE_SIZE
from stratsearch.sweep.trial import probe_measures
from stratsearch.train.drift import linear_cka, make_probe, measure_drift
from stratsearch.train.model import load_backbone
from stratsearch.train.trainer import predict
from tests.test_trainer import fit


def test_linear_cka_by_hand() -> None:
    # With one feature per side, linear CKA is the squared Pearson correlation: centred
    # x = (-1, 0, 1), y = (0, -1, 1) correlate at 1/2, so CKA = 1/4.
    x = torch.tensor([[1.0], [2.0], [3.0]])
    y = torch.tensor([[1.0], [0.0], [2.0]])
    assert linear_cka(x, y) == pytest.approx(0.25)
    # Two features: x's columns orthogonal and of equal norm, y = x's first column only:
    # ‖yᵀx‖² = 4, ‖xᵀx‖ = √(2²+2²) = 2√2, ‖yᵀy‖ = 2 → 4 / (4√2) = 1/√2.
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    assert linear_cka(x, x[:, :1]) == pytest.approx(2**-0.5)


def test_linear_cka_is_one_under_rotation_and_scaling_and_low_for_unrelated_features() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(512, 16, generator=generator)
    rotation, _ = torch.linalg.qr(torch.randn(16, 16, generator=generator))
    assert linear_cka(x, 3.0 * x @ rotation) == pytest.approx(1.0)
    assert linear_cka(x, torch.randn(512, 16, generator=generator)) < 0.1


def test_an_encoder_against_itself_has_no_drift_and_fine_tuning_moves_it(make_config) -> None:
    path = make_config(space={"epochs": 3, "optimizer": {"adamw": {"lr": 3e-3}}}, n_train=64)
    prepared = prepare(path)
    probe = make_probe(prepared.model_path, prepared.data).train
    pad = prepared.data.pad_id
    pretrained = load_backbone(prepared.model_path, 0.0, 0.0)
    same = measure_drift(pretrained, probe, pad)
    assert same.cka == pytest.approx([1.0] * 4) and same.top == pytest.approx(0.0, abs=1e-9)

    _, tuned = fit(path)
    moved = measure_drift(tuned.model.backbone, probe, pad)
    assert moved.top > 0.01
    assert all(0.0 <= c <= 1.0 + 1e-9 for c in moved.cka)
    _, frozen = fit(path, {"freeze_depth": 3})  # every layer frozen: only the head trains
    assert measure_drift(frozen.model.backbone, probe, pad).top == pytest.approx(0.0, abs=1e-9)


def test_a_general_text_probe_is_read_drawn_and_measured(make_config, tmp_path) -> None:
    prepared = prepare(make_config(space={"epochs": 2, "optimizer": {"adamw": {"lr": 3e-3}}}, n_train=64))
    words = " ".join(prepared.data.train.raw).split()  # words the tiny test tokenizer knows
    texts = [" ".join(words[i : i + 1 + i % 7]) for i in range(300)]
    general = tmp_path / "general.txt"
    general.write_text("\n".join(texts) + "\n\n")  # blank lines are not texts
    probe = make_probe(prepared.model_path, prepared.data, general)
    assert probe.general is not None and len(probe.general.split) == PROBE_SIZE  # 300 texts: 256 drawn
    assert len(probe.train.split) == 64 and set(probe.sets()) == {"train", "general"}
    again = make_probe(prepared.model_path, prepared.data, general)
    assert again.general.split.raw == probe.general.split.raw  # drawn the same way every run
    pretrained = load_backbone(prepared.model_path, 0.0, 0.0)
    assert measure_drift(pretrained, probe.general, prepared.data.pad_id).top == pytest.approx(0.0, abs=1e-9)


def test_the_training_fit_comes_from_the_drift_pass_and_matches_a_plain_prediction(make_config) -> None:
    """The probe's forward pass gives the states for CKA and the head's outputs for the training fit
    (in length-sorted batches); its metrics equal those of predicting the same examples apart."""
    path = make_config(space={"epochs": 2, "optimizer": {"adamw": {"lr": 3e-3}}}, n_train=64)
    prepared = prepare(path)
    probe = make_probe(prepared.model_path, prepared.data)
    _, result = fit(path)
    measured = probe_measures(result, probe, prepared.data, prepared.model_path)
    split, data = probe.train.split, prepared.data
    plain = data.task.score(predict(result.model, split, data, 8, torch.device("cpu")), split.targets, data.label_names)
    assert measured["train_metrics"] == pytest.approx(plain)
    assert measured["drift"] == pytest.approx(1 - measured["cka"][-1]) and measured["drift_seconds"] > 0
