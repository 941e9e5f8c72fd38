"""Ensembling a run's top-k trials, from the predictions each saved at its best epoch.

The top-k finished trials by validation objective are combined by every method in `METHODS`;
each method sees only validation predictions when it decides (greedy selection, soup
membership), and the test split is used only to report. The result is written to

    ensemble/ensemble.json   the chosen method's recipe (members, weights, rule) and the table
    ensemble/table.csv       best single vs mean of the singles vs each method, per split
    ensemble/predictions/    the chosen blend's validation and test predictions
    ensemble/soup/           the souped model, when soup is the chosen method

and `stratsearch predict` applies the recipe to new inputs. Nothing is retrained.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratsearch import faults, files
from stratsearch.choice import choose
from stratsearch.ensemble.combine import Prediction, greedy_counts, vote, weighted_mean
from stratsearch.errors import StratsearchError
from stratsearch.objective import Objective
from stratsearch.registry import Registry
from stratsearch.rundir import RunDir, TrialRecord, write_json

if TYPE_CHECKING:
    from stratsearch.train.data import Dataset

BEST_SINGLE = "best single"
# Whose validation predictions the methods choose on (`Choice.honest_pool`), as ensemble.json says.
FRESH_RUNS = "the confirmation's fresh seed runs, whose validation predictions no selection inflated"
SEARCH_RUNS = (
    "the search runs' validation predictions, which flatter them (each was kept for scoring high):"
    " a confirmation over seeds would choose on fresh runs"
)
MEAN_OF_SINGLES = "mean of singles"


@dataclass
class Member:
    trial: int
    folder: Path
    validation: Prediction
    test: Prediction | None


@dataclass
class Blend:
    """A method's outcome: which trials, with which weights, combined by which rule."""

    rule: str  # mean | vote | soup
    weights: dict[int, float]
    validation: Prediction
    test: Prediction | None
    model: Any = None  # the souped model, for rule == "soup"
    note: str = ""


class Skipped(Exception):
    """A method that does not apply to this pool; the message says why."""


@dataclass
class Pool:
    """The top-k trials, best first, and how to score a prediction on each split."""

    members: list[Member]
    score: Callable[[Prediction, str], dict[str, float]]  # (prediction, split) → metrics
    objective: Objective
    evaluate: Callable[[Any], tuple[Prediction, Prediction | None]] | None = None  # model → (validation, test)
    multi_label: bool = False  # a set of classes per example: voted on class by class
    # A validation prediction → what turns it into answers (Task.decisions: multi-label thresholds)
    decide: Callable[[Prediction], dict[str, Any]] = lambda prediction: {}

    @property
    def has_test(self) -> bool:
        return all(m.test is not None for m in self.members)

    @property
    def metric(self) -> str:
        return self.objective.metric

    def blend(self, rule: str, weights: dict[int, float]) -> Blend:
        chosen = [m for m in self.members if weights.get(m.trial)]
        w = [weights[m.trial] for m in chosen]
        combine = (
            (lambda preds: weighted_mean(preds, w)) if rule == "mean" else partial(vote, multi_label=self.multi_label)
        )
        test = combine([m.test for m in chosen]) if self.has_test else None
        return Blend(rule, weights, combine([m.validation for m in chosen]), test)


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[[Pool], Blend]


METHODS: Registry[Method] = Registry("ensemble method")


def method(name: str) -> Callable[[Callable[[Pool], Blend]], Callable[[Pool], Blend]]:
    def add(fn: Callable[[Pool], Blend]) -> Callable[[Pool], Blend]:
        METHODS.add(Method(name, fn))
        return fn

    return add


@method("mean")
def mean_method(pool: Pool) -> Blend:
    """Average of the members' probabilities (values for regression, per-word probabilities for tags)."""
    return pool.blend("mean", {m.trial: 1.0 for m in pool.members})


@method("vote")
def vote_method(pool: Pool) -> Blend:
    """Majority vote, ties broken by the mean probability; the median for regression."""
    return pool.blend("vote", {m.trial: 1.0 for m in pool.members})


@method("greedy")
def greedy_method(pool: Pool) -> Blend:
    """Caruana forward selection with replacement on validation, up to k picks."""
    counts = greedy_counts(
        [m.validation for m in pool.members],
        lambda p: pool.score(p, "validation")[pool.metric],
        lambda a, b: pool.objective.better(a, b),
        len(pool.members),
    )
    return pool.blend("mean", {m.trial: float(c) for m, c in zip(pool.members, counts, strict=True) if c})


@method("soup")
def soup_method(pool: Pool) -> Blend:
    """Uniform average of the weights of the members that share the best member's architecture."""
    from stratsearch.ensemble.soup import average, matching
    from stratsearch.train.artifacts import has_model

    missing = [m.trial for m in pool.members if not has_model(m.folder)]
    if missing:
        raise Skipped(f"trial(s) {missing} have no saved model")
    if len(pool.members) < 2 or pool.evaluate is None:
        raise Skipped("needs at least two trials and the data to evaluate the soup on")
    keep, reasons, models = matching([m.folder for m in pool.members])
    left_out = [m.trial for i, m in enumerate(pool.members) if i not in keep]
    differ = "; ".join(f"trial {t}: {r}" for t, r in zip(left_out, reasons, strict=True))
    if len(keep) < 2:
        raise Skipped(f"no other top-k trial shares trial {pool.members[0].trial}'s architecture ({differ})")
    soup = average(models)
    validation, test = pool.evaluate(soup)
    note = f"left out: {differ}" if differ else ""
    return Blend("soup", {pool.members[i].trial: 1.0 for i in keep}, validation, test, soup, note)


# --- the run-level step ----------------------------------------------------------------------------


def roles(records: list[TrialRecord]) -> dict[str, str]:
    """What each ensemble member is, where a confirmation makes it more than "a trial"."""
    sources = {r.source() for r in records if r.source() != r.number}
    out = {}
    for r in records:
        if r.number in sources:
            role = "search run, confirmed"
        elif r.source() != r.number:
            role = f"trial {r.source()} on seed +{r.config().get('round')}"
        else:
            continue
        out[str(r.number)] = f"winner: {role}" if r.source() == records[0].source() else role
    return out


def keep_top_models(run_dir: RunDir, objective: Objective, top_k: int) -> None:
    """Delete the saved models of finished trials the choice does not keep (`Choice.keep`: the top k,
    the chosen strategy's runs, every confirmation candidate's runs)."""
    from stratsearch.train.artifacts import remove_model

    choice = choose(run_dir, objective)
    kept = choice.keep(top_k)
    for record in choice.ranking():
        if record.number not in kept:
            remove_model(record.folder)


def load_members(
    records: list[TrialRecord], evaluate: Callable[[Any], tuple[Prediction, Prediction | None]], has_test: bool
) -> list[Member]:
    """The members' stored predictions; where a file is missing or unreadable (a disk fault), the
    member's saved model predicts again and the files are written anew."""
    from stratsearch.predictions import read_predictions, save_predictions
    from stratsearch.train.artifacts import load_model

    members = []
    for record in records:
        paths = [record.predictions_path("validation"), record.predictions_path("test")]
        validation, test = (read_predictions(path) for path in paths)
        if validation is None or (has_test and test is None):
            validation, test = evaluate(load_model(record.folder)[0])
            for path, prediction in zip(paths, (validation, test), strict=True):
                if prediction is not None:
                    save_predictions(path, prediction)
        members.append(Member(record.number, record.folder, validation, test))
    return members


def table_row(name: str, members: str, metrics: dict[str, dict[str, float]], note: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {"method": name, "members": members}
    for split, values in metrics.items():
        row.update({f"{split}_{k}": v for k, v in values.items()})
    row["note"] = note
    return row


def mean_metrics(per_member: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(m[k] for m in per_member) / len(per_member) for k in per_member[0]}


def build_ensemble(pool: Pool, method: str) -> tuple[list[dict[str, Any]], dict[str, Any], Blend | None]:
    """The comparison table, the recipe `predict` follows, and the chosen blend (None: best single).

    If the chosen method does not apply (a soup with no matching architectures), the recipe
    falls back to the best single model and says why.
    """
    splits = ["validation", "test"] if pool.has_test else ["validation"]

    def metrics_of(prediction_of: Callable[[str], Prediction]) -> dict[str, dict[str, float]]:
        return {split: pool.score(prediction_of(split), split) for split in splits}

    singles = [metrics_of(lambda split, m=m: getattr(m, split)) for m in pool.members]
    best = pool.members[0]
    rows = [
        table_row(BEST_SINGLE, str(best.trial), singles[0]),
        table_row(
            MEAN_OF_SINGLES,
            " ".join(str(m.trial) for m in pool.members),
            {split: mean_metrics([s[split] for s in singles]) for split in splits},
        ),
    ]
    blends: dict[str, Blend] = {}
    for entry in METHODS:
        try:
            blends[entry.name] = entry.fn(pool)
        except Skipped as why:
            rows.append(table_row(entry.name, "", {}, f"skipped: {why}"))
            continue
        blend = blends[entry.name]
        members = " ".join(f"{t}×{w:g}" if w != 1 else str(t) for t, w in blend.weights.items())
        rows.append(table_row(entry.name, members, metrics_of(lambda split, b=blend: getattr(b, split)), blend.note))
    chosen = blends.get(method)
    for row in rows:
        row["chosen"] = row["method"] == (method if chosen else BEST_SINGLE)
    recipe: dict[str, Any] = {
        "method": method if chosen else BEST_SINGLE,
        "rule": chosen.rule if chosen else "mean",
        "weights": {str(t): w for t, w in chosen.weights.items()} if chosen else {str(best.trial): 1.0},
    }
    if not chosen:
        recipe["fallback"] = f"{method} {next(r['note'] for r in rows if r['method'] == method)}"
    return rows, recipe, chosen


def write_ensemble(
    run_dir: RunDir,
    pool: Pool,
    method: str,
    top_k: int,
    member_roles: dict[str, str] | None = None,
    strategy: int | None = None,
    left_out: list[int] | None = None,
    chosen_on: str = "",
) -> dict[str, Any]:
    """Build the ensemble of `pool` and write the `ensemble/` folder; returns what ensemble.json holds.
    `strategy`: the chosen strategy it was built for (`choice.py`), recorded so that an ensemble
    never outlives the choice it was built for (`choice.current_ensemble`); `left_out`: trials of the
    top k that kept no model, said beside it; `chosen_on`: whose validation predictions the
    methods' choices were made on."""
    import pandas as pd

    from stratsearch.predictions import save_predictions
    from stratsearch.train.artifacts import save_model

    out = run_dir.ensemble_dir
    rows, recipe, chosen = build_ensemble(pool, method)
    summary = {
        "metric": pool.metric,
        "mode": pool.objective.mode,
        "top_k": top_k,
        "requested": method,
        "members": [m.trial for m in pool.members],
        "strategy": strategy,
        "left_out": left_out or [],
        "chosen_on": chosen_on,
        "roles": member_roles or {},
        **recipe,
        # chosen on the blend's (or the best single's) validation predictions, never the test's
        "decisions": pool.decide(chosen.validation if chosen else pool.members[0].validation),
        "table": rows,
    }
    # ensemble.json goes first and comes back last: a crash in between leaves no ensemble (the next
    # `run` builds it again), never a recipe pointing at files half replaced.
    run_dir.ensemble_json.unlink(missing_ok=True)
    for stale in ("soup", "predictions"):
        shutil.rmtree(out / stale, ignore_errors=True)
    if chosen is not None:
        save_predictions(out / "predictions" / "validation.npz", chosen.validation)
        if chosen.test is not None:
            save_predictions(out / "predictions" / "test.npz", chosen.test)
        if chosen.model is not None:
            best = pool.members[0].folder
            manifest = {**json.loads((best / "stratsearch.json").read_text()), "soup_of": summary["weights"]}
            manifest["decisions"] = summary["decisions"]  # the soup's own, not its best member's
            save_model(run_dir.soup_dir, chosen.model, best / "model", manifest)
    out.mkdir(parents=True, exist_ok=True)
    with files.atomic_file(out / "table.csv") as handle:
        pd.DataFrame(rows).to_csv(handle, index=False)
    faults.point("ensemble.write")
    write_json(run_dir.ensemble_json, summary)
    return summary


def ensemble_run(run_dir: RunDir, data: Dataset, objective: Objective, top_k: int, method: str) -> dict[str, Any]:
    """Ensemble a run's top-k finished trials (`stratsearch ensemble`, and the end of `run`)."""
    from stratsearch.train.trainer import pick_device, predict

    choice = choose(run_dir, objective)
    records = choice.pool(top_k)
    if not records:
        kept = "" if choice.strategy is None else " that kept its model"
        raise StratsearchError(f"{run_dir}: no finished trial{kept} to ensemble")
    targets = {"validation": data.validation.targets, "test": data.test.targets if data.test else None}
    device = pick_device()
    batch_size = 2 * records[0].config()["config"]["batch_size"]

    def score(prediction: Prediction, split: str) -> dict[str, float]:
        return data.task.score(prediction, targets[split], data.label_names)

    def evaluate(model: Any) -> tuple[Prediction, Prediction | None]:
        model.to(device)
        validation = predict(model, data.validation, data, batch_size, device)
        return validation, predict(model, data.test, data, batch_size, device) if data.test else None

    def decide(prediction: Prediction) -> dict[str, Any]:
        return data.task.decisions(prediction, targets["validation"])

    members = load_members(records, evaluate, data.test is not None)
    pool = Pool(members, score, objective, evaluate, data.task.multi_label, decide)
    chosen_on = FRESH_RUNS if choice.honest_pool else SEARCH_RUNS
    left_out = choice.left_out(top_k)
    return write_ensemble(run_dir, pool, method, top_k, roles(records), choice.strategy, left_out, chosen_on)
