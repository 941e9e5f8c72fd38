"""Where stratsearch keeps what it computes once and reuses (augmented sets, frozen-prefix states):
`$STRATSEARCH_CACHE/<kind>/`, default `~/.cache/stratsearch`, and the lock that makes concurrent
trials compute an entry once while the others wait for it."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_dir(kind: str) -> Path:
    return Path(os.environ.get("STRATSEARCH_CACHE", "~/.cache/stratsearch")).expanduser() / kind


@contextmanager
def computing(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (created with its folder) for the block."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
