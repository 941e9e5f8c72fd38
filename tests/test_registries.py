"""Contract test over every registry entry, on a tiny random BERT: each strategy runs end to end,
leaves exactly the parameters it should trainable, and gives the same numbers for the same seed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from stratsearch.objective import Objective
from stratsearch.prepare import Prepared, prepare
from stratsearch.tasks import TASKS
from stratsearch.train.config import trial_from_space
from stratsearch.train.model import blocks, encoder_layers
from stratsearch.train.strategies import KINDS, POOLINGS
from stratsearch.train.strategies.registry import Chosen
from stratsearch.train.trainer import build_model, train
from tests.conftest import ROWS, save_tiny_encoder, write_jsonl

ENTRIES = [(kind.name, entry.name) for kind in KINDS for entry in kind.registry]
ENTRIES += [("pooling", entry.name) for entry in POOLINGS]


def space_for(kind: str, name: str) -> tuple[str, dict]:
    """The task and space that exercise one registry entry."""
    if kind == "pooling":
        return "classification", {"head": {"pooling": name, "hidden": 8}}
    entry = KINDS[kind].registry[name]
    task = next(t.name for t in TASKS if entry.fits(t))
    return task, {kind: name}


@pytest.fixture(scope="module")
def prepared_by_task(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict[str, Prepared]:
    out = {}
    for task in ROWS:
        folder = tmp_path_factory.mktemp(task)
        data = {
            split: str(write_jsonl(folder / f"{split}.jsonl", ROWS[task](n, seed)))
            for split, n, seed in (("train", 48, 1), ("validation", 16, 2))
        }
        path = folder / "c.yaml"
        config = {"model": str(tiny_model_dir), "task": task, "data": {**data, "max_length": 16}}
        path.write_text(yaml.safe_dump(config))
        out[task] = prepare(path)
    return out


def run_once(prepared: Prepared, space: dict) -> list[float]:
    trial = trial_from_space({"epochs": 2, "batch_size": 8, **space}, prepared.spec.task)
    result = train(prepared.model_path, prepared.data, trial, prepared.spec.objective)
    return [r.train_loss for r in result.history] + [v for r in result.history for v in r.validation.values()]


@pytest.mark.parametrize(("kind", "name"), ENTRIES, ids=[f"{k}:{n}" for k, n in ENTRIES])
def test_every_entry_runs_and_is_deterministic(kind: str, name: str, prepared_by_task: dict[str, Prepared]) -> None:
    task, space = space_for(kind, name)
    registry = KINDS[kind].registry if kind in KINDS else None
    if registry and (why := registry.problem(Chosen(name, registry[name].config()), TASKS[task])):
        pytest.skip(why)  # a Debian package that .ci/run installs
    first = run_once(prepared_by_task[task], space)
    assert all(v == v for v in first), "no NaN metric"
    assert run_once(prepared_by_task[task], space) == first


def count(params) -> int:
    return sum(p.numel() for p in params)


def trainable_after_build(prepared: Prepared, space: dict) -> tuple[int, object]:
    trial = trial_from_space(space, prepared.spec.task)
    model = build_model(prepared.model_path, prepared.data, trial)
    return count(p for p in model.parameters() if p.requires_grad), model


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_freeze_depth_leaves_exactly_top_layers_and_head(depth: int, prepared_by_task: dict[str, Prepared]) -> None:
    got, model = trainable_after_build(prepared_by_task["classification"], {"freeze_depth": depth})
    layers = encoder_layers(model.backbone)
    expected = count(model.head.parameters())
    expected += (
        count(model.backbone.parameters())
        if depth == 0
        else count(p for layer in layers[depth:] for p in layer.parameters())
    )
    assert got == expected
    if depth == len(layers):
        assert got == count(model.head.parameters())  # k = number of layers: head only
    model.set_train_mode()
    frozen = blocks(model.backbone)[: depth + 1] if depth else []
    assert all(not m.training for b in frozen for m in b.children()), "frozen blocks are held in eval mode"


def test_bitfit_trains_only_biases(prepared_by_task: dict[str, Prepared]) -> None:
    got, model = trainable_after_build(prepared_by_task["classification"], {"scope": "bitfit"})
    biases = count(p for n, p in model.backbone.named_parameters() if n.endswith("bias"))
    assert got == biases + count(model.head.parameters())


@pytest.mark.parametrize(("r", "targets"), [(2, ["query", "value"]), (4, ["query", "key", "value", "dense"])])
def test_lora_trains_adapters_and_head(r: int, targets: list[str], prepared_by_task: dict[str, Prepared]) -> None:
    space = {"scope": {"lora": {"r": r, "target_modules": targets}}}
    got, model = trainable_after_build(prepared_by_task["classification"], space)
    hidden, inner = 16, 32  # tiny BERT: hidden 16, intermediate 32, 3 layers
    # Each adapted Linear(in, out) adds r·(in + out). "dense" matches attention output, intermediate and output.
    shapes = {
        "query": [(hidden, hidden)],
        "key": [(hidden, hidden)],
        "value": [(hidden, hidden)],
        "dense": [(hidden, hidden), (hidden, inner), (inner, hidden)],
    }
    per_layer = sum(r * (i + o) for t in targets for i, o in shapes[t])
    assert got == 3 * per_layer + count(model.head.parameters())


def test_lora_with_freeze_depth_trains_only_top_adapters(prepared_by_task: dict[str, Prepared]) -> None:
    space = {"scope": {"lora": {"r": 2}}, "freeze_depth": 2}
    got, model = trainable_after_build(prepared_by_task["classification"], space)
    assert got == 1 * 2 * (2 * 32) + count(model.head.parameters())


def test_report_callback_gets_every_epoch(prepared_by_task: dict[str, Prepared]) -> None:
    prepared = prepared_by_task["classification"]
    seen: list[int] = []
    report: Callable = lambda m: seen.append(m.epoch)  # noqa: E731
    trial = trial_from_space({"epochs": 3, "batch_size": 8}, TASKS["classification"])
    train(prepared.model_path, prepared.data, trial, Objective(metric="accuracy", mode="max"), report=report)
    assert seen == [1, 2, 3]


@pytest.mark.parametrize("family", ["roberta", "distilbert"])
def test_other_encoder_families(family: str, tmp_path: Path, make_config) -> None:
    """RoBERTa and DistilBERT directories load, freeze by depth, take LoRA and train."""
    model_dir = save_tiny_encoder(tmp_path / family, family)
    config = yaml.safe_load(make_config().read_text())
    config["model"] = str(model_dir)
    path = tmp_path / "family.yaml"
    path.write_text(yaml.safe_dump(config))
    prepared = prepare(path)
    got, model = trainable_after_build(prepared, {"freeze_depth": 2, "dropout": 0.0})
    top = encoder_layers(model.backbone)[2]
    assert got == count(top.parameters()) + count(model.head.parameters())
    lora_count, _ = trainable_after_build(prepared, {"scope": {"lora": {"r": 2}}})
    assert lora_count == 3 * 2 * 2 * (16 + 16) + count(model.head.parameters())  # peft's default q/v targets
    assert run_once(prepared, {"scope": {"lora": {"r": 2}}, "epochs": 1})
