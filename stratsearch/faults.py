"""Fault injection for the chaos tests (`tests/chaos/`): named points where a fault can be made to happen.

The sweep calls `point(NAME)` at the moments a machine can fail it: inside an epoch, between
recording an epoch and reporting it to Ray Tune, while saving a model or writing predictions,
while writing results, during the ensemble and the report. Outside the tests nothing is set
and a point costs one environment lookup. In the tests (like SQLite's test hooks):

    STRATSEARCH_FAULT=POINT:N:ACTION       at the Nth time one process reaches POINT, do ACTION
    STRATSEARCH_FAULT_MARK=PATH            created when the fault fires; a fault fires once, over
                                           every process of the sweep (a restarted worker counts
                                           afresh but finds the mark)

Actions: `kill-session` (SIGKILL every process of this session: the driver, Ray and every
trial, as a power cut does; Ray puts its workers in process groups of their own, so a group is
not enough; the tests start the driver in a session of its own), `kill-self` (SIGKILL this
process only: a Ray worker taken by the OOM killer or a preemption), `limit-memory=MB` (cap
this process's address space at what it holds plus MB, so the trial's next large allocation
fails as it would on a machine without the memory).
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from collections import Counter
from pathlib import Path

FAULT, MARK = "STRATSEARCH_FAULT", "STRATSEARCH_FAULT_MARK"
POINTS = (
    "trial.epoch",  # an epoch trained, not yet recorded
    "trial.recorded",  # an epoch recorded in the trial folder, not yet reported to Tune
    "trial.predictions",  # a predictions file written, not yet in place
    "trial.model",  # a model half saved (the encoder, not the head)
    "trial.saved",  # a finished trial's model saved, its status not yet "finished"
    "sweep.results",  # results.csv being rewritten
    "confirm.round",  # a confirmation round about to start
    "ensemble.write",  # the ensemble's table written, not its recipe
    "report.write",  # the report's HTML written, not its Markdown
)
hits: Counter = Counter()


def point(name: str) -> None:
    spec = os.environ.get(FAULT)
    if not spec:
        return
    where, nth, action = spec.split(":", 2)
    if where != name:
        return
    hits[name] += 1
    if hits[name] != int(nth) or not claim(os.environ[MARK]):
        return
    if action == "kill-session":
        kill_session()
    elif action == "kill-self":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action.startswith("limit-memory="):
        from stratsearch.files import address_space

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (address_space() + int(action.partition("=")[2]) * 2**20, hard))
    else:
        raise ValueError(f"{FAULT}={spec}: unknown action {action!r}")


def kill_session() -> None:
    sid = os.getsid(0)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):  # gone already, or not ours to ask about
                if os.getsid(int(entry.name)) == sid:
                    os.kill(int(entry.name), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def claim(mark: str) -> bool:
    """Create the mark; False when another process already did (the fault has fired)."""
    try:
        os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True
