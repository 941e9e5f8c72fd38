"""Findings: short statements computed from a run, each with the trials that are its evidence.

Every number comes from the run's trials. A difference between groups of trials is called real
only when Welch's t-test gives p < 0.05; otherwise the statement says it is within noise.
Values in [0, 1] (accuracy, F1, correlations) are spoken of in points (×100).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from stratsearch.ensemble.methods import METHODS
from stratsearch.objective import UNIT_METRICS
from stratsearch.report.describe import describe
from stratsearch.report.view import RunView
from stratsearch.train.strategies.kinds import number

ALPHA = 0.05


@dataclass
class Finding:
    text: str
    evidence: str  # the trials it rests on
    # A comparison of two groups of trials also gives its figures as a table row (dimension, values
    # compared, difference, p, trials), and whether the difference is significant.
    row: list[str] | None = None
    significant: bool = True


def amount(view: RunView, diff: float) -> str:
    """A difference in the objective: points for metrics in [0, 1], raw otherwise."""
    if view.metric in UNIT_METRICS:
        return f"{abs(diff) * 100:.1f} points"
    return f"{abs(diff):.4g}"


def welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Welch's t-test p-value; NaN when a group has fewer than two trials or neither varies."""
    from scipy.stats import ttest_ind

    if len(a) < 2 or len(b) < 2 or max(np.ptp(a), np.ptp(b)) < 1e-6:  # no spread to test against
        return float("nan")
    with warnings.catch_warnings():
        # A nearly constant group (trials that all reached the same accuracy) makes scipy warn
        # about precision; the test is still the right one to report.
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttest_ind(a, b, equal_var=False).pvalue)


def trials(n: int) -> str:
    return f"{n} trial" if n == 1 else f"{n} trials"


def trial_list(frame: pd.DataFrame) -> str:
    return ", ".join(str(n) for n in frame["trial"])


Group = tuple[str, pd.DataFrame]  # (label, its trials)


@dataclass(frozen=True)
class Contrast:
    """Two groups of trials' figures side by side: Welch's t-test, Bonferroni-adjusted for the
    `tries` comparisons made to pick these two groups (p is multiplied by it)."""

    a: np.ndarray
    b: np.ndarray
    tries: int = 1

    @property
    def diff(self) -> float:
        return float(self.a.mean() - self.b.mean())

    @property
    def p(self) -> float:
        p = welch_p(self.a, self.b)
        return p if np.isnan(p) else min(1.0, p * self.tries)

    @property
    def significant(self) -> bool:
        return bool(self.p < ALPHA) and self.diff != 0  # NaN (no test) compares False

    @property
    def p_cell(self) -> str:
        return "–" if np.isnan(self.p) else f"{self.p:.2g}"

    def test(self) -> str:
        if np.isnan(self.p):
            return "too few trials for a test"
        adjusted = f", Bonferroni-adjusted for {self.tries} comparisons" if self.tries > 1 else ""
        return f"Welch p = {self.p:.2g}{adjusted}"

    def stats(self, shown: Callable[[float], str] = lambda v: f"{v:.4f}") -> str:
        means = f"{shown(self.a.mean())} over {trials(len(self.a))} vs {shown(self.b.mean())} over {len(self.b)}"
        return f"{means}; {self.test()}"


def compare(view: RunView, name: str, a: Group, b: Group, tries: int) -> Finding:
    """Group a against group b on the objective: a difference, or within noise. `tries` is how
    many comparisons were made to pick these two groups."""
    (label_a, group_a), (label_b, group_b) = a, b
    contrast = Contrast(group_a["value"].to_numpy(float), group_b["value"].to_numpy(float), tries)
    diff, stats = contrast.diff, contrast.stats()
    evidence = f"trials {trial_list(group_a)} vs {trial_list(group_b)}"
    row = [name, f"{label_a} vs {label_b}", f"{diff:+.4f}", contrast.p_cell, f"{len(group_a)} vs {len(group_b)}"]
    if contrast.significant:
        direction = "higher" if diff > 0 else "lower"
        text = f"{label_a} scored {amount(view, diff)} {direction} {view.metric} than {label_b} on average ({stats})."
        return Finding(text, evidence, row)
    text = f"{name}: {label_a} and {label_b} are within noise here ({amount(view, diff)} apart; {stats})."
    return Finding(text, evidence, row, significant=False)


def shown(value: Any) -> str:
    return number(value) if isinstance(value, float) else str(value)


def dimension_finding(view: RunView, frame: pd.DataFrame, name: str) -> Finding | None:
    """Choices: the best group against the worst. Ordered values: the split x ≥ t vs x < t with
    the largest gap (at least two trials a side)."""
    from optuna.distributions import CategoricalDistribution

    rows = frame.dropna(subset=[name])
    if rows[name].nunique() < 2:
        return None
    if isinstance(view.dims[name], CategoricalDistribution) or rows[name].nunique() == 2:
        groups = dict(iter(rows.groupby(name)))
        order = sorted(groups, key=lambda v: view.objective.sort_key(groups[v]["value"].mean()))
        top, bottom = order[0], order[-1]
        pairs = len(groups) * (len(groups) - 1) // 2
        return compare(
            view, name, (f"{name} = {shown(top)}", groups[top]), (f"{name} = {shown(bottom)}", groups[bottom]), pairs
        )
    splits = []
    for t in sorted(rows[name].unique())[1:]:
        hi, lo = rows[rows[name] >= t], rows[rows[name] < t]
        if len(hi) >= 2 and len(lo) >= 2:
            splits.append((abs(hi["value"].mean() - lo["value"].mean()), t, hi, lo))
    if not splits:
        return None
    _, t, hi, lo = max(splits, key=lambda split: split[0])
    return compare(view, name, (f"{name} ≥ {shown(t)}", hi), (f"{name} < {shown(t)}", lo), len(splits))


def findings(view: RunView, importance: dict[str, float] | None = None, with_best: bool = True) -> list[Finding]:
    """What the run's trials show. `with_best`: lead with the best trial against the baseline (the
    report's verdict says that itself)."""
    ranked = view.ranked()
    if not ranked:
        return [Finding("No trial reached a validation score, so there is nothing to compare.", "")]
    out = best_findings(view) if with_best else []
    frame = view.frame()
    order = list(importance or {}) + [d for d in view.dims if d not in (importance or {})]
    for name in order:
        finding = dimension_finding(view, frame, name)
        if finding is not None:
            out.append(finding)
    out += pruning_findings(view) + ensemble_findings(view) + failure_findings(view)
    return out


def best_findings(view: RunView) -> list[Finding]:
    """The chosen strategy against the baseline: the verdict's own words where a confirmation chose
    it (never the search runs' figures under a verdict that says otherwise), else the search's."""
    if view.choice is not None and view.choice.winner is not None:
        from stratsearch.report.confirmation import verdict

        return [Finding(line, "the confirmation over fresh seeds") for line in verdict(view)]
    out: list[Finding] = []
    ranked = view.ranked()
    best = ranked[0]
    test = f"; test {view.metric} {best.test:.4f}" if best.test is not None else ""
    out.append(
        Finding(
            f"The best strategy was trial {best.number} ({describe(best.config, view.info.task)}):"
            f" validation {view.metric} {best.value:.4f}{test}.",
            f"trial {best.number}, ranked over {len(ranked)} scored trials",
        )
    )
    baseline = view.baseline()
    if baseline is not None and baseline is not best:
        diff = best.value - baseline.value
        gain = "better" if view.objective.better(best.value, baseline.value) else "worse"
        on_test = ""
        if best.test is not None and baseline.test is not None:
            test_gain = "better" if view.objective.better(best.test, baseline.test) else "worse"
            on_test = f"; on test {amount(view, best.test - baseline.test)} {test_gain}"
            on_test += f" ({best.test:.4f} vs {baseline.test:.4f})"
        out.append(
            Finding(
                f"It was {amount(view, diff)} of {view.metric} {gain} than the baseline (trial {baseline.number},"
                f" {describe(baseline.config, view.info.task)}) on validation"
                f" ({best.value:.4f} vs {baseline.value:.4f}){on_test}.",
                f"trials {best.number} and {baseline.number}",
            )
        )
    elif baseline is not None:
        out.append(Finding(f"No searched strategy beat the baseline (trial {baseline.number}).", ""))
    return out


def pruning_findings(view: RunView) -> list[Finding]:
    stopped = [t for t in view.searched() if t.status in ("pruned", "stopped")]
    if not stopped:
        return []
    planned = sum(t.epochs_planned for t in view.scored())
    run = sum(t.epochs_run for t in view.scored())
    saved_s = sum((t.wall_s or 0) / max(t.epochs_run, 1) * (t.epochs_planned - t.epochs_run) for t in stopped)
    return [
        Finding(
            f"Pruning stopped {len(stopped)} of {len(view.scored())} trials early: they ran {run} of the"
            f" {planned} epochs planned ({1 - run / planned:.0%} saved), about {saved_s / 60:.1f} minutes of"
            " training at those trials' own pace.",
            f"trials {', '.join(str(t.number) for t in stopped)}",
        )
    ]


def ensemble_findings(view: RunView) -> list[Finding]:
    outcome = view.ensemble_outcome()
    if outcome is None:
        return []
    metric = view.metric
    text = (
        f"The {outcome.method} ensemble of the top {outcome.members} scored {outcome.value:.4f} {metric} on"
        f" {outcome.split}, {outcome.gain:+.4f} against the best single model ({outcome.single:.4f})."
    )
    methods = [r for r in view.ensemble["table"] if f"validation_{metric}" in r and r["method"] in METHODS]
    top = min(methods, key=lambda r: view.objective.sort_key(r[f"validation_{metric}"]))
    if view.objective.better(top[f"validation_{metric}"], outcome.validation):
        text += f" On validation the best method was {top['method']} ({top[f'validation_{metric}']:.4f})."
    return [Finding(text, f"trials {', '.join(str(m) for m in view.ensemble['members'])}")]


def failure_findings(view: RunView) -> list[Finding]:
    failed = [t for t in view.trials if t.status == "failed"]
    if not failed:
        return []
    kinds: dict[str, int] = {}
    for t in failed:
        kind = (t.reason or "unknown").split(":")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    summary = ", ".join(f"{k} ({n})" for k, n in kinds.items())
    return [Finding(f"{len(failed)} trial(s) failed: {summary}.", f"trials {', '.join(str(t.number) for t in failed)}")]
