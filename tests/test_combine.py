"""The arithmetic of each ensemble method on hand-made prediction arrays, and the soup's
architecture check on tiny saved models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from stratsearch.ensemble.combine import greedy_counts, vote, weighted_mean
from stratsearch.ensemble.methods import BEST_SINGLE, MEAN_OF_SINGLES, Member, Pool, build_ensemble
from stratsearch.objective import Objective
from stratsearch.tasks import TASKS


def higher(a: float, b: float) -> bool:
    return a > b


def test_weighted_mean_of_probabilities() -> None:
    a = np.array([[0.9, 0.1], [0.2, 0.8]])
    b = np.array([[0.3, 0.7], [0.5, 0.5]])
    np.testing.assert_allclose(weighted_mean([a, b], [1, 1]), [[0.6, 0.4], [0.35, 0.65]])
    np.testing.assert_allclose(weighted_mean([a, b], [2, 1]), [[0.7, 0.3], [0.3, 0.7]])


def test_vote_follows_the_majority_not_the_mean() -> None:
    # Two members say class 0 without much confidence, one says class 1 with a lot: the mean
    # picks 1, the vote picks 0.
    members = [np.array([[0.6, 0.4]]), np.array([[0.6, 0.4]]), np.array([[0.01, 0.99]])]
    assert weighted_mean(members, [1, 1, 1]).argmax(-1).tolist() == [1]
    scores = vote(members)
    assert scores.argmax(-1).tolist() == [0]
    np.testing.assert_allclose(scores.sum(-1), 1.0)
    # (2 votes + mean 0.4033) / 4 for class 0, (1 vote + 0.5967) / 4 for class 1
    np.testing.assert_allclose(scores, [[(2 + 1.21 / 3) / 4, (1 + 1.79 / 3) / 4]])


def test_vote_ties_are_broken_by_the_mean_probability() -> None:
    # Two members, one vote each (rows 0 and 1); three classes with a three-way tie (row 2).
    a = np.array([[0.55, 0.45, 0.0], [0.9, 0.1, 0.0], [0.5, 0.3, 0.2]])
    b = np.array([[0.1, 0.9, 0.0], [0.4, 0.6, 0.0], [0.2, 0.5, 0.3]])
    c = np.array([[0.1, 0.9, 0.0], [0.4, 0.6, 0.0], [0.1, 0.2, 0.7]])
    assert vote([a, b]).argmax(-1).tolist()[:2] == [1, 0]  # row 0: mean 0.325 vs 0.675; row 1: 0.65 vs 0.35
    # row 2 of a, b, c: one vote per class; mean probabilities 0.267, 0.333, 0.4 → class 2
    assert vote([a, b, c]).argmax(-1).tolist() == [1, 1, 2]


def test_vote_for_regression_is_the_median() -> None:
    members = [np.array([1.0, -2.0]), np.array([5.0, 0.0]), np.array([2.0, 9.0])]
    np.testing.assert_allclose(vote(members), [2.0, 0.0])


def test_per_word_predictions_are_combined_word_by_word() -> None:
    a = [np.array([[0.8, 0.2], [0.4, 0.6]]), np.array([[0.3, 0.7]])]
    b = [np.array([[0.6, 0.4], [0.0, 1.0]]), np.array([[0.9, 0.1]])]
    mean = weighted_mean([a, b], [1, 1])
    assert [m.shape for m in mean] == [(2, 2), (1, 2)]
    np.testing.assert_allclose(mean[1], [[0.6, 0.4]])
    assert [v.argmax(-1).tolist() for v in vote([a, b, b])] == [[0, 1], [0]]


def negative_error(target: float):
    return lambda prediction: -abs(float(prediction[0]) - target)


def test_greedy_adds_members_with_replacement_while_the_score_improves() -> None:
    # Target 0. A alone: error 1; (A+B)/2 = -0.25; (2A+B)/3 = 0.167; (3A+B)/4 = 0.375 and
    # (2A+2B)/4 = -0.25 are worse, so the bag stops at A, A, B. C never helps.
    a, b, c = np.array([1.0]), np.array([-1.5]), np.array([4.0])
    assert greedy_counts([c, a, b], negative_error(0.0), higher, size=5) == [0, 2, 1]
    assert greedy_counts([c, a, b], negative_error(0.0), higher, size=2) == [0, 1, 1]


def test_greedy_never_does_worse_than_the_best_single_member() -> None:
    a, b = np.array([0.1]), np.array([3.0])  # any blend with B is worse than A alone
    assert greedy_counts([b, a], negative_error(0.0), higher, size=4) == [0, 1]
    # ties go to the better-ranked (earlier) member
    assert greedy_counts([np.array([1.0]), np.array([-1.0])], negative_error(0.0), higher, size=1) == [1, 0]


def pool_of(validation: list[np.ndarray], test: list[np.ndarray], targets: dict[str, list[int]]) -> Pool:
    def score(prediction, split: str) -> dict[str, float]:
        return TASKS["classification"].score(prediction, targets[split], ["a", "b"])

    members = [
        Member(i, Path(f"/nonexistent/{i}"), v, t) for i, (v, t) in enumerate(zip(validation, test, strict=True))
    ]
    return Pool(members, score, Objective(metric="accuracy", mode="max"))


def one_hot(labels: list[int], confidence: float = 0.8) -> np.ndarray:
    return np.array([[confidence, 1 - confidence] if y == 0 else [1 - confidence, confidence] for y in labels])


def test_ensemble_table_rows_and_the_chosen_method() -> None:
    # Three members, each wrong on a different validation example, with confidences 0.9, 0.8,
    # 0.7: the mean and the vote of all three are right everywhere, but no pair beats the best
    # single member, so greedy stays at it: never worse than the best single, not always best.
    truth = [0, 1, 0, 1]
    members = [one_hot([1, 1, 0, 1], 0.9), one_hot([0, 0, 0, 1], 0.8), one_hot([0, 1, 1, 1], 0.7)]
    pool = pool_of(members, members, {"validation": truth, "test": truth})
    rows, recipe, chosen = build_ensemble(pool, "greedy")
    table = {row["method"]: row for row in rows}
    assert [row["method"] for row in rows] == [BEST_SINGLE, MEAN_OF_SINGLES, "mean", "vote", "greedy", "soup"]
    assert table[BEST_SINGLE]["validation_accuracy"] == 0.75
    assert table[MEAN_OF_SINGLES]["test_accuracy"] == 0.75
    assert table["mean"]["validation_accuracy"] == table["vote"]["test_accuracy"] == 1.0
    assert table["greedy"]["validation_accuracy"] == 0.75 and table["greedy"]["chosen"]
    assert recipe == {"method": "greedy", "rule": "mean", "weights": {"0": 1.0}}
    assert "skipped: trial(s) [0, 1, 2] have no saved model" in table["soup"]["note"]
    assert chosen is not None and chosen.test is not None
    _, recipe, _ = build_ensemble(pool, "vote")
    assert recipe == {"method": "vote", "rule": "vote", "weights": {"0": 1.0, "1": 1.0, "2": 1.0}}


def test_a_skipped_chosen_method_falls_back_to_the_best_single_model() -> None:
    truth = [0, 1]
    members = [one_hot([0, 1]), one_hot([0, 0])]
    rows, recipe, chosen = build_ensemble(pool_of(members, members, {"validation": truth, "test": truth}), "soup")
    assert chosen is None
    assert recipe["method"] == BEST_SINGLE and recipe["weights"] == {"0": 1.0}
    assert recipe["fallback"].startswith("soup skipped: ")
    assert [row["method"] for row in rows if row["chosen"]] == [BEST_SINGLE]


@pytest.fixture
def saved_models(tmp_path: Path, tiny_model_dir: Path):
    """Save tiny classifiers (random heads, perturbed encoders) the way a trial does."""
    from stratsearch.train.artifacts import save_model
    from stratsearch.train.model import TaskModel, load_backbone
    from stratsearch.train.strategies.heads import HeadConfig

    def save(name: str, seed: int, hidden: int = 0) -> Path:
        torch.manual_seed(seed)
        head = HeadConfig(hidden=hidden, pooling="cls")
        model = TaskModel(load_backbone(tiny_model_dir, 0.1, 0.1), TASKS["classification"], 2, head)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.01)
        config = {"head": head.model_dump(), "batch_size": 8}
        save_model(
            tmp_path / name, model, tiny_model_dir, {"task": "classification", "labels": ["a", "b"], "config": config}
        )
        return tmp_path / name

    return save


def test_soup_averages_weights_of_matching_architectures(saved_models) -> None:
    from stratsearch.ensemble.soup import average, matching
    from stratsearch.train.artifacts import load_model

    folders = [saved_models("a", 1), saved_models("b", 2), saved_models("c", 3, hidden=8)]
    keep, reasons, models = matching(folders)
    assert keep == [0, 1]
    assert reasons == ["head hidden 8 vs 0"]
    expected = {
        name: (load_model(folders[0])[0].state_dict()[name] + load_model(folders[1])[0].state_dict()[name]) / 2
        for name in ("head.1.weight", "backbone.encoder.layer.0.attention.self.query.weight")
    }
    soup = average(models).state_dict()
    for name, value in expected.items():
        torch.testing.assert_close(soup[name], value)
