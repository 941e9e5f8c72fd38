"""User-facing errors: each says where (file, key path or line) and what was expected.

The CLI turns any `StratsearchError` into a plain message and exit code 2; nothing
below it ever shows a traceback for bad input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field


class StratsearchError(Exception):
    """Bad input from the user (config or data): printed as is, exit code 2."""


@dataclass
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class ConfigError(StratsearchError):
    """All problems found in one config file, reported together."""

    file: str
    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.file}: {len(self.problems)} problem(s)"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class DataError(StratsearchError):
    """A problem in a data file, naming file, line and column."""

    def __init__(self, file: str, message: str, line: int | None = None, column: str | None = None):
        where = file if line is None else f"{file}, line {line}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}")


class TrainingDiverged(StratsearchError):
    """The loss became NaN or infinite; training of this config stops."""


def did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
