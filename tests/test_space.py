"""The search-space DSL: shipped spaces validate, malformed spaces fail with their own message and
exit code 2, and sampling yields only configs the trainer accepts."""

from __future__ import annotations

import copy
from pathlib import Path

import optuna
import pytest
import yaml

from stratsearch.cli import main
from stratsearch.errors import ConfigError
from stratsearch.space.load import load_space
from stratsearch.space.sampling import grid_size, sample
from stratsearch.tasks import TASKS
from stratsearch.train.config import trial_from_space
from tests.conftest import write_jsonl

SPACES = sorted((Path(__file__).parents[1] / "search_spaces").glob("*.yaml"))
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
# strategies / regression / ner point at the datasets shipped beside the repository (../shared),
# which CI and every developer checkout have; a bare clone elsewhere skips them, saying why.
needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} not present")


def needs_data(path: Path):
    return pytest.param(path, id=path.name, marks=[needs_shared] if "shared/datasets" in path.read_text() else [])


@pytest.mark.parametrize("path", [needs_data(p) for p in SPACES])
def test_every_shipped_space_validates(path: Path, capsys) -> None:
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: valid" in out and "grid size:" in out


def test_shipped_spaces_cover_the_issue_list() -> None:
    assert {"quickstart.yaml", "strategies.yaml", "regression.yaml", "ner.yaml"} <= {p.name for p in SPACES}


@needs_shared
def test_sampling_1000_configs_gives_only_trainer_accepted_configs() -> None:
    spec = load_space(Path(__file__).parents[1] / "search_spaces" / "strategies.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    branches_seen: dict[str, set] = {}
    for _ in range(1000):
        trial = study.ask()
        config = sample(trial, spec.space)
        trial_from_space(config, spec.task)  # raises ConfigError on anything the trainer rejects
        for name in trial.params:
            parts = name.split(".")
            if len(parts) == 3 and parts[0] != "head":  # kind.branch.param: only under its drawn branch
                assert trial.params[parts[0]] == parts[1], name
        for kind in ("scope", "optimizer", "schedule", "penalty", "loss", "consistency"):
            branches_seen.setdefault(kind, set()).add(next(iter(config[kind])))
        study.tell(trial, 0.0)
    assert branches_seen["optimizer"] == {"adamw", "adam", "sgd", "adafactor"}
    assert len(branches_seen["schedule"]) == 5
    assert branches_seen["consistency"] == {"none", "r_drop"}


@needs_shared
def test_tpe_sampling_is_reproducible_with_a_seed() -> None:
    spec = load_space(Path(__file__).parents[1] / "search_spaces" / "strategies.yaml")

    def draws() -> list[dict]:
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=3))
        return [sample(study.ask(), spec.space) for _ in range(5)]

    assert draws() == draws()


# --- malformed spaces -----------------------------------------------------------------------------


@pytest.fixture
def base_space(make_config) -> dict:
    """A valid space on tiny data and the 3-layer tiny model."""
    config = yaml.safe_load(make_config().read_text())
    config["space"] = {
        "freeze_depth": {"int": [0, 2]},
        "optimizer": {"choice": {"adamw": {"lr": {"loguniform": [1e-5, 1e-3]}}, "sgd": {"lr": 0.01}}},
        "head": {"hidden": {"choice": [0, 8]}},
    }
    return config


def set_path(config: dict, dotted: str, value) -> dict:
    config = copy.deepcopy(config)
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    if value is DELETE:
        node.pop(last)
    else:
        node[last] = value
    return config


DELETE = object()

MALFORMED = [
    # (key path to set, value, expected message)
    ("space.dropuot", 0.1, "space.dropuot: unknown key (did you mean 'dropout'?)"),
    ("space.dropout", {"uniform": [0.3, 0.1]}, "space.dropout.uniform: inverted range [0.3, 0.1]"),
    ("space.dropout", {"uniform": [0.2, 0.2]}, "space.dropout.uniform: empty range [0.2, 0.2]"),
    ("space.dropout", {"uniform": [0.0, 1.5]}, "space.dropout: upper bound 1.5: input should be less than 1"),
    ("space.dropout", {"uniform": [0.1]}, "space.dropout.uniform: expected [lo, hi], two numbers, found [0.1]"),
    ("space.dropout", {"uniform": ["a", "b"]}, "space.dropout.uniform: expected [lo, hi], two numbers"),
    ("space.dropout", {"unifrom": [0.0, 0.1]}, "found key 'unifrom' (did you mean 'uniform'?)"),
    ("space.warmup_ratio", {"loguniform": [0.0, 0.1]}, "space.warmup_ratio.loguniform: loguniform needs lo > 0"),
    (
        "space.epochs",
        {"uniform": [1, 4]},
        "space.epochs: an integer setting, but uniform samples fractions: write {int: [1, 4]}",
    ),
    ("space.epochs", {"int": [1.5, 4]}, "space.epochs.int: expected two integers, found [1.5, 4]"),
    ("space.epochs", {"int": [1, 4], "step": 0}, "space.epochs.step: expected an integer ≥ 1, found 0"),
    ("space.epochs", {"int": [1, 4], "stp": 2}, "space.epochs.stp: unknown key (did you mean 'step'?) beside 'int'"),
    ("space.epochs", {"int": [0, 4]}, "space.epochs: lower bound 0: input should be greater than or equal to 1"),
    ("space.batch_size", {"choice": []}, "space.batch_size.choice: expected a non-empty list of options"),
    ("space.batch_size", {"choice": [16, 16]}, "space.batch_size.choice: options repeat"),
    ("space.batch_size", {"choice": [[16], [32]]}, "options must be numbers, strings, booleans or null"),
    ("space.batch_size", "big", "space.batch_size: input should be a valid integer"),
    ("space.freeze_depth", {"int": [0, 9]}, "space.freeze_depth: 9 exceeds the model's 3 layers"),
    ("space.freeze_depth", 4, "space.freeze_depth: 4 exceeds the model's 3 layers"),
    ("space.optimizer", {"choice": {"adamw": {}, "lamb": {}}}, "space.optimizer: unknown optimizer 'lamb'"),
    ("space.optimizer", {"choice": {"adamw": {"lr": -1}}}, "space.optimizer.adamw.lr: input should be greater than 0"),
    ("space.optimizer", {"adamw": {"learning_rate": 1e-4}}, "space.optimizer.adamw.learning_rate: unknown key"),
    (
        "space.optimizer",
        {"sgd": {"momentum": {"uniform": [0.5, 1.2]}}},
        "space.optimizer.sgd.momentum: upper bound 1.2: input should be less than 1",
    ),
    ("space.optimizer", ["adamw"], "space.optimizer: expected one optimizer name"),
    ("space.optimizer", {"choice": 3}, "space.optimizer.choice: expected a list of optimizer names or a mapping"),
    ("space.schedule", {"choice": ["linear", "cosin"]}, "unknown schedule 'cosin' (did you mean 'cosine'?)"),
    ("space.penalty", {"l2": {"lambda": {"loguniform": [-1, 1]}}}, "loguniform needs lo > 0, found -1"),
    (
        "space.loss",
        {"choice": ["cross_entropy", "mse"]},
        "space.loss.mse: loss 'mse' does not fit task 'classification'",
    ),
    ("space.loss", {"focal": {"gama": 2}}, "space.loss.focal.gama: unknown key (did you mean 'gamma'?)"),
    ("space.head", {"hidden": {"choice": [0, -8]}}, "space.head.hidden: option -8: input should be greater than"),
    ("space.head", {"pooling": {"choice": ["cls", "max"]}}, "space.head.pooling: option 'max': value error"),
    ("space.head", 64, "space.head: expected a mapping of head settings, found 64"),
    ("space.scope", {"lora": {"r": 0}}, "space.scope.lora.r: input should be greater than or equal to 1"),
    ("space.precision", "fp16", "space.precision: input should be 'auto', 'fp32' or 'bf16'"),
    (
        "task",
        "clasification",
        "task: expected one of ['classification', 'regression', 'multi-label-classification', 'token-classification']",
    ),
    ("model", "no/such/model", "model: expected 'minilm-l6' or a local Hugging Face model directory"),
    ("data.train", DELETE, "data.train: field required"),
    ("data.validation", "nope.jsonl", "data.validation: file not found"),
    ("data.text", "sentence", "data.text: column 'sentence' not in"),
    ("data.max_length", 4, "data.max_length: input should be greater than or equal to 8"),
    ("objective.metric", "f1", "objective.metric: expected one of ['accuracy', 'macro_f1'] for task 'classification'"),
    ("objective.mode", "maximize", "objective.mode: input should be 'max' or 'min'"),
    ("search.sampler", "nsga2", "search.sampler: nsga2 needs several objective metrics"),
    (
        "objective.metric",
        ["accuracy", "trainable_params"],
        "objective.metric[1]: expected one of ['accuracy', 'macro_f1', 'trainable_parameters', 'train_seconds',"
        " 'train_flops', 'drift', 'general_drift']",
    ),
    (
        "objective.metric",
        ["accuracy", "drift"],
        "search: objective drift is measured once a trial has run all its epochs, so no trial may be stopped early:"
        " set search.pruner: none and search.stop_not_learning: false",
    ),
    ("data.probe", "nope.txt", "data.probe: file not found"),
    (
        "objective.metric",
        ["trainable_parameters", "accuracy"],
        "objective.metric[0]: expected one of ['accuracy', 'macro_f1'] for task",
    ),
    ("objective.mode", ["max", "min"], "objective: expected distinct metrics and one mode per metric"),
    ("budget.max_epochs", 2, "space.epochs: 3 exceeds budget.max_epochs 2"),
    ("budget.trials", 0, "budget.trials: input should be greater than or equal to 1"),
    ("budget.time", "8 hours", "budget.time: expected a positive number of seconds or a duration like '90m', '8h'"),
    ("budget.trails", 10, "budget.trails: unknown key (did you mean 'trials'?)"),
    (
        "search.sampler",
        "tpf",
        "search.sampler: expected one of ['auto', 'anchored', 'tpe', 'random', 'qmc', 'cmaes', 'grid', 'nsga2'],"
        " found 'tpf'",
    ),
    ("search.sampler", "grid", "search.sampler: grid needs every dimension finite"),
    (
        "search.pruner",
        "hyperbnd",
        "found 'hyperbnd' (did you mean 'hyperband'?)",
    ),
    ("search.baseline", [{"freeze_depth": 7}], "search.baseline[0].freeze_depth: 7 exceeds the model's 3 layers"),
    ("search.baseline", [{"optimizer": "lamb"}], "search.baseline[0].optimizer: unknown optimizer 'lamb'"),
    (
        "ensemble.method",
        "greedey",
        "ensemble.method: expected one of ['mean', 'vote', 'greedy', 'soup'], found 'greedey' (did you mean 'greedy'?)",
    ),
    ("ensemble.top_k", 0, "ensemble.top_k: input should be greater than or equal to 1"),
    ("resources.gpus_per_trial", -1, "resources.gpus_per_trial: input should be greater than or equal to 0"),
    ("spaces", {}, "spaces: unknown key (did you mean 'space'?)"),
]


@pytest.mark.parametrize(("key", "value", "message"), MALFORMED, ids=[f"{m[0]}={m[1]!r}"[:60] for m in MALFORMED])
def test_malformed_space(base_space: dict, tmp_path: Path, key: str, value, message: str, capsys) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(set_path(base_space, key, value)))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert str(path) in err and "Traceback" not in err


def test_drift_objectives_and_the_general_text_probe(base_space: dict, tmp_path: Path, capsys) -> None:
    path = tmp_path / "space.yaml"
    config = set_path(base_space, "objective.metric", ["accuracy", "general_drift"])
    config = set_path(set_path(config, "search.pruner", "none"), "search.stop_not_learning", False)
    path.write_text(yaml.safe_dump(config))
    assert main(["validate", str(path)]) == 2
    assert (
        "objective.metric: general_drift is measured on data.probe: name a general-text file" in capsys.readouterr().err
    )
    (tmp_path / "general.txt").write_text("same line\nsame line\n")
    path.write_text(yaml.safe_dump(set_path(config, "data.probe", "general.txt")))
    assert main(["validate", str(path)]) == 2
    assert "data.probe: " in (err := capsys.readouterr().err) and "expected at least 2 different texts" in err
    (tmp_path / "general.txt").write_text("the weather today\nmarkets fell in the morning\na recipe for bread\n")
    assert main(["validate", str(path)]) == 0
    assert "probe: 3 general texts (all) for the drift measure" in capsys.readouterr().out
    write_jsonl(tmp_path / "general.jsonl", [{"sentence": "a"}, {"sentence": "b"}])
    path.write_text(yaml.safe_dump(set_path(config, "data.probe", "general.jsonl")))
    assert main(["validate", str(path)]) == 2
    assert "data.probe: column 'text' not in" in capsys.readouterr().err


def test_all_problems_of_a_file_at_once(base_space: dict, tmp_path: Path) -> None:
    config = set_path(set_path(base_space, "space.dropout", {"uniform": [0.3, 0.1]}), "budget.trials", 0)
    config = set_path(config, "objective.metric", "rmse")
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as err:
        load_space(path)
    assert len(err.value.problems) == 3


def test_yaml_scientific_notation_without_dot_is_a_number(base_space: dict, tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    text = yaml.safe_dump(base_space).replace("1.0e-05", "1e-5")
    assert "1e-5" in text
    path.write_text(text)
    dim = load_space(path).space["optimizer"].options["adamw"]["lr"]
    assert dim.lo == pytest.approx(1e-5)


def test_train_refuses_a_searched_space(base_space: dict, tmp_path: Path, capsys) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(base_space))
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert "space.freeze_depth: is searched; `stratsearch train` takes fixed values only" in err
    assert "space.optimizer.adamw.lr: is searched" in err


def test_grid_size_and_paths_relative_to_the_file(base_space: dict, tmp_path: Path) -> None:
    config = set_path(base_space, "space.optimizer", {"choice": ["adamw", "sgd"]})
    config = set_path(config, "data.train", "train.jsonl")  # relative: resolved against the YAML's folder
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(config))
    spec = load_space(path)
    assert grid_size(spec.space) == 3 * 2 * 2
    assert spec.data.train == tmp_path / "train.jsonl"


def test_untouched_branch_parameters_are_defaults(base_space: dict, tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(base_space))
    spec = load_space(path)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = [sample(study.ask(), spec.space) for _ in range(20)]
    assert {next(iter(c["optimizer"])) for c in configs} == {"adamw", "sgd"}
    sgd = next(c for c in configs if "sgd" in c["optimizer"])
    assert trial_from_space(sgd, TASKS["classification"]).optimizer.params.momentum == 0.9
