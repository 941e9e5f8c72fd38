"""Crash-safe writes: every file the run directory holds is written whole or not at all.

A file is written to a temporary name beside it, flushed to disk (fsync), then renamed over the
old one, and the folder is synced so the rename itself survives a power cut. A reader therefore
sees the old file or the new one, never half of one. The temporary name carries the writer's pid:
the driver and a trial's worker may both update a trial's `status.json`.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

NEARLY_FULL = 2**20  # bytes: less than this left and an error there is taken for a full disk
FULL = ("No space left on device", "database or disk is full")  # the OS's words, and SQLite's


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: Path, mode: str = "w", **open_args: Any) -> Iterator[IO]:
    """An open file that replaces `path` when the block ends without an error."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode, **open_args) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)  # only left when the block failed


def disk_full(err: BaseException | None) -> bool:
    """Whether an error, or one it was raised from or while handling, is "no space left on device"
    (an error a Ray worker raised reaches the driver wrapped, hence the message test too)."""
    return full_disk_line(err) is not None


def full_disk_line(err: BaseException | str | None) -> str | None:
    """The line of an error (or of those it was raised from, or of an error's text) that says the
    disk is full, or None."""
    if isinstance(err, str):
        said = [line.strip() for line in err.splitlines() if any(words in line for words in FULL)]
        return said[-1] if said else None
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return str(err)
        if said := full_disk_line(str(err)):
            return said
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def out_of_space(folder: Path) -> str | None:
    """What to say when the disk under `folder` has (next to) no space left, else None. An error met
    there may be a full disk in disguise: Ray Tune, for one, reads back a half-written file of its
    own and fails on the truncated data, not on the write."""
    free = shutil.disk_usage(folder).free if folder.exists() else None
    return None if free is None or free >= NEARLY_FULL else f"{free:,} bytes left on the disk of {folder}"


def write_text(path: Path, text: str) -> None:
    with atomic_file(path, encoding="utf-8") as handle:
        handle.write(text)


def append_line(path: Path, line: str) -> None:
    """Append one line and sync it. A crash mid-append can leave a torn last line, which the
    reader skips (`TrialRecord.metrics`)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def address_space() -> int:
    """Bytes of address space this process holds now (what `ulimit -v` limits)."""
    return int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
