"""The documented path after a sweep, on several search seeds: `run`, `confirm --seeds 3`, `predict`,
`predict --best` and `export`, each checked against the one choice (issue 41).

    .venv/bin/python bench/choice_flow.py [SEEDS…]      # search seeds 0 1 2 by default, ~8 min each on 2 cores

The bundled MiniLM on 300 rows of the shared trec-coarse questions (6 classes, 200 validation, 200
test), 8 trials, `ensemble.top_k: 1` (so a search run keeps its model only while it is the best),
`confirm: {top_k: 2, seeds: 2}`, then the confirmation extended to 3 seeds, where the winner can
move to a candidate whose search run kept no model. For each search seed: the chosen strategy
after `run` and after `confirm`, whether each command succeeded, and whether `predict --best` and
`export` used the chosen strategy's model. Figures go to bench/results/choice_flow.txt.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from stratsearch.choice import choose
from stratsearch.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "trec-coarse"
STRATSEARCH = [sys.executable, "-m", "stratsearch"]
RESULTS = ROOT / "bench" / "results" / "choice_flow.txt"


def rows(split: str, n: int, out: Path) -> Path:
    lines = (DATA / f"{split}.jsonl").read_text().splitlines()[:n]
    path = out / f"{split}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def space(out: Path, seed: int) -> Path:
    config = {
        "name": "choice-flow",
        "model": "minilm-l6",
        "task": "classification",
        "data": {
            "train": str(rows("train", 300, out)),
            "validation": str(rows("validation", 200, out)),
            "test": str(rows("test", 200, out)),
            "max_length": 32,
        },
        "objective": {"metric": "accuracy", "mode": "max"},
        "budget": {"trials": 8, "max_epochs": 2},
        "resources": {"cpus_per_trial": 2},
        "search": {
            "sampler": "tpe",
            "pruner": "asha",
            "seed": seed,
            "portfolio": "none",
            "baseline": [{"optimizer": {"adamw": {"lr": 5.0e-5}}, "schedule": "linear", "epochs": 2}],
        },
        "space": {
            "epochs": 2,
            "batch_size": 16,
            "freeze_depth": {"int": [0, 6]},
            "optimizer": {"adamw": {"lr": {"loguniform": [2.0e-5, 3.0e-4]}}},
            "head": {"hidden": {"choice": [0, 128]}},
        },
        "confirm": {"top_k": 2, "seeds": 2},
        "ensemble": {"top_k": 1, "method": "greedy"},
    }
    path = out / "space.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def command(*args: str) -> tuple[int, str]:
    done = subprocess.run([*STRATSEARCH, *args], capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def last_line(text: str, word: str) -> str:
    return next((line.strip() for line in reversed(text.splitlines()) if word in line), "")


def one_seed(seed: int) -> list[str]:
    out = Path(tempfile.mkdtemp(prefix=f"choice-flow-{seed}-"))
    path = space(out, seed)
    runs, reports = out / "runs", out / "reports"
    run_dir = RunDir(runs / "choice-flow")
    code, said = command("run", str(path), "--runs-dir", str(runs), "--reports-dir", str(reports), "--quiet")
    objective = run_dir.info().objective
    first = choose(run_dir, objective).strategy
    lines = [f"search seed {seed}: run exit {code}, chosen trial {first}"]
    code, said = command("confirm", str(run_dir.path), "--seeds", "3", "--reports-dir", str(reports))
    choice = choose(run_dir, objective)
    moved = choice.strategy != first
    lines.append(f"  confirm --seeds 3: exit {code}, chosen trial {choice.strategy} (moved: {moved})")
    verdict = next((line for line in said.splitlines() if line.startswith("verdict:")), "")
    lines.append(f"  {verdict[:160]}")
    ensemble = json.loads(run_dir.ensemble_json.read_text()) if run_dir.ensemble_json.is_file() else {}
    lines.append(f"  ensemble built for trial {ensemble.get('strategy')}, members {ensemble.get('members')}")
    test = str(DATA / "test.jsonl")
    for flags in ([], ["--best"]):
        code, said = command("predict", str(run_dir.path), test, "--out", str(out / "p.jsonl"), *flags)
        lines.append(f"  predict {' '.join(flags) or '(ensemble)'}: exit {code}: {last_line(said, 'predictions by')}")
    code, said = command("export", str(run_dir.path), str(out / "export"))
    exported = json.loads((out / "export" / "config.json").read_text()) if code == 0 else {}
    source = last_line(said, "exported the")
    lines.append(f"  export: exit {code}: {source[:120]}")
    model = choice.model_run()
    lines.append(
        f"  chosen model run: trial {model.number if model else None} (of trial {choice.strategy}'s strategy);"
        f" export names it: {model is not None and f'trial {model.number}' in source};"
        f" labels {len(exported.get('id2label', {}))}"
    )
    return lines


def main() -> int:
    seeds = [int(s) for s in sys.argv[1:]] or [0, 1, 2]
    lines: list[str] = []
    for seed in seeds:
        lines += one_seed(seed)
        print("\n".join(lines[-9:]), flush=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
