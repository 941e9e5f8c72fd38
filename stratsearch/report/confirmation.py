"""The report's decision: the verdict that leads it, and the confirmation over seeds behind it.

With a confirmation, the winner is the candidate with the best mean over its fresh seeds (the
search run is left out of every choice, as it was picked for scoring high; it only breaks ties),
the same decision `predict --best`, `export` and the ensemble follow (`RunDir.ranked`), and it is
compared with the baseline on those fresh seeds, paired by seed. Without one, or before any fresh
seed finished, the verdict says that the ranking rests on one seed per configuration and how to
confirm it.
"""

from __future__ import annotations

import math
from typing import Any

from stratsearch.confirm.plan import Candidate, Confirmation
from stratsearch.confirm.stats import ALPHA, MIN_PAIRS, Interval, paired
from stratsearch.objective import Objective
from stratsearch.report.describe import describe
from stratsearch.report.document import Figure, Paragraph, Table
from stratsearch.report.findings import amount
from stratsearch.report.plots import confirmation_plot
from stratsearch.report.tradeoffs import front_words, sweep_front
from stratsearch.report.view import RunView


def label(c: Candidate) -> str:
    return f"trial {c.source}" + ("" if c.origin == "sampler" else f" ({c.origin})")


def spread(i: Interval) -> str:
    if i.n == 0:
        return "no fresh seed finished"
    if i.sd is None:
        return f"{i.mean:.4f} (1 seed)"
    return f"{i.mean:.4f} ± {i.sd:.4f} (95 % CI {i.low:.4f} to {i.high:.4f}, {i.n} seeds)"


def fresh_pairs(a: Candidate, b: Candidate, split: str) -> tuple[list[float], list[float]]:
    va, vb = a.values(split), b.values(split)
    rounds = sorted(r for r in set(va) & set(vb) if r > 0)
    return [va[r] for r in rounds], [vb[r] for r in rounds]


def against_baseline(view: RunView, winner: Candidate, base: Candidate) -> str:
    """The winner against the baseline on the fresh seeds: the difference, its interval, the p."""
    a, b = fresh_pairs(winner, base, "validation")
    if len(a) < 2:
        seen = "" if not a else f" (on {len(a)} paired fresh seed: {sum(a) - sum(b):+.4f} against {label(base)})"
        return (
            f"Against the baseline there is no test yet{seen}: a paired test over seeds needs two fresh"
            f" seeds; `stratsearch confirm {view.run_dir} --seeds 2` adds one."
        )
    test = paired(a, b)
    d = test.diff
    better = view.objective.better(d.mean, 0.0)
    stats = (
        f"{'+' if d.mean >= 0 else '−'}{amount(view, d.mean)} on validation {view.metric}, 95 % CI"
        f" {d.low:+.4f} to {d.high:+.4f}, {p_words(test.p)} over {test.n} fresh seeds"
    )
    ta, tb = fresh_pairs(winner, base, "test")
    on_test = ""
    if len(ta) >= 2:
        t = paired(ta, tb)
        on_test = f"; on test {t.diff.mean:+.4f} (95 % CI {t.diff.low:+.4f} to {t.diff.high:+.4f}, {p_words(t.p)})"
    if test.p < ALPHA and better:
        return f"It beat {label(base)}: {stats}{on_test}."
    return (
        f"Against {label(base)} it is within noise: {stats}{on_test}."
        " The evidence does not show it is better than the default."
    )


def p_words(p: float) -> str:
    if math.isnan(p):
        return "no test (the differences did not vary from seed to seed)"
    return f"paired t-test p = {p:.2g}"


def verdict(view: RunView) -> list[str]:
    """The decision in plain words, first thing in the report."""
    task = view.info.task
    confirmation = view.confirmation
    front = sweep_front(view)
    if front is not None and front.points:  # several objectives: no single winner, a front to choose from
        return [
            "This sweep traded two objectives, so no single trial wins: choose along the Pareto front."
            f" On {front_words(view, front)}"
        ]
    winner = confirmation.winner() if confirmation else None
    if confirmation is None or winner is None:
        lines = single_seed_verdict(view)
        if confirmation is not None:
            lines.append(
                "The confirmation over seeds confirmed no candidate (no fresh seed run finished, or each"
                " failed twice): this ranking is unconfirmed. Give it time with"
                f" `stratsearch confirm {view.run_dir}`."
            )
        return lines
    base = confirmation.by_source().get(confirmation.baseline) if confirmation.baseline is not None else None
    if base is winner:
        searched = [c for c in confirmation.candidates if c is not base and c.values()]
        lines = [
            f"No searched strategy beat the baseline: keep the default. Retrained on fresh seeds, the baseline"
            f" ({label(base)}) had the best mean validation {view.metric} of the {len(confirmation.candidates)}"
            f" candidates: {spread(base.fresh())}."
        ]
        if searched:
            best = max(searched, key=lambda c: mean_of(view, c))
            lines.append(f"The best searched one, {label(best)}: {spread(best.fresh())}.")
        return lines
    lines = [
        f"Use {label(winner)}: {describe(winner.config, task)}. It has the best mean validation {view.metric}"
        f" over fresh seeds (the search run left out, as it was picked for scoring high):"
        f" {spread(winner.fresh())}; on test {spread(winner.fresh('test'))}."
    ]
    if base is not None:
        lines.append(against_baseline(view, winner, base))
    search_run = winner.values().get(0)
    fresh = winner.fresh()
    if search_run is not None and fresh.n:
        lines.append(winners_curse(view.objective, search_run, fresh.mean))
    return lines


def winners_curse(objective: Objective, search_run: float, fresh_mean: float) -> str:
    """How far the search's own figure for the winner was from what fresh seeds give it."""
    flattered = objective.better(search_run, fresh_mean)  # for rmse, lower is better: a lower search run flattered
    return (
        f"The winner's curse: its search run scored {search_run:.4f}, its fresh seeds {fresh_mean:.4f} on"
        f" average ({search_run - fresh_mean:+.4f}); the search's own figure"
        f" {'overstated' if flattered else 'understated'} it."
    )


def mean_of(view: RunView, c: Candidate) -> float:
    """A candidate's mean over its fresh seeds (its search run where it has none), signed so that
    larger is better."""
    values = list((c.fresh_values() or c.values()).values())
    return -view.objective.sort_key(sum(values) / len(values))


def single_seed_verdict(view: RunView) -> list[str]:
    ranked = view.ranked()
    if not ranked:
        return ["No trial reached a validation score: there is nothing to choose."]
    best, baseline = ranked[0], view.baseline()
    caveat = (
        "This rests on one seed per configuration: the seed alone moves a fine-tuning result by a point or"
        f" more, so confirm it before trusting a small gap (`stratsearch confirm {view.run_dir}`)."
    )
    if len(ranked) > 1 and all(t.value == best.value for t in ranked):
        return [
            f"Every one of the {len(ranked)} scored trials reached the same validation {view.metric}"
            f" ({best.value:.4f}): the search could not tell the strategies apart, so there is no winner."
            " A model that predicts one class, or a validation split too small to separate them, does this."
        ]
    if baseline is not None and best is baseline:
        return [f"No searched strategy beat the baseline (trial {baseline.number}): keep the default. {caveat}"]
    line = f"Trial {best.number} scored best: {describe(best.config, view.info.task)}, validation {best.value:.4f}"
    if baseline is not None:
        line += f", {best.value - baseline.value:+.4f} against the baseline's {baseline.value:.4f}"
    return [line + f". {caveat}"]


def fate(confirmation: Confirmation, c: Candidate, winner: Candidate | None) -> str:
    dropped = confirmation.dropped().get(c.source)
    if c is winner:
        return "winner"
    if dropped:
        after, why = dropped
        return f"dropped after round {after} (adjusted p = {why.p:.2g})"
    if c.unconfirmed:
        return "unconfirmed: a seed run failed twice"
    return ""


def confirmation_blocks(view: RunView) -> list[Any]:
    """The candidates' table and figure, and what the confirmation cost and saved."""
    confirmation = view.confirmation
    assert confirmation is not None
    winner = confirmation.winner()
    rows = []
    for c in confirmation.candidates:
        search_run = c.values().get(0)
        val, test = c.fresh(), c.fresh("test")
        rows.append(
            [
                label(c),
                describe(c.config, view.info.task),
                "" if search_run is None else f"{search_run:.4f}",
                interval_cell(val),
                interval_cell(test),
                str(val.n),
                fate(confirmation, c, winner),
            ]
        )
    header = ["candidate", "strategy", f"search val {view.metric}", "fresh seeds: val", "fresh seeds: test"]
    table = Table([*header, "seeds", ""], rows, numeric={2, 5})
    runs = [t for t in view.trials if t.confirms is not None]
    spent = sum(t.wall_s or 0 for t in runs)
    share = f" ({spent / view.elapsed_s:.0%} of the run's time)" if view.elapsed_s else ""
    saved = f"{confirmation.saved_runs()} seed run(s), about {confirmation.saved_seconds() / 60:.1f} min"
    words = (
        f"The top {len(confirmation.candidates)} candidates (the best distinct searched strategies and the"
        f" baseline) were trained again on up to {confirmation.seeds} fresh seed(s) each (seed + 1, + 2, …; full"
        f" epochs, no pruning): {len(runs)} runs, {spent / 60:.1f} min{share}. Mean ± standard deviation and"
        " 95 % Student t intervals over the fresh seeds; the winner is the best mean over the fresh seeds"
        " (the search run, picked for scoring high, only breaks ties). A seed run that failed ran once more."
        f" Racing (a one-sided paired t-test against the leader on the fresh seeds, from {MIN_PAIRS} paired"
        " seeds on, Bonferroni-corrected over every pair of candidates and every look, so that equal"
        f" candidates are dropped with a chance of at most α = {ALPHA} in all) saved {saved}."
    )
    figure = Figure("confirmation", confirmation_plot(view.metric, confirmation), "fresh-seed means with 95 % CI")
    return [Paragraph(words), table, figure]


def interval_cell(i: Interval) -> str:
    if i.n == 0:
        return ""
    if i.sd is None:
        return f"{i.mean:.4f}"
    return f"{i.mean:.4f} ± {i.sd:.4f} [{i.low:.4f}, {i.high:.4f}]"
