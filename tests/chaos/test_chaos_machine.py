"""The machine under the sweep fails: its disk fills up, or a Ray node dies with a trial on it."""

from __future__ import annotations

import contextlib
import errno
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stratsearch.rundir import RunDir
from tests.chaos.conftest import add_row, assert_kept, assert_whole, chaos_space, ended, spawn
from tests.conftest import run_args

pytestmark = pytest.mark.chaos


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `folder` (needs root, as CI has); skips where it cannot be."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}); the test needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path, when: Callable[[], bool], filler: Path) -> None:
    """Once `when()` holds, write `filler` until the disk has not a byte left."""
    while not when():
        time.sleep(0.1)
    with filler.open("wb", buffering=0) as handle:
        for chunk in (2**20, 4096, 1):
            try:
                while True:
                    handle.write(b"\0" * chunk)
                    handle.flush()
            except OSError as err:
                assert err.errno == errno.ENOSPC


def test_a_full_disk_stops_the_sweep_saying_where_and_how_much_and_the_rerun_loses_nothing(
    make_config, tmp_path: Path, chaos_figures
) -> None:
    with small_disk(tmp_path / "disk", "64m") as disk:
        space = chaos_space(make_config, tmp_path, "disk-full", trials=4)
        run_dir = disk / "runs" / "disk-full"
        filler = disk / "filler"

        def one_finished() -> bool:
            return any(s.status == "finished" for _, s in RunDir(run_dir).statuses())

        filling = threading.Thread(target=fill, args=(disk, one_finished, filler), daemon=True)
        filling.start()
        out = spawn(space, disk)
        filling.join(timeout=60)
        assert out.rc == 2, out.stderr
        assert "disk full" in out.stderr and str(run_dir) in out.stderr and " MB " in out.stderr, out.stderr
        # Ray Tune logs its own failed writes on the way; what the run says last is the way on.
        assert out.stderr.strip().splitlines()[-1].startswith("error: disk full"), out.stderr
        print(out.stderr.strip().splitlines()[-1])
        before = ended(run_dir)
        assert before, "the disk filled before any trial ended"

        filler.unlink()  # space freed: the same command goes on
        again = spawn(space, disk)
        assert again.rc == 0, again.stderr
        assert_kept(before, run_dir)
        assert_whole(run_dir, 4, disk / "reports")
    add_row(
        chaos_figures,
        "disk full (a 64 MB tmpfs filled mid-sweep)",
        ["after the first finished trial"],
        2,
        "exit 2 naming the run directory and the MB a trial needs; rerun completes",
        kept=(before, run_dir),
        recover_s=again.resumed_s,
    )


def test_a_lost_ray_node_fails_its_trial_with_the_reason_and_the_sweep_ends_on_the_head(
    make_config, tmp_path: Path, chaos_figures
) -> None:
    """A two-node cluster on this machine (Ray's own test cluster: a head and a second raylet),
    the sweep attached to it; the second node is killed while a trial runs there."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        second = cluster.add_node(num_cpus=1)
        space = chaos_space(
            make_config,
            tmp_path,
            "node-lost",
            trials=6,
            space={"epochs": 6, "batch_size": 8, "optimizer": {"adamw": {"lr": {"loguniform": [1e-4, 1e-2]}}}},
            budget={"trials": 6, "max_epochs": 6},
            search={"sampler": "random", "pruner": "none", "seed": 0},
        )
        run_dir = tmp_path / "runs" / "node-lost"
        command = [sys.executable, "-m", "stratsearch", *run_args(space, tmp_path, "--quiet")]
        sweep = subprocess.Popen(
            [*command, "--address", cluster.address], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline, victim = time.time() + 180, None
        while time.time() < deadline and victim is None and sweep.poll() is None:
            statuses = RunDir(run_dir).statuses()
            victim = next((r.number for r, s in statuses if s.status == "running" and s.node == second.node_id), None)
            time.sleep(0.2)
        assert victim is not None, "no trial was placed on the second node"
        before = ended(run_dir)
        cluster.remove_node(second, allow_graceful=False)
        _, err = sweep.communicate(timeout=300)
        assert sweep.returncode == 0, err
    finally:
        cluster.shutdown()
    status = RunDir(run_dir).trial(victim).status()
    assert status.status == "failed" and "the Ray worker running it died" in status.reason, status
    assert_kept(before, run_dir)
    assert_whole(run_dir, 6, tmp_path / "reports")
    said = "its trial failed with the reason; the sweep ended on the head"
    where = ["a trial running there"]
    add_row(
        chaos_figures,
        "a Ray node lost (two-node cluster, the second killed)",
        where,
        1,
        said,
        kills=1,
        kept=(before, run_dir),
    )
