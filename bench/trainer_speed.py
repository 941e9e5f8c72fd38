"""One epoch (or more) of the same fine-tuning through stratsearch and through transformers' Trainer.

Setting (issue 2): bundled all-MiniLM-L6-v2, rt-snippets first 2,000 training rows, max_length 64,
batch 32, AdamW lr 5e-5 (no weight decay), linear schedule, grad-norm clip 1.0, fp32 on CPU.
Both runs happen in this one process, the Trainer first; each reports training wall time
(evaluation excluded) and validation accuracy afterwards. The ratio is stratsearch / Trainer:
below 1.0 means stratsearch is faster.

    python bench/trainer_speed.py                 # one epoch: the speed figure
    python bench/trainer_speed.py --epochs 3      # three epochs: the accuracy-parity figure
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from stratsearch.objective import Objective
from stratsearch.quiet import quiet_transformers
from stratsearch.rows import DataSpec
from stratsearch.tasks import TASKS
from stratsearch.train.config import trial_from_space
from stratsearch.train.data import load_dataset
from stratsearch.train.model_dir import resolve_model_path
from stratsearch.train.trainer import train

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "rt-snippets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; data {args.data}")
    quiet_transformers()
    from transformers import AutoTokenizer

    model_path = resolve_model_path("minilm-l6")
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    spec = DataSpec(
        train=args.data / "train.jsonl",
        validation=args.data / "validation.jsonl",
        max_length=64,
        max_train_rows=args.rows,
    )
    data = load_dataset(spec, TASKS["classification"], tokenizer)

    hf_seconds, hf_acc = trainer_baseline(model_path, tokenizer, data, args.epochs, args.seed)
    print(f"transformers Trainer : train {hf_seconds:7.1f} s  validation accuracy {hf_acc:.4f}")

    trial = trial_from_space(
        {
            "epochs": args.epochs,
            "batch_size": 32,
            "seed": args.seed,
            "optimizer": {"adamw": {"lr": 5e-5, "weight_decay": 0.0}},
            "schedule": "linear",
            "head": {"pooling": "cls"},
            "precision": "fp32",
        },
        TASKS["classification"],
    )
    result = train(model_path, data, trial, Objective(metric="accuracy", mode="max"), device=torch.device("cpu"))
    ours = result.timings["train"]
    acc = result.history[-1].validation["accuracy"]
    print(f"stratsearch          : train {ours:7.1f} s  validation accuracy {acc:.4f} (last epoch)")
    print(f"ratio stratsearch / Trainer (train time, {args.epochs} epoch(s)): {ours / hf_seconds:.3f}")
    print(f"accuracy difference (stratsearch − Trainer): {100 * (acc - hf_acc):+.2f} points")


def trainer_baseline(model_path: Path, tokenizer, data, epochs: int, seed: int) -> tuple[float, float]:
    """transformers' own Trainer on the same token ids, with its default dynamic padding."""
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer, TrainingArguments

    def rows(split):
        return [{"input_ids": ids, "label": y} for ids, y in zip(split.input_ids, split.targets, strict=True)]

    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=data.num_outputs)
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=32,
            per_device_eval_batch_size=64,
            learning_rate=5e-5,
            weight_decay=0.0,
            num_train_epochs=epochs,
            lr_scheduler_type="linear",
            max_grad_norm=1.0,
            eval_strategy="no",
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            seed=seed,
            use_cpu=True,
            dataloader_num_workers=0,
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model, args=targs, train_dataset=rows(data.train), data_collator=DataCollatorWithPadding(tokenizer)
        )
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        logits = trainer.predict(rows(data.validation)).predictions
    accuracy = float((np.argmax(logits, -1) == np.asarray(data.validation.targets)).mean())
    return seconds, accuracy


if __name__ == "__main__":
    main()
