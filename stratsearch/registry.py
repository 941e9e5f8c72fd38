"""One registry per kind of thing (strategies, tasks, samplers, pruners, ensemble methods).

Modelled on peft's `register_peft_method`: an entry carries every fact about itself, it is
registered explicitly, a name can be registered only once, and a name the registry does not
hold is refused — never silently replaced by some other entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

from stratsearch.errors import did_you_mean


class Named(Protocol):
    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=Named)


class Registry(Generic[E]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, E] = {}

    def add(self, entry: E) -> E:
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} '{entry.name}' is registered twice")
        self._entries[entry.name] = entry
        return entry

    def __getitem__(self, name: str) -> E:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} '{name}'; expected one of {self.names()}") from None

    def get(self, name: object) -> E | None:
        """The entry, or None where there is none (for callers that say what to do then)."""
        return self._entries.get(name) if isinstance(name, str) else None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[E]:
        return iter(self._entries.values())

    def names(self) -> list[str]:
        return list(self._entries)

    def name_problem(self, name: object) -> str | None:
        """Why `name` (as a space file gives it) is no entry, with a did-you-mean; None if it is one."""
        if isinstance(name, str) and name in self._entries:
            return None
        return f"expected one of {self.names()}, found {name!r}{did_you_mean(str(name), self.names())}"
