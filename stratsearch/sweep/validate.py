"""The one validation step that `validate`, `run`, `confirm` and `train` take before anything runs.

`space/` checks the file alone; what the file names elsewhere is checked here by what it names,
each registry entry with its own check: the sampler and the pruner (sweep/search.py; a sampler
also checks the space fits it), the ensemble method (ensemble/methods.py), MLflow (the
tracker), warm starts (the run directories they name), and what a trial reserves against this
machine. Every problem of the file and of these comes out together, with its key path.
"""

from __future__ import annotations

from pathlib import Path

from stratsearch.ensemble.methods import METHODS
from stratsearch.errors import Problem, Problems
from stratsearch.space.load import Draft, SpaceSpec, load_space
from stratsearch.sweep.resources import per_trial, this_machine, unplaceable
from stratsearch.sweep.search import PRUNERS, SAMPLERS
from stratsearch.sweep.starts import check_warm_starts
from stratsearch.sweep.tracking import missing_mlflow


def check_search(draft: Draft, problems: Problems) -> None:
    search = draft.sections["search"]
    if search is None:
        return
    for key, name, registry in (("sampler", search.sampler, SAMPLERS), ("pruner", search.pruner, PRUNERS)):
        if why := registry.name_problem(name):
            problems.add(f"search.{key}", why)
    fits = draft.space is not None and search.sampler in SAMPLERS
    if fits and (why := SAMPLERS[search.sampler].check(draft.space, len(draft.objectives))):
        problems.add("search.sampler", why)
    check_warm_starts(search.warm_start, draft.base, problems)


def check_ensemble(draft: Draft, problems: Problems) -> None:
    ensemble = draft.sections["ensemble"]
    if ensemble is not None and (why := METHODS.name_problem(ensemble.method)):
        problems.add("ensemble.method", why)


def check_tracking(draft: Draft, problems: Problems) -> None:
    tracking = draft.sections["tracking"]
    if tracking is not None and tracking.mlflow and (why := missing_mlflow()):
        problems.add("tracking.mlflow", why)


CHECKS = (check_search, check_ensemble, check_tracking)


def validate(path: str | Path) -> SpaceSpec:
    """The validated space of `path`; raises ConfigError listing every problem."""
    spec = load_space(path, CHECKS)
    # This machine is only a guess at where the sweep runs (`--address` may attach a larger cluster):
    # a warning here, an error at `run` once the cluster is known.
    nodes = this_machine()
    for key, message in unplaceable(per_trial(spec.resources, nodes), nodes, "this machine"):
        spec.warnings.append(Problem(key, f"{message}; `run` here would refuse, a Ray cluster with such nodes may not"))
    return spec
