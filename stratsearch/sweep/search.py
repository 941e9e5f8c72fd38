"""The search's moving parts as registries: Optuna samplers and Ray Tune schedulers (pruners).

Each entry knows how to check a space against itself and how to build itself; the DSL validates
`search.sampler` / `search.pruner` against these names, so an unknown name stops at `validate`
and can never fall through to some other sampler. Light at import: Optuna and Ray are imported
by `build` only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stratsearch.registry import Registry
from stratsearch.space.sampling import grid_size, grid_values, parameter_names, sample

if TYPE_CHECKING:
    from stratsearch.space.dims import Space
    from stratsearch.space.load import Search, SpaceSpec

OBJECTIVE = "objective"  # the best-so-far value of the space's objective metric, reported every epoch


@dataclass(frozen=True)
class Sampler:
    name: str
    build: Callable[[SpaceSpec], Any]  # → an optuna.samplers.BaseSampler
    check: Callable[[Space, int], str | None] = lambda space, objectives: None  # (space, objective count) → problem


@dataclass(frozen=True)
class Pruner:
    name: str
    build: Callable[[Search, str, int], Any]  # (search, mode, max_epochs) → a Ray Tune scheduler


SAMPLERS: Registry[Sampler] = Registry("sampler")
PRUNERS: Registry[Pruner] = Registry("pruner")


def optuna_samplers() -> Any:
    import optuna

    return optuna.samplers


def needs_grid(space: Space, objectives: int) -> str | None:
    if grid_size(space) is None:
        return "grid needs every dimension finite: use int or choice, not uniform/loguniform"
    return None


def needs_several_objectives(space: Space, objectives: int) -> str | None:
    if objectives < 2:
        return "nsga2 needs several objective metrics, e.g. [accuracy, trainable_parameters]"
    return None


def needs_one_objective(space: Space, objectives: int) -> str | None:
    if objectives > 1:
        return "anchored follows the best trial of one objective; for several use tpe or nsga2"
    return None


def anchored(spec: SpaceSpec) -> Any:
    from stratsearch.space.project import default_anchor
    from stratsearch.sweep.anchored import AnchoredSampler

    return AnchoredSampler(spec.space, default_anchor(spec.space, spec.task, spec.model_dir), spec.search.seed)


WIDE = 6  # top-level searched dimensions beyond which `auto` anchors the early trials


def sampler_name(spec: SpaceSpec) -> str:
    """The sampler a sweep uses: `auto` is anchored over a wide space of one objective, else TPE."""
    if spec.search.sampler != "auto":
        return spec.search.sampler
    top = [name for name, inside in parameter_names(spec.space) if not inside]
    return "anchored" if len(top) > WIDE and not spec.secondary else "tpe"


SAMPLERS.add(Sampler("auto", lambda spec: SAMPLERS[sampler_name(spec)].build(spec)))
SAMPLERS.add(Sampler("anchored", anchored, needs_one_objective))
SAMPLERS.add(Sampler("tpe", lambda spec: optuna_samplers().TPESampler(seed=spec.search.seed)))
SAMPLERS.add(Sampler("random", lambda spec: optuna_samplers().RandomSampler(seed=spec.search.seed)))
SAMPLERS.add(
    Sampler("qmc", lambda spec: optuna_samplers().QMCSampler(seed=spec.search.seed, warn_independent_sampling=False))
)
# CMA-ES models the numeric dimensions; choices fall back to independent random sampling.
SAMPLERS.add(
    Sampler(
        "cmaes", lambda spec: optuna_samplers().CmaEsSampler(seed=spec.search.seed, warn_independent_sampling=False)
    )
)
SAMPLERS.add(
    Sampler(
        "grid",
        lambda spec: optuna_samplers().GridSampler(grid_values(spec.space), seed=spec.search.seed),
        needs_grid,
    )
)


class PicklableLock:
    """A threading lock that pickles, as a new unlocked one (as Optuna's journal storage does with
    its own). Ray Tune pickles the search, sampler included, when it builds its Tuner, and Optuna 5.1's
    genetic samplers (NSGA-II) hold a plain lock, which does not pickle."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __enter__(self) -> bool:
        return self.lock.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.lock.__exit__(*exc)

    def __reduce__(self) -> tuple[type, tuple]:
        return PicklableLock, ()


def nsga2(spec: SpaceSpec) -> Any:
    sampler = optuna_samplers().NSGAIISampler(seed=spec.search.seed)
    if hasattr(sampler, "_thread_lock"):  # Optuna >= 5.1
        sampler._thread_lock = PicklableLock()
    return sampler


SAMPLERS.add(Sampler("nsga2", nsga2, needs_several_objectives))


def asha(search: Search, mode: str, max_epochs: int) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        metric=OBJECTIVE,
        mode=mode,
        time_attr="training_iteration",
        max_t=max_epochs,
        grace_period=search.grace_period,
        reduction_factor=search.reduction_factor,
    )


def hyperband(search: Search, mode: str, max_epochs: int) -> Any:
    from ray.tune.schedulers import HyperBandScheduler

    return HyperBandScheduler(
        metric=OBJECTIVE,
        mode=mode,
        time_attr="training_iteration",
        max_t=max_epochs + 1,
        reduction_factor=search.reduction_factor,
    )


def median(search: Search, mode: str, max_epochs: int) -> Any:
    from ray.tune.schedulers import MedianStoppingRule

    return MedianStoppingRule(
        metric=OBJECTIVE, mode=mode, time_attr="training_iteration", grace_period=search.grace_period
    )


def no_pruning(search: Search, mode: str, max_epochs: int) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


for name, build in (("asha", asha), ("hyperband", hyperband), ("median", median), ("none", no_pruning)):
    PRUNERS.add(Pruner(name, build))


class DefineByRun:
    """Optuna define-by-run space: a baseline trial returns its fixed config, others sample the space.

    A class rather than a closure so that Ray Tune can pickle the searcher into its checkpoints.
    """

    def __init__(self, space: dict, baselines: list[dict]):
        self.space = space
        self.baselines = baselines

    def __call__(self, trial: Any) -> dict:
        baseline = trial.user_attrs.get("baseline")
        config = self.baselines[baseline] if baseline is not None else sample(trial, self.space)
        # A portfolio member or warm start is sampled too: its enqueued parameters fix every value.
        origin = "baseline" if baseline is not None else trial.user_attrs.get("origin", "sampler")
        return {"trial_config": config, "optuna_number": trial.number, "baseline": baseline, "origin": origin}


def session_sampler(spec: SpaceSpec, study: Any) -> Any:
    """The sampler of this session of a sweep. Its seed is `search.seed` plus the trials the study
    has already asked for: a resumed sweep would otherwise replay the first session's random draws
    (the same parameters again), while a new sweep keeps the seed it was given."""
    import dataclasses

    from optuna.trial import TrialState

    asked = sum(t.state != TrialState.WAITING for t in study.get_trials(deepcopy=False))
    search = spec.search.model_copy(update={"seed": spec.search.seed + asked})
    return SAMPLERS[spec.search.sampler].build(dataclasses.replace(spec, search=search))
