"""`validate` finds, before any run directory exists, what a sweep would otherwise find out at 2 a.m.:
each malformed or risky space below is written as a user would (files and data made in the test)
and must end with its exit code and the words that tell the user what to fix."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from stratsearch.cli import main
from stratsearch.sweep.resources import local_gpu_count
from tests.conftest import ROWS, write_jsonl

Setup = Callable[[dict, Path], None]  # edits the config (and may write files) before validate


def space_file(tmp_path: Path, tiny_model_dir: Path, task: str = "classification") -> tuple[dict, Path]:
    data = {
        split: str(write_jsonl(tmp_path / f"{split}.jsonl", ROWS[task](n, seed)))
        for split, n, seed in (("train", 64, 1), ("validation", 32, 2), ("test", 32, 3))
    }
    config = {
        "name": "checked",
        "model": str(tiny_model_dir),
        "task": task,
        "data": {**data, "max_length": 16},
        "budget": {"trials": 4, "max_epochs": 3},
        "space": {"epochs": {"int": [1, 3]}, "batch_size": 8, "optimizer": {"adamw": {"lr": 1.0e-3}}},
    }
    return config, tmp_path / "space.yaml"


def rows_file(tmp_path: Path, name: str, rows: list[dict]) -> str:
    return str(write_jsonl(tmp_path / name, rows))


def space(**dims) -> Setup:
    return lambda c, _: c["space"].update(dims)


def section(name: str, **values) -> Setup:
    return lambda c, _: c.setdefault(name, {}).update(values)


def data_rows(split: str, rows: list[dict]) -> Setup:
    return lambda c, tmp: c["data"].update({split: rows_file(tmp, f"{split}-case.jsonl", rows)})


def model_copy(keep: tuple[str, ...], config_edit: dict | None = None) -> Setup:
    """A copy of the tiny model keeping only some of its files, its config edited."""

    def setup(c: dict, tmp: Path) -> None:
        folder = tmp / "model-copy"
        folder.mkdir()
        for item in Path(c["model"]).iterdir():
            if item.name in keep:
                shutil.copy(item, folder / item.name)
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, **(config_edit or {})}))
        c["model"] = str(folder)

    return setup


def raw_text(edit: Callable[[str], str]) -> Setup:
    """Edit the YAML text itself (for what a dict cannot hold, like a key written twice)."""
    return lambda c, tmp: c.__setitem__("__text__", edit)


TEXT_LABELS = [{"text": "good film", "label": "pos"}, {"text": "bad film", "label": "neg"}] * 8
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt")

CASES: list[tuple[str, Setup, int, str]] = [
    # 1. a float range on an integer setting
    (
        "uniform freeze depth",
        space(freeze_depth={"uniform": [0, 3]}),
        2,
        "space.freeze_depth: an integer setting, but uniform samples fractions: write {int: [0, 3]}",
    ),
    (
        "uniform head width",
        space(head={"hidden": {"uniform": [0, 64]}}),
        2,
        "space.head.hidden: an integer setting, but uniform samples fractions: write {int: [0, 64]}",
    ),
    (
        "loguniform epochs",
        space(epochs={"loguniform": [1, 3]}),
        2,
        "space.epochs: an integer setting, but loguniform samples fractions: write {int: [1, 3], log: true}",
    ),
    (
        "uniform lora rank",
        space(scope={"lora": {"r": {"uniform": [2, 16]}}}),
        2,
        "space.scope.lora.r: an integer setting, but uniform samples fractions",
    ),
    ("uniform batch size", space(batch_size={"uniform": [8, 32]}), 2, "space.batch_size: an integer setting"),
    ("uniform n_aug", space(n_aug={"uniform": [1, 4]}), 2, "space.n_aug: an integer setting"),
    # 2. the data, read as the sweep will read them
    (
        "regression on text labels",
        lambda c, _: c.update(task="regression"),
        2,
        "train.jsonl, line 1, column 'label': expected a number, found 'pos'",
    ),
    (
        "float class labels",
        data_rows("train", [{"text": "a b", "label": float(i % 2)} for i in range(16)]),
        2,
        "expected a string or integer class label, found 0.0",
    ),
    ("empty validation split", data_rows("validation", []), 2, "data.validation: "),
    (
        "label unseen in training",
        data_rows("validation", [{"text": "fine", "label": "meh"}]),
        2,
        "label 'meh' never appears in the training split",
    ),
    (
        "label unseen in test",
        data_rows("test", [{"text": "fine", "label": "meh"}]),
        2,
        "test-case.jsonl, line 1, column 'label': label 'meh' never appears in the training split",
    ),
    (
        "one class in training",
        data_rows("train", [{"text": "good", "label": "pos"}] * 8),
        2,
        "need at least two classes in training",
    ),
    (
        "labels of two types",
        data_rows("train", [{"text": "a", "label": 1}, {"text": "b", "label": "x"}] * 4),
        2,
        "labels mix types",
    ),
    (
        "broken JSON in validation",
        lambda c, tmp: c["data"].update(validation=str(broken(tmp))),
        2,
        "line 2: not valid JSON",
    ),
    (
        "empty text",
        data_rows("train", [*TEXT_LABELS, {"text": "  ", "label": "pos"}]),
        2,
        "line 17, column 'text': empty text",
    ),
    ("missing label", data_rows("train", [*TEXT_LABELS, {"text": "ok"}]), 2, "line 17, column 'label': column missing"),
    # 3. the model directory
    ("config without weights", model_copy(("config.json", "tokenizer.json", "vocab.txt")), 2, "model: no weights in"),
    ("config without tokenizer", model_copy(("config.json", "model.safetensors")), 2, "model: no tokenizer in"),
    (
        "unsupported family",
        model_copy(MODEL_FILES, {"model_type": "t5"}),
        2,
        "model: model family 't5' is not supported; known: BERT (bert), RoBERTa (roberta), XLM-R (xlm-roberta),"
        " CamemBERT (camembert), DistilBERT (distilbert), DeBERTa-v2/v3 (deberta-v2), ELECTRA (electra), MPNet"
        " (mpnet), ModernBERT (modernbert), ALBERT (albert), GPT-2 (gpt2), Llama (llama), Qwen2 (qwen2). To add"
        " one, write its record in stratsearch/train/families.py",
    ),
    (
        "max_length beyond positions",
        lambda c, _: c["data"].update(max_length=128),
        2,
        "data.max_length: 128 exceeds the model's 64 positions: use at most 64",
    ),
    # 4. search and budget settings
    (
        "grace period beyond max epochs",
        section("search", grace_period=5),
        2,
        "search.grace_period: 5 epochs exceeds the longest trial (3 epochs)",
    ),
    ("negative time budget", section("budget", time="-30m"), 2, "budget.time: expected a positive number"),
    ("nan time budget", section("budget", time="nanm"), 2, "budget.time: expected a positive number"),
    ("zero time budget", section("budget", time=0), 2, "budget.time: expected a positive number"),
    ("words for a time budget", section("budget", time="tonight"), 2, "found 'tonight'"),
    ("gpus neither auto nor a number", section("resources", gpus_per_trial="all"), 2, "resources.gpus_per_trial"),
    (
        "more CPUs than this machine",
        section("resources", cpus_per_trial=4096),
        0,
        "warning: resources.cpus_per_trial: 4096 CPUs per trial, but this machine has at most",
    ),
    ("unknown sampler", section("search", sampler="bayes"), 2, "search.sampler: expected one of"),
    (
        "grid over a continuous space",
        lambda c, _: (c["space"].update(dropout={"uniform": [0.0, 0.3]}), c.update(search={"sampler": "grid"})),
        2,
        "grid needs every dimension finite",
    ),
    # 5. YAML and the grammar
    (
        "a key written twice",
        raw_text(lambda t: t.replace("  batch_size: 8\n", "  batch_size: 8\n  batch_size: 16\n")),
        2,
        "yaml: key 'batch_size' is written twice in one mapping, on lines",
    ),
    ("a section written twice", raw_text(lambda t: t + "budget:\n  trials: 9\n"), 2, "key 'budget' is written twice"),
    (
        "a branch parameter written twice",
        raw_text(lambda t: t.replace("lr: 0.001\n", "lr: 0.001\n      lr: 0.01\n")),
        2,
        "key 'lr' is written twice",
    ),
    (
        "weight decay at the top",
        space(weight_decay=0.01),
        2,
        "space.weight_decay: not a top-level setting: it belongs under optimizer.<name>",
    ),
    (
        "learning rate at the top",
        space(lr=1e-4),
        2,
        "space.lr: not a top-level setting: it belongs under optimizer.<name>",
    ),
    ("gamma at the top", space(gamma=2.0), 2, "belongs under loss.<name> or schedule.<name>"),
    ("head width at the top", space(hidden=64), 2, "space.hidden: not a top-level setting: it belongs under head"),
    (
        "choise",
        space(loss={"choise": ["cross_entropy", "focal"]}),
        2,
        "space.loss.choise: unknown key (did you mean 'choice'?)",
    ),
    ("uniforn", space(dropout={"uniforn": [0.0, 0.2]}), 2, "did you mean 'uniform'?"),
    ("a list for a range", space(epochs=[2, 3]), 2, "to search these values write {choice: [2, 3]}"),
    ("a list of rates", space(dropout=[0.1, 0.2]), 2, "write {choice: [0.1, 0.2]}"),
    (
        "misspelt section",
        lambda c, _: c.update(budjet={"trials": 2}),
        2,
        "budjet: unknown key (did you mean 'budget'?)",
    ),
    (
        "misspelt head setting in a choice",
        space(head={"hiden": {"choice": [0, 64]}}),
        2,
        "space.head.hiden: unknown key (did you mean 'hidden'?)",
    ),
    # warnings: the run goes on, the user is told
    (
        "rare class",
        data_rows("train", [*TEXT_LABELS * 4, {"text": "odd", "label": "other"}]),
        0,
        "warning: data.train: class 'other' is 1.5% of the training rows",
    ),
    (
        "texts cut by max_length",
        data_rows(
            "train", [{"text": "good film " * 20, "label": "pos"}, {"text": "bad film " * 20, "label": "neg"}] * 8
        ),
        0,
        "warning: data.max_length: 100% of the training examples are longer than 16 tokens",
    ),
    (
        "a script the vocabulary lacks",
        data_rows("train", [{"text": "很好看的电影", "label": "pos"}, {"text": "很难看的电影", "label": "neg"}] * 8),
        0,
        "are unknown to the model's vocabulary",
    ),
]


def broken(tmp: Path) -> Path:
    path = tmp / "broken.jsonl"
    path.write_text('{"text": "good", "label": "pos"}\n{"text": "bad", \n')
    return path


@pytest.mark.parametrize(("case", "setup", "code", "words"), CASES, ids=[c[0] for c in CASES])
def test_validate_stops_bad_input_with_a_clear_message(
    case: str, setup: Setup, code: int, words: str, tmp_path: Path, tiny_model_dir: Path, capsys
) -> None:
    config, path = space_file(tmp_path, tiny_model_dir)
    setup(config, tmp_path)
    edit = config.pop("__text__", None)
    text = yaml.safe_dump(config, sort_keys=False)
    path.write_text(edit(text) if edit else text)
    assert main(["validate", str(path)]) == code
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert words in output, output
    assert output.count(words) == 1, "each problem is reported once"
    assert not (tmp_path / "runs").exists()


def test_gpus_asked_on_a_machine_without_them_is_a_warning(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    if local_gpu_count():
        pytest.skip("this machine has a GPU")
    config, path = space_file(tmp_path, tiny_model_dir)
    config["resources"] = {"gpus_per_trial": 1}
    path.write_text(yaml.safe_dump(config))
    assert main(["validate", str(path)]) == 0
    assert "warning: resources.gpus_per_trial: 1 GPU(s) per trial, but this machine has none" in capsys.readouterr().out


def test_validate_prints_a_data_summary(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    config, path = space_file(tmp_path, tiny_model_dir)
    path.write_text(yaml.safe_dump(config))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "rows: train 64, validation 32, test 32" in out
    assert "classes (train): " in out and "tokens per example (train): median" in out


def test_the_cli_without_a_command_prints_its_help(capsys) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "workflow:" in err and "stratsearch validate space.yaml" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("stratsearch ")
