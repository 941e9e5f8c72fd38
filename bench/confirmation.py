"""Does the confirmation over seeds choose better than the single best run? And what does it cost?

    python bench/confirmation.py                       # rt-snippets seeds 0, 1, 2 and trec-coarse seed 0
    python bench/confirmation.py --report-only         # the tables from the saved runs

Each sweep is quickstart-sized (search_spaces/quickstart.yaml as it was before the quickstart
shrank to 5 minutes: 8 trials over freeze depth, learning rate, epochs 2-3, schedule and head
width; 800 training rows, max_length 48, no time budget) on a shared data
set, then confirms its top 3 distinct strategies and the baseline on 3 fresh seeds (the default
`confirm`). Per sweep: the confirmation table, what racing dropped, the share of the wall time
the confirmation took, and the test accuracy — as the mean over the fresh seeds — of the
confirmed winner (best mean over its fresh seeds) against the plain winner (the best single search run)
of the same sweep. Runs land in bench/results/confirmation/ (run folders gitignored).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
OUT = ROOT / "bench" / "results" / "confirmation"
SWEEPS = [("rt-snippets", 0), ("rt-snippets", 1), ("rt-snippets", 2), ("trec-coarse", 0)]


def space(dataset: str, seed: int) -> dict:
    config = yaml.safe_load((ROOT / "search_spaces" / "quickstart.yaml").read_text())
    folder = DATASETS / dataset
    config["name"] = f"{dataset}-seed{seed}"
    config["data"] |= {split: str(folder / f"{split}.jsonl") for split in ("train", "validation", "test")}
    config["search"]["seed"] = seed
    # The trial seed too: otherwise every sweep would run the same baseline and portfolio members
    # (seed 0) and only its sampled trials would differ. Confirmation runs use seed + 1, + 2, + 3.
    config["space"]["seed"] = seed * 10
    config["budget"].pop("time", None)  # the trials budget alone: every sweep searches 8 strategies
    config["budget"]["max_epochs"] = 3
    config["data"]["max_train_rows"] = 800
    config["space"]["epochs"] = {"int": [2, 3]}
    config["search"]["baseline"][0]["epochs"] = 3
    config["confirm"] = {"top_k": 3, "seeds": 3}
    return config


def run(dataset: str, seed: int) -> Path:
    folder = OUT / dataset
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"seed{seed}.yaml"
    path.write_text(yaml.safe_dump(space(dataset, seed), sort_keys=False))
    command = [str(Path(sys.executable).parent / "stratsearch"), "run", str(path), "--runs-dir", str(folder / "runs")]
    subprocess.run([*command, "--reports-dir", str(folder / "reports"), "--quiet"], check=True)
    return folder / "runs" / f"{dataset}-seed{seed}"


def measure(run_path: Path) -> dict:
    from stratsearch.choice import confirmed_winner
    from stratsearch.confirm.plan import CONFIRMATION, load_confirmation
    from stratsearch.rundir import RunDir

    run_dir = RunDir(run_path)
    info = run_dir.info()
    confirmation = load_confirmation(run_dir, info.objective)
    assert confirmation is not None, f"{run_path}: no confirmation"
    winner = confirmed_winner(confirmation)
    searched = [(r, s) for r, s in run_dir.statuses() if r.config().get("origin") != CONFIRMATION]
    plain = max(((r, s) for r, s in searched if s.status == "finished"), key=lambda p: (p[1].best_value, -p[0].number))[
        0
    ].number
    by_source = confirmation.by_source()
    dropped = confirmation.dropped()
    spent = sum(s.wall_s or 0 for r, s in run_dir.statuses() if r.config().get("origin") == CONFIRMATION)

    def row(c) -> dict:
        val, test = c.fresh(), c.fresh("test")
        return {
            "trial": c.source,
            "origin": c.origin,
            "search_val": c.values().get(0),
            "val": [val.n, val.mean, val.sd, val.low, val.high],
            "test": [test.n, test.mean, test.sd, test.low, test.high],
            "dropped_after_round": dropped[c.source][0] if c.source in dropped else None,
        }

    return {
        "candidates": [row(c) for c in confirmation.candidates],
        "winner": winner.source if winner else None,
        "plain": plain,
        "plain_confirmed": plain in by_source,
        "saved_runs": confirmation.saved_runs(),
        "confirmation_s": spent,
        "elapsed_s": run_dir.elapsed(),
    }


def cell(values: list) -> str:
    n, mean, sd, low, high = values
    if not n:
        return "–"
    return f"{mean:.4f}" if sd is None else f"{mean:.4f} ± {sd:.4f} [{low:.4f}, {high:.4f}]"


def summary(results: dict[str, dict]) -> None:
    gains = []
    for name, m in results.items():
        share = m["confirmation_s"] / m["elapsed_s"] if m["elapsed_s"] else float("nan")
        print(f"\n{name}: confirmation {m['confirmation_s'] / 60:.1f} of {m['elapsed_s'] / 60:.1f} min ({share:.0%});"
              f" racing saved {m['saved_runs']} seed run(s)")  # fmt: skip
        print(f"  {'candidate':24s} {'search val':>10s}  {'fresh val mean ± sd [95% CI]':>34s}"
              f"  {'fresh test mean ± sd [95% CI]':>34s}  fate")  # fmt: skip
        for c in m["candidates"]:
            fate = "winner" if c["trial"] == m["winner"] else ""
            if c["dropped_after_round"] is not None:
                fate = f"dropped after round {c['dropped_after_round']}"
            fate += " (plain winner)" if c["trial"] == m["plain"] else ""
            label = f"{c['trial']} ({c['origin']})"
            search = "–" if c["search_val"] is None else f"{c['search_val']:.4f}"
            print(f"  {label:24s} {search:>10s}  {cell(c['val']):>34s}  {cell(c['test']):>34s}  {fate}")
        by_trial = {c["trial"]: c for c in m["candidates"]}
        confirmed, plain = by_trial[m["winner"]]["test"], by_trial[m["plain"]]["test"]
        gains.append(confirmed[1] - plain[1])
        print(f"  test, mean over fresh seeds: confirmed winner {confirmed[1]:.4f} ({confirmed[0]} seeds),"
              f" plain winner {plain[1]:.4f} ({plain[0]} seeds): {confirmed[1] - plain[1]:+.4f}")  # fmt: skip
    if gains:
        print(f"\nconfirmed − plain winner, test (fresh-seed means), per sweep: {[round(g, 4) for g in gains]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report-only", action="store_true", help="summarise the saved runs, run nothing")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    saved = OUT / "results.json"
    results: dict[str, dict] = json.loads(saved.read_text()) if saved.exists() else {}
    for dataset, seed in SWEEPS:
        name = f"{dataset}-seed{seed}"
        if not args.report_only and name not in results:  # a sweep already measured is kept
            start = time.time()
            path = run(dataset, seed)
            results[name] = measure(path) | {"command_s": time.time() - start}
            saved.write_text(json.dumps(results, indent=1))
    summary(results)


if __name__ == "__main__":
    main()
