"""The time budget running out mid-trial (found on a 19-minute run of strategies.yaml, whose last
trial stayed `running` after the sweep ended)."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from stratsearch.cli import main
from stratsearch.rundir import RunDir
from tests.chaos.conftest import add_row, assert_whole, chaos_space
from tests.conftest import run_args

pytestmark = [pytest.mark.chaos, pytest.mark.usefixtures("no_ray_left_behind")]


def test_the_time_budget_running_out_mid_trial_leaves_no_trial_running(make_config, tmp_path: Path, chaos_figures):
    """When budget.time runs out, Tune ends the trials in flight: each must end `stopped` (with what
    it reached), in its folder and in results.csv, never stay `running`."""
    long = {"epochs": 60, "batch_size": 8, "optimizer": {"adamw": {"lr": {"loguniform": [1e-4, 1e-2]}}}}
    space = chaos_space(
        make_config,
        tmp_path,
        "out-of-time",
        trials=50,
        space=long,
        budget={"trials": 50, "max_epochs": 60, "time": 10},
        search={"sampler": "random", "pruner": "none", "seed": 0},
    )
    start = time.time()
    assert main(run_args(space, tmp_path, "--quiet")) == 0
    wall = time.time() - start
    run_dir = tmp_path / "runs" / "out-of-time"
    statuses = [s for _, s in RunDir(run_dir).statuses()]
    stopped = [s for s in statuses if s.status == "stopped" and s.reason is None]  # by the budget, not as a dud
    assert stopped and len(statuses) < 50
    assert "running" not in set(pd.read_csv(RunDir(run_dir).results_csv)["status"])
    assert_whole(run_dir, None, tmp_path / "reports")
    said = f"{len(stopped)} trial(s) in flight ended 'stopped', none left running ({wall:.0f} s run)"
    add_row(chaos_figures, "the time budget (10 s) running out mid-trial", ["60-epoch trials in flight"], 1, said)
