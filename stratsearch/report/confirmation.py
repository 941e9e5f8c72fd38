"""The report's decision: the verdict that leads it, and the confirmation over seeds behind it.

With a confirmation, the winner is the survivor of racing with the best mean over the fresh seeds
the survivors share (`choice.py`: the search run is left out, as it was picked for scoring high),
the same decision `predict --best`, `export` and the ensemble follow, and it is compared with the
baseline on those fresh seeds, paired by seed, its p adjusted for its having been the best of k.
Without one, or before any fresh seed finished, the verdict says that the ranking rests on one
seed per configuration and how to confirm it.
"""

from __future__ import annotations

import math
from typing import Any

from stratsearch.confirm.plan import Candidate, Confirmation
from stratsearch.confirm.stats import ALPHA, MIN_PAIRS, Interval
from stratsearch.objective import Objective
from stratsearch.report.describe import describe
from stratsearch.report.document import Figure, Paragraph, Table
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


def ci_words(view: RunView, low: float, high: float) -> str:
    o = view.objective
    return f"95 % CI {o.signed(low, unit=False)} to {o.signed(high)}"


def against_baseline(view: RunView, confirmation: Confirmation, winner: Candidate, base: Candidate) -> str:
    """The winner against the baseline on their shared fresh seeds: the difference, and the test
    over seeds × validation examples beside the test over seeds alone."""
    on = confirmation.compare(winner, base)
    a, b = winner.fresh_values(), base.fresh_values()
    if len(on.rounds) < 2:
        seen = ""
        if on.rounds:
            gap = a[on.rounds[0]] - b[on.rounds[0]]
            seen = f" (on 1 paired fresh seed: {view.objective.signed(gap)} against {label(base)})"
        return (
            f"Against the baseline there is no test yet{seen}: the paired tests need two fresh seeds;"
            f" `stratsearch confirm {view.run_dir} --seeds 2` adds one."
        )
    seeds, test = on.seeds, on.crossed
    diff = seeds.diff.mean
    said = f"{view.objective.signed(diff)} on validation {view.metric}"
    seeds_only = f"{ci_words(view, seeds.diff.low, seeds.diff.high)}, {p_words(seeds.p)} over {seeds.n} fresh seeds"
    if test is None:  # predictions missing: the seeds alone
        stats = seeds_only
    else:
        low, high = test.interval()
        n = view.info.sizes.get("validation")
        stats = (
            f"{ci_words(view, low, high)}, p = {test.p:.2g} in a paired t-test over {test.seeds} fresh seeds ×"
            f" {n or 'the'} validation examples, which counts the noise of both; over the seeds alone {seeds_only}"
        )
    tested = confirmation.versus_baseline(winner)
    assert tested is not None  # the winner is not the baseline here
    if tested.k > 1:
        stats += (
            f"; it was the best of {tested.k} searched candidates on these seeds, so its p is Holm-adjusted over"
            f" the {tested.k} comparisons with the baseline: {tested.adjusted:.2g}"
        )
    on_test = ""
    test_seeds = confirmation.compare(winner, base, "test").seeds
    if test_seeds.n >= 2:
        on_test = (
            f"; on test {view.objective.signed(test_seeds.diff.mean)}"
            f" ({ci_words(view, test_seeds.diff.low, test_seeds.diff.high)} over the seeds alone)"
        )
    if tested.adjusted < ALPHA and view.objective.better(diff, 0.0):
        return f"It beat {label(base)}: {said} ({stats}){on_test}."
    return (
        f"Against {label(base)} it is within noise: {said} ({stats}){on_test}."
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
    winner = view.choice.winner if view.choice else None
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
        lines.append(against_baseline(view, confirmation, winner, base))
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
        return f"dropped after round {after} (over {why.over}, adjusted p = {why.p:.2g})"
    if c.unconfirmed:
        return "unconfirmed: a seed run failed twice"
    return ""


def confirmation_blocks(view: RunView) -> list[Any]:
    """The candidates' table and figure, and what the confirmation cost and saved."""
    confirmation = view.confirmation
    assert confirmation is not None
    winner = view.choice.winner if view.choice else None
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
        " 95 % Student t intervals over the fresh seeds; the winner is the best mean over the fresh seeds that"
        " the candidates racing kept all share (the search run, picked for scoring high, is left out; a tie"
        " goes to the baseline). A seed run that failed ran once more."
        " Differences are tested over seeds × validation examples: a paired t-test on each run's"
        " per-example share of its score, with the seed and the examples as random effects, so that two"
        " or three seeds suffice when hundreds of examples agree (a test over seeds alone has one degree"
        " of freedom with two seeds, and is given beside it). The winner's p against the baseline is"
        " Holm-adjusted over every searched candidate's comparison with it, as the winner is the best of"
        " them on the same seeds."
        f" Racing (that test, one-sided against the leader, from {MIN_PAIRS} paired seeds on,"
        " Bonferroni-corrected over every pair of candidates and every look, so that equal"
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
