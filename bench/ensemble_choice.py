"""The ensemble chosen on honest figures (issue 41): today's rule against the new one, on the shared
data sets, by test score.

    .venv/bin/python bench/ensemble_choice.py              # 5 sweeps, ~6 min each on 2 cores, then the table
    .venv/bin/python bench/ensemble_choice.py --table-only # the table from the saved runs

Each sweep is quickstart-sized (8 trials over freeze depth, learning rate, schedule and head
width; 600 training rows, max_length 48, 2 epochs, no time budget) on a shared data set, with
`confirm: {top_k: 2, seeds: 2}` and `ensemble: {top_k: 5}`. From the same run directory, both
rules build every method from the stored predictions (nothing retrained):

- today's (before): the pool is the top 5 of the ranking and every run of the winner, search runs
  included, whose validation predictions are the very ones that made them top trials;
- the new one: after a confirmation, its fresh seed runs alone (`Choice.pool`).

For each: the method the validation figures put first among best single, mean of the pool,
vote and greedy (and that method's test score), and greedy's own test score and member count.
Runs land in bench/results/ensemble_choice/ (run folders gitignored); the table in
bench/results/ensemble_choice.txt.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from stratsearch.choice import choose
from stratsearch.ensemble.combine import Prediction
from stratsearch.ensemble.methods import METHODS, Pool, build_ensemble, load_members
from stratsearch.predictions import read_predictions
from stratsearch.rundir import RunDir, TrialRecord

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
OUT = ROOT / "bench" / "results" / "ensemble_choice"
SETS = {  # name → (task, metric, mode)
    "rt-snippets": ("classification", "accuracy", "max"),
    "trec-coarse": ("classification", "accuracy", "max"),
    "sms-spam": ("classification", "macro_f1", "max"),
    "bbc-news": ("classification", "accuracy", "max"),
    "vader-tweets": ("regression", "rmse", "min"),
}
TOP_K = 5


def space(dataset: str) -> dict:
    config = yaml.safe_load((ROOT / "search_spaces" / "quickstart.yaml").read_text())
    task, metric, mode = SETS[dataset]
    folder = DATASETS / dataset
    config["name"] = dataset
    config["task"] = task
    config["objective"] = {"metric": metric, "mode": mode}
    config["data"] |= {split: str(folder / f"{split}.jsonl") for split in ("train", "validation", "test")}
    config["budget"].pop("time", None)  # the trials budget alone: every sweep searches 8 strategies
    if task == "regression":
        config["space"].pop("head", None)
    config["confirm"] = {"top_k": 2, "seeds": 2}
    config["ensemble"] = {"top_k": TOP_K, "method": "greedy"}
    return config


def sweep(dataset: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{dataset}.yaml"
    path.write_text(yaml.safe_dump(space(dataset), sort_keys=False))
    command = [str(Path(sys.executable).parent / "stratsearch"), "run", str(path), "--runs-dir", str(OUT / "runs")]
    subprocess.run([*command, "--reports-dir", str(OUT / "reports"), "--quiet"], check=True)


def before_pool(run_dir: RunDir, records: list[TrialRecord], strategy: int | None) -> list[TrialRecord]:
    """Today's pool: the ranking's top k and every run of the winner, search runs included."""
    return [r for i, r in enumerate(records) if i < TOP_K or r.source() == strategy]


def scored(run_dir: RunDir, records: list[TrialRecord]) -> dict[str, tuple[float, float, int]]:
    """method → (validation, test, members) of each method built on `records`."""
    info = run_dir.info()
    targets = {"validation": read_predictions(run_dir.targets_path), "test": test_targets(run_dir)}

    def score(prediction: Prediction, split: str) -> dict[str, float]:
        return info.task.score(prediction, targets[split], info.labels)

    members = load_members(records, evaluate=None, has_test=True)  # type: ignore[arg-type]
    pool = Pool(members, score, info.objective, None, info.task.multi_label)
    rows, _, _ = build_ensemble(pool, "greedy")
    metric = info.metric
    out = {}
    for row in rows:
        if f"validation_{metric}" in row and (row["method"] in METHODS or row["method"] == "best single"):
            size = len(row["members"].split()) if row["members"] else 0
            out[row["method"]] = (row[f"validation_{metric}"], row[f"test_{metric}"], size)
    return out


def test_targets(run_dir: RunDir) -> Any:
    """The test split's targets, read as the sweep read them."""
    from stratsearch.prepare import model_and_data
    from stratsearch.space.load import load_space

    spec = load_space(Path(run_dir.info().space_file))
    return model_and_data(spec)[1].test.targets


def table() -> str:
    lines = [
        "data set      rule     validation's pick (its test)     greedy test (members)   best single test",
    ]
    for dataset, (_, metric, mode) in SETS.items():
        run_dir = RunDir(OUT / "runs" / dataset)
        if not run_dir.is_run():
            continue
        choice = choose(run_dir, run_dir.info().objective)
        sign = 1 if mode == "max" else -1
        for rule, records in (
            ("before", before_pool(run_dir, choice.ranking(), choice.strategy)),
            ("after", choice.pool(TOP_K)),
        ):
            methods = scored(run_dir, records)
            pick = max(methods, key=lambda m: sign * methods[m][0])
            greedy, single = methods["greedy"], methods["best single"]
            lines.append(
                f"{dataset:13} {rule:7}  {pick:12} ({metric} {methods[pick][1]:.4f})"
                f"      {greedy[1]:.4f} ({greedy[2]})            {single[1]:.4f}"
            )
    return "\n".join(lines)


def main() -> int:
    if "--table-only" not in sys.argv:
        for dataset in SETS:
            if not RunDir(OUT / "runs" / dataset).has_ensemble():
                sweep(dataset)
    text = table()
    print(text)
    (ROOT / "bench" / "results" / "ensemble_choice.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
