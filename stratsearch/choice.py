"""Which strategy a run chose, which of its runs is the model, and the order of the rest.

The run directory stores; this module decides, once. The verdict, the report's summary,
`compare`, the ensemble's pool, model retention, `predict --best`, `export` and warm start all
ask `choose` (as Optuna asks `Study.best_trial`), and a
test holds them to its answer on runs where the winner moves.

With a confirmation over fresh seeds, the chosen strategy is its winner: among the candidates
racing kept (a candidate dropped as significantly worse cannot win, nor one whose seed run failed
every attempt), the best mean over the fresh rounds they all share, so that a candidate with a
fourth seed is not compared on another seed than the rest (the pairing cancels the seed's
effect; unequal sets of seeds bring it back). The search run is left out of that mean: it was
picked for scoring high. A tie goes to the baseline (a searched strategy that does not beat the
default is not chosen over it), then to the earlier trial. Before any fresh seed finished, or
without a confirmation, the best finished trial by validation is chosen.

The chosen strategy's model is its best finished run with a saved model: a confirmation's seed
runs always save theirs, and `keep` holds every confirmation candidate's runs, so a later
`stratsearch confirm` that moves the winner finds its models.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Any

from stratsearch.confirm.plan import Candidate, Confirmation, load_confirmation
from stratsearch.errors import StratsearchError
from stratsearch.objective import Objective
from stratsearch.rundir import RunDir, TrialRecord, TrialStatus, read_json


@dataclass(frozen=True)
class Choice:
    strategy: int | None  # the search trial whose strategy was chosen; None when no trial finished
    order: tuple[TrialRecord, ...]  # every scored trial: the chosen strategy's runs, then the others
    statuses: dict[int, TrialStatus]
    confirmation: Confirmation | None
    winner: Candidate | None  # the confirmation's winner, when one was confirmed

    def ranking(self, include_pruned: bool = False) -> list[TrialRecord]:
        """The run's trials, best first (finished ones only, unless `include_pruned`)."""
        return [r for r in self.order if include_pruned or self.statuses[r.number].status == "finished"]

    def runs(self) -> list[TrialRecord]:
        """The chosen strategy's finished runs, best first (its search run and its seed runs)."""
        return [r for r in self.ranking() if r.source() == self.strategy]

    def model_run(self) -> TrialRecord | None:
        """The run `predict --best` and `export` use: the chosen strategy's best run with a saved model."""
        from stratsearch.train.artifacts import has_model

        return next((r for r in self.runs() if has_model(r.folder)), None)

    def pool(self, top_k: int) -> list[TrialRecord]:
        """The trials an ensemble draws on, best first: the first `top_k` of `eligible` that kept a
        model, and every run of the chosen strategy that kept one (its seed runs make a seed
        ensemble of it). A run without a model is left out rather than failing the ensemble."""
        from stratsearch.train.artifacts import has_model

        saved = [r for r in self.eligible() if has_model(r.folder)]
        return [r for i, r in enumerate(saved) if i < top_k or r.source() == self.strategy]

    def left_out(self, top_k: int) -> list[int]:
        """The first `top_k` of `eligible` that kept no model: said beside the ensemble."""
        from stratsearch.train.artifacts import has_model

        return [r.number for r in self.eligible()[:top_k] if not has_model(r.folder)]

    def eligible(self) -> list[TrialRecord]:
        """What an ensemble may draw on: the ranking, or after a confirmation its fresh seed runs
        alone (`honest_pool`)."""
        return [r for r in self.ranking() if not self.honest_pool or r.source() != r.number]

    @property
    def honest_pool(self) -> bool:
        """Whether the ensemble is chosen on fresh seed runs. A search run's validation predictions
        are those that made it a top trial: picked for scoring high, they flatter it (the winner's
        curse), and greedy selection, soup membership and the best single model chosen on them
        favour the most flattered run. A confirmation's seed runs were not picked on their own
        validation scores."""
        return self.winner is not None

    def keep(self, top_k: int) -> set[int]:
        """Trials whose saved models must stay: the ranking's top `top_k`, the chosen strategy's runs,
        and every run of every confirmation candidate (a later confirmation may choose any of them)."""
        candidates = {c.source for c in self.confirmation.candidates} if self.confirmation else set()
        ranking = self.ranking()
        return {r.number for i, r in enumerate(ranking) if i < top_k or r.source() in {self.strategy, *candidates}}

    def searched(self) -> list[TrialRecord]:
        """The search trials alone (no seed run), in the ranking's order: what warm start draws on."""
        return [r for r in self.ranking() if r.source() == r.number]


def confirmed_winner(confirmation: Confirmation) -> Candidate | None:
    """The confirmation's winner among its survivors on their shared fresh rounds; None while no
    survivor has a fresh seed."""
    return next(iter(survivors(confirmation)), None)


def survivors(confirmation: Confirmation) -> list[Candidate]:
    """The candidates racing kept that have a fresh seed (a dropped candidate, or one whose seed run
    failed every attempt, is out), the winner first: by their mean over the fresh rounds they all
    share, then the baseline, then the earlier trial."""
    dropped = confirmation.dropped()
    alive = [c for c in confirmation.candidates if c.seed_group.confirmed and c.source not in dropped]
    if not alive:
        return []
    shared = set.intersection(*(set(c.fresh_values()) for c in alive))

    def key(c: Candidate) -> tuple[float, bool, int]:
        values = c.fresh_values()
        rounds = shared or values  # no round all share (one failed where another ran): each its own
        return (
            confirmation.objective.sort_key(fmean(values[r] for r in rounds)),
            c.source != confirmation.baseline,
            c.source,
        )

    return sorted(alive, key=key)


def choose(run_dir: RunDir, objective: Objective) -> Choice:
    """The run's choice, read from its folders now."""
    statuses = {r.number: (r, s) for r, s in run_dir.statuses() if s.scored}
    confirmation = load_confirmation(run_dir, objective)
    alive = survivors(confirmation) if confirmation else []
    winner = alive[0] if alive else None
    place = {c.source: i for i, c in enumerate(alive)}  # strategies as the confirmation orders them

    def own(number: int) -> tuple:
        s = statuses[number][1]
        return objective.sort_key(s.best_value), s.status != "finished", number

    def key(number: int) -> tuple:
        source = statuses[number][0].source()
        return (0, place[source], *own(number)) if source in place else (1, *own(number))

    order = tuple(statuses[n][0] for n in sorted(statuses, key=key))
    if winner is not None:
        strategy: int | None = winner.source
    else:
        finished = [r for r in order if statuses[r.number][1].status == "finished"]
        strategy = finished[0].source() if finished else None
    return Choice(strategy, order, {n: s for n, (_, s) in statuses.items()}, confirmation, winner)


def current_ensemble(run_dir: RunDir, choice: Choice) -> dict[str, Any] | None:
    """The run's ensemble, if it was built for the strategy the run chooses now; None when there is
    none or it is stale (`built_for`)."""
    summary = read_json(run_dir.ensemble_json)
    return summary if summary and built_for(summary, choice) else None


def built_for(summary: dict[str, Any], choice: Choice) -> bool:
    """Whether an ensemble (its ensemble.json) was built for the strategy the run chooses now, not
    before a later confirmation moved the choice. One that does not record its strategy (an older
    run directory) is taken as current."""
    return summary.get("strategy", choice.strategy) == choice.strategy


def stale_ensemble(run_dir: RunDir, summary: dict[str, Any], choice: Choice) -> str:
    """What to say when the ensemble on disk was built for another choice."""
    return (
        f"{run_dir}: its ensemble was built for trial {summary.get('strategy')}'s strategy, but the run now"
        f" chooses trial {choice.strategy}'s (a later confirmation moved the choice); rebuild it with"
        f" `stratsearch ensemble {run_dir}`, or use --best"
    )


def chosen_model(run_dir: RunDir, choice: Choice) -> TrialRecord:
    """The chosen strategy's model (`Choice.model_run`), or an error that says why there is none."""
    model = choice.model_run()
    if model is not None:
        return model
    if choice.strategy is None:
        raise StratsearchError(f"{run_dir}: no trial finished, so there is no model to use")
    raise StratsearchError(
        f"{run_dir}: the chosen strategy (trial {choice.strategy}) kept no saved model (its search run was"
        f" outside the top ensemble.top_k when it ended); `stratsearch confirm {run_dir}` trains it again on"
        " fresh seeds, whose models are kept"
    )
