"""Training-data augmenters: `augment(examples, cfg, rng) -> one augmented copy of each example`.

An example is a list of words and, for token classification, one BIO tag per word (None for
sentence tasks, whose label does not change). Augmenters for tags preserve them: they change
only words tagged O, and a mention can only be replaced by another mention of the same type.
Each entry says which tasks it fits and why it cannot run here (a backend missing).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

from pydantic import Field

from stratsearch.augment.examples import Example
from stratsearch.tasks import sentence_inputs, word_inputs
from stratsearch.train.strategies.kinds import Kind
from stratsearch.train.strategies.registry import StrategyConfig, StrategyRegistry

AugmentFn = Callable[[list[Example], StrategyConfig, random.Random], list[Example]]
AUGMENTERS: StrategyRegistry[AugmentFn] = StrategyRegistry("augment")

# Function words are never replaced (EDA's practice); WordNet has no useful synonyms for them.
STOPWORD_TEXT = """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not of off on once only or other our ours ourselves out over own same she should so some such than that
    the their theirs them themselves then there these they this those through to too under until up very was
    we were what when where which while who whom why will with would you your yours yourself yourselves
    's n't"""
STOPWORDS = frozenset(STOPWORD_TEXT.split())


AFFIXES = re.compile(r"^(\W*)(.*?)(\W*)$")  # leading punctuation, the word, trailing punctuation


def replaceable(example: Example, i: int) -> bool:
    """A content word outside any mention, with letters in it."""
    word = example.words[i]
    return example.tag(i) == "O" and word.lower() not in STOPWORDS and any(c.isalpha() for c in word)


def with_synonym(example: Example, i: int, rng: random.Random) -> tuple[list[str], list[str]] | None:
    """The words (and O tags) that replace word i: one of its synonyms, split on spaces.
    Punctuation stuck to the word ("paced.") is looked past and kept around the synonym."""
    from stratsearch.augment.lexicon import synonyms

    before, core, after = AFFIXES.match(example.words[i]).groups()
    options = synonyms(core) if core else ()
    if not options:
        return None
    words = rng.choice(options).split()
    words[0], words[-1] = before + words[0], words[-1] + after
    return words, ["O"] * len(words)


def rebuild(example: Example, pieces: list[tuple[list[str], list[str]]]) -> Example:
    words = [w for piece, _ in pieces for w in piece]
    tags = [t for _, piece_tags in pieces for t in piece_tags]
    return Example(tuple(words), None if example.tags is None else tuple(tags))


def pieces_of(example: Example) -> list[tuple[list[str], list[str]]]:
    return [([w], [example.tag(i)]) for i, w in enumerate(example.words)]


def replace_synonyms(example: Example, count: int, rng: random.Random) -> Example:
    """Replace up to `count` replaceable words by a synonym each."""
    pieces = pieces_of(example)
    candidates = [i for i in range(len(example.words)) if replaceable(example, i)]
    rng.shuffle(candidates)
    done = 0
    for i in candidates:
        if done == count:
            break
        new = with_synonym(example, i, rng)
        if new is not None:
            pieces[i] = new
            done += 1
    return rebuild(example, pieces)


def insert_synonyms(example: Example, count: int, rng: random.Random) -> Example:
    """Insert a synonym of a random replaceable word at a random place outside any mention."""
    pieces = pieces_of(example)
    candidates = [i for i in range(len(example.words)) if replaceable(example, i)]
    for _ in range(count if candidates else 0):
        new = with_synonym(example, rng.choice(candidates), rng)
        if new is None:
            continue
        # Between words, but never before an I- tag, which would split a mention.
        places = [p for p in range(len(pieces) + 1) if p == len(pieces) or not pieces[p][1][0].startswith("I-")]
        pieces.insert(rng.choice(places), new)
    return rebuild(example, pieces)


def swap_words(example: Example, count: int, rng: random.Random) -> Example:
    """Swap two words tagged O, `count` times."""
    pieces = pieces_of(example)
    outside = [i for i in range(len(pieces)) if pieces[i][1][0] == "O"]
    for _ in range(count if len(outside) >= 2 else 0):
        a, b = rng.sample(outside, 2)
        pieces[a], pieces[b] = pieces[b], pieces[a]
    return rebuild(example, pieces)


def delete_words(example: Example, p: float, rng: random.Random) -> Example:
    """Delete each word tagged O with probability p, keeping at least one word."""
    pieces = pieces_of(example)
    kept = [piece for piece in pieces if piece[1][0] != "O" or rng.random() >= p]
    return rebuild(example, kept or [rng.choice(pieces)])


def changes(rate: float, example: Example) -> int:
    return max(1, round(rate * sum(replaceable(example, i) for i in range(len(example.words)))))


def wordnet_missing(cfg: StrategyConfig) -> str | None:
    from stratsearch.augment.lexicon import missing_wordnet

    return missing_wordnet()


def translator_missing(cfg: StrategyConfig) -> str | None:
    from stratsearch.augment.translate import missing_translator

    return missing_translator(cfg)


class SynonymConfig(StrategyConfig):
    alpha: float = Field(0.1, gt=0.0, le=1.0, description="fraction of content words replaced")


@AUGMENTERS.register("none", default=True)
def no_augmentation(examples: list[Example], cfg: StrategyConfig, rng: random.Random) -> list[Example]:
    """No augmented copies."""
    return []


@AUGMENTERS.register("synonym", SynonymConfig, available=wordnet_missing)
def synonym(examples: list[Example], cfg: SynonymConfig, rng: random.Random) -> list[Example]:
    """Replace a fraction α of the content words (outside mentions) by WordNet synonyms."""
    return [replace_synonyms(e, changes(cfg.alpha, e), rng) for e in examples]


class EdaConfig(StrategyConfig):
    alpha_sr: float = Field(0.1, ge=0.0, le=1.0, description="synonym replacement: fraction of content words")
    alpha_ri: float = Field(0.1, ge=0.0, le=1.0, description="random insertion: fraction of content words")
    alpha_rs: float = Field(0.1, ge=0.0, le=1.0, description="random swap: fraction of content words")
    p_rd: float = Field(0.1, ge=0.0, lt=1.0, description="random deletion: probability per word")


@AUGMENTERS.register("eda", EdaConfig, label="EDA", available=wordnet_missing)
def eda(examples: list[Example], cfg: EdaConfig, rng: random.Random) -> list[Example]:
    """Easy Data Augmentation (Wei & Zou, 2019): each copy applies one of its four operations,
    picked at random among those with a non-zero rate."""
    operations = [
        (cfg.alpha_sr, lambda e: replace_synonyms(e, changes(cfg.alpha_sr, e), rng)),
        (cfg.alpha_ri, lambda e: insert_synonyms(e, changes(cfg.alpha_ri, e), rng)),
        (cfg.alpha_rs, lambda e: swap_words(e, changes(cfg.alpha_rs, e), rng)),
        (cfg.p_rd, lambda e: delete_words(e, cfg.p_rd, rng)),
    ]
    active = [op for rate, op in operations if rate > 0]
    return [rng.choice(active)(e) for e in examples] if active else []


class MentionConfig(StrategyConfig):
    p: float = Field(0.5, gt=0.0, le=1.0, description="probability of replacing each mention")


def mentions(example: Example) -> list[tuple[int, int, str]]:
    """(start, end, type) of each BIO mention."""
    spans, start = [], None
    tags = list(example.tags or ())
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not tag.startswith("I-"):
            spans.append((start, i, tags[start][2:]))
            start = None
        if tag.startswith("B-") or (tag.startswith("I-") and start is None):
            start = i
    return spans


@AUGMENTERS.register(
    "mention",
    MentionConfig,
    fits=word_inputs,
    unfit="replaces entity mentions; it needs a task with one label per word",
)
def mention(examples: list[Example], cfg: MentionConfig, rng: random.Random) -> list[Example]:
    """Token classification: replace each mention, with probability p, by another mention of the
    same entity type seen in the training set (the examples given)."""
    seen: dict[str, list[tuple[str, ...]]] = {}
    for e in examples:
        for start, end, kind in mentions(e):
            seen.setdefault(kind, []).append(e.words[start:end])
    pool = {kind: sorted(set(words)) for kind, words in seen.items()}
    out = []
    for e in examples:
        pieces: list[tuple[list[str], list[str]]] = []
        last = 0
        for start, end, kind in mentions(e):
            pieces += [([w], [t]) for w, t in zip(e.words[last:start], e.tags[last:start], strict=True)]
            words = list(e.words[start:end])
            others = [m for m in pool[kind] if list(m) != words]
            if others and rng.random() < cfg.p:
                words = list(rng.choice(others))
            pieces.append((words, [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)))
            last = end
        pieces += [([w], [t]) for w, t in zip(e.words[last:], e.tags[last:], strict=True)]
        out.append(rebuild(e, pieces))
    return out


class BackTranslationConfig(StrategyConfig):
    pair: str = Field("eng-spa", description="Apertium pair: English → pivot; the reverse pair must exist too")
    model: str | None = Field(None, description="local Hugging Face translation model directory (→ pivot)")
    reverse_model: str | None = Field(None, description="local Hugging Face model directory (pivot → English)")


@AUGMENTERS.register(
    "back_translation",
    BackTranslationConfig,
    label="back-translation",
    fits=sentence_inputs,
    unfit="does not keep tags aligned",
    available=translator_missing,
)
def back_translation(examples: list[Example], cfg: BackTranslationConfig, rng: random.Random) -> list[Example]:
    """English → pivot → English, the whole set at once (one Apertium process per direction)."""
    from stratsearch.augment.translate import round_trip

    texts = round_trip([" ".join(e.words) for e in examples], cfg)
    return [Example(tuple(text.split())) for text in texts]


def copies(words: str, config: dict[str, Any]) -> str:
    return f"{words} augmentation ×{config.get('n_aug', 1)}"


KIND = Kind("augment", AUGMENTERS, phrase=copies)
