"""The arithmetic of ensembling saved predictions: weighted mean, majority vote, greedy selection.

A prediction is what the trainer saves at a trial's best epoch: class probabilities (N, C),
regression values (N,), or for tagging one (words, C) array per example. Ragged per-word
predictions are combined flat, word by word, and split back into examples afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Prediction = Any  # np.ndarray, or list[np.ndarray] for token classification


def flatten(prediction: Prediction) -> tuple[np.ndarray, list[int] | None]:
    if isinstance(prediction, list):
        return np.concatenate(prediction), [len(p) for p in prediction]
    return np.asarray(prediction), None


def unflatten(values: np.ndarray, lengths: list[int] | None) -> Prediction:
    return values if lengths is None else np.split(values, np.cumsum(lengths)[:-1])


def weighted_mean(predictions: Sequence[Prediction], weights: Sequence[float]) -> Prediction:
    """Average of probabilities (or values), each member counted by its weight."""
    flat = [flatten(p) for p in predictions]
    total = sum(weights)
    mean = sum(w * values.astype(np.float64) for (values, _), w in zip(flat, weights, strict=True)) / total
    return unflatten(mean, flat[0][1])


def vote(predictions: Sequence[Prediction], multi_label: bool = False) -> Prediction:
    """Majority vote of the members' argmax classes, ties broken by the mean probability.

    Returned as scores (votes + mean probability) / (k + 1): they sum to 1 per row and their
    argmax is the vote's winner, because votes are whole numbers and the mean probabilities of a
    row sum to 1, so the added mean can only decide between classes with equal votes.
    For regression a vote has no classes; its analogue, the median of the members, is returned.
    Multi-label: each class is voted on apart (a member says yes at 0.5): the same scores are at
    least 0.5 exactly where most members say yes, the mean deciding a tie.
    """
    flat = [flatten(p)[0] for p in predictions]
    lengths = flatten(predictions[0])[1]
    if flat[0].ndim == 1:
        return np.median(np.stack(flat), axis=0)
    classes = flat[0].shape[-1]
    if multi_label:
        votes = sum((values >= 0.5).astype(np.float64) for values in flat)
    else:
        votes = sum(np.eye(classes)[values.argmax(-1)] for values in flat)
    mean = sum(values.astype(np.float64) for values in flat) / len(flat)
    return unflatten((votes + mean) / (len(flat) + 1), lengths)


def argbest(scores: Sequence[float], better: Callable[[float, float], bool]) -> int:
    """Index of the best score; the first one among equals."""
    best = 0
    for i, value in enumerate(scores):
        if better(value, scores[best]):
            best = i
    return best


def greedy_counts(
    predictions: Sequence[Prediction],
    score: Callable[[Prediction], float],
    better: Callable[[float, float], bool],
    size: int,
) -> list[int]:
    """Caruana et al. (2004) forward selection with replacement, on validation predictions.

    Starts from the best single member by `score`, then adds, one at a time, the member whose
    addition most improves the score of the bag's mean (a member may be added again), and stops
    when no addition improves it or the bag holds `size` members. Returns how often each member
    was picked; the blend is the mean weighted by these counts, so it scores at least as well as
    the best single member on validation. Ties go to the earlier (better-ranked) member.
    """
    flat = [flatten(p)[0].astype(np.float64) for p in predictions]
    lengths = flatten(predictions[0])[1]

    def score_of(total: np.ndarray, n: int) -> float:
        return score(unflatten(total / n, lengths))

    singles = [score_of(values, 1) for values in flat]
    first = argbest(singles, better)
    counts = [0] * len(flat)
    counts[first] = 1
    total, current = flat[first].copy(), singles[first]
    for n in range(2, size + 1):
        scores = [score_of(total + values, n) for values in flat]
        pick = argbest(scores, better)
        if not better(scores[pick], current):
            break
        counts[pick] += 1
        total += flat[pick]
        current = scores[pick]
    return counts
