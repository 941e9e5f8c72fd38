"""The chaos suite's tools: a sweep run in a session of its own with a fault armed
(`stratsearch/faults.py`), what a run directory held before the fault, and the invariants it
must keep after it: every ended trial still ended with the same numbers, none run twice, no
trial left running, results.csv matching the folders, the study matching them, the budget
completed, the ensemble and the report rebuilt.

Set STRATSEARCH_CHAOS_FIGURES=PATH to collect each test's figures as JSON (`bench/chaos.py`
turns them into the README's table).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from stratsearch.choice import choose
from stratsearch.faults import FAULT, MARK
from stratsearch.rundir import RunDir
from stratsearch.train.artifacts import has_model
from tests.conftest import run_args, sweep_space

pytestmark = pytest.mark.chaos


def chaos_space(make_config, tmp_path: Path, name: str, trials: int, **top) -> Path:
    """The tiny sweep of tests/test_sweep.py under its own name; `top` replaces top-level sections."""
    config = yaml.safe_load(sweep_space(make_config, tmp_path, trials).read_text())
    config.update(name=name, **top)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Outcome:
    rc: int
    wall_s: float
    resumed_s: float | None  # seconds from the start until the run said it resumed (recovery)
    stderr: str
    fired: bool  # the armed fault happened


def spawn(space: Path, root: Path, fault: str | None = None, timeout: float = 300) -> Outcome:
    """`stratsearch run SPACE` in a session of its own (so a kill-session takes the driver, Ray and
    every trial, and nothing else), with `fault` armed."""
    env = {k: v for k, v in os.environ.items() if k not in (FAULT, MARK)}
    mark = root / f"fault-{uuid.uuid4().hex[:8]}"
    if fault:
        env |= {FAULT: fault, MARK: str(mark)}
    command = [sys.executable, "-m", "stratsearch", *run_args(space, root, "--quiet")]
    start = time.time()
    proc = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    watchdog = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    watchdog.start()
    resumed, lines = None, []
    try:
        for line in proc.stderr:  # ends once the driver and its children have gone
            if resumed is None and line.startswith("resuming"):
                resumed = time.time() - start
            lines.append(line)
        rc = proc.wait()
    finally:
        watchdog.cancel()
    return Outcome(rc, time.time() - start, resumed, "".join(lines), mark.exists())


def ended(run_dir: Path) -> dict[int, tuple]:
    """Every ended trial: (how it ended, its value, its config) and when it started."""
    out = {}
    for record, s in RunDir(run_dir).statuses():
        if s.ended:
            out[record.number] = ((s.status, s.best_value, json.dumps(record.config(), sort_keys=True)), s.started)
    return out


def lost_and_twice(before: dict[int, tuple], run_dir: Path) -> tuple[list[int], list[int]]:
    """Trials ended before a fault that are no longer, or not with the same figures (lost), and
    those that ran again (their start time changed)."""
    after = ended(run_dir)
    lost = [n for n, (state, _) in before.items() if n not in after or after[n][0] != state]
    twice = [n for n, (_, started) in before.items() if n in after and after[n][1] != started]
    return lost, twice


def assert_kept(before: dict[int, tuple], run_dir: Path) -> None:
    lost, twice = lost_and_twice(before, run_dir)
    assert not lost, f"trials {lost} lost or changed after the fault"
    assert not twice, f"trials {twice} ran again after the fault"


def search_trials(run_dir: Path) -> list[int]:
    return [r.number for r, s in RunDir(run_dir).statuses() if s.ended and r.config().get("origin") != "confirmation"]


def assert_whole(run_dir: Path, budget: int | None, reports: Path | None = None) -> None:
    """The invariants of a run directory after a sweep ended; `budget`: the search trials it must
    have ended (None: a time budget ended it)."""
    rd = RunDir(run_dir)
    statuses = rd.statuses()
    assert not [r.number for r, s in statuses if s.status in ("", "running")], "a trial left running"
    assert budget is None or len(search_trials(run_dir)) == budget
    for record, _ in statuses:  # each trial ran once in its folder: its epochs 1..n, each once
        epochs = [m["epoch"] for m in record.metrics()]
        assert epochs == list(range(1, len(epochs) + 1)), f"trial {record.number}: epochs {epochs}"
    results = pd.read_csv(rd.results_csv)
    shown = {r.number: s.status for r, s in statuses if s.status != "interrupted"}
    assert dict(zip(results["trial"], results["status"], strict=True)) == shown
    study = optuna.load_study(study_name=run_dir.name, storage=rd.study_url)
    for t in study.trials:
        if t.state == optuna.trial.TrialState.COMPLETE and t.number in shown:
            assert rd.trial(t.number).status().objectives == t.values, f"trial {t.number}: study and folder differ"
    for path in [*run_dir.glob("*.json"), *run_dir.glob("trials/*/*.json"), *run_dir.glob("ensemble/*.json")]:
        json.loads(path.read_text())  # nothing half written
    if choose(rd, rd.info().objective).ranking():
        ensemble = rd.read_ensemble()
        assert all(has_model(rd.trial(int(t)).folder) for t in ensemble["weights"]) or ensemble["rule"] == "soup"
    if reports is not None:
        assert (reports / f"{run_dir.name}.html").is_file()


def add_row(
    rows: list[dict],
    fault: str,
    points: list[str],
    runs: int,
    outcome: str | None = None,
    *,
    kills: int = 0,
    kept: tuple[dict[int, tuple], Path] | None = None,
    lost: int | None = None,
    twice: int | None = None,
    recover_s: float | None = None,
) -> None:
    """A row of the table: trials lost and run twice counted from `kept` (what had ended before the
    fault, and the run directory after it) where the test took that snapshot, else as given (None:
    not counted, the fault striking a single run with no snapshot before it)."""
    if kept is not None:
        lost, twice = (len(numbers) for numbers in lost_and_twice(*kept))
    row = {"fault": fault, "points": points, "kills": kills, "runs": runs, "lost": lost, "twice": twice}
    rows.append(row | {"recover_s": recover_s} | ({"outcome": outcome} if outcome else {}))


@pytest.fixture(scope="session")
def chaos_figures():
    """Each test adds its row: fault, points tried, runs, trials lost, trials run twice, recovery."""
    rows: list[dict] = []
    yield rows
    if path := os.environ.get("STRATSEARCH_CHAOS_FIGURES"):
        Path(path).write_text(json.dumps(rows, indent=2) + "\n")
