"""Per-task evaluation metrics, computed from predictions and targets as plain numpy."""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_metrics(probs: np.ndarray, targets: list[int]) -> dict[str, float]:
    from sklearn.metrics import f1_score

    preds = probs.argmax(-1)
    y = np.asarray(targets)
    labels = np.arange(probs.shape[-1])
    return {
        "accuracy": float((preds == y).mean()),
        "macro_f1": float(f1_score(y, preds, labels=labels, average="macro", zero_division=0)),
    }


def regression_metrics(preds: np.ndarray, targets: list[float]) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr

    y = np.asarray(targets, dtype=np.float64)
    p = preds.astype(np.float64)
    constant = np.ptp(p) == 0  # correlation is undefined for a constant predictor; call it 0
    return {
        "rmse": float(np.sqrt(np.mean((p - y) ** 2))),
        "pearson": 0.0 if constant else float(pearsonr(p, y).statistic),
        "spearman": 0.0 if constant else float(spearmanr(p, y).statistic),
    }


def entity_metrics(word_probs: list[np.ndarray], targets: list[list[int]], names: list[Any]) -> dict[str, float]:
    """Entity-level precision / recall / F1 over BIO tags (seqeval, CoNLL rules), plus tag accuracy."""
    from seqeval.metrics import f1_score, precision_score, recall_score

    y_true = [[str(names[t]) for t in seq] for seq in targets]
    y_pred = [[str(names[t]) for t in p.argmax(-1)] for p in word_probs]
    flat_true = np.concatenate([np.asarray(t) for t in targets])
    flat_pred = np.concatenate([p.argmax(-1) for p in word_probs])
    return {
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
        "accuracy": float((flat_true == flat_pred).mean()),
    }


def compute_metrics(task: str, predictions: Any, targets: list, label_names: list | None) -> dict[str, float]:
    if task == "classification":
        return classification_metrics(predictions, targets)
    if task == "regression":
        return regression_metrics(predictions, targets)
    return entity_metrics(predictions, targets, label_names or [])
