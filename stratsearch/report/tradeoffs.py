"""Trade-offs: the objective against what a trial cost and how far it moved the encoder.

For each measure the report draws the trials' Pareto front: the trials no other trial beats on
both the objective and the measure (at least as good on both, better on one). A multi-objective
sweep's own objectives come first, so its front is the one Optuna's study reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stratsearch.report.describe import describe
from stratsearch.report.view import RunView, TrialView


@dataclass(frozen=True)
class Measure:
    label: str  # axis and sentence
    column: str  # table header
    value: Callable[[float], str]  # in a table cell
    shown: Callable[[float], str]  # in a sentence
    spans_decades: bool = False  # a log axis where values span them (cost: frozen encoders train ~100× faster)


def seconds(v: float) -> str:
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def tflops(v: float) -> str:
    return f"{v / 1e12:.2f}"


def fraction(v: float) -> str:
    return f"{v:.3f}"


MEASURES = {
    "train_seconds": Measure(
        "training seconds", "train s", seconds, lambda v: f"{seconds(v)} s of training", spans_decades=True
    ),
    "train_flops": Measure("training FLOPs", "TFLOPs", tflops, lambda v: f"{tflops(v)} TFLOPs", spans_decades=True),
    "trainable_parameters": Measure(
        "trainable parameters", "trainable", "{:,.0f}".format, "{:,.0f} trainable parameters".format, spans_decades=True
    ),
    "drift": Measure("drift (1 − top-layer CKA to the pretrained encoder)", "drift", fraction, "drift {:.3f}".format),
    "general_drift": Measure(
        "drift on the general-text probe", "general drift", fraction, "general-text drift {:.3f}".format
    ),
}
SHOWN = ("train_seconds", "drift", "general_drift")  # the fronts every report draws; more where a sweep traded them


@dataclass(frozen=True)
class Front:
    measure: str
    points: list[tuple[TrialView, float, float]]  # every scored trial with the measure: (trial, objective, measure)
    front: list[TrialView]  # the non-dominated ones, by the measure, smallest first

    @property
    def label(self) -> str:
        return MEASURES[self.measure].label

    @property
    def column(self) -> str:
        return MEASURES[self.measure].column

    @property
    def log_axis(self) -> bool:
        positive = [x for _, _, x in self.points if x > 0]
        spans = len(positive) == len(self.points) and min(positive) * 20 < max(positive)
        return MEASURES[self.measure].spans_decades and spans


def dominates(view: RunView, a: tuple[float, float], b: tuple[float, float]) -> bool:
    """(objective, measure) a is at least as good as b on both and better on one; measures are minimised."""
    better = view.objective.better
    no_worse = not better(b[0], a[0]) and a[1] <= b[1]
    return no_worse and (better(a[0], b[0]) or a[1] < b[1])


def pareto(view: RunView, measure: str) -> Front:
    points = [
        (t, t.value, value) for t in view.scored() if t.value is not None and (value := t.measure(measure)) is not None
    ]
    front = [t for t, value, cost in points if not any(dominates(view, (v, c), (value, cost)) for _, v, c in points)]
    front.sort(key=lambda t: (t.measure(measure), view.objective.sort_key(t.value)))
    return Front(measure, points, front)


def sweep_front(view: RunView) -> Front | None:
    """A multi-objective sweep's own front (its objective against its first cost or drift objective)."""
    traded = [o.metric for o in view.info.secondary if o.metric in MEASURES]
    return pareto(view, traded[0]) if traded else None


def fronts(view: RunView) -> list[Front]:
    """The fronts with at least two trials to compare: the sweep's own objectives first."""
    names = [o.metric for o in view.info.secondary] + list(SHOWN)
    out = [pareto(view, name) for name in dict.fromkeys(names) if name in MEASURES]
    return [f for f in out if len(f.points) >= 2]


def front_words(view: RunView, front: Front) -> str:
    """The front in a sentence: how many trials it holds, and its two ends named."""
    measure = MEASURES[front.measure]

    def named(t: TrialView) -> str:
        stopped = f", {t.status} after epoch {t.epochs_run}" if t.status != "finished" else ""
        figures = f"{view.metric} {t.value:.4f} with {measure.shown(t.measure(front.measure))}"
        return f"trial {t.number} ({describe(t.config, view.info.task)}{stopped}): {figures}"

    others = len(front.points) - len(front.front)
    beaten = f"; each of the other {others} is beaten on both by one of them" if others else ""
    count = f"{len(front.front)} of {len(front.points)} trials" if len(front.front) > 1 else "one trial"
    text = f"{view.metric} against {measure.label}: {count} not beaten on both{beaten}."
    if len(front.front) == 1:
        return text + f" It beats or ties every other on both: {named(front.front[0])}."
    return text + f" The front runs from {named(front.front[0])}, to {named(front.front[-1])}."


def front_rows(view: RunView, front: Front) -> list[list[str]]:
    """The front's trials as table rows: trial, strategy, status, objective, measure."""
    shown = MEASURES[front.measure].value
    return [
        [
            str(t.number),
            describe(t.config, view.info.task),
            t.shown_status,
            f"{t.value:.4f}",
            shown(t.measure(front.measure)),
        ]
        for t in front.front
    ]
