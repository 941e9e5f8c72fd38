"""`stratsearch export`: the run's chosen model as a directory plain `transformers` loads, exactly
or not at all: never with a head of transformers' own, freshly initialised, in place of ours.

Where the trained head is exactly a stock class of the encoder's family it is saved as that
class, with no custom code: a linear head on token classification is `*ForTokenClassification`;
an MLP over the [CLS] state as wide as the encoder with the family's activation is the family's
`*ForSequenceClassification` (BERT's pooler + classifier, RoBERTa's classification head,
DistilBERT's pre-classifier…: the family record's `sequence_head`). Everything else (a linear head over [CLS] or the
mean, other MLPs) is saved with `modeling_stratsearch.py` beside the weights, under a config of
model type `stratsearch` that holds the encoder's config and names the code in `auto_map`
(AutoConfig and the model class): loading needs `trust_remote_code=True`, and without it
transformers refuses (it knows no type `stratsearch`) where it would otherwise take the stock
class of `model_type: bert` and initialise its head at random. A LoRA trial's adapters are merged
into its base encoder when the model is loaded. A model card (`README.md`) leads with the lines that load it.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from stratsearch.errors import StratsearchError
from stratsearch.rundir import RunDir, RunInfo
from stratsearch.tasks import TASKS, Task
from stratsearch.train.families import family_of
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
    pipeline_task: str  # text-classification / token-classification

    def loading_lines(self) -> list[str]:
        """The exact Python that loads it: the model class, then a pipeline."""
        remote = ", trust_remote_code=True" if self.remote_code else ""
        return [
            f'model = {self.auto_class}.from_pretrained("{self.out}"{remote})',
            f'classify = pipeline("{self.pipeline_task}", model="{self.out}"{remote})',
        ]


def source_of(run_dir: RunDir, info: RunInfo, trial: int | None) -> Source:
    """`--trial N`, else the run's chosen model (`choice.py`): its soup where the ensemble is one,
    else the chosen strategy's best run with a saved model, the verdict's model (a blend of several
    models is no one model: it is said beside it)."""
    from stratsearch.choice import choose, chosen_model, current_ensemble
    from stratsearch.train.artifacts import has_model

    choice = choose(run_dir, info.objective)
    ensemble = current_ensemble(run_dir, choice) if trial is None else None
    members = [int(t) for t in ensemble["weights"]] if ensemble else []
    if ensemble is not None and ensemble["rule"] == "soup":
        row = next(r for r in ensemble["table"] if r["method"] == "soup")
        metric = info.metric
        return Source(
            run_dir.soup_dir, f"soup of trials {members}", row.get(f"validation_{metric}"), row.get(f"test_{metric}")
        )
    record = chosen_model(run_dir, choice) if trial is None else run_dir.trial(trial)
    if not has_model(record.folder):
        kept = [r.number for r in choice.ranking() if has_model(r.folder)]
        raise StratsearchError(f"{run_dir}: trial {record.number} kept no model; trials with a saved model: {kept}")
    status = record.status()
    description = f"trial {record.number}"
    if ensemble is not None and len(members) > 1:
        description += (
            f", the verdict's model (the {ensemble['method']} ensemble `predict` uses blends trials {members},"
            " which no single model directory can hold; --trial N exports another)"
        )
    return Source(record.folder, description, status.best_value, status.test_value(info.metric))


def export_model(run_dir: RunDir, out: Path, trial: int | None = None) -> Exported:
    """The stock class of the encoder's family where the head is exactly one (a linear tagger; an
    MLP over CLS shaped like the family's own head), else the head in `modeling_stratsearch.py`
    under a model type of its own, which stock transformers refuses rather than loading wrong."""
    from transformers import AutoTokenizer

    from stratsearch.quiet import quiet_transformers
    from stratsearch.train.artifacts import backbone_dir, load_model

    quiet_transformers()
    info = run_dir.info()
    source = source_of(run_dir, info, trial)
    model, manifest = load_model(source.folder)
    task = TASKS[manifest["task"]]
    out.mkdir(parents=True, exist_ok=True)
    (out / MODELING_FILE.name).unlink(missing_ok=True)  # an earlier export's code would be left behind
    head = manifest["config"]["head"]
    config = encoder_config(model, manifest, task)
    if stock := stock_head(config, head, task):
        exported = stock_model(model, config, task, stock)
        remote = False
    else:
        exported = remote_code_model(model, config, head, task, out)
        remote = True
    exported.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(backbone_dir(source.folder))
    if tokenizer.pad_token is None:  # a decoder's: a pipeline pads its batches (the mask hides them)
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.save_pretrained(out)
    kind, pipeline_task = ("Token", "token") if task.token_level else ("Sequence", "text")
    result = Exported(out, source, f"AutoModelFor{kind}Classification", remote, f"{pipeline_task}-classification")
    (out / "README.md").write_text(model_card(run_dir.path, info, manifest, task, result))
    return result


def encoder_config(model: TaskModel, manifest: dict[str, Any], task: Task) -> Any:
    """The encoder's config with the labels (or a regression's one output) and the trained dropout."""
    config = model.backbone.config.__class__.from_dict(model.backbone.config.to_dict())
    labels = manifest["labels"]
    if task.has_classes:
        config.id2label = {i: str(name) for i, name in enumerate(labels)}
        config.label2id = {str(name): i for i, name in enumerate(labels)}
    if task.multi_label:  # a sigmoid per label (the pipeline applies it), and each label's own cut
        config.problem_type = "multi_label_classification"
        thresholds = manifest.get("decisions", {}).get("thresholds") or [0.5] * len(labels)
        config.stratsearch_thresholds = {str(name): t for name, t in zip(labels, thresholds, strict=True)}
    if not task.has_classes:
        config.num_labels = 1
        config.problem_type = "regression"
    trained = manifest["config"]  # load_model zeroes dropout for inference; the export keeps the trained one
    set_dropout(config, trained["dropout"], trained["attention_dropout"])
    return config


def stock_head(config: Any, head: dict, task: Task) -> list[str] | None:
    """The names of the Linear layers of the family's own head, when the trained head is exactly
    it (families.py): a linear tagger is its `*ForTokenClassification` (`token_head`), an MLP over
    [CLS] as wide as the encoder with its activation its `*ForSequenceClassification`
    (`sequence_head`)."""
    family = family_of(config.model_type)
    if task.token_level:
        return [family.token_head] if family.token_head and head["hidden"] == 0 else None
    stock = family.sequence_head
    exact = (
        stock is not None
        and head["pooling"] == "cls"
        and head["hidden"] == config.hidden_size
        and head["activation"] == stock[0]
    )
    return list(stock[1:]) if exact else None


def stock_model(model: TaskModel, config: Any, task: Task, stock: list[str]) -> Any:
    """The family's `*ForTokenClassification` or `*ForSequenceClassification`, every weight of it
    from the trained model: `stock` names its Linear layers, in the order of ours."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    auto = AutoModelForTokenClassification if task.token_level else AutoModelForSequenceClassification
    target = auto.from_config(config)
    state = {f"{target.base_model_prefix}.{name}": tensor for name, tensor in model.backbone.state_dict().items()}
    linears = [layer for layer in model.head if isinstance(layer, nn.Linear)]
    for name, linear in zip(stock, linears, strict=True):
        state |= {f"{name}.weight": linear.weight, f"{name}.bias": linear.bias}
    target.load_state_dict(state, strict=True)  # every weight of the target accounted for
    return target.eval()


def remote_code_model(model: TaskModel, config: Any, head: dict, task: Task, out: Path) -> Any:
    """The class in modeling_stratsearch.py, imported from the copy in `out` (what users will load),
    under a config of model type `stratsearch` that holds the encoder's config."""
    shutil.copy(MODELING_FILE, out / MODELING_FILE.name)
    spec = importlib.util.spec_from_file_location("modeling_stratsearch", out / MODELING_FILE.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kind = "TokenClassification" if task.token_level else "SequenceClassification"
    labels = {"id2label": config.id2label, "label2id": config.label2id, "problem_type": config.problem_type}
    if thresholds := getattr(config, "stratsearch_thresholds", None):
        labels["stratsearch_thresholds"] = thresholds
    pooler_off = {"add_pooling_layer": False} if family_of(config.model_type).pooler else {}
    wrapped = module.StratsearchConfig(
        encoder={k: v for k, v in config.to_dict().items() if k not in (*labels, "architectures")},
        encoder_kwargs=pooler_off,
        stratsearch_head={k: head[k] for k in ("hidden", "activation", "pooling", "dropout")},
        auto_map={
            "AutoConfig": "modeling_stratsearch.StratsearchConfig",
            f"AutoModelFor{kind}": f"modeling_stratsearch.StratsearchFor{kind}",
        },
        architectures=[f"StratsearchFor{kind}"],
        **labels,
    )
    target = getattr(module, f"StratsearchFor{kind}")(wrapped)
    state = {f"encoder.{name}": tensor for name, tensor in model.backbone.state_dict().items()}
    state |= {f"head.{name}": tensor for name, tensor in model.head.state_dict().items()}
    target.load_state_dict(state, strict=True)
    return target.eval()


def model_card(run_path: Path, info: RunInfo, manifest: dict[str, Any], task: Task, exported: Exported) -> str:
    from stratsearch.report.describe import describe

    source = exported.source
    figures = ", ".join(
        f"{split} {info.metric} {value:.4f}"
        for split, value in (("validation", source.validation), ("test", source.test))
        if value is not None
    )
    sizes = ", ".join(f"{split} {n:,}" for split, n in info.sizes.items())
    how = (
        "The head is not one of transformers' own: `modeling_stratsearch.py` beside the weights defines it"
        " (it needs only torch and transformers), so pass `trust_remote_code=True`. Without it transformers"
        " refuses to load the model (its type is `stratsearch`) rather than loading it wrong."
        if exported.remote_code
        else "A stock transformers class: no custom code."
    )
    lines = "\n".join(exported.loading_lines())
    if task.multi_label:
        how += (
            "\n\nMulti-label: each label has its own probability (`pipeline(..., top_k=None)` gives them all);"
            " decide a label present where its probability reaches its threshold in `config.json`'s"
            " `stratsearch_thresholds` (chosen on the validation split), as `stratsearch predict` does."
        )
    return f"""---
library_name: transformers
base_model: {info.model or info.model_path}
tags: [stratsearch, {task.name}]
---

# {info.name}: {source.description}

```python
from transformers import {exported.auto_class}, pipeline

{lines}
```

{how}

Fine-tuned from `{info.model or info.model_path}` for {task.name} by a stratsearch sweep.

- **Strategy**: {describe(manifest["config"], task)}
- **Data**: {sizes} rows ({Path(str(info.data.train)).parent}); max_length {info.data.max_length}
- **Figures**: {figures or "not recorded"} (the objective: {info.objective.mode} {info.metric})
- **Labels**: {manifest["labels"] if manifest["labels"] is not None else "one value (regression)"}
- **Run**: `{run_path}`, {source.description}
"""
