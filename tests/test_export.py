"""`stratsearch export`: the exported directory loads in plain transformers (in a process that never
imports stratsearch) and gives the same outputs as the model stratsearch trained.

The run directories are made without a sweep: one real training of the tiny model per case, saved
as a finished trial the way the sweep saves it (no Ray needed for what export reads)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from stratsearch.cli import main
from stratsearch.prepare import prepare
from stratsearch.rundir import RunDir
from stratsearch.train.artifacts import load_model, save_model
from stratsearch.train.trainer import train
from tests.conftest import save_tiny_encoder

LOAD_AND_RUN = """
import io, json, logging, sys
import torch
import transformers

jobs = json.loads(sys.argv[1])  # [{out, auto, examples, task}]: every export, in this one process
said = [{} for _ in jobs]
for job, one in zip(jobs, said):  # what most users write first: no trust_remote_code (all before any
    auto = getattr(transformers, job["auto"])  # trusted load, which registers our config class)
    try:
        plain = auto.from_pretrained(job["out"]).eval()
        one["plain_class"] = type(plain).__name__
        with torch.no_grad():
            one["plain_logits"] = [plain(input_ids=torch.tensor([ids])).logits[0].tolist() for ids in job["examples"]]
    except ValueError as err:
        one["plain_error"] = str(err)
for job, one in zip(jobs, said):
    model = getattr(transformers, job["auto"]).from_pretrained(job["out"], trust_remote_code=True).eval()
    with torch.no_grad():
        one["logits"] = [model(input_ids=torch.tensor([ids])).logits[0].tolist() for ids in job["examples"]]
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger("transformers").addHandler(handler)
    classify = transformers.pipeline(job["task"], model=job["out"], trust_remote_code=True)
    classify("the movie was good")
    logging.getLogger("transformers").removeHandler(handler)
    one |= {"class": type(model).__name__, "pipeline_log": log.getvalue()}
print("\\n" + json.dumps({"said": said, "stratsearch_imported": "stratsearch" in sys.modules}))
"""


def one_trial_run(
    make_config,
    tmp_path: Path,
    task: str,
    head: dict,
    family: str = "bert",
    n_train: int = 64,
    model_dir: Path | None = None,
    **space,
) -> RunDir:
    """A run directory holding one finished trial with its saved model, as a sweep leaves it: of a
    tiny model of `family`, or of the model in `model_dir`."""
    if model_dir is None and family != "bert":
        model_dir = save_tiny_encoder(tmp_path / family, family)
    model = {} if model_dir is None else {"model": str(model_dir)}
    path = make_config(task, space={"head": head, **space}, n_train=n_train, **model)
    config = yaml.safe_load(path.read_text())
    config["name"] = f"export-{task}"
    path.write_text(yaml.safe_dump(config))
    prepared = prepare(path)
    spec = prepared.spec
    result = train(prepared.model_path, prepared.data, prepared.trial, spec.objective)
    run_dir = RunDir(tmp_path / "runs" / spec.name)
    run_dir.path.mkdir(parents=True)
    run_dir.write_info(spec, prepared.model_path, prepared.data)
    record = run_dir.trial(0)
    record.start(prepared.trial.to_dict(), {}, 0)
    manifest = {"task": task, "labels": prepared.data.label_names, "config": prepared.trial.to_dict()}
    save_model(record.folder, result.model, prepared.model_path, manifest)
    best = result.best.validation[spec.objective.metric]
    record.finish("finished", best_value=best, test=result.test_metrics)
    return run_dir


CLS_MLP = {"hidden": 16, "pooling": "cls"}  # as wide as the tiny encoder: with its activation, the family's head
OURS = "StratsearchForSequenceClassification"
CASES = [  # (family, task, head, the class transformers loads)
    ("bert", "classification", {"hidden": 0, "pooling": "cls"}, OURS),
    (
        "bert",
        "classification",
        {"hidden": 8, "pooling": "mean", "activation": "tanh"},
        OURS,
    ),
    ("bert", "regression", {"hidden": 0}, OURS),
    ("bert", "token-classification", {"hidden": 0}, "BertForTokenClassification"),
    ("bert", "token-classification", {"hidden": 8}, "StratsearchForTokenClassification"),
    ("bert", "classification", {**CLS_MLP, "activation": "tanh"}, "BertForSequenceClassification"),
    ("bert", "classification", {**CLS_MLP, "activation": "gelu"}, OURS),
    ("roberta", "classification", {**CLS_MLP, "activation": "tanh"}, "RobertaForSequenceClassification"),
    ("roberta", "regression", {"hidden": 0, "pooling": "mean"}, OURS),
    ("distilbert", "classification", {**CLS_MLP, "activation": "relu"}, "DistilBertForSequenceClassification"),
    ("distilbert", "token-classification", {"hidden": 0}, "DistilBertForTokenClassification"),
    ("gpt2", "regression", {"hidden": 0, "pooling": "auto"}, OURS),  # a decoder: read at its last token
    ("llama", "token-classification", {"hidden": 0}, "LlamaForTokenClassification"),
]


def test_every_export_loads_exactly_in_plain_transformers_or_refuses_without_its_code(
    make_config, tmp_path: Path
) -> None:
    """Each case of CASES trained and exported, then all loaded in one process that never imports
    stratsearch, as a user's would be (one process: a Python start per case would cost more than the
    cases themselves)."""
    examples = [[2, 5, 9, 11, 3], [2, 7, 3], [2, 6, 8, 12, 10, 9, 3]]
    jobs, ours, runs = [], [], []
    for i, (family, task, head, _) in enumerate(CASES):
        run_dir = one_trial_run(make_config, tmp_path / f"case-{i}", task, head, family)
        out = tmp_path / f"exported-{i}"
        assert main(["export", str(run_dir.path), str(out)]) == 0
        model, _ = load_model(run_dir.trial(0).folder)
        with torch.no_grad():
            ours.append([model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0] for ids in examples])
        kind, pipeline_task = ("Token", "token") if task == "token-classification" else ("Sequence", "text")
        auto = f"AutoModelFor{kind}Classification"
        jobs.append({"out": str(out), "auto": auto, "examples": examples, "task": f"{pipeline_task}-classification"})
        runs.append(run_dir)
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_RUN, json.dumps(jobs)],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,  # transformers asks on a terminal; a script gets its error
    )
    loaded_all = json.loads(done.stdout.strip().splitlines()[-1])
    assert not loaded_all["stratsearch_imported"]
    for case, job, mine, loaded, run_dir in zip(CASES, jobs, ours, loaded_all["said"], runs, strict=True):
        check_export(case, job, mine, loaded, run_dir)


def check_export(case: tuple, job: dict, ours: list, loaded: dict, run_dir: RunDir) -> None:
    _, task, _, cls = case
    assert loaded["class"].startswith(cls), case
    for mine, theirs in zip(ours, loaded["logits"], strict=True):  # with trust_remote_code: exact
        assert torch.allclose(mine.reshape(-1), torch.tensor(theirs).reshape(-1), atol=1e-5), case
    if loaded["class"].startswith("Stratsearch"):  # without it: refused, never a fresh head of its own
        assert "plain_class" not in loaded and "trust_remote_code=True" in loaded["plain_error"], case
    else:  # a stock class: the same model either way
        assert loaded["plain_class"] == loaded["class"] and loaded["plain_logits"] == loaded["logits"], case
    assert "is not supported" not in loaded["pipeline_log"], case
    out = Path(job["out"])
    config = json.loads((out / "config.json").read_text())
    card = (out / "README.md").read_text()
    assert "trial 0" in card and "**Strategy**" in card
    first_code = card.split("```python", 1)[1]  # the card leads with the lines that load it
    assert f"{job['auto']}.from_pretrained" in first_code and f'pipeline("{job["task"]}"' in first_code, case
    assert ("trust_remote_code=True" in first_code) == loaded["class"].startswith("Stratsearch"), case
    if task == "regression":
        assert config["problem_type"] == "regression" and len(config["id2label"]) == 1, case
    else:
        assert set(config["label2id"]) == {str(n) for n in model_labels(run_dir)}, case
    assert (config["model_type"] == "stratsearch") == ("auto_map" in config) == cls.startswith("Stratsearch"), case


def model_labels(run_dir: RunDir) -> list:
    return json.loads((run_dir.trial(0).folder / "stratsearch.json").read_text())["labels"]


def test_a_blend_of_several_models_exports_the_verdict_s_model_and_says_so(make_config, tmp_path: Path, capsys) -> None:
    run_dir = one_trial_run(make_config, tmp_path, "classification", {"hidden": 0})
    run_dir.ensemble_dir.mkdir()
    blend = {"method": "greedy", "rule": "mean", "weights": {"0": 1.0, "3": 2.0}, "table": []}
    run_dir.ensemble_json.write_text(json.dumps(blend))
    assert main(["export", str(run_dir.path), str(tmp_path / "blend")]) == 0
    said = capsys.readouterr()
    out = said.out + said.err
    said_once = " ".join(out.split())
    assert "trial 0, the verdict's model (the greedy ensemble `predict` uses blends trials [0, 3]" in said_once
    assert main(["export", str(run_dir.path), str(tmp_path / "out"), "--trial", "5"]) == 2
    assert "trial 5 kept no model" in capsys.readouterr().err
    assert main(["export", str(run_dir.path), str(tmp_path / "out"), "--trial", "0"]) == 0
