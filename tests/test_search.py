"""The search registries: every sampler and pruner builds the engine object it names, checks the
space it is given, and an unknown name is refused instead of falling through to another one."""

from __future__ import annotations

import pickle
from pathlib import Path

import optuna
import pytest
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler, MedianStoppingRule

from stratsearch.errors import Problems
from stratsearch.objective import Objective
from stratsearch.space.dims import Choice, FloatRange, IntRange
from stratsearch.space.load import Budget, Draft, Ensemble, Resources, Search, SpaceSpec, Tracking
from stratsearch.space.sampling import sample
from stratsearch.sweep.anchored import AnchoredSampler
from stratsearch.sweep.resources import Node, PerTrial, per_trial, unplaceable
from stratsearch.sweep.search import PRUNERS, SAMPLERS, WIDE, sampler_name, session_sampler
from stratsearch.sweep.validate import check_search
from stratsearch.tasks import TASKS

FINITE = {"freeze_depth": IntRange(0, 3), "schedule": Choice(("linear", "cosine"))}
CONTINUOUS = {**FINITE, "dropout": FloatRange(0.0, 0.3)}


def spec_for(search: Search, space: dict, model_dir: Path) -> SpaceSpec:
    """Just what a sampler reads of a space file: the search section, the space, task and model."""
    return SpaceSpec(
        file="space.yaml", name="s", model=str(model_dir), task=TASKS["classification"], data=None,
        objective=Objective(metric="accuracy", mode="max"), budget=Budget(), resources=Resources(),
        search=search, ensemble=Ensemble(), tracking=Tracking(), space=space, model_dir=model_dir,
    )  # fmt: skip


SAMPLER_CLASSES = {
    "anchored": AnchoredSampler,
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "qmc": optuna.samplers.QMCSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "grid": optuna.samplers.GridSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
}
PRUNER_CLASSES = {
    "asha": ASHAScheduler,
    "hyperband": HyperBandScheduler,
    "median": MedianStoppingRule,
    "none": FIFOScheduler,
}


@pytest.mark.parametrize("name", SAMPLER_CLASSES)
def test_every_sampler_builds_its_own_optuna_sampler(name: str, tiny_model_dir: Path) -> None:
    assert set(SAMPLERS.names()) == {*SAMPLER_CLASSES, "auto"}, "a new sampler needs a class here"
    sampler = SAMPLERS[name].build(spec_for(Search(sampler=name, seed=3), FINITE, tiny_model_dir))
    assert type(sampler) is SAMPLER_CLASSES[name]
    # Ray Tune pickles the search with its Tuner (Optuna 5.1's NSGA-II holds a lock: made picklable).
    assert type(pickle.loads(pickle.dumps(sampler))) is SAMPLER_CLASSES[name]


def test_auto_sampler_anchors_a_wide_space_and_leaves_a_narrow_one_to_tpe(tiny_model_dir: Path) -> None:
    wide = {f"d{i}": FloatRange(0.0, 1.0) for i in range(WIDE + 1)}
    for space, expected in ((FINITE, "tpe"), (wide, "anchored")):
        spec = spec_for(Search(), space, tiny_model_dir)
        assert sampler_name(spec) == expected
        assert type(SAMPLERS["auto"].build(spec)) is SAMPLER_CLASSES[expected]


def test_grid_sampler_enumerates_the_space(tiny_model_dir: Path) -> None:
    sampler = SAMPLERS["grid"].build(spec_for(Search(sampler="grid"), FINITE, tiny_model_dir))
    study = optuna.create_study(sampler=sampler)
    study.optimize(
        lambda t: t.suggest_int("freeze_depth", 0, 3) + len(t.suggest_categorical("schedule", ["linear", "cosine"])),
        n_trials=8,
    )
    assert {(t.params["freeze_depth"], t.params["schedule"]) for t in study.trials} == {
        (d, s) for d in range(4) for s in ("linear", "cosine")
    }


@pytest.mark.parametrize("name", PRUNER_CLASSES)
def test_every_pruner_builds_its_own_scheduler(name: str) -> None:
    assert set(PRUNERS.names()) == set(PRUNER_CLASSES), "a new pruner needs a class here"
    scheduler = PRUNERS[name].build(Search(pruner=name, grace_period=1, reduction_factor=3), "max", 4)
    assert type(scheduler) is PRUNER_CLASSES[name]


def test_asha_takes_the_search_settings() -> None:
    scheduler = PRUNERS["asha"].build(Search(grace_period=2, reduction_factor=3), "min", 9)
    assert scheduler._metric == "objective" and scheduler._mode == "min"
    assert scheduler._max_t == 9 and scheduler._reduction_factor == 3
    assert [milestone for milestone, _ in scheduler._brackets[0]._rungs] == [6, 2]  # rungs at grace × η^k


@pytest.mark.parametrize(
    ("sampler", "pruner", "space", "objectives", "message"),
    [
        (
            "tpf",
            "asha",
            FINITE,
            1,
            "search.sampler: expected one of ['auto', 'anchored', 'tpe', 'random', 'qmc', 'cmaes', 'grid', 'nsga2'],"
            " found 'tpf'",
        ),
        (
            "tpe",
            "ashaa",
            FINITE,
            1,
            "search.pruner: expected one of ['asha', 'hyperband', 'median', 'none'], found 'ashaa'",
        ),
        ("grid", "asha", CONTINUOUS, 1, "search.sampler: grid needs every dimension finite"),
        ("nsga2", "asha", FINITE, 1, "search.sampler: nsga2 needs several objective metrics"),
    ],
)
def test_search_settings_are_checked_against_the_registries(sampler, pruner, space, objectives, message) -> None:
    problems = Problems()
    search = Search.model_construct(sampler=sampler, pruner=pruner, warm_start=[])  # unchecked: the check's job
    metrics = [Objective(metric="accuracy", mode="max")] * objectives
    check_search(Draft({"search": search}, space, metrics, Path(".")), problems)
    assert [str(p) for p in problems.items] and str(problems.items[0]).startswith(message)


def test_an_unknown_name_is_refused_not_replaced() -> None:
    with pytest.raises(KeyError, match="unknown sampler 'gird'"):
        SAMPLERS["gird"]
    with pytest.raises(KeyError, match="unknown pruner 'fifo'"):
        PRUNERS["fifo"]


def test_gpus_auto_takes_one_gpu_per_trial_only_where_there_are_gpus() -> None:
    cpu_only = [Node(cpus=2, gpus=0)]
    gpu_nodes = [Node(cpus=16, gpus=1), Node(cpus=8, gpus=2)]
    auto = Resources(cpus_per_trial=2)
    assert per_trial(auto, cpu_only) == PerTrial(2, 0)
    assert per_trial(auto, gpu_nodes) == PerTrial(2, 1)
    assert per_trial(Resources(cpus_per_trial=2, gpus_per_trial=0.5), gpu_nodes) == PerTrial(2, 0.5)
    assert PerTrial(2, 1).at_once(gpu_nodes) == 3  # one on the first node, two on the second
    assert PerTrial(2, 0.5).at_once(gpu_nodes) == 6  # CPUs bound the second node: 8 / 2 = 4
    assert PerTrial(1, 0).at_once(cpu_only) == 2


def test_a_trial_no_node_can_hold_is_refused_with_what_there_is() -> None:
    nodes = [Node(cpus=2, gpus=0), Node(cpus=4, gpus=0)]
    problems = dict(unplaceable(PerTrial(8, 1), nodes, "the Ray cluster"))
    assert problems["resources.cpus_per_trial"] == "8 CPUs per trial, but the Ray cluster has at most 4 per node"
    assert problems["resources.gpus_per_trial"] == "1 GPU(s) per trial, but the Ray cluster has none"
    assert unplaceable(PerTrial(4, 0), nodes, "the Ray cluster") == []


def test_a_resumed_sweep_does_not_replay_the_first_session_s_random_draws(tiny_model_dir: Path) -> None:
    # Three trials, then the sweep is killed; the resume builds its sampler anew over the same
    # study. With the same seed it would draw the same three parameter sets again.
    spec = spec_for(Search(sampler="random", seed=0), CONTINUOUS, tiny_model_dir)
    study = optuna.create_study(direction="maximize")

    def session(n: int) -> list[dict]:
        study.sampler = session_sampler(spec, study)
        start = len(study.trials)
        study.optimize(lambda trial: sample(trial, spec.space) and 0.5, n_trials=n)
        return [t.params for t in study.trials[start:]]

    first, resumed = session(3), session(3)
    assert not any(params in first for params in resumed)
    # a new sweep keeps the seed it was given: the same study from scratch draws the same first trials
    again = optuna.create_study(direction="maximize", sampler=session_sampler(spec, optuna.create_study()))
    again.optimize(lambda trial: sample(trial, spec.space) and 0.5, n_trials=3)
    assert [t.params for t in again.trials] == first
