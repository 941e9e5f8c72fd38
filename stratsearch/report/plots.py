"""The report's figures, drawn with matplotlib (Agg, no display) and returned as PNG bytes.

Colours say how a trial ended: finished trials solid, pruned ones faded, the baseline marked.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from stratsearch.confirm.plan import Confirmation
from stratsearch.report.tradeoffs import Front
from stratsearch.report.view import RunView, TrialView

STATUS_STYLE = {"finished": ("#1f77b4", 1.0), "pruned": ("#7f7f7f", 0.6), "stopped": ("#bcbd22", 0.6)}


def figure(width: float = 5.0, height: float = 3.2, ncols: int = 1) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)


def png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def mark(ax: Any, trials: list[TrialView], xs: list[Any], ys: list[float]) -> None:
    """Scatter points coloured by status; baselines as black-edged diamonds."""
    for status, (colour, alpha) in STATUS_STYLE.items():
        picked = [i for i, t in enumerate(trials) if t.status == status]
        if picked:
            ax.scatter([xs[i] for i in picked], [ys[i] for i in picked], c=colour, alpha=alpha, label=status, s=28)
    base = [i for i, t in enumerate(trials) if t.baseline is not None]
    if base:
        ax.scatter(
            [xs[i] for i in base],
            [ys[i] for i in base],
            marker="D",
            facecolors="none",
            edgecolors="black",
            s=60,
            label="baseline",
        )


def dimension_plot(view: RunView, name: str) -> bytes:
    """Objective against one dimension: a jittered strip per value for choices, a scatter for ranges."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    trials = [t for t in view.scored() if name in t.params]
    dist = view.dims[name]
    fig, axes = figure()
    ax = axes[0][0]
    ys = [t.value for t in trials]
    if isinstance(dist, CategoricalDistribution):
        labels = [str(c) for c in dist.choices]
        rng = np.random.default_rng(0)
        xs = [labels.index(str(t.params[name])) + rng.uniform(-0.12, 0.12) for t in trials]
        for i, label in enumerate(labels):
            values = [y for t, y in zip(trials, ys, strict=True) if str(t.params[name]) == label]
            if values:
                ax.hlines(np.mean(values), i - 0.3, i + 0.3, colors="black", linewidth=1)
        ax.set_xticks(range(len(labels)), labels)
    else:
        xs = [t.params[name] for t in trials]
        if isinstance(dist, FloatDistribution | IntDistribution) and dist.log:
            ax.set_xscale("log")
    mark(ax, trials, xs, ys)
    ax.set_xlabel(name)
    ax.set_ylabel(f"validation {view.metric}")
    ax.legend(fontsize=7, loc="best")
    return png(fig)


def importance_plot(importances: dict[str, float]) -> bytes:
    names = list(importances)[::-1]
    fig, axes = figure(height=0.4 * len(names) + 1.2)
    ax = axes[0][0]
    ax.barh(names, [importances[n] for n in names], color="#1f77b4")
    ax.set_xlabel("importance (fANOVA)")
    return png(fig)


def search_progress_plot(view: RunView) -> bytes:
    """Best validation value so far, against trial number and against wall-clock time."""
    trials = sorted(view.scored(), key=lambda t: t.number)
    fig, axes = figure(ncols=2)
    for ax, order, label in (
        (axes[0][0], trials, "trial number"),
        (axes[0][1], sorted(trials, key=lambda t: (t.started or 0) + (t.wall_s or 0)), "minutes since the start"),
    ):
        start = min((t.started or 0) for t in trials)
        xs = (
            [t.number for t in order]
            if label == "trial number"
            else [((t.started or 0) + (t.wall_s or 0) - start) / 60 for t in order]
        )
        ys = [t.value for t in order]
        best, so_far = [], None
        for y in ys:
            so_far = y if view.objective.better(y, so_far) else so_far
            best.append(so_far)
        mark(ax, order, xs, ys)
        ax.step(xs, best, where="post", color="#d62728", label="best so far")
        ax.set_xlabel(label)
        ax.set_ylabel(f"validation {view.metric}")
        ax.legend(fontsize=7, loc="best")
    return png(fig)


def learning_curves_plot(view: RunView, top: int = 5) -> bytes:
    """Validation objective per epoch: the top trials in colour, pruned ones in grey."""
    fig, axes = figure(width=6.0)
    ax = axes[0][0]
    for t in view.trials:
        if t.status in ("pruned", "stopped") and t.curve:
            ax.plot(range(1, len(t.curve) + 1), t.curve, color="#7f7f7f", alpha=0.5, marker=".", linewidth=1)
    for t in view.ranked()[:top]:
        ax.plot(range(1, len(t.curve) + 1), t.curve, marker="o", linewidth=1.5, label=f"trial {t.number}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {view.metric}")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7, loc="best", title="grey: pruned", title_fontsize=7)
    return png(fig)


def confirmation_plot(metric: str, confirmation: Confirmation) -> bytes:
    """Per candidate: its fresh seeds' mean with a 95 % interval, on validation and on test, and
    its search run (the one the search ranked it by) as a cross."""
    fig, axes = figure(width=6.0)
    ax = axes[0][0]
    names = [f"trial {c.source}" for c in confirmation.candidates]
    for offset, split, colour in ((-0.12, "validation", "#1f77b4"), (0.12, "test", "#ff7f0e")):
        for i, c in enumerate(confirmation.candidates):
            spread = c.fresh(split)
            if not spread.n:
                continue
            error = None if spread.low is None else [[spread.mean - spread.low], [spread.high - spread.mean]]
            label = split if i == 0 else None
            ax.errorbar(i + offset, spread.mean, yerr=error, fmt="o", color=colour, capsize=4, label=label)
    search = [(i, c.values().get(0)) for i, c in enumerate(confirmation.candidates)]
    xs = [i - 0.12 for i, v in search if v is not None]
    ax.scatter(xs, [v for _, v in search if v is not None], marker="x", color="black", label="search run (val)")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel(metric)
    ax.legend(fontsize=7, loc="best")
    return png(fig)


def layer_drift_plot(curves: dict[str, dict[int, list[float]]]) -> bytes:
    """One panel per probe set: each layer's drift, a line per freeze depth."""
    fig, axes = figure(width=4.6, height=3.4, ncols=len(curves))
    for ax, (probe, by_depth) in zip(axes[0], curves.items(), strict=True):
        for k, drift in by_depth.items():
            ax.plot(range(len(drift)), drift, marker="o", markersize=3, linewidth=1.2, label=f"freeze {k}")
        ax.set_xlabel("layer (0: the embeddings)", fontsize=8)
        ax.set_ylabel("drift (1 − CKA)")
        ax.set_title(probe, fontsize=9)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=7, loc="upper left")
    return png(fig)


def fronts_plot(view: RunView, fronts: list[Front]) -> bytes:
    """One panel per measure: every trial, and its Pareto front as a red step line with trial numbers."""
    fig, axes = figure(width=4.6, height=3.4, ncols=len(fronts))
    for ax, front in zip(axes[0], fronts, strict=True):
        trials = [t for t, _, _ in front.points]
        xs = [x for _, _, x in front.points]
        mark(ax, trials, xs, [y for _, y, _ in front.points])
        edge = [(t.measure(front.measure), t.value, t.number) for t in front.front]
        ax.step([x for x, _, _ in edge], [y for _, y, _ in edge], where="post", color="#d62728", label="front")
        for x, y, number in edge:
            ax.annotate(str(number), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color="#d62728")
        if front.log_axis:
            ax.set_xscale("log")
        ax.set_xlabel(front.label, fontsize=8)
        ax.set_ylabel(f"validation {view.metric}")
        ax.legend(fontsize=7, loc="best")
    return png(fig)
