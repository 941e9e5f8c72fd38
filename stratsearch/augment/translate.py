"""Round-trip translation for back-translation: Apertium (Debian `apertium-eng-spa`) by default,
or a pair of local Hugging Face sequence-to-sequence models.

Apertium gets the whole set in one process per direction, one sentence per line; `-u` drops
its unknown-word marks so that untranslated words come back as they went.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from stratsearch.errors import StratsearchError

APERTIUM_INSTALL = "install Debian's apertium and apertium-eng-spa (apt-get install apertium apertium-eng-spa)"
BATCH = 32


def reverse(pair: str) -> str:
    source, _, target = pair.partition("-")
    return f"{target}-{source}"


def apertium_modes() -> set[str]:
    out = subprocess.run(["apertium", "-l"], capture_output=True, text=True, timeout=60)
    return set(out.stdout.split())


def missing_translator(cfg: Any) -> str | None:
    """Why the configured translator cannot run here, or None when it can."""
    if cfg.model or cfg.reverse_model:
        for key in ("model", "reverse_model"):
            folder = getattr(cfg, key)
            if not folder or not (Path(folder) / "config.json").is_file():
                return f"back_translation.{key}: expected a local Hugging Face model directory, found {folder!r}"
        return None
    if shutil.which("apertium") is None:
        return f"the apertium binary is not installed; {APERTIUM_INSTALL}"
    missing = [m for m in (cfg.pair, reverse(cfg.pair)) if m not in apertium_modes()]
    return f"Apertium modes {missing} are not installed; {APERTIUM_INSTALL}" if missing else None


def apertium(lines: list[str], mode: str) -> list[str]:
    text = "".join(line.replace("\n", " ") + "\n" for line in lines)
    out = subprocess.run(["apertium", "-u", mode], input=text, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise StratsearchError(f"apertium {mode} failed: {out.stderr.strip()[:500]}")
    result = out.stdout.split("\n")[: len(lines)]
    if len(result) != len(lines):
        raise StratsearchError(f"apertium {mode} returned {len(result)} lines for {len(lines)}")
    return [line.strip() for line in result]


def hf_translate(lines: list[str], folder: str) -> list[str]:
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from stratsearch.quiet import NO_HUB_KERNELS, quiet_transformers

    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSeq2SeqLM.from_pretrained(folder, **NO_HUB_KERNELS).eval()
    out: list[str] = []
    with torch.no_grad():
        for start in range(0, len(lines), BATCH):
            batch = tokenizer(lines[start : start + BATCH], return_tensors="pt", padding=True, truncation=True)
            generated = model.generate(**batch, max_new_tokens=2 * batch["input_ids"].shape[1] + 8, num_beams=1)
            out += tokenizer.batch_decode(generated, skip_special_tokens=True)
    return [line.strip() for line in out]


def round_trip(lines: list[str], cfg: Any) -> list[str]:
    """English → pivot → English, line for line."""
    if cfg.model:
        return hf_translate(hf_translate(lines, cfg.model), cfg.reverse_model)
    return apertium(apertium(lines, cfg.pair), reverse(cfg.pair))
