"""Whether a family's record can serve a model's config, checked at validate, before any weight is
read: the model is built from its config on PyTorch's meta device (shapes, no memory, no
weights) and the record must find its layers and place every parameter in one of the blocks that
freezing and layer-wise decay act on. Which modules a family builds depends on its config
(DeBERTa-v2's `norm_rel_ebd`, `conv_kernel_size`; ELECTRA's `embedding_size`), so a checkpoint's
layout the record cannot serve is refused here, naming the config keys that build what it misses,
never found as a traceback in a trial.

Building needs torch and transformers (seconds to import), and validate is otherwise light: a
layout that passed is remembered under `$STRATSEARCH_CACHE/layout/`, keyed by the config's content,
the family's record and the transformers version, so only a model's first validate pays for it.
"""

from __future__ import annotations

import copy
import hashlib
from importlib.metadata import version
from pathlib import Path
from typing import Any

from stratsearch.disk_cache import cache_dir
from stratsearch.quiet import quiet_transformers
from stratsearch.train.families import Family, family_of
from stratsearch.train.model_dir import model_config


def skeleton(config: Any, family: Family) -> Any:
    """The encoder a config builds, on the meta device: every module and shape, no memory."""
    import torch
    from transformers import AutoModel

    pooler_off = {"add_pooling_layer": False} if family.pooler else {}
    with torch.device("meta"):
        return AutoModel.from_config(config, **pooler_off)


def unplaced(backbone: Any) -> list[str]:
    """The encoder's parameters in none of its blocks, by name."""
    from stratsearch.train.model import blocks

    placed = {id(p) for block in blocks(backbone) for p in block.parameters()}
    return [name for name, p in backbone.named_parameters() if id(p) not in placed]


def layout_problems(model_dir: Path) -> list[tuple[str, str]]:
    """(key, problem) where the family's record cannot serve this config; [] when it can (or when
    the config is not one of a known family: model_problems says so)."""
    family = family_of(model_config(model_dir).get("model_type"))
    if family is None:
        return []
    served = cache_dir("layout") / verdict_key(model_dir, family)
    if served.is_file():
        return []
    problems = built_layout_problems(model_dir)
    if not problems:
        served.parent.mkdir(parents=True, exist_ok=True)
        served.touch()
    return problems


def verdict_key(model_dir: Path, family: Family) -> str:
    """What decides a layout's verdict: the config, the family's record, the transformers version."""
    text = (model_dir / "config.json").read_bytes() + repr(family).encode() + version("transformers").encode()
    return hashlib.sha256(text).hexdigest()[:24]


def built_layout_problems(model_dir: Path) -> list[tuple[str, str]]:
    """The check itself: the model built from its config on the meta device."""
    from transformers import AutoConfig

    quiet_transformers()
    where = model_dir / "config.json"
    try:
        config = AutoConfig.from_pretrained(model_dir)
    except Exception as err:  # an unreadable or inconsistent config: transformers' own words
        return [("model", f"{where}: transformers cannot read this config ({err})")]
    family = family_of(config.model_type)
    if family is None:
        return []
    try:
        backbone = skeleton(config, family)
    except Exception as err:
        return [("model", f"{where}: transformers cannot build a {family.label} model from this config ({err})")]
    try:
        missed = unplaced(backbone)
    except AttributeError as err:  # a path of the record this layout does not have
        return [("model", f"{where}: the {family.label} record does not fit this config's layout ({err})")]
    if not missed:
        return []
    modules = outermost(backbone, set(missed))
    keys = building_keys(config, family, set(missed))
    built = f" (built by {', '.join(keys)})" if keys else ""
    return [
        (
            "model",
            f"{where}: this config builds {modules}{built}, which the {family.label} record in"
            " stratsearch/train/families.py does not place: freezing and layer-wise decay would miss them."
            " Add them to the record (inputs, with_first_layer or outputs), or use a config without them",
        )
    ]


def outermost(backbone: Any, missed: set[str]) -> list[str]:
    """The largest modules whose every parameter is among `missed`: what the record should name."""

    def all_missed(path: str) -> bool:
        return all(f"{path}.{name}" in missed for name, _ in backbone.get_submodule(path).named_parameters())

    found = set()
    for name in missed:
        path = name.rpartition(".")[0]
        while "." in path and all_missed(path.rpartition(".")[0]):
            path = path.rpartition(".")[0]
        found.add(path or name)
    return sorted(found)


def building_keys(config: Any, family: Family, missed: set[str]) -> list[str]:
    """The config's `key=value`s that build the modules holding `missed`: of the keys set away from
    the family's defaults, those whose default value builds a model without some of them."""
    keys = []
    for key, value in sorted(config.to_diff_dict().items()):
        if key in ("model_type", "architectures", "transformers_version") or isinstance(value, dict):
            continue
        default, defaults = copy.deepcopy(config), type(config)()
        if hasattr(defaults, key):
            setattr(default, key, getattr(defaults, key))
        else:  # a key the config class does not define (DeBERTa's conv_kernel_size): the model reads it absent
            delattr(default, key)
        try:
            names = {name for name, _ in skeleton(default, family).named_parameters()}
        except Exception:  # the default does not make a model with the rest: not the key to blame
            continue
        if missed - names:
            keys.append(f"{key}={value!r}")
    return keys
