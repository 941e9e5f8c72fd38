"""What augmenters rewrite: an example as its words, and for token classification one BIO tag per word."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    words: tuple[str, ...]
    tags: tuple[str, ...] | None = None  # token classification only

    def tag(self, i: int) -> str:
        return "O" if self.tags is None else self.tags[i]
