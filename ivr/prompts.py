"""The text catalogue of custom prompts (what each recording must say)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ivr.exceptions import FlowError

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"


def load_catalogue(
    language: str = "es_UY", directory: Path = PROMPTS_DIR, path: Path | None = None
) -> dict[str, str]:
    """Prompt name -> exact text, from `path` or <directory>/<language>.yaml."""
    path = path or directory / f"{language}.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise FlowError(str(path), None, "a prompt catalogue is a mapping name -> text")
    out: dict[str, str] = {}
    for name, text in raw.items():
        if not isinstance(name, str) or not isinstance(text, str) or not text.strip():
            raise FlowError(str(path), None, f"prompt {name!r} needs a non-empty text")
        out[name] = " ".join(text.split())
    return out
