"""User-facing errors: each says where (file, key path or line) and what was expected.

The CLI turns any `StratsearchError` into a plain message and exit code 2; nothing
below it ever shows a traceback for bad input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel


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


def is_type_tag(part: object) -> bool:
    """pydantic's union branch labels in an error location ('str', "list[literal['max','min']]")."""
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool", "none"})


class Problems:
    """Every problem of a file (key path, expected vs found), collected so all are reported at once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(Problem(where, message))

    def check_keys(self, raw: dict, allowed: list[str], path: str) -> None:
        for key in raw:
            if key not in allowed:
                self.add(f"{path}{key}", f"unknown key{did_you_mean(str(key), allowed)}; expected one of {allowed}")

    def validate(self, model: type[BaseModel], raw: Any, path: str) -> Any:
        """Validate against a pydantic model, recording each error under its key path."""
        from pydantic import ValidationError

        if not isinstance(raw, dict):
            self.add(path, f"expected a mapping, found {raw!r}")
            return None
        known = [f.alias or name for name, f in model.model_fields.items()]
        self.check_keys(raw, known, f"{path}." if path else "")
        try:
            return model.model_validate({k: v for k, v in raw.items() if k in known})
        except ValidationError as err:
            by_place: dict[str, list[str]] = {}
            for e in err.errors():
                # A union reports once per member, its loc tagged with the member's type: one place, one line.
                loc = [str(part) for part in e["loc"] if not is_type_tag(part)]
                where = ".".join([path, *loc]).strip(".")
                found = f", found {e['input']!r}" if e["type"] != "missing" else ""
                by_place.setdefault(where, []).append(f"{e['msg'].lower()}{found}")
            for where, messages in by_place.items():
                self.add(where, "; or ".join(dict.fromkeys(messages)))
            return None
