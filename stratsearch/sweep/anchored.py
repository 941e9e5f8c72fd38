"""Default-anchored sampling: early trials change a few things at a time, then TPE takes over.

Over a wide space (the article's whole strategy list is 36 dimensions), a random draw changes
everything at once and combines several harmful choices (a tiny learning rate with SGD, focal
loss and gradual unfreezing): most such trials learn nothing, and nothing is learnt from them
about which choice hurt. Until `handover` trials have completed, this sampler instead keeps each
parameter at the incumbent's value (the best completed trial's; the trainer's default where the
incumbent has none, e.g. a branch it did not take) and redraws it at random with a small
probability — about two top-level dimensions per trial, never none. From then on, TPE
(multivariate, grouped for the conditional branches) proposes, with those trials as its history.
It is a local search around a strong start (like the "one-change-at-a-time" ablations of the
tuning playbook), then a model-based one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from stratsearch.space.dims import Space
from stratsearch.space.sampling import parameter_names

REDRAWS = 16


class AnchoredSampler(BaseSampler):
    def __init__(self, space: Space, anchor: dict[str, Any], seed: int, handover: int | None = None):
        names = parameter_names(space)
        self.top = [name for name, inside in names if not inside]
        self.inner = [name for name, inside in names if inside]
        self.anchor = anchor  # the trainer's defaults as this space's parameters (every branch's)
        self.seed = seed
        # Enough history for TPE's density estimates over this many dimensions.
        self.handover = handover if handover is not None else max(10, len(self.top))
        self.rate = min(0.5, 2 / max(1, len(self.top)))
        self.random = RandomSampler(seed=seed)
        self.tpe = TPESampler(seed=seed, multivariate=True, group=True)
        # (trial number, anchoring?, values to keep): read from the study once per trial, not once per
        # parameter (each read loads every trial from the SQLite storage).
        self.plan: tuple[int, bool, dict[str, Any]] | None = None

    def plan_for(self, study: Study, trial: FrozenTrial) -> tuple[bool, dict[str, Any]]:
        """Whether this trial is still anchored, and the value each parameter keeps if not redrawn."""
        if self.plan is None or self.plan[0] != trial.number:
            complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            anchoring = len(complete) < self.handover
            kept = {**self.anchor, **self.incumbent(study)} if anchoring else {}
            self.plan = (trial.number, anchoring, kept)
        return self.plan[1], self.plan[2]

    def redrawn(self, number: int) -> frozenset[str]:
        """The parameters trial `number` redraws: each with probability `rate`, at least one top-level one."""
        rng = random.Random(self.seed * 100_003 + number)
        names = {n for n in [*self.top, *self.inner] if rng.random() < self.rate}
        if not names.intersection(self.top) and self.top:
            names.add(rng.choice(self.top))
        return frozenset(names)

    @staticmethod
    def incumbent(study: Study) -> dict[str, Any]:
        trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
        if not trials:
            return {}
        best = (max if study.direction == StudyDirection.MAXIMIZE else min)(trials, key=lambda t: t.value)
        return best.params

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        anchoring, _ = self.plan_for(study, trial)
        return {} if anchoring else self.tpe.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {} if not search_space else self.tpe.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        anchoring, keep = self.plan_for(study, trial)
        if not anchoring:
            return self.tpe.sample_independent(study, trial, param_name, param_distribution)
        kept = keep.get(param_name)
        if kept is None or not param_distribution._contains(param_distribution.to_internal_repr(kept)):
            kept = None  # nothing to keep: a plain random draw
        elif param_name not in self.redrawn(trial.number):
            return kept
        for _ in range(REDRAWS):  # a redrawn choice should change: the same option again changes nothing
            value = self.random.sample_independent(study, trial, param_name, param_distribution)
            if value != kept:
                break
        return value

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.tpe.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self.tpe.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.random.reseed_rng()
        self.tpe.reseed_rng()
