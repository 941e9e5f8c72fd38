"""Augmenters on real WordNet files and a real Apertium, the on-disk cache, and their checks.

The backends come from Debian packages (`wordnet-base`, `apertium-eng-spa`) that `.ci/run`
installs; where one is missing here, the tests that need it skip and say so.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from stratsearch.augment.lexicon import missing_wordnet, synonyms
from stratsearch.augment.translate import missing_translator
from stratsearch.cli import main
from stratsearch.prepare import prepare
from stratsearch.tasks import TASKS
from stratsearch.train import augmented as augmentation
from stratsearch.train.augmented import augmented_examples, with_augmented_train
from stratsearch.train.config import trial_from_space
from stratsearch.train.strategies.augmenters import AUGMENTERS, STOPWORDS, EdaConfig, Example, mentions
from tests.conftest import ROWS

needs_wordnet = pytest.mark.skipif(missing_wordnet() is not None, reason=str(missing_wordnet()))
APERTIUM = AUGMENTERS["back_translation"].config()
needs_apertium = pytest.mark.skipif(
    shutil.which("apertium") is None or missing_translator(APERTIUM) is not None, reason="Apertium eng-spa missing"
)

SENTENCE = Example(("the", "film", "is", "a", "gripping", "and", "funny", "tale", "of", "love"))
TAGGED = Example(
    ("yesterday", "john", "smith", "visited", "the", "old", "museum", "in", "paris"),
    ("O", "B-person", "I-person", "O", "O", "O", "O", "O", "B-location"),
)


def run(name: str, examples: list[Example], seed: int = 0, **params) -> list[Example]:
    entry = AUGMENTERS[name]
    return entry.fn(examples, entry.config(**params), random.Random(seed))


def mention_spans(example: Example) -> list[tuple[tuple[str, ...], str]]:
    return [(example.words[a:b], kind) for a, b, kind in mentions(example)]


@needs_wordnet
def test_wordnet_synonyms_through_lemmas() -> None:
    assert "movie" in synonyms("film") and synonyms("films") == synonyms("film")
    assert "amusing" in synonyms("funny")
    assert synonyms("the") == ()


@needs_wordnet
def test_synonym_replaces_content_words_only() -> None:
    [out] = run("synonym", [SENTENCE], alpha=1.0)
    assert out != SENTENCE
    kept = [w for w in out.words if w in STOPWORDS]
    assert Counter(kept) == Counter(w for w in SENTENCE.words if w in STOPWORDS)  # function words untouched
    [few] = run("synonym", [SENTENCE], alpha=0.1)  # 10% of 6 content words: one replaced
    changed = [w for w in SENTENCE.words if w not in few.words]
    assert len(changed) == 1


@needs_wordnet
def test_same_seed_same_copy_other_seed_other_copy() -> None:
    rows = [Example(tuple(r["text"].split())) for r in ROWS["classification"](40, 0)]
    assert run("eda", rows, seed=3) == run("eda", rows, seed=3)
    assert run("eda", rows, seed=3) != run("eda", rows, seed=4)


@needs_wordnet
@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("swap", {"alpha_sr": 0, "alpha_ri": 0, "alpha_rs": 0.3, "p_rd": 0}),
        ("delete", {"alpha_sr": 0, "alpha_ri": 0, "alpha_rs": 0, "p_rd": 0.5}),
        ("insert", {"alpha_sr": 0, "alpha_ri": 0.3, "alpha_rs": 0, "p_rd": 0}),
        ("replace", {"alpha_sr": 0.3, "alpha_ri": 0, "alpha_rs": 0, "p_rd": 0}),
    ],
)
def test_each_eda_operation_does_what_it_says(operation: str, params: dict) -> None:
    outs = [run("eda", [SENTENCE], seed=s, **params)[0] for s in range(5)]
    original = list(SENTENCE.words)
    for out in outs:
        words = list(out.words)
        if operation == "swap":
            assert sorted(words) == sorted(original)
        elif operation == "delete":
            assert 1 <= len(words) <= len(original) and is_subsequence(words, original)
        elif operation == "insert":
            assert len(words) > len(original) and is_subsequence(original, words)
        else:
            assert all(w in words for w in original if w in STOPWORDS)
    assert any(list(out.words) != original for out in outs)


def is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(word in it for word in short)


@needs_wordnet
@pytest.mark.parametrize("name", ["synonym", "eda", "mention"])
def test_tagging_augmenters_keep_tags_aligned_and_mentions_whole(name: str) -> None:
    other = Example(("mary", "jones", "lives", "in", "rome"), ("B-person", "I-person", "O", "O", "B-location"))
    for seed in range(8):
        out = run(name, [TAGGED, other], seed=seed)[0]
        assert len(out.words) == len(out.tags)
        assert all(t == "O" or t[:2] in ("B-", "I-") for t in out.tags)
        assert all(not t.startswith("I-") or out.tags[i - 1][2:] == t[2:] for i, t in enumerate(out.tags))
        spans = mention_spans(out)
        if name == "mention":
            # the same types in the same order, each mention from the training set
            assert [kind for _, kind in spans] == ["person", "location"]
            assert all(words in {m for m, _ in mention_spans(TAGGED) + mention_spans(other)} for words, _ in spans)
        else:
            assert spans == mention_spans(TAGGED)  # entity words and types untouched


def test_mention_replacement_uses_other_mentions_of_the_type() -> None:
    other = Example(("mary", "jones", "lives", "in", "rome"), ("B-person", "I-person", "O", "O", "B-location"))
    out = run("mention", [TAGGED, other], p=1.0)[0]
    assert mention_spans(out) == [(("mary", "jones"), "person"), (("rome",), "location")]
    assert out.words[0] == "yesterday" and out.words[-2] == "in"


@needs_apertium
def test_back_translation_round_trips_the_whole_set_through_apertium() -> None:
    texts = ["the plot is a mess and the actors look bored .", "a gripping , sometimes funny tale of love .", "ok"]
    out = run("back_translation", [Example(tuple(t.split())) for t in texts])
    assert len(out) == 3
    assert " ".join(out[0].words) == "The plot is a disorder and the look of actors bored ."
    assert any(" ".join(o.words) != t for o, t in zip(out, texts, strict=True))


@needs_wordnet
def test_augmented_set_is_cached_and_reused(make_config, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STRATSEARCH_CACHE", str(tmp_path / "cache"))
    prepared = prepare(make_config(n_train=32))
    trial = trial_from_space({"augment": {"synonym": {"alpha": 0.3}}, "n_aug": 2}, TASKS["classification"])
    first, cached = augmented_examples(prepared.data.train, prepared.data.task, prepared.data.label_names, trial)
    assert not cached and 32 <= len(first) <= 64
    # the second use computes nothing: computing would fail now
    monkeypatch.setattr(augmentation, "compute", lambda *a: pytest.fail("recomputed a cached set"))
    again, cached = augmented_examples(prepared.data.train, prepared.data.task, prepared.data.label_names, trial)
    assert cached and again == first
    from transformers import AutoTokenizer

    augmented = with_augmented_train(prepared.data, trial, AutoTokenizer.from_pretrained(prepared.model_path))
    assert len(augmented.train) == 32 + len(first)
    assert augmented.train.targets[32:] == [prepared.data.train.targets[i] for i, _ in first]  # labels follow
    assert len(augmented.validation) == len(prepared.data.validation)  # never augmented


@needs_wordnet
def test_tagging_augmentation_maps_tags_to_label_ids(make_config, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STRATSEARCH_CACHE", str(tmp_path / "cache"))
    prepared = prepare(make_config("token-classification", n_train=32))
    data = prepared.data
    trial = trial_from_space({"augment": {"mention": {"p": 1.0}}}, TASKS["token-classification"])
    from transformers import AutoTokenizer

    augmented = with_augmented_train(data, trial, AutoTokenizer.from_pretrained(prepared.model_path))
    for words, tags in zip(augmented.train.raw[32:], augmented.train.targets[32:], strict=True):
        assert len(words) == len(tags) and all(0 <= t < len(data.label_names) for t in tags)


def space_file(make_config, tmp_path: Path, task: str, augment: dict) -> Path:
    config = yaml.safe_load(make_config(task).read_text())
    config["space"]["augment"] = augment
    path = tmp_path / "aug.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("task", "augment", "env", "message"),
    [
        (
            "token-classification",
            "back_translation",
            {},
            "space.augment.back_translation: augment 'back_translation' does not keep tags aligned",
        ),
        ("classification", "mention", {}, "space.augment.mention: augment 'mention' replaces entity mentions"),
        (
            "classification",
            {"choice": {"none": {}, "synonym": {"alpha": {"uniform": [0.05, 0.3]}}}},
            {"WORDNET_DIR": "/nonexistent"},
            "space.augment.synonym: WordNet files ['data.noun', 'data.verb', 'data.adj', 'data.adv'] not found in"
            " /nonexistent; install Debian's wordnet-base (apt-get install wordnet-base)",
        ),
        (
            "classification",
            "back_translation",
            {"PATH": "/nonexistent"},
            "space.augment.back_translation: the apertium binary is not installed; install Debian's apertium and"
            " apertium-eng-spa",
        ),
        (
            "classification",
            {"back_translation": {"pair": "eng-xyz"}},
            {},
            "Apertium modes ['eng-xyz', 'xyz-eng'] are not installed",
        ),
    ],
)
def test_augmenter_that_cannot_run_is_a_validation_error(
    make_config, tmp_path: Path, monkeypatch, capsys, task: str, augment, env: dict, message: str
) -> None:
    if "pair" in str(augment) and shutil.which("apertium") is None:
        pytest.skip("needs the apertium binary to list its modes")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from stratsearch.augment.lexicon import synonym_table

    synonym_table.cache_clear()
    path = space_file(make_config, tmp_path, task, augment)
    assert main(["validate", str(path)]) == 2
    assert message in capsys.readouterr().err
    synonym_table.cache_clear()


def test_eda_rates_are_checked(make_config, tmp_path: Path, capsys) -> None:
    path = space_file(make_config, tmp_path, "classification", {"eda": {"p_rd": 1.5}})
    assert main(["validate", str(path)]) == 2
    assert "space.augment.eda.p_rd: input should be less than 1" in capsys.readouterr().err
    assert EdaConfig().alpha_sr == 0.1


def save_tiny_translator(out: Path) -> Path:
    """A tiny random BART with a byte-level tokenizer: a real seq2seq model directory, no download."""
    import json

    import torch
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import BartConfig, BartForConditionalGeneration, BartTokenizerFast

    out.mkdir(parents=True)
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "<mask>", *sorted(ByteLevel.alphabet())])}
    (out / "vocab.json").write_text(json.dumps(vocab))
    (out / "merges.txt").write_text("#version: 0.2\n")
    BartTokenizerFast(vocab_file=str(out / "vocab.json"), merges_file=str(out / "merges.txt")).save_pretrained(out)
    torch.manual_seed(0)
    size = {"d_model": 16, "encoder_layers": 1, "decoder_layers": 1, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32}
    heads = {"encoder_attention_heads": 2, "decoder_attention_heads": 2, "max_position_embeddings": 64}
    config = BartConfig(vocab_size=len(vocab), pad_token_id=1, bos_token_id=0, eos_token_id=2, **size, **heads)
    BartForConditionalGeneration(config).save_pretrained(out)
    return out


def test_back_translation_through_local_seq2seq_models(tmp_path: Path) -> None:
    # Random weights translate nothing meaningful: this checks the plumbing (both directions,
    # batching, one line out per line in), not translation quality.
    from stratsearch.augment.translate import round_trip

    model = save_tiny_translator(tmp_path / "tiny-bart")
    cfg = AUGMENTERS["back_translation"].config(model=str(model), reverse_model=str(model))
    assert missing_translator(cfg) is None
    lines = [f"sentence number {i}" for i in range(40)]  # more than one batch
    out = round_trip(lines, cfg)
    assert len(out) == 40 and all(isinstance(line, str) for line in out)
    half = AUGMENTERS["back_translation"].config(model=str(model))
    assert "back_translation.reverse_model: expected a local Hugging Face model directory" in missing_translator(half)
