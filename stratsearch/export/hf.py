"""`stratsearch export`: the run's chosen model as a directory plain `transformers` loads.

A linear head on token classification is exactly `*ForTokenClassification` (encoder, then one
linear layer per token) and is saved as that class, with no custom code. Everything else is saved
with `modeling_stratsearch.py` beside the weights and registered through the config's `auto_map`,
loaded with `trust_remote_code=True`: `*ForSequenceClassification` of BERT, RoBERTa and DistilBERT
put a pooler or an extra dense layer with tanh/ReLU between the [CLS] state and the classifier,
which a head trained on the raw [CLS] state (or on the mean of the tokens) cannot be mapped onto.
LoRA was merged into the encoder when the trial saved its model. A model card (`README.md`) says
what the model is and where it came from.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratsearch.errors import StratsearchError
from stratsearch.rundir import RunDir, RunInfo
from stratsearch.tasks import TASKS, Task
from stratsearch.train.model import TaskModel, set_dropout

MODELING_FILE = Path(__file__).with_name("modeling_stratsearch.py")


@dataclass(frozen=True)
class Source:
    """The saved model an export starts from, and what the run says of it."""

    folder: Path
    description: str  # "trial 7", "soup of trials [4, 7]"
    validation: float | None
    test: float | None


@dataclass(frozen=True)
class Exported:
    out: Path
    source: Source
    auto_class: str  # AutoModelForSequenceClassification / AutoModelForTokenClassification
    remote_code: bool


def source_of(run_dir: RunDir, info: RunInfo, trial: int | None) -> Source:
    """`--trial N`, else the run's chosen model: its single best trial or its soup. A blend of several
    models is no one model and cannot be exported."""
    from stratsearch.train.artifacts import has_model

    kept = [r.number for r in run_dir.ranked(info.objective) if has_model(r.folder)]
    if trial is None and run_dir.has_ensemble():
        ensemble = run_dir.read_ensemble()
        members = [int(t) for t in ensemble["weights"]]
        if ensemble["rule"] == "soup":
            row = next(r for r in ensemble["table"] if r["method"] == "soup")
            metric = info.metric
            return Source(
                run_dir.soup_dir,
                f"soup of trials {members}",
                row.get(f"validation_{metric}"),
                row.get(f"test_{metric}"),
            )
        if len(members) > 1:
            raise StratsearchError(
                f"{run_dir}: the chosen ensemble ({ensemble['method']} of trials {members}) combines"
                f" {len(members)} models, which no single model directory can hold; export one of them with"
                f" --trial N (trials with a saved model: {kept}), or choose the soup with"
                f" `stratsearch ensemble {run_dir} --method soup` first"
            )
        trial = members[0]
    if trial is None:
        if not kept:
            raise StratsearchError(f"{run_dir}: no finished trial with a saved model")
        trial = kept[0]
    record = run_dir.trial(trial)
    if not has_model(record.folder):
        raise StratsearchError(f"{run_dir}: trial {trial} kept no model; trials with a saved model: {kept}")
    status = record.status()
    return Source(record.folder, f"trial {trial}", status.best_value, status.test_value(info.metric))


def export_model(run_dir: RunDir, out: Path, trial: int | None = None) -> Exported:
    from transformers import AutoTokenizer

    from stratsearch.quiet import quiet_transformers
    from stratsearch.train.artifacts import backbone_dir, load_model

    quiet_transformers()
    info = run_dir.info()
    source = source_of(run_dir, info, trial)
    model, manifest = load_model(source.folder)
    task = TASKS[manifest["task"]]
    config = hf_config(model, manifest, task)
    out.mkdir(parents=True, exist_ok=True)
    head = manifest["config"]["head"]
    if task.token_level and head["hidden"] == 0:
        exported = standard_token_classifier(model, config)
        auto_class, remote = "AutoModelForTokenClassification", False
    else:
        exported, auto_class = remote_code_model(model, config, head, task, out)
        remote = True
    exported.save_pretrained(out)
    AutoTokenizer.from_pretrained(backbone_dir(source.folder)).save_pretrained(out)
    result = Exported(out, source, auto_class, remote)
    (out / "README.md").write_text(model_card(run_dir.path, info, manifest, task, result))
    return result


def hf_config(model: TaskModel, manifest: dict[str, Any], task: Task) -> Any:
    """The encoder's config with the labels (or a regression's one output) and the trained dropout."""
    config = model.backbone.config.__class__.from_dict(model.backbone.config.to_dict())
    labels = manifest["labels"]
    if task.has_classes:
        config.id2label = {i: str(name) for i, name in enumerate(labels)}
        config.label2id = {str(name): i for i, name in enumerate(labels)}
    else:
        config.num_labels = 1
        config.problem_type = "regression"
    trained = manifest["config"]  # load_model zeroes dropout for inference; the export keeps the trained one
    set_dropout(config, trained["dropout"], trained["attention_dropout"])
    return config


def standard_token_classifier(model: TaskModel, config: Any) -> Any:
    """`*ForTokenClassification`: the encoder under its usual prefix, the linear head as `classifier`."""
    from transformers import AutoModelForTokenClassification

    target = AutoModelForTokenClassification.from_config(config)
    prefix = target.base_model_prefix
    linear = model.head[-1]
    state = {f"{prefix}.{name}": tensor for name, tensor in model.backbone.state_dict().items()}
    state |= {"classifier.weight": linear.weight, "classifier.bias": linear.bias}
    target.load_state_dict(state, strict=True)  # every weight of the target accounted for
    return target.eval()


def remote_code_model(model: TaskModel, config: Any, head: dict, task: Task, out: Path) -> tuple[Any, str]:
    """The class in modeling_stratsearch.py, imported from the copy in `out` (what users will load)."""
    shutil.copy(MODELING_FILE, out / MODELING_FILE.name)
    spec = importlib.util.spec_from_file_location("modeling_stratsearch", out / MODELING_FILE.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kind = "TokenClassification" if task.token_level else "SequenceClassification"
    auto_class = f"AutoModelFor{kind}"
    config.stratsearch_head = {k: head[k] for k in ("hidden", "activation", "pooling", "dropout")}
    config.auto_map = {auto_class: f"modeling_stratsearch.StratsearchFor{kind}"}
    config.architectures = [f"StratsearchFor{kind}"]
    target = getattr(module, f"StratsearchFor{kind}")(config)
    state = {f"encoder.{name}": tensor for name, tensor in model.backbone.state_dict().items()}
    state |= {f"head.{name}": tensor for name, tensor in model.head.state_dict().items()}
    target.load_state_dict(state, strict=True)
    return target.eval(), auto_class


def model_card(run_path: Path, info: RunInfo, manifest: dict[str, Any], task: Task, exported: Exported) -> str:
    from stratsearch.report.describe import describe

    source = exported.source
    figures = ", ".join(
        f"{split} {info.metric} {value:.4f}"
        for split, value in (("validation", source.validation), ("test", source.test))
        if value is not None
    )
    sizes = ", ".join(f"{split} {n:,}" for split, n in info.sizes.items())
    remote = ", trust_remote_code=True" if exported.remote_code else ""
    why_remote = (
        "\nThe head is not one of transformers' own, so `modeling_stratsearch.py` beside the weights defines it;"
        " load with `trust_remote_code=True` (the file needs only torch and transformers).\n"
        if exported.remote_code
        else ""
    )
    return f"""---
library_name: transformers
base_model: {info.model or info.model_path}
tags: [stratsearch, {task.name}]
---

# {info.name}: {source.description}

Fine-tuned from `{info.model or info.model_path}` for {task.name} by a stratsearch sweep.

- **Strategy**: {describe(manifest["config"], task)}
- **Data**: {sizes} rows ({Path(str(info.data.train)).parent}); max_length {info.data.max_length}
- **Figures**: {figures or "not recorded"} (the objective: {info.objective.mode} {info.metric})
- **Labels**: {manifest["labels"] if manifest["labels"] is not None else "one value (regression)"}
- **Run**: `{run_path}`, {source.description}
{why_remote}
```python
from transformers import {exported.auto_class}, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{exported.out}")
model = {exported.auto_class}.from_pretrained("{exported.out}"{remote})
```
"""
