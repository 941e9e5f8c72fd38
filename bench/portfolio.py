"""Build the shipped strategy portfolio from measurements, and check that it generalises.

    python bench/portfolio.py measure   # every candidate on every shared data set (~40 min on 2 cores)
    python bench/portfolio.py choose    # greedy portfolio, leave-one-data-set-out table, writes the data file

`measure` trains each candidate strategy below once on each of the seven shared data sets with the
bundled model (500 training rows, at most 400 validation rows, max_length 64, seed 0) and appends
one line per run to bench/results/portfolio_scores.jsonl; it skips the pairs already measured, so
an interrupted run resumes. The candidates are hypotheses spanning the article's dimensions, each
a small change from the trainer's defaults (learning rate, schedule and warmup, epochs, batch size,
layer-wise decay, partial freezing, LoRA, head width, dropout, pooling); which of them enter the
portfolio is decided only by the measurements.

`choose` normalises each data set's scores to a regret in [0, 1] (0 = the best candidate there,
1 = the worst), then adds candidates greedily, each time the one that lowers the mean over data
sets of the best member's regret the most (Feurer et al. 2022, "Auto-sklearn 2.0", portfolio
construction). Leave-one-data-set-out: the portfolio chosen on six sets, scored on the seventh.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
RESULTS = Path(__file__).resolve().parent / "results"
SCORES = RESULTS / "portfolio_scores.jsonl"
PORTFOLIO = Path(__file__).resolve().parents[1] / "stratsearch" / "space" / "portfolio.json"
ROWS, VALIDATION_ROWS, MAX_LENGTH = 500, 400, 64


def adamw(lr: float, **extra: Any) -> dict[str, Any]:
    return {"optimizer": {"adamw": {"lr": lr}}, **extra}


# Each a change of one to three things from the trainer's defaults (AdamW 5e-5, linear, 3 epochs,
# batch 32, full fine-tuning, linear head on the model's own pooling).
CANDIDATES: dict[str, dict[str, Any]] = {
    "default": {},
    "cls-pooling": {"head": {"pooling": "cls"}},
    "lr-1e-4": adamw(1e-4),
    "lr-2e-4": adamw(2e-4),
    "lr-3e-4-warmup": adamw(3e-4, warmup_ratio=0.1),
    "lr-1e-4-cosine-4ep": adamw(1e-4, schedule="cosine", warmup_ratio=0.1, epochs=4),
    "lr-2e-4-layer-decay": adamw(2e-4, layer_decay=0.8),
    "lr-2e-4-batch-16-4ep": adamw(2e-4, batch_size=16, epochs=4),
    "lr-2e-4-freeze-2": adamw(2e-4, freeze_depth=2),
    "lr-1e-4-mlp-256": adamw(1e-4, head={"hidden": 256}),
    "lr-1e-4-no-dropout": adamw(1e-4, dropout=0.0, attention_dropout=0.0),
    "lora-r16-lr-1e-3": {**adamw(1e-3), "scope": {"lora": {"r": 16, "alpha": 32}}},
    "head-only-lr-1e-3": adamw(1e-3, freeze_depth=6),
}


def capped_copy(source: Path, rows: int, out: Path) -> Path:
    """The first `rows` lines of a JSONL split (evaluation time grows with the validation set)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with source.open() as f:
        out.write_text("".join(line for _, line in zip(range(rows), f, strict=False)))
    return out


def load(name: str) -> tuple[Any, Any, Any]:
    """(task, tokenized data, objective) for one shared data set."""
    from stratsearch.objective import Objective
    from stratsearch.prepare import tokenized_data
    from stratsearch.rows import DataSpec
    from stratsearch.tasks import TASKS
    from stratsearch.train.model_dir import resolve_model_path

    folder = DATASETS / name
    task = TASKS[json.loads((folder / "meta.json").read_text())["task"]]
    validation = capped_copy(
        folder / "validation.jsonl", VALIDATION_ROWS, RESULTS / "cache" / name / "validation.jsonl"
    )
    spec = DataSpec(train=folder / "train.jsonl", validation=validation, max_length=MAX_LENGTH, max_train_rows=ROWS)
    metric, mode = next(iter(task.metrics.items()))
    return task, tokenized_data(resolve_model_path("minilm-l6"), spec, task), Objective(metric=metric, mode=mode)


def measured() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SCORES.read_text().splitlines()] if SCORES.exists() else []


def measure(only: list[str] | None) -> None:
    import torch

    from stratsearch.train.config import trial_from_space
    from stratsearch.train.model_dir import resolve_model_path
    from stratsearch.train.trainer import train

    torch.set_num_threads(2)
    done = {(r["dataset"], r["candidate"]) for r in measured()}
    model_path = resolve_model_path("minilm-l6")
    for name in sorted(p.name for p in DATASETS.iterdir() if (p / "meta.json").exists()):
        todo = [c for c in CANDIDATES if (name, c) not in done and (not only or c in only)]
        if not todo:
            continue
        task, data, objective = load(name)
        for candidate in todo:
            start = time.perf_counter()
            result = train(model_path, data, trial_from_space(CANDIDATES[candidate], task), objective)
            row = {
                "dataset": name,
                "candidate": candidate,
                "metric": objective.metric,
                "mode": objective.mode,
                "value": result.best.validation[objective.metric],
                "curve": [h.validation[objective.metric] for h in result.history],
                "seconds": round(time.perf_counter() - start, 1),
            }
            print(json.dumps(row), flush=True)
            with SCORES.open("a") as f:
                f.write(json.dumps(row) + "\n")


def mode_of(rows: list[dict[str, Any]], dataset: str) -> str:
    return next(r["mode"] for r in rows if r["dataset"] == dataset)


def regrets(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """data set → candidate → normalised regret (0 best, 1 worst of the candidates there)."""
    out: dict[str, dict[str, float]] = {}
    for name in sorted({r["dataset"] for r in rows}):
        mine = [r for r in rows if r["dataset"] == name]
        sign = 1.0 if mode_of(rows, name) == "max" else -1.0
        values = {r["candidate"]: sign * r["value"] for r in mine}
        best, worst = max(values.values()), min(values.values())
        out[name] = {c: (best - v) / (best - worst) if best > worst else 0.0 for c, v in values.items()}
    return out


def greedy(regret: dict[str, dict[str, float]], size: int) -> list[str]:
    """Add the candidate that most lowers the mean (over data sets) of the portfolio's best regret."""
    chosen: list[str] = []
    candidates = sorted(set.intersection(*(set(r) for r in regret.values())))

    def loss(members: list[str]) -> float:
        return sum(min(r[c] for c in members) for r in regret.values()) / len(regret)

    while len(chosen) < size:
        chosen.append(min((c for c in candidates if c not in chosen), key=lambda c: loss([*chosen, c])))
    return chosen


def choose(size: int) -> None:
    rows = measured()
    regret = regrets(rows)
    names = sorted(regret)
    print("validation objective per candidate (accuracy; rmse for vader-tweets; entity F1 for wnut16-ner)")
    print(f"{'':22s}" + "".join(f"{n[:11]:>12s}" for n in names) + f"{'mean regret':>12s}")
    for c in CANDIDATES:
        values = {r["dataset"]: r["value"] for r in rows if r["candidate"] == c}
        mean_regret = sum(regret[n][c] for n in names) / len(names)
        print(f"{c:22s}" + "".join(f"{values[n]:12.4f}" for n in names) + f"{mean_regret:12.3f}")
    portfolio = greedy(regret, size)
    print(f"portfolio of {size}, chosen on all {len(regret)} data sets: {portfolio}\n")
    print("leave one data set out: the portfolio chosen on the other six, scored on the one left out")
    print(f"{'left out':14s} {'default':>8s} {'portfolio':>9s}  chosen without it")
    loo = []
    for name in regret:
        others = {k: v for k, v in regret.items() if k != name}
        members = greedy(others, size)
        here = regret[name]
        best_member = min(members, key=lambda c: here[c])
        values = {r["candidate"]: r["value"] for r in rows if r["dataset"] == name}
        # the left-out set's own direction (rmse is minimised), not the first row's
        best_value = max(values.values()) if mode_of(rows, name) == "max" else min(values.values())
        loo.append(
            {
                "left_out": name,
                "default_regret": round(here["default"], 3),
                "portfolio_regret": round(here[best_member], 3),
                "default_value": round(values["default"], 4),
                "portfolio_value": round(values[best_member], 4),
                "best_value": round(best_value, 4),
                "members": members,
            }
        )
        print(
            f"{name:14s} {here['default']:8.3f} {here[best_member]:9.3f}  {', '.join(members)}"
            f"  (default {values['default']:.4f} → {values[best_member]:.4f} by {best_member})"
        )
    mean = lambda key: sum(r[key] for r in loo) / len(loo)  # noqa: E731
    print(f"{'mean':14s} {mean('default_regret'):8.3f} {mean('portfolio_regret'):9.3f}")
    PORTFOLIO.write_text(
        json.dumps(
            {
                "about": "stratsearch's default portfolio (search.portfolio: auto): strategies tried right after"
                " the baselines. Built by bench/portfolio.py; see its docstring.",
                "setup": {
                    "model": "minilm-l6 (sentence-transformers/all-MiniLM-L6-v2)",
                    "data_sets": sorted(regret),
                    "train_rows": ROWS,
                    "validation_rows": VALIDATION_ROWS,
                    "max_length": MAX_LENGTH,
                    "seed": 0,
                    "candidates": len(CANDIDATES),
                },
                "members": [{"name": c, "config": CANDIDATES[c]} for c in portfolio],
                "mean_regret": {
                    "default": round(sum(r["default"] for r in regret.values()) / len(regret), 3),
                    "portfolio": round(sum(min(r[c] for c in portfolio) for r in regret.values()) / len(regret), 3),
                },
                "leave_one_out": loo,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {PORTFOLIO}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["measure", "choose"])
    parser.add_argument("--size", type=int, default=4, help="portfolio members (choose)")
    parser.add_argument("--only", nargs="*", help="measure only these candidates")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    measure(args.only) if args.step == "measure" else choose(args.size)


if __name__ == "__main__":
    main()
