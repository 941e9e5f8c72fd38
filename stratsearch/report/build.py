"""Putting a report together: `report_document` for one run, `compare_document` for several."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from stratsearch.report.claims import by_freeze_depth, claims, claims_intro, drift_by_layer
from stratsearch.report.confirmation import confirmation_blocks, verdict
from stratsearch.report.describe import describe
from stratsearch.report.document import Bullets, Columns, Document, Figure, Paragraph, Section, Table, write
from stratsearch.report.findings import Finding, findings, pruning_findings
from stratsearch.report.importance import Importance, param_importance
from stratsearch.report.plots import (
    dimension_plot,
    fronts_plot,
    importance_plot,
    layer_drift_plot,
    learning_curves_plot,
    search_progress_plot,
)
from stratsearch.report.tradeoffs import front_rows, front_words, fronts
from stratsearch.report.view import RunView, load_run

LEADERBOARD_SIZE = 10


def shown_path(path: Path) -> str:
    """Relative to the working directory when under it (runs/NAME), else absolute."""
    path = path.resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def minutes(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 60:.1f} min"


def facts(view: RunView) -> list[tuple[str, str]]:
    """The summary, as (what, value) pairs."""
    info, metric = view.info, view.metric
    statuses = ("finished", "pruned", "stopped", "stopped: not learning", "failed")
    searched = view.searched()
    counts = {s: sum(t.shown_status == s for t in searched) for s in statuses}
    sizes = ", ".join(f"{n:,} {split}" for split, n in info.sizes.items())
    budget = info.budget
    used = f"{len(searched)} of {budget.get('trials', '?')} search trials"
    if len(searched) < len(view.trials):
        used += f" and {len(view.trials) - len(searched)} confirmation runs"
    if view.elapsed_s is not None:
        used += f", {minutes(view.elapsed_s)}" + (f" of {budget['time']}" if budget.get("time") else "")
    rows = [
        ("data", f"{info.task}; {sizes or 'sizes not recorded'} ({Path(str(info.data.train)).parent.name})"),
        ("model", info.model or str(info.model_path)),
        ("objective", f"{info.objective.mode} validation {metric}"),
        ("search", search_words(info.search)),
        ("budget used", used),
        ("trials", ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none"),
    ]
    pruning = pruning_findings(view)
    if pruning:
        rows.append(("compute saved by pruning", pruning[0].text))
    rows += chosen_facts(view)
    outcome = view.ensemble_outcome()
    if outcome:
        figures = f"{outcome.split} {fmt(outcome.value)}, {outcome.gain:+.4f} vs the best single"
        rows.append(("ensemble", f"{outcome.method} over {outcome.members} models: {figures}"))
    rows += [("ensemble", note) for note in view.notes]
    return rows


def chosen_facts(view: RunView) -> list[tuple[str, str]]:
    """The chosen strategy and the baseline: on the fresh seeds where a confirmation chose it (the
    figures the verdict rests on), else the search runs'."""
    confirmation, winner = view.confirmation, view.choice.winner if view.choice else None
    if confirmation is not None and winner is not None:
        val, test = winner.fresh(), winner.fresh("test")
        on_test = fmt(test.mean) if test.n else "n/a"
        rows = [
            (
                "chosen",
                f"trial {winner.source}, confirmed: validation {fmt(val.mean)}, test {on_test}"
                f" (means over {val.n} fresh seed(s); its search run {fmt(winner.values().get(0)) or 'n/a'})",
            )
        ]
        base = confirmation.by_source().get(confirmation.baseline) if confirmation.baseline is not None else None
        if base is not None and base is not winner:
            on = confirmation.compare(winner, base)
            gap = f"; chosen − baseline = {view.objective.signed(on.seeds.diff.mean)}" if on.rounds else ""
            rows.append(
                (
                    "baseline",
                    f"trial {base.source}: validation {fmt(base.fresh().mean) if base.fresh().n else 'n/a'} over"
                    f" {base.fresh().n} fresh seed(s){gap} on validation, paired by seed (the verdict tests it)",
                )
            )
        return rows
    ranked, baseline = view.ranked(), view.baseline()
    if not ranked:
        return []
    best = ranked[0]
    rows = [("best trial", f"{best.number}: validation {fmt(best.value)}, test {fmt(best.test) or 'n/a'}")]
    if baseline is not None:
        gain = best.value - baseline.value
        rows.append(
            (
                "baseline",
                f"trial {baseline.number}: validation {fmt(baseline.value)}, test {fmt(baseline.test) or 'n/a'};"
                f" best − baseline = {view.objective.signed(gain)} on validation (one seed each, unconfirmed)",
            )
        )
    return rows


def search_words(search: dict) -> str:
    words = f"{search.get('sampler', '?')} sampler, {search.get('pruner', '?')} pruner"
    portfolio = search.get("portfolio", "none")
    if portfolio != "none":
        words += ", portfolio " + (
            portfolio if isinstance(portfolio, str) else f"of {len(portfolio)} (the space's own)"
        )
    if search.get("warm_start"):
        words += ", warm start from " + ", ".join(search["warm_start"])
    return words


def leaderboard(view: RunView, size: int = LEADERBOARD_SIZE) -> Table:
    rows = []
    for rank, t in enumerate(view.ranked()[:size], start=1):
        best_epoch = t.curve.index(t.value) + 1 if t.value in t.curve else ""
        rows.append(
            [
                str(rank),
                str(t.number) + ("" if t.origin == "sampler" else f" ({t.origin})"),
                describe(t.config, view.info.task),
                t.shown_status,
                fmt(t.value),
                fmt(t.test),
                f"{best_epoch}/{t.epochs_run}",
                minutes(t.wall_s),
                f"{t.trainable:,}" if t.trainable else "",
                fmt(t.measured.drift, 3),
            ]
        )
    header = ["#", "trial", "strategy", "status", f"val {view.metric}", f"test {view.metric}", "epoch best/run"]
    return Table([*header, "time", "trainable params", "drift"], rows, numeric={0, 4, 5, 6, 7, 8, 9})


def ensemble_table(view: RunView) -> Table:
    metric = view.metric
    rows = []
    for row in view.ensemble["table"]:
        rows.append(
            [
                row["method"] + (" (chosen)" if row["chosen"] else ""),
                row["members"],
                fmt(row.get(f"validation_{metric}")),
                fmt(row.get(f"test_{metric}")),
                row.get("note") or "",
            ]
        )
    return Table(["method", "members", f"val {metric}", f"test {metric}", "note"], rows, numeric={2, 3})


def bullets(items: list[Finding]) -> Bullets:
    return Bullets([(f.text, f.evidence) for f in items])


def mattered(view: RunView, importance: Importance) -> list:
    blocks: list = [Paragraph(f"Parameter importance: {importance.note}.")]
    if importance.values:
        table = Table(["dimension", "importance"], [[k, f"{v:.3f}"] for k, v in importance.values.items()], {1})
        blocks += [table, Figure("importance", importance_plot(importance.values), "fANOVA importance")]
    order = list(importance.values) + [d for d in view.dims if d not in importance.values]
    for i, name in enumerate(order):
        if any(name in t.params for t in view.scored()):
            caption = f"validation {view.metric} against {name}"
            blocks.append(Figure(f"dimension-{i}", dimension_plot(view, name), caption))
    return blocks


def findings_blocks(view: RunView, importance: Importance) -> list:
    """The significant findings as sentences; every comparison within noise in one compact table."""
    items = findings(view, importance.values, with_best=False)
    said = [f for f in items if f.significant]
    noise = [f.row for f in items if not f.significant and f.row]
    single_seed = "Comparisons of searched values rest on the search's own trials: one seed per configuration."
    blocks: list = [Paragraph(single_seed)]
    blocks.append(bullets(said) if said else Paragraph("No searched dimension made a significant difference."))
    if noise:
        blocks += [
            Paragraph("Within noise (Welch's t-test, p ≥ 0.05 after Bonferroni, or too few trials for a test):"),
            Table(["dimension", "values compared", "difference", "p", "trials"], noise, numeric={2, 3}),
        ]
    return blocks


def section(title: str, build: Callable[[], list]) -> Section:
    """A report section, or, where it cannot be computed (a degenerate run, a record a disk fault
    garbled), a section that says why: the report never fails the run it reports on."""
    try:
        return Section(title, build())
    except Exception as err:  # any failure of one section: the others still stand
        return Section(title, [Paragraph(f"Not computed: {type(err).__name__}: {err}")])


def report_document(view: RunView) -> Document:
    try:
        importance = param_importance(view)
    except Exception as err:  # as in `section`
        importance = Importance({}, 0, f"not computed: {type(err).__name__}: {err}")
    sections = [
        section("Verdict", lambda: [Paragraph(line) for line in verdict(view)]),
        section("Summary", lambda: [Table(["", ""], [[k, v] for k, v in facts(view)])]),
    ]
    if view.confirmation is not None:
        sections.append(section("Confirmation over seeds", lambda: confirmation_blocks(view)))
    sections += [
        section("Findings", lambda: findings_blocks(view, importance)),
        section("Leaderboard", lambda: [leaderboard(view)]),
        section("What mattered", lambda: mattered(view, importance)),
        section("Trade-offs: cost and drift", lambda: tradeoff_blocks(view)),
        section("The article's claims, on this data", lambda: claims_blocks(view)),
    ]
    if view.scored():
        sections.append(section("How the search went", lambda: search_figures(view)))
    if view.ensemble:
        sections.append(section("Ensemble", lambda: ensemble_blocks(view)))
    failed = [t for t in view.trials if t.status == "failed"]
    if failed:
        rows = [[str(t.number), t.reason or ""] for t in failed]
        sections.append(Section("Failed trials", [Table(["trial", "reason"], rows)]))
    subtitle = f"stratsearch report of {shown_path(view.run_dir)}"
    return Document(f"{view.info.name}: which fine-tuning strategy won", subtitle, sections)


def tradeoff_blocks(view: RunView) -> list:
    found = fronts(view)
    if not found:
        return [Paragraph("Fewer than two scored trials recorded their cost or drift: no trade-off to draw.")]
    intro = (
        f"Validation {view.metric} against what a trial cost and how far it moved the pretrained encoder. The"
        " red line joins the trials no other trial beats on both (the Pareto front). Drift is 1 − the linear"
        " CKA of the top layer to the pretrained encoder on the run's probe texts: a similarity of"
        " representations, not a measure of what a task would lose."
    )
    caption = "Pareto fronts: " + "; ".join(f"{view.metric} vs {f.label}" for f in found)
    blocks: list = [Paragraph(intro), Figure("fronts", fronts_plot(view, found), caption)]
    for front in found:
        header = ["trial", "strategy", "status", f"val {view.metric}", front.column]
        blocks += [Paragraph(front_words(view, front)), Table(header, front_rows(view, front), numeric={0, 3, 4})]
    return blocks


def claims_blocks(view: RunView) -> list:
    rows = [[c.said, c.compared, c.figures, c.verdict] for c in claims(view)]
    blocks = [Paragraph(claims_intro(view)), Table(["the article says", "compared", "on this data", "verdict"], rows)]
    header, by_depth = by_freeze_depth(view)
    if len(by_depth) > 1:
        blocks += [
            Paragraph("The same trials by freeze depth (means; BitFit, LoRA and gradual unfreezing left out):"),
            Table(header, by_depth, numeric=set(range(len(header)))),
        ]
    if curves := drift_by_layer(view):
        words = (
            "Where the encoder moved: each layer's drift (1 − its linear CKA to the pretrained encoder's same"
            " layer), averaged per freeze depth over the finished trials above. Frozen layers keep drift 0 by"
            " construction; the curve above them shows how far each trained layer moved."
        )
        figure = Figure("layer-drift", layer_drift_plot(curves), "drift by layer, per freeze depth")
        blocks += [Paragraph(words), figure]
    return blocks


def search_figures(view: RunView) -> list:
    return [
        Figure("progress", search_progress_plot(view), "best so far, by trial number and by time"),
        Figure("learning-curves", learning_curves_plot(view), "learning curves: top trials and pruned"),
    ]


def ensemble_blocks(view: RunView) -> list:
    blocks: list = [ensemble_table(view)]
    if view.ensemble.get("chosen_on"):
        blocks.append(Paragraph(f"The methods chose (greedy's members, the soup's) on {view.ensemble['chosen_on']}."))
    if view.ensemble.get("roles"):
        said = "; ".join(f"{t}: {role}" for t, role in view.ensemble["roles"].items())
        blocks.append(Paragraph(f"Members from the confirmation over seeds — {said}."))
    return blocks


def compare_document(views: list[RunView]) -> Document:
    names = [v.info.name for v in views]
    facts_by_run = [dict(facts(v)) for v in views]
    keys = list(dict.fromkeys(k for f in facts_by_run for k in f))
    summary = Table(["", *names], [[k, *(f.get(k, "") for f in facts_by_run)] for k in keys])
    sections = [
        Section("Summary", [summary]),
        Section("Leaderboards", [Columns([(v.info.name, [leaderboard(v, 5)]) for v in views])]),
        Section(
            "Findings",
            [Columns([(v.info.name, [bullets(findings(v, param_importance(v).values))]) for v in views])],
        ),
    ]
    return Document(f"Comparing {', '.join(names)}", "stratsearch compare", sections)


def write_report(run_dir: Path, out: Path | None = None) -> tuple[Path, Path]:
    view = load_run(run_dir)
    return write(report_document(view), out or Path("reports") / f"{view.info.name}.html")


def write_compare(run_dirs: list[Path], out: Path | None = None) -> tuple[Path, Path]:
    views = [load_run(d) for d in run_dirs]
    default = Path("reports") / ("compare-" + "-vs-".join(v.info.name for v in views) + ".html")
    return write(compare_document(views), out or default)
