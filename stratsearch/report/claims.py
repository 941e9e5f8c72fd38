"""The article's claims, on this data: what §3.1 and §3.3 of the article behind this product say
about full vs partial fine-tuning and about regularisation, tested on the run's own trials.

Each claim compares two groups of trials with the findings' rules (findings.py): Welch's t-test,
p < 0.05 after Bonferroni for the splits tried, "within noise" otherwise, and "not tested in this
run" where the run did not vary what the claim is about. A claim compares the least of an ordered
dimension (no freezing: full fine-tuning; the least dropout) against the trials at or above a
threshold, chosen as the findings choose theirs: the one with the largest objective gap (two
trials a side at least); the trials in between are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from stratsearch.objective import UNIT_METRICS
from stratsearch.report.describe import branch
from stratsearch.report.findings import Contrast, shown, trials
from stratsearch.report.view import RunView, TrialView
from stratsearch.rows import PROBE_SIZE

NOT_TESTED = "not tested in this run"

Figure = Callable[[TrialView], float | None]  # a trial's figure a claim compares, None where not measured


@dataclass(frozen=True)
class Claim:
    said: str  # what the article says, with its section
    compared: str  # the two groups
    figures: str  # their means and the test
    verdict: str  # supported, contradicted, within noise, or not tested in this run


@dataclass(frozen=True)
class Split:
    """Two groups of trials: `a` (the one the claim speaks for) against `b`, `tries` splits tried."""

    label_a: str
    a: list[TrialView]
    label_b: str
    b: list[TrialView]
    tries: int = 1


def objective_gap(a: list[TrialView], b: list[TrialView]) -> float:
    return abs(np.mean([t.value for t in a]) - np.mean([t.value for t in b]))


def against_least(rows: list[TrialView], key: Callable[[TrialView], float], name: str) -> Split | None:
    """Trials with `key` ≥ t against those at its least value, at the t with the largest objective
    gap (as the findings split); None when `key` takes one value only."""
    values = sorted({key(t) for t in rows})
    if len(values) < 2:
        return None
    least = [r for r in rows if key(r) == values[0]]
    candidates = [([r for r in rows if key(r) >= t], t) for t in values[1:]]
    testable = [c for c in candidates if len(c[0]) >= 2 and len(least) >= 2] or candidates[:1]
    a, t = max(testable, key=lambda c: objective_gap(c[0], least))
    return Split(f"{name} ≥ {shown(t)}", a, f"{name} {shown(values[0])}", least, tries=len(testable))


def judged(contrast: Contrast, claimed_sign: int) -> str:
    """Supported when the difference is significant in the claimed direction (+1: a above b)."""
    if np.isnan(contrast.p):
        return "within noise (too few trials for a test)"
    if not contrast.significant:
        return "within noise"
    return "supported" if np.sign(contrast.diff) == claimed_sign else "contradicted"


def check_claim(said: str, split: Split, figure: Figure, claimed_sign: int, shown_as: Callable[[float], str]) -> Claim:
    a = [(t, v) for t in split.a if (v := figure(t)) is not None]
    b = [(t, v) for t in split.b if (v := figure(t)) is not None]
    compared = f"{split.label_a} vs {split.label_b}"
    if not a or not b:
        return Claim(
            said, compared, "not measured on both groups (drift and the training fit: finished trials)", NOT_TESTED
        )
    contrast = Contrast(np.array([v for _, v in a]), np.array([v for _, v in b]), split.tries)
    return Claim(said, compared, contrast.stats(shown_as), judged(contrast, claimed_sign))


def least_claim(
    said: str,
    rows: list[TrialView],
    key: Callable[[TrialView], float],
    name: str,
    figure: Figure,
    claimed_sign: int,
    shown_as: Callable[[float], str],
    least_first: bool = False,
) -> Claim:
    """A claim about `figure` on the trials that measured it (drift and the gap: finished ones),
    the threshold chosen among them; `least_first` for a claim the least value speaks for."""
    split = against_least([t for t in rows if figure(t) is not None], key, name)
    if split is None or key(split.b[0]) != min(map(key, rows)):
        split = against_least(rows, key, name)  # the run's split, which check_claim finds unmeasured
    if least_first:
        split = Split(split.label_b, split.b, split.label_a, split.a, split.tries)
    return check_claim(said, split, figure, claimed_sign, shown_as)


def untested(said: str, why: str) -> Claim:
    return Claim(said, "", why, NOT_TESTED)


# --- §3.1: full vs partial fine-tuning ------------------------------------------------------------

FULL_VS_PARTIAL = (
    "§3.1 Partial fine-tuning (freezing the bottom layers) costs less compute per epoch",
    "§3.1 Partial fine-tuning avoids catastrophic forgetting (less drift from the pretrained encoder)",
    "§3.1 Full fine-tuning uses the pretrained knowledge fully (a better score)",
)


def whole_layers(view: RunView) -> list[TrialView]:
    """Trials that fine-tune whole layers only: BitFit and LoRA freeze in another way, and gradual
    unfreezing thaws what it froze."""
    return [
        t
        for t in view.scored()
        if branch(t.config, "scope")[0] in ("full", "") and not t.config.get("gradual_unfreezing")
    ]


def depth(t: TrialView) -> int:
    return int(t.config.get("freeze_depth", 0))


def freeze_claims(view: RunView) -> list[Claim]:
    rows = whole_layers(view)
    depths = {depth(t) for t in rows}
    if len(depths) < 2 or 0 not in depths:
        why = "freeze depth was not varied" if len(depths) < 2 else "no trial fine-tuned the whole encoder"
        return [untested(said, why) for said in FULL_VS_PARTIAL]

    def partial(said: str, figure: Figure, shown_as: Callable[[float], str]) -> Claim:
        return least_claim(said, rows, depth, "freeze", figure, -1, shown_as)

    drift = "drift {:.3f}".format
    claims = [
        partial(FULL_VS_PARTIAL[0], per_epoch, lambda v: f"{v:.3g} s/epoch"),
        partial(FULL_VS_PARTIAL[1], lambda t: t.measured.drift, drift),
    ]
    if any(t.measured.general_drift is not None for t in rows):
        said = FULL_VS_PARTIAL[1].replace("encoder)", "encoder on the general-text probe)")
        claims.append(partial(said, lambda t: t.measured.general_drift, drift))
    sign, metric = (1 if view.objective.mode == "max" else -1), view.metric
    score = least_claim(
        FULL_VS_PARTIAL[2], rows, depth, "freeze", lambda t: t.value, sign, lambda v: f"{metric} {v:.4f}", True
    )
    return [*claims, score]


def by_freeze_depth(view: RunView) -> tuple[list[str], list[list[str]]]:
    """Per freeze depth, the means of the trials the claims compare: what the split summarises."""
    rows = whole_layers(view)
    unit = points if view.metric in UNIT_METRICS else "{:.4f}".format
    drift = "{:.3f}".format
    columns: dict[str, tuple[Figure, Callable[[float], str]]] = {
        "train s / epoch": (per_epoch, "{:.1f}".format),
        "drift": (lambda t: t.measured.drift, drift),
    }
    if any(t.measured.general_drift is not None for t in rows):
        columns["general drift"] = (lambda t: t.measured.general_drift, drift)
    columns[f"val {view.metric}"] = (lambda t: t.value, "{:.4f}".format)
    columns["train − val gap"] = (train_gap(view), unit)
    table = []
    for k in sorted({depth(t) for t in rows}):
        group = [t for t in rows if depth(t) == k]
        cells = [str(k), str(len(group))]
        for figure, shown_as in columns.values():
            values = [v for t in group if (v := figure(t)) is not None]
            cells.append(shown_as(float(np.mean(values))) if values else "")
        table.append(cells)
    return ["freeze depth", "trials", *columns], table


def drift_by_layer(view: RunView) -> dict[str, dict[int, list[float]]]:
    """Per probe set and freeze depth, each layer's mean drift (1 − CKA, the embeddings first) over
    the trials the claims compare that recorded it: where the encoder moved."""
    probes: dict[str, Callable[[TrialView], tuple[float, ...] | None]] = {
        "training texts": lambda t: t.measured.cka,
        "general-text probe": lambda t: t.measured.general_cka,
    }
    out = {}
    for probe, cka in probes.items():
        measured = [(depth(t), c) for t in whole_layers(view) if (c := cka(t))]
        by_depth = {k: [c for d, c in measured if d == k] for k in sorted({d for d, _ in measured})}
        if by_depth:
            out[probe] = {k: list(1.0 - np.mean(group, axis=0)) for k, group in by_depth.items()}
    return out


def per_epoch(t: TrialView) -> float | None:
    seconds = t.measured.train_seconds
    return None if seconds is None or not t.epochs_run else seconds / t.epochs_run


def points(v: float) -> str:
    return f"{v * 100:.1f} points"


# --- §3.3: regularisation -------------------------------------------------------------------------

REGULARISATION = "§3.3 Regularisation prevents over-fitting: a smaller train − validation gap with {what}"


def as_float(value: Any) -> float | None:
    """A number as a float (0 and 0.0 alike in a label), None as None."""
    return None if value is None else float(value)


def dropout(t: TrialView) -> float | None:
    return as_float(t.config.get("dropout"))


def weight_decay(t: TrialView) -> float | None:
    return as_float(branch(t.config, "optimizer")[1].get("weight_decay"))


def regularisation_claims(view: RunView) -> list[Claim]:
    """Per regularising dimension the run varied (dropout, weight decay, an explicit penalty)."""
    rows = view.scored()
    gap = train_gap(view)
    unit = points if view.metric in UNIT_METRICS else lambda v: f"{v:.4f}"
    claims = []
    for name, key in {"dropout": dropout, "weight decay": weight_decay}.items():
        with_value = [t for t in rows if key(t) is not None]
        if len({key(t) for t in with_value}) > 1:
            said = REGULARISATION.format(what=f"more {name}")
            claims.append(least_claim(said, with_value, key, name, gap, -1, gap_shown(unit)))
    penalised = [t for t in rows if branch(t.config, "penalty")[0] not in ("none", "")]
    plain = [t for t in rows if branch(t.config, "penalty")[0] in ("none", "")]
    if penalised and plain:
        split = Split("an L1/L2 penalty", penalised, "no penalty", plain)
        claims.append(check_claim(REGULARISATION.format(what="a weight penalty"), split, gap, -1, gap_shown(unit)))
    if not claims:
        return [untested(REGULARISATION.format(what="more regularisation"), "no regularisation was varied")]
    return claims


def train_gap(view: RunView) -> Figure:
    """How much better a trial scored on training examples than on validation (over-fitting)."""
    sign = 1 if view.objective.mode == "max" else -1

    def gap(t: TrialView) -> float | None:
        train = t.measured.train_value
        return None if train is None or t.value is None else sign * (train - t.value)

    return gap


def gap_shown(unit: Callable[[float], str]) -> Callable[[float], str]:
    return lambda v: f"gap {unit(v)}"


def claims(view: RunView) -> list[Claim]:
    return freeze_claims(view) + regularisation_claims(view)


def claims_intro(view: RunView) -> str:
    return (
        f"Each claim is tested on this run's {trials(len(view.scored()))} with the findings' rules: Welch's"
        " t-test, p < 0.05 after Bonferroni for the thresholds tried, one seed per configuration. A claim"
        " compares the least value of a dimension (freeze 0: full fine-tuning; the least dropout) with the"
        " trials at or above a threshold, chosen where the objective differs most (two trials a side at"
        " least) among the trials that measured what the claim compares. Cost is training"
        " seconds per epoch; drift is 1 − the linear CKA of the top layer to the pretrained encoder on the"
        f" probe texts; the gap is the objective on the probe's training examples (up to {PROBE_SIZE}) minus on"
        " validation, at the best epoch (drift and the gap: finished trials only)."
    )
