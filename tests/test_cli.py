"""`stratsearch train` as a user runs it: per-epoch output, saved artifacts, exit code 2 on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from stratsearch.cli import main
from stratsearch.prepare import prepare
from stratsearch.train.artifacts import load_model
from stratsearch.train.trainer import predict
from tests.conftest import ROWS


def test_train_prints_epochs_and_saves(make_config, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    path = make_config(space={"epochs": 2, "scope": {"lora": {"r": 2}}})
    assert main(["train", str(path), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "epoch 1:" in err and "epoch 2:" in err and "best epoch" in err
    summary = json.loads((out / "stratsearch.json").read_text())
    assert summary["labels"] == ["neg", "pos"]
    assert summary["config"]["scope"] == {"lora": {"r": 2, "alpha": 16.0, "dropout": 0.0, "target_modules": None}}
    assert len(summary["history"]) == 2
    assert (out / "model" / "config.json").is_file() and (out / "head.safetensors").is_file()
    # A LoRA trial keeps its adapters alone, on the pretrained encoder the manifest names.
    from safetensors import safe_open

    assert not list((out / "model").glob("*.safetensors")) and summary["adapter_of"]
    with safe_open(out / "adapter.safetensors", "pt") as f:
        assert f.keys() and all("lora_" in k for k in f.keys())  # noqa: SIM118 - safe_open has no __iter__
    probs = np.load(out / "predictions" / "validation.npz")["values"]
    assert probs.shape == (32, 2)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    # Loaded again (adapters merged into the base), it predicts what it predicted when it trained.
    prepared = prepare(path)
    model, _ = load_model(out)
    again = predict(model, prepared.data.validation, prepared.data, 16, torch.device("cpu"))
    np.testing.assert_allclose(again, probs, rtol=1e-4, atol=1e-5)


def test_a_lora_trial_names_the_bundled_model_so_a_new_venv_finds_it(tmp_path: Path) -> None:
    from stratsearch.train.model_dir import find_model_dir, model_name

    assert model_name(find_model_dir("minilm-l6")) == "minilm-l6"  # not a path inside this venv
    assert model_name(tmp_path) == str(tmp_path.resolve())


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "stratsearch", *args], capture_output=True, text=True, env=env)


def test_bad_config_lists_every_problem_exit_2(make_config, tmp_path: Path) -> None:
    path = make_config()
    config = yaml.safe_load(path.read_text())
    config["space"].update({"optimiser": "adamw", "schedule": "cosin", "dropout": 1.5})
    config["space"]["optimizer"] = {"adamw": {"lr": -1}}
    config["objective"] = {"metric": "rmse"}
    path.write_text(yaml.safe_dump(config))
    proc = run_cli("train", str(path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    for expected in [
        "space.optimiser: unknown key (did you mean 'optimizer'?)",
        "space.schedule: unknown schedule 'cosin' (did you mean 'cosine'?)",
        "space.optimizer.adamw.lr: input should be greater than 0, found -1",
        "space.dropout: input should be less than 1, found 1.5",
        "objective.metric: expected one of ['accuracy', 'macro_f1'] for task 'classification', found 'rmse'",
    ]:
        assert expected in proc.stderr, proc.stderr
    assert str(path) in proc.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"space": {"freeze_depth": 9}}, "space.freeze_depth: 9 exceeds the model's 3 layers"),
        ({"model": "/nonexistent/model"}, "expected 'minilm-l6' or a local Hugging Face model directory"),
        ({"data": {"train": "missing.jsonl"}}, "data.train: file not found"),
        ({"space": {"loss": "mse"}}, "space.loss.mse: loss 'mse' does not fit task 'classification'"),
        ({"data": {"max_lenght": 32}}, "data.max_lenght: unknown key (did you mean 'max_length'?)"),
        ({"space": {"head": {"hiden": 8}}}, "space.head.hiden: unknown key (did you mean 'hidden'?)"),
        (
            {"space": {"optimizer": {"sgd": {"nesterov": True, "momentum": 0.0}}}},
            "space.optimizer.sgd: value error, nesterov needs momentum > 0",
        ),
        (
            {"task": "clasification"},
            "task: expected one of ['classification', 'regression', 'multi-label-classification',"
            " 'token-classification']",
        ),
        (
            {"space": {"loss": {"focal": {"alpha": 0.3}}}, "task": "token-classification"},
            "space.loss.focal.alpha: needs exactly two classes",
        ),
    ],
)
def test_bad_input_exit_2(make_config, change: dict, message: str, capsys) -> None:
    task = change.get("task", "classification")
    path = make_config(task if task in ROWS else "classification")
    config = yaml.safe_load(path.read_text())
    for section, value in change.items():
        config[section] = {**config[section], **value} if isinstance(value, dict) else value
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_unavailable_device_exit_2(make_config, capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["train", str(make_config()), "--device", "cuda"]) == 2
    assert "--device cuda: no CUDA device is available" in capsys.readouterr().err


def test_diverging_training_exits_2_without_traceback(make_config) -> None:
    path = make_config(
        "regression", {"optimizer": {"sgd": {"lr": 1.0e12, "momentum": 0.0}}, "grad_clip": 0.0, "schedule": "constant"}
    )
    proc = run_cli("train", str(path))
    assert proc.returncode == 2
    assert "training diverged" in proc.stderr and "Traceback" not in proc.stderr
