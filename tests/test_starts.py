"""What a sweep tries first, and how it samples early: the portfolio projected onto a user's space,
warm starts from an earlier run, default-anchored sampling, and the rule that stops trials that are
not learning. The sweeps are real (Ray Tune embedded, Optuna in SQLite) on a tiny random BERT."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from stratsearch.choice import choose
from stratsearch.cli import main
from stratsearch.errors import Problems
from stratsearch.objective import Objective
from stratsearch.rundir import RunDir
from stratsearch.space.dims import parse_space
from stratsearch.space.project import default_anchor, full_config, project
from stratsearch.space.sampling import parameter_names, sample
from stratsearch.sweep.anchored import AnchoredSampler
from stratsearch.sweep.duds import not_learning
from stratsearch.sweep.starts import shipped_portfolio
from stratsearch.tasks import TASKS
from stratsearch.train.trainer import EpochMetrics, loss_trend
from tests.conftest import run_args

CLASSIFICATION = TASKS["classification"]


def space_of(raw: dict) -> dict:
    problems = Problems()
    space = parse_space(raw, problems)
    assert not problems.items, problems.items
    return space


NARROW = space_of(
    {
        "epochs": {"int": [2, 3]},
        "batch_size": 32,
        "freeze_depth": {"int": [0, 6]},
        "optimizer": {"adamw": {"lr": {"loguniform": [2e-5, 1e-4]}}},
        "schedule": {"choice": ["linear", "cosine"]},
    }
)


def projected(config: dict, space: dict, model_dir: Path):
    return project(config, full_config(config, CLASSIFICATION, model_dir), space)


def test_a_member_is_projected_onto_a_narrower_space(tiny_model_dir: Path) -> None:
    member = {"optimizer": {"adamw": {"lr": 3e-4}}, "warmup_ratio": 0.1, "batch_size": 16, "epochs": 4}
    p = projected(member, NARROW, tiny_model_dir)
    assert p.dropped is None
    # every searched dimension set: the member's value fitted into the range, or the default
    assert p.params == {
        "epochs": 3,
        "freeze_depth": 0,
        "optimizer.adamw.lr": pytest.approx(1e-4),
        "schedule": "linear",
    }
    assert sorted(p.changes) == [
        "batch_size 16 → 32 (fixed by the space)",
        "epochs 4 → 3 (the space's range)",
        "optimizer.adamw.lr 0.0003 → 0.0001 (the space's range)",
        "warmup_ratio → the trainer's default (the space does not search it)",
    ]


@pytest.mark.parametrize(
    ("member", "why"),
    [
        ({"optimizer": {"sgd": {"lr": 0.01}}}, "optimizer 'sgd' is not among the space's options ['adamw']"),
        ({"scope": {"lora": {"r": 8}}}, "scope 'lora': the space has no scope dimension"),
        ({"schedule": "step"}, "schedule 'step' is not among the space's options ['linear', 'cosine']"),
    ],
)
def test_a_member_naming_a_strategy_the_space_lacks_is_dropped(member: dict, why: str, tiny_model_dir) -> None:
    assert projected(member, NARROW, tiny_model_dir).dropped.startswith(why)


def test_the_shipped_portfolio_fits_every_task_of_the_bundled_model() -> None:
    from stratsearch.train.model_dir import find_model_dir

    members = shipped_portfolio()
    assert 2 <= len(members) <= 8
    for task in TASKS:
        for _, config in members:
            full_config(config, task, find_model_dir("minilm-l6"))  # raises if a member does not fit


WIDE = space_of(
    {
        "epochs": {"int": [2, 4]},
        "batch_size": {"choice": [16, 32]},
        "freeze_depth": {"int": [0, 6]},
        "optimizer": {
            "choice": {
                "adamw": {"lr": {"loguniform": [1e-5, 3e-4]}},
                "sgd": {"lr": {"loguniform": [1e-3, 1e-1]}},
            }
        },
        "schedule": {"choice": ["constant", "linear", "cosine"]},
        "warmup_ratio": {"uniform": [0.0, 0.2]},
        "dropout": {"uniform": [0.0, 0.3]},
        "layer_decay": {"uniform": [0.7, 1.0]},
        "head": {"hidden": {"choice": [0, 64]}, "pooling": {"choice": ["cls", "mean"]}},
    }
)


def changed(params: dict, anchor: dict, names: list[str]) -> int:
    return sum(params.get(n) != anchor.get(n) for n in names if n in params)


def test_anchored_sampling_changes_few_dimensions_then_hands_over(tiny_model_dir: Path) -> None:
    anchor = default_anchor(WIDE, CLASSIFICATION, tiny_model_dir)
    assert anchor["optimizer"] == "adamw" and anchor["optimizer.sgd.lr"] == 0.01  # every branch's default
    top = [n for n, inside in parameter_names(WIDE) if not inside]
    assert len(top) == 10

    def changes_per_trial(sampler: optuna.samplers.BaseSampler) -> list[int]:
        """Top-level parameters each trial changed from what anchored sampling keeps (the
        incumbent's value, else the default's), scores drawn at random so the incumbent moves."""
        study = optuna.create_study(direction="maximize", sampler=sampler)
        counts = []

        def objective(trial: optuna.Trial) -> float:
            kept = {**anchor, **AnchoredSampler.incumbent(study)}
            sample(trial, WIDE)
            counts.append(changed(trial.params, kept, top))
            return (trial.number * 7919 % 101) / 101

        study.optimize(objective, n_trials=12)
        return counts

    counts = changes_per_trial(AnchoredSampler(WIDE, anchor, seed=0, handover=12))
    assert min(counts) >= 1 and sum(counts) / len(counts) <= 3, counts
    assert sum(changes_per_trial(optuna.samplers.RandomSampler(seed=0))) / 12 >= 6
    # enough history for TPE (at least 10 trials, one per top-level dimension), then it proposes
    assert AnchoredSampler(WIDE, anchor, seed=0).handover == 10


def epoch(value: float, trend: float, steps: int = 40) -> EpochMetrics:
    return EpochMetrics(2, 0.69, {"accuracy": value}, 1.0, loss_trend=trend, steps=steps)


def test_the_dud_rule_stops_only_a_trial_at_the_trivial_score_whose_loss_is_flat() -> None:
    trivial = {"accuracy": 0.58}
    accuracy = Objective(metric="accuracy", mode="max")
    assert "not learning" in not_learning(epoch(0.58, 1.0), trivial, accuracy)
    assert not_learning(epoch(0.42, 0.99), trivial, accuracy)  # worse than trivial, flat: a dud
    assert not_learning(epoch(0.58, 0.90), trivial, accuracy) is None  # at trivial, but the loss falls
    assert not_learning(epoch(0.70, 1.00), trivial, accuracy) is None  # learnt something
    assert not_learning(epoch(0.58, 1.00, steps=10), trivial, accuracy) is None  # too few steps to tell
    rmse = Objective(metric="rmse", mode="min")
    assert not_learning(EpochMetrics(1, 1.0, {"rmse": 1.50}, 1.0, steps=40), {"rmse": 1.51}, rmse)  # the mean
    assert not_learning(EpochMetrics(1, 1.0, {"rmse": 1.20}, 1.0, steps=40), {"rmse": 1.51}, rmse) is None


def test_the_dud_rule_reads_the_recent_task_loss_and_spares_what_is_flat_by_design() -> None:
    trivial, accuracy = {"accuracy": 0.90}, Objective(metric="accuracy", mode="max")
    # A collapse onto the majority class (imbalanced data): the loss falls in the first steps, as
    # the model learns the label counts, then stays flat. From step 0 it reads as falling.
    collapse = [0.69 - 0.04 * i for i in range(10)] + [0.33] * 90
    assert loss_trend(collapse, epoch_steps=50) == pytest.approx(1.0)
    assert "not learning" in not_learning(epoch(0.90, loss_trend(collapse, 50), steps=100), trivial, accuracy)
    learning = [0.69 - 0.003 * i for i in range(100)]
    assert loss_trend(learning, epoch_steps=50) < 0.95  # still falling: never a dud
    # the first epoch (gradual unfreezing trains the head alone at first; a slow starter) and a warmup
    settling = EpochMetrics(1, 0.69, {"accuracy": 0.90}, 1.0, loss_trend=1.0, steps=40, settling=True)
    assert not_learning(settling, trivial, accuracy) is None
    # the margin is relative to the metric's scale: an rmse of 0.010 against the trivial 0.014 learnt
    rmse = Objective(metric="rmse", mode="min")
    small = EpochMetrics(2, 1.0, {"rmse": 0.010}, 1.0, loss_trend=1.0, steps=40)
    assert not_learning(small, {"rmse": 0.014}, rmse) is None


pytestmark = pytest.mark.usefixtures("no_ray_left_behind")


def sweep_file(make_config, tmp_path: Path, name: str, trials: int, **search) -> Path:
    config = yaml.safe_load(make_config(n_train=96).read_text())
    config.update(
        name=name,
        budget={"trials": trials, "max_epochs": 3},
        resources={"cpus_per_trial": 1},
        search={"sampler": "random", "pruner": "none", "seed": 0, **search},
        space={
            "epochs": 2,
            "batch_size": 4,  # 24 steps an epoch: enough for the dud rule to judge a trend
            "freeze_depth": {"int": [0, 1]},
            "optimizer": {"adamw": {"lr": {"loguniform": [1e-3, 1e-2]}}},
        },
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_dud_is_stopped_and_a_later_run_warm_starts_from_the_best(make_config, tmp_path: Path) -> None:
    # Head only, at a learning rate that changes nothing: the trial scores the majority class with
    # a flat loss, and is stopped after its second epoch (no trial is judged in its first). The
    # learner also scores the majority class after its first epoch, with a loss as flat (the tiny
    # model is slow to start), and learns in its second: it is never stopped.
    dud = {"optimizer": {"sgd": {"lr": 1e-12}}, "freeze_depth": 3, "epochs": 3, "batch_size": 4}
    learner = {"optimizer": {"adamw": {"lr": 1e-2}}, "freeze_depth": 0, "epochs": 2, "batch_size": 4}
    first = sweep_file(make_config, tmp_path, "first", trials=2, baseline=[dud, learner], portfolio="none")
    assert main(run_args(first, tmp_path, "--quiet")) == 0
    results = pd.read_csv(tmp_path / "runs" / "first" / "results.csv").set_index("trial")
    assert results.loc[0, "status"] == "stopped" and results.loc[0, "reason"].startswith("not learning")
    assert results.loc[0, "epochs_run"] == 2
    trivial = results.loc[0, "best_accuracy"]
    earlier = RunDir(tmp_path / "runs" / "first")
    assert earlier.trial(1).metrics()[0]["accuracy"] <= trivial  # at the trivial score after epoch 1 ...
    assert results.loc[1, "status"] == "finished" and results.loc[1, "best_accuracy"] > trivial + 0.1  # ... learnt
    assert list(results["origin"]) == ["baseline", "baseline"]
    report = (tmp_path / "reports" / "first.md").read_text()
    assert "stopped: not learning" in report and "1 stopped: not learning" in report  # leaderboard, summary

    # A later run: the user's portfolio first, then the earlier run's finished trials, best first.
    best = [r.config()["config"] for r in choose(earlier, Objective(metric="accuracy", mode="max")).ranking()]
    assert len(best) == 1  # a stopped trial is not a warm start
    mine = {"optimizer": {"adamw": {"lr": 2e-3}}, "freeze_depth": 1}
    second = sweep_file(
        make_config, tmp_path, "second", trials=1 + len(best), portfolio=[mine], warm_start=["runs/first"]
    )
    assert main(run_args(second, tmp_path, "--quiet")) == 0
    later = RunDir(tmp_path / "runs" / "second")
    origins = [r.config()["origin"] for r in later.trials()]
    ranked = [r.number for r in choose(earlier, Objective(metric="accuracy", mode="max")).searched()]
    assert origins == ["portfolio 0", *(f"warm start runs/first trial {n}" for n in ranked)]
    configs = [r.config()["config"] for r in later.trials()]
    assert configs[0]["optimizer"]["adamw"]["lr"] == 2e-3 and configs[0]["freeze_depth"] == 1
    for config, source in zip(configs[1:], best, strict=True):
        assert config["optimizer"] == source["optimizer"] and config["freeze_depth"] == source["freeze_depth"]


def test_validate_plans_the_starts_without_torch_or_optuna(make_config, tmp_path: Path) -> None:
    """`validate` prints the portfolio's fate and the sampler `auto` picks, and stays light."""
    import subprocess
    import sys

    wide = {"epochs": {"int": [2, 3]}, "freeze_depth": {"int": [0, 2]}, "dropout": {"uniform": [0.0, 0.2]}}
    wide |= {"warmup_ratio": {"uniform": [0.0, 0.1]}, "layer_decay": {"uniform": [0.8, 1.0]}}
    wide |= {"attention_dropout": {"uniform": [0.0, 0.2]}, "grad_clip": {"choice": [0.0, 1.0]}}
    path = make_config(space=wide)
    code = (
        "import sys; from stratsearch.cli import main; main(['validate', sys.argv[1]]);"
        "print('heavy:', [m for m in ('torch', 'optuna', 'ray') if m in sys.modules])"
    )
    # A model's layout is checked once (train/layout.py builds it with torch), then remembered.
    subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert "then the anchored sampler" in proc.stdout, proc.stdout + proc.stderr
    assert "heavy: []" in proc.stdout
