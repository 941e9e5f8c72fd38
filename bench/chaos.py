"""The chaos suite's figures: what a sweep survives, as the README's table.

    python bench/chaos.py                  # runs tests/chaos (as CI does), then prints the table
    python bench/chaos.py --report-only    # the table from the last run's figures

Runs `pytest -m chaos` with STRATSEARCH_CHAOS_FIGURES set, so that each test writes its row
(the fault, where it was injected, runs, trials lost, trials run twice, seconds until the rerun
said it resumed) to bench/results/chaos/figures.json, and the suite's wall time beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "chaos"


def run() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # Ten kills of the whole session where CI asks for six.
    env = {**os.environ, "STRATSEARCH_CHAOS_FIGURES": str(OUT / "figures.json"), "STRATSEARCH_CHAOS_KILLS": "10"}
    start = time.time()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "chaos", "tests/chaos"], cwd=ROOT, env=env)
    (OUT / "wall.json").write_text(json.dumps({"wall_s": round(time.time() - start), "rc": done.returncode}) + "\n")


def table() -> str:
    rows = json.loads((OUT / "figures.json").read_text())
    wall = json.loads((OUT / "wall.json").read_text())
    lines = [
        "| fault | where injected | runs | trials lost | trials run twice | resume (s) | outcome |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        where = ", ".join(row["points"])
        if row.get("kills"):
            where = f"{row['kills']} kills at: {where}"
        resume = "" if row.get("recover_s") is None else f"{row['recover_s']:.1f}"
        outcome = row.get("outcome", "every ended trial kept; the rerun completed the budget")
        counted = ["–" if row[k] is None else row[k] for k in ("lost", "twice")]  # –: not counted (no snapshot)
        cells = [row["fault"], where, row["runs"], *counted, resume, outcome]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines.append(f"\nSuite wall time: {wall['wall_s'] / 60:.1f} min (exit code {wall['rc']}).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report-only", action="store_true", help="print the table from the saved figures")
    if not parser.parse_args().report_only:
        run()
    print(table())


if __name__ == "__main__":
    main()
