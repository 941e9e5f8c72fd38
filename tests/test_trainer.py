"""The training loop on a tiny random BERT: learning, determinism, best-epoch restore, NaN stop."""

from __future__ import annotations

import numpy as np
import pytest

from stratsearch.errors import TrainingDiverged
from stratsearch.objective import Objective
from stratsearch.prepare import prepare
from stratsearch.train.config import trial_from_space
from stratsearch.train.trainer import pick_device, predict, train


def fit(config_path, space: dict | None = None, objective: Objective | None = None):
    prepared = prepare(config_path)
    trial = trial_from_space({**prepared.trial.to_dict(), **(space or {})}, prepared.spec.task)
    result = train(prepared.model_path, prepared.data, trial, objective or prepared.spec.objective)
    return prepared, result


@pytest.mark.parametrize(
    ("task", "metric", "beats"),
    [
        ("classification", "accuracy", 0.75),
        ("regression", "pearson", 0.5),
        ("token-classification", "f1", 0.5),
        ("multi-label-classification", "micro_f1", 0.75),
    ],
)
def test_learns_each_task(make_config, task: str, metric: str, beats: float) -> None:
    path = make_config(task, {"epochs": 6, "optimizer": {"adamw": {"lr": 3e-3}}}, n_train=160)
    _, result = fit(path)
    assert result.best.validation[metric] > beats
    assert result.test_metrics is not None and metric in result.test_metrics


def test_same_seed_same_numbers_other_seed_differs(make_config) -> None:
    path = make_config(space={"dropout": 0.2, "head": {"hidden": 8}})
    runs = [fit(path)[1] for _ in range(2)] + [fit(path, {"seed": 1})[1]]
    losses = [[r.train_loss for r in res.history] for res in runs]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]
    np.testing.assert_array_equal(runs[0].validation_predictions, runs[1].validation_predictions)


def test_best_epoch_weights_are_restored(make_config) -> None:
    path = make_config(space={"epochs": 4})
    # "min accuracy" makes an early epoch the best, so restoring it is visible.
    prepared, result = fit(path, objective=Objective(metric="accuracy", mode="min"))
    values = [r.validation["accuracy"] for r in result.history]
    assert result.best_epoch == values.index(min(values)) + 1
    again = predict(result.model, prepared.data.validation, prepared.data, 16, pick_device())
    np.testing.assert_allclose(again, result.validation_predictions, rtol=1e-5, atol=1e-6)


def test_nan_loss_stops_with_specific_error(make_config) -> None:
    path = make_config(
        "regression", {"optimizer": {"sgd": {"lr": 1.0e12, "momentum": 0.0}}, "grad_clip": 0.0, "schedule": "constant"}
    )
    with pytest.raises(TrainingDiverged, match=r"training diverged: loss is (nan|inf) at epoch 1, step \d+"):
        fit(path)


def test_gradual_unfreezing_and_layer_decay_run(make_config) -> None:
    path = make_config(space={"gradual_unfreezing": True, "layer_decay": 0.8, "epochs": 3})
    _, result = fit(path)
    assert len(result.history) == 3
