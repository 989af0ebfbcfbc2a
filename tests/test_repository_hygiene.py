"""What a merge or a careless `git add` can leave in the tree, caught before CI lands it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Conflict markers at the start of a line, as git writes them.
_MARKERS = (b"<<<<<<< ", b">>>>>>> ", b"=======\n")
_BINARY = {".js", ".wav", ".png", ".ulaw", ".alaw", ".gsm", ".woff2"}


def _tracked() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_file_holds_merge_conflict_markers() -> None:
    found = []
    for path in _tracked():
        if not path.is_file() or path.suffix in _BINARY:
            continue
        for number, line in enumerate(path.read_bytes().splitlines(keepends=True), 1):
            if line.startswith(_MARKERS):
                found.append(f"{path.relative_to(ROOT)}:{number}")
    assert found == []


def test_no_virtualenv_or_cache_is_tracked() -> None:
    names = {p.relative_to(ROOT).parts[0] for p in _tracked()}
    assert not {".venv", ".mypy_cache", ".pytest_cache", "__pycache__"} & names
