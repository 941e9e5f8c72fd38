"""Search quality within a wall-clock budget: what each search finds, and when.

    python bench/search_quality.py                                     # 3 data sets × 3 methods × 10 min
    python bench/search_quality.py --minutes 5 --datasets rt-snippets --methods tpe portfolio
    python bench/search_quality.py --report-only                       # tables and figure from saved runs
    python bench/search_quality.py --out sampler_comparison --rows 500 --minutes 5 \
        --datasets rt-snippets trec-coarse bbc-news --methods portfolio portfolio-tpe portfolio-random portfolio-qmc

For each data set (shared, 1,000 training rows, max_length 64, the bundled model, 2 CPU cores)
and each method, one search runs for the same wall time, one after the other in this command:

    tpe        the article's strategy space (search_spaces/strategies.yaml) with plain TPE, no portfolio
               (what the shipped space did before the portfolio)
    random     the same space, random sampling, no portfolio
    portfolio  the same space with the defaults: the portfolio, then anchored sampling (sampler: auto)
    portfolio-tpe, portfolio-random, portfolio-qmc
               the same portfolio, then that sampler instead of anchored sampling: the sampler comparison,
               with the first trials (baseline and portfolio) held fixed
    warm       as portfolio, warm-started from the portfolio run of the previous data set in the list
    hf         transformers' Trainer.hyperparameter_search (Optuna TPE, median pruner) over learning rate,
               epochs, weight decay and schedule, the Trainer's defaults otherwise (needs the bench extra)

Every stratsearch method keeps the space's baseline (the trainer's defaults) as its first trial.
Recorded per run: best validation so far against wall time, and the test score of what the method
would choose (its best finished trial) at each checkpoint — the test set never takes part in a
choice. Runs land in bench/results/search_quality/ (or --out NAME: bench/results/NAME/); --report-only
rebuilds the tables and the figure (best validation against time) from them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / "bench" / "results"
SAMPLERS = ("tpe", "random", "qmc")
METHODS = ("tpe", "random", "portfolio", *(f"portfolio-{s}" for s in SAMPLERS), "warm", "hf")


def stratsearch_space(dataset: str, method: str, minutes: float, rows: int, warm_from: Path | None) -> dict:
    """search_spaces/strategies.yaml pointed at a shared data set, with this method's search section."""
    space = yaml.safe_load((ROOT / "search_spaces" / "strategies.yaml").read_text())
    folder = DATASETS / dataset
    space["name"] = f"{dataset}-{method}"
    space["data"] = {
        "train": str(folder / "train.jsonl"),
        "validation": str(folder / "validation.jsonl"),
        "test": str(folder / "test.jsonl"),
        "max_length": 64,
        "max_train_rows": rows,
    }
    space["budget"] = {"trials": 200, "max_epochs": 4, "time": f"{minutes}m"}
    search = {"pruner": "asha", "seed": 0, "baseline": [{}]}
    if method in ("tpe", "random"):
        search |= {"sampler": method, "portfolio": "none"}
    else:
        search |= {"sampler": method.removeprefix("portfolio-") if "-" in method else "auto", "portfolio": "auto"}
    if method == "warm" and warm_from is not None:
        search["warm_start"] = [str(warm_from)]
    space["search"] = search
    return space


def run_stratsearch(out: Path, dataset: str, method: str, minutes: float, rows: int, warm_from: Path | None) -> dict:
    folder = out / dataset
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{method}.yaml"
    path.write_text(yaml.safe_dump(stratsearch_space(dataset, method, minutes, rows, warm_from), sort_keys=False))
    start = time.time()
    command = [str(Path(sys.executable).parent / "stratsearch"), "run", str(path), "--runs-dir", str(folder / "runs")]
    subprocess.run([*command, "--reports-dir", str(folder / "reports"), "--quiet"], check=True)
    return {"start": start, "end": time.time(), "trials": stratsearch_trials(folder / "runs" / f"{dataset}-{method}")}


def stratsearch_trials(run_path: Path) -> list[dict[str, Any]]:
    from stratsearch.rundir import RunDir

    rows = []
    for record, status in RunDir(run_path).statuses():
        if not status.scored or status.started is None:
            continue
        rows.append(
            {
                "number": record.number,
                "origin": record.config().get("origin"),
                "status": status.status,
                "end": status.started + (status.wall_s or 0.0),
                "validation": status.best_value,
                "test": status.test_value("accuracy"),
                "reason": status.reason,
            }
        )
    return rows


def run_hf(out: Path, dataset: str, minutes: float, rows: int) -> dict:
    """transformers' own search, as its docs show it, on the same rows and token ids."""
    import numpy as np
    import optuna
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from stratsearch.prepare import tokenized_data
    from stratsearch.rows import DataSpec
    from stratsearch.tasks import TASKS
    from stratsearch.train.model_dir import resolve_model_path

    folder = DATASETS / dataset
    model_path = resolve_model_path("minilm-l6")
    spec = DataSpec(
        train=folder / "train.jsonl",
        validation=folder / "validation.jsonl",
        test=folder / "test.jsonl",
        max_length=64,
        max_train_rows=rows,
    )
    data = tokenized_data(model_path, spec, TASKS["classification"])
    tokenizer = AutoTokenizer.from_pretrained(model_path)

    def examples(split: Any) -> list[dict]:
        return [{"input_ids": ids, "label": y} for ids, y in zip(split.input_ids, split.targets, strict=True)]

    train, validation, test = examples(data.train), examples(data.validation), examples(data.test)
    trials: list[dict[str, Any]] = []

    class RecordTest(TrainerCallback):
        """After each trial, the test accuracy of its final model (what the search would hand over)."""

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            evaluations = [h["eval_accuracy"] for h in state.log_history if "eval_accuracy" in h]
            logits = trainer.predict(test).predictions
            trials.append(
                {
                    "number": len(trials),
                    "status": "finished",
                    "end": time.time(),
                    "validation": evaluations[-1] if evaluations else None,
                    "test": float((np.argmax(logits, -1) == np.asarray(data.test.targets)).mean()),
                }
            )

    def accuracy(prediction: Any) -> dict[str, float]:
        return {"accuracy": float((np.argmax(prediction.predictions, -1) == prediction.label_ids).mean())}

    args = TrainingArguments(
        output_dir=str(out / dataset / "hf"),
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        per_device_eval_batch_size=64,
    )
    trainer = Trainer(
        model_init=lambda: AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=data.num_outputs),
        args=args,
        train_dataset=train,
        eval_dataset=validation,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=accuracy,
        callbacks=[RecordTest()],
    )

    def space(trial: optuna.Trial) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 1e-5, 5e-4, log=True),
            "num_train_epochs": trial.suggest_int("num_train_epochs", 1, 5),
            "weight_decay": trial.suggest_float("weight_decay", 0.0, 0.1),
            "lr_scheduler_type": trial.suggest_categorical("lr_scheduler_type", ["linear", "cosine", "constant"]),
        }

    start = time.time()
    trainer.hyperparameter_search(
        hp_space=space,
        compute_objective=lambda metrics: metrics["eval_accuracy"],
        direction="maximize",
        backend="optuna",
        n_trials=200,
        timeout=minutes * 60,
        pruner=optuna.pruners.MedianPruner(),
        sampler=optuna.samplers.TPESampler(seed=0),
    )
    # A pruned trial ends without on_train_end's test: it is never the choice.
    return {"start": start, "end": time.time(), "trials": trials}


def choice_at(trials: list[dict], start: float, seconds: float) -> dict | None:
    """The best finished trial by validation among those that had ended `seconds` into the run."""
    done = [t for t in trials if t["status"] == "finished" and t["end"] - start <= seconds and t["validation"]]
    return max(done, key=lambda t: (t["validation"], -t["number"]), default=None)


def best_so_far(trials: list[dict], start: float) -> list[tuple[float, float]]:
    points, best = [], None
    for t in sorted(trials, key=lambda t: t["end"]):
        if t["validation"] is not None and (best is None or t["validation"] > best):
            best = t["validation"]
            points.append((t["end"] - start, best))
    return points


def summary(results: dict[str, dict[str, dict]], minutes: float) -> None:
    checkpoints = sorted({m for m in (2.5, 5, 10, 20) if m <= minutes} | {minutes})
    print(f"\ntest accuracy of each method's choice (validation in brackets) after {checkpoints} minutes")
    for dataset, methods in results.items():
        print(f"\n{dataset}")
        for method, run in methods.items():
            cells = []
            for m in checkpoints:
                chosen = choice_at(run["trials"], run["start"], m * 60)
                cells.append("-" if chosen is None else f"{chosen['test']:.4f} ({chosen['validation']:.4f})")
            trials = run["trials"]
            baseline = next((t for t in trials if t.get("origin") == "baseline"), None)
            line = f"  {method:10s} " + "  ".join(f"{c:>17s}" for c in cells) + f"   {len(trials)} trials"
            if baseline is not None:
                duds = sum(closer_to_trivial(t, baseline, run.get("trivial")) for t in trials)
                beat = sum(t["validation"] > baseline["validation"] for t in trials if t is not baseline)
                line += f", {beat} above the baseline ({baseline['validation']:.4f}), {duds} duds"
            print(line + sampler_line(trials, baseline, run.get("trivial")))
        hf = methods.get("hf")
        if hf:
            target = max((t["validation"] for t in hf["trials"] if t["validation"]), default=None)
            hf_time = next((s for s, v in best_so_far(hf["trials"], hf["start"]) if v == target), None)
            for method, run in methods.items():
                reached = next((s for s, v in best_so_far(run["trials"], run["start"]) if v >= target), None)
                if method != "hf" and target is not None:
                    when = "never" if reached is None else f"{reached / 60:.1f} min"
                    print(f"  {method} reached hf's best validation {target:.4f} (hf: {hf_time / 60:.1f} min): {when}")


def sampler_line(trials: list[dict], baseline: dict | None, trivial: float | None) -> str:
    """After measured starts (portfolio, warm): how the sampler's own trials fared against the best start."""
    starts = [t for t in trials if t.get("origin") != "sampler" and t["validation"] is not None]
    drawn = [t for t in trials if t.get("origin") == "sampler"]
    if len(starts) <= 1 or baseline is None:
        return ""
    best_start = max(t["validation"] for t in starts)
    above = sum(t["validation"] is not None and t["validation"] > best_start for t in drawn)
    duds = sum(closer_to_trivial(t, baseline, trivial) for t in drawn)
    counts = f"{len(drawn)}, {above} above the best start ({best_start:.4f}), {duds} duds"
    return f"\n             sampler's own trials: {counts}"


def closer_to_trivial(trial: dict, baseline: dict, trivial: float | None) -> bool:
    """A dud: ended closer to the trivial score than to the baseline's."""
    if trivial is None or trial["validation"] is None:
        return False
    return abs(trial["validation"] - trivial) < abs(trial["validation"] - baseline["validation"])


def trivial_accuracy(dataset: str) -> float:
    """Validation accuracy of always predicting the training majority class (first 1,000 rows)."""
    from collections import Counter

    rows = [json.loads(line) for line in (DATASETS / dataset / "train.jsonl").read_text().splitlines()[:1000]]
    majority = Counter(r["label"] for r in rows).most_common(1)[0][0]
    validation = [json.loads(line) for line in (DATASETS / dataset / "validation.jsonl").read_text().splitlines()]
    return sum(r["label"] == majority for r in validation) / len(validation)


def figure(results: dict[str, dict[str, dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6), squeeze=False)
    for ax, (dataset, methods) in zip(axes[0], results.items(), strict=True):
        for method, run in methods.items():
            points = best_so_far(run["trials"], run["start"])
            if points:
                xs = [s / 60 for s, _ in points] + [(run["end"] - run["start"]) / 60]
                ys = [v for _, v in points] + [points[-1][1]]
                ax.step(xs, ys, where="post", label=method)
        ax.set_title(dataset)
        ax.set_xlabel("wall time (min)")
        ax.set_ylabel("best validation accuracy so far")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"\nfigure: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["rt-snippets", "trec-coarse", "sms-spam"])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=["tpe", "portfolio", "hf"])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--out", default="search_quality", help="results folder under bench/results/")
    parser.add_argument("--report-only", action="store_true", help="summarise the saved runs, run nothing")
    args = parser.parse_args()
    out = RESULTS / args.out
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "results.json"
    results: dict[str, dict[str, dict]] = json.loads(saved.read_text()) if saved.exists() else {}
    previous: Path | None = None
    for dataset in args.datasets:
        if not args.report_only:
            for method in args.methods:
                print(f"{dataset}: {method} for {args.minutes} min", flush=True)
                if method == "hf":
                    run = run_hf(out, dataset, args.minutes, args.rows)
                else:
                    run = run_stratsearch(out, dataset, method, args.minutes, args.rows, previous)
                run["trivial"] = trivial_accuracy(dataset)
                results.setdefault(dataset, {})[method] = run
                saved.write_text(json.dumps(results, indent=1))
        previous = out / dataset / "runs" / f"{dataset}-portfolio"
    shown = {d: results[d] for d in args.datasets if d in results}
    summary(shown, args.minutes)
    figure(shown, out / "best_validation_vs_time.png")


if __name__ == "__main__":
    main()
