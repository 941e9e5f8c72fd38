"""English synonyms from WordNet 3.0, read from its plain data files (Debian `wordnet-base`).

Each line of `data.{noun,verb,adj,adv}` is one synset: its words are synonyms of each other.
The table maps a lower-cased lemma to the sorted words of every synset it belongs to (multi-word
lemmas with spaces). Inflected forms are reduced to a lemma with WordNet's exception lists and
its detachment rules (morphy), so "films" finds "film".
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from stratsearch.errors import StratsearchError

POS = ("noun", "verb", "adj", "adv")
# morphy's detachment rules: (suffix, replacement)
RULES = [
    ("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
    ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", ""), ("er", ""),
    ("est", ""), ("er", "e"), ("est", "e"),
]  # fmt: skip
SYNTAX_MARKER = re.compile(r"\([a-z]+\)$")  # adjective markers such as good(a)
INSTALL = "install Debian's wordnet-base (apt-get install wordnet-base) or set WORDNET_DIR to its dict folder"


def wordnet_dir() -> Path:
    return Path(os.environ.get("WORDNET_DIR", "/usr/share/wordnet"))


def missing_wordnet() -> str | None:
    """Why WordNet cannot be read, or None when it can."""
    folder = wordnet_dir()
    missing = [f"data.{pos}" for pos in POS if not (folder / f"data.{pos}").is_file()]
    return f"WordNet files {missing} not found in {folder}; {INSTALL}" if missing else None


@lru_cache(maxsize=1)
def synonym_table() -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """(lemma → synonyms, inflected form → lemma from the exception lists)."""
    problem = missing_wordnet()
    if problem:
        raise StratsearchError(problem)
    folder = wordnet_dir()
    groups: dict[str, set[str]] = {}
    for pos in POS:
        with (folder / f"data.{pos}").open(encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                fields = line.split(" ", 4 + 2 * int(line.split(" ", 4)[3], 16))
                count = int(fields[3], 16)
                words = [SYNTAX_MARKER.sub("", w).replace("_", " ").lower() for w in fields[4 : 4 + 2 * count : 2]]
                for word in words:
                    groups.setdefault(word, set()).update(words)
    table = {word: tuple(sorted(others - {word})) for word, others in groups.items() if len(others) > 1}
    exceptions: dict[str, str] = {}
    for pos in POS:
        path = folder / f"{pos}.exc"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    exceptions.setdefault(parts[0], parts[1])
    return table, exceptions


def synonyms(word: str) -> tuple[str, ...]:
    """Synonyms of a word (any part of speech), through its lemma; () when WordNet has none."""
    table, exceptions = synonym_table()
    lower = word.lower()
    if lower in table:
        return table[lower]
    if lower in exceptions and exceptions[lower] in table:
        return table[exceptions[lower]]
    for suffix, replacement in RULES:
        if lower.endswith(suffix) and len(lower) > len(suffix) + 1:
            lemma = lower[: -len(suffix)] + replacement
            if lemma in table:
                return table[lemma]
    return ()
