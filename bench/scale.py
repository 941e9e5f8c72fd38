"""What a sweep's per-second and per-trial bookkeeping costs on a run directory of 1,000 trials.

The reserve asks every second what the confirmation would need, each trial's end asks whether it
ranks in the top k, and `ensemble` and `report` rank the whole run. They all read the trial
folders through `RunDir.statuses`, which reads a folder's status.json again only once it changed
(its inode, time and size; `rundir.READ`, one per process). Side by side in one command: a cold
call (nothing read yet, every file read: what every call cost before the cache) and a warm one
(what a long-lived sweep, or a worker that ran trials before, pays).
The run directory is the tests' synthetic one (`tests/test_report.py: synthetic_run`: run.json,
study.db, trial folders with metrics and statuses), with a confirmation of three candidates on
two fresh seeds added.

    .venv/bin/python bench/scale.py            # about a minute on 2 cores
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stratsearch.choice import choose
from stratsearch.confirm.plan import CONFIRMATION
from stratsearch.objective import Objective
from stratsearch.rundir import READ, RunDir, write_json
from stratsearch.space.load import Confirm
from tests.test_report import synthetic_run

TRIALS = 1000
ACCURACY = Objective(metric="accuracy", mode="max")


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def confirmed(path: Path) -> None:
    """Three candidates (the best two trials and the baseline) on two fresh seeds each."""
    run_dir = RunDir(path)
    ranked = [r.number for r in choose(run_dir, ACCURACY).ranking()]
    candidates = [*ranked[:2], 0]
    write_json(run_dir.confirm_json, {"candidates": candidates, "top_k": 2, "seeds": 2})
    number = TRIALS
    for r in (1, 2):
        for source in candidates:
            record = run_dir.trial(number)
            config = run_dir.trial(source).config()["config"]
            record.start({**config, "seed": r}, {}, None, CONFIRMATION, confirms=source, round=r)
            record.epoch({"epoch": 3, "accuracy": 0.85}, 0.85, 3, [0.85])
            record.finish("finished", best_value=0.85 + 0.001 * r, test={"accuracy": 0.84})
            number += 1


def main() -> None:
    from stratsearch.ensemble.methods import keep_top_models
    from stratsearch.report.build import report_document, write
    from stratsearch.report.view import load_run
    from stratsearch.sweep.confirm import reserve_seconds

    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        path = synthetic_run(Path(root), "scale", trials=TRIALS)
        confirmed(path)
        print(f"synthetic run directory of {TRIALS} trials + 6 seed runs built in {time.perf_counter() - start:.0f} s")
        confirm = Confirm(top_k=2, seeds=2)
        calls = {
            "the choice and its ranking": lambda run_dir: choose(run_dir, ACCURACY).ranking(),
            "reserve (every second)": lambda run_dir: reserve_seconds(run_dir, ACCURACY, confirm, 1),
            "in_top (every trial's end)": lambda run_dir: choose(run_dir, ACCURACY).ranking()[:5],
            "ensemble: pool and keep top": lambda run_dir: (
                choose(run_dir, ACCURACY).pool(5),
                keep_top_models(run_dir, ACCURACY, 5),
            ),
        }
        print(f"{'call':30s} {'cold (s)':>9s} {'warm (s)':>9s}")
        for name, call in calls.items():
            READ.clear()
            cold = timed(lambda call=call: call(RunDir(path)))
            warm = timed(lambda call=call: call(RunDir(path)))
            print(f"{name:30s} {cold:9.3f} {warm:9.3f}", flush=True)

        def report() -> None:
            view = load_run(path)
            write(report_document(view), Path(root) / "scale.html")

        print(f"{'report (load, build, write)':30s} {timed(report):9.3f}")


if __name__ == "__main__":
    main()
