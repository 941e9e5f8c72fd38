"""Which searched dimensions mattered: Optuna's fANOVA importance over the run's sampled trials.

The importances are computed on an in-memory copy of the study holding the sampled trials
(finished and pruned, each at the best validation value it reached), because the baselines
carry no sampled parameters. fANOVA needs every trial to have a dimension, so dimensions that
exist only in some branches (`optimizer.sgd.momentum`) are left out, and said to be.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratsearch.report.view import RunView

MIN_TRIALS = 4


@dataclass
class Importance:
    values: dict[str, float]  # dimension → importance, most important first; sums to 1
    trials: int
    note: str  # how it was computed, or why it could not be


def param_importance(view: RunView, seed: int = 0) -> Importance:
    sampled = [t for t in view.scored() if t.baseline is None and t.params]
    if len(sampled) < MIN_TRIALS:
        return Importance({}, len(sampled), f"not computed: needs at least {MIN_TRIALS} sampled trials")
    common = [d for d in view.dims if all(d in t.params for t in sampled)]
    varying = [d for d in common if len({repr(t.params[d]) for t in sampled}) > 1]
    if not varying:
        return Importance({}, len(sampled), "not computed: no searched dimension took more than one value")
    if len({t.value for t in sampled}) == 1:
        # fANOVA divides by the variance of the objective: with none, nothing can be said to matter.
        return Importance({}, len(sampled), f"not computed: every sampled trial scored the same ({sampled[0].value:g})")
    # Imported here, past the early returns: fANOVA brings scikit-learn's forests (seconds to import).
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    from optuna.trial import create_trial

    study = optuna.create_study(direction=view.objective.direction)
    for t in sampled:
        study.add_trial(
            create_trial(
                params={d: t.params[d] for d in varying},
                distributions={d: view.dims[d] for d in varying},
                value=t.value,
            )
        )
    try:
        values = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed))
    except RuntimeError as err:  # e.g. "zero total variance in all trees" on near-constant values
        return Importance({}, len(sampled), f"not computed: fANOVA could not fit these trials ({err})")
    left_out = [d for d in view.dims if d not in common]
    note = f"fANOVA (Optuna) over {len(sampled)} sampled trials, each at its best validation {view.metric}"
    if left_out:
        note += f"; left out as not every trial has them: {', '.join(left_out)}"
    return Importance({k: float(v) for k, v in values.items()}, len(sampled), note)
