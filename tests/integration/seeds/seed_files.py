"""Seed 001's files as its text gives them: each ``**`path`**`` heading followed by a fenced code block.

The repository keeps a verbatim copy under ``tests/data/seed001/`` (CI has only the repository); the seed
text, when present beside the repository, is what that copy is checked against.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SEED_COPY = REPO / "tests" / "data" / "seed001"
# The shared folder beside the repository (the development layout), or SFN_CALLBACK_SEEDS_DIR.
SEED_TEXT_CANDIDATES = [Path(os.environ["SFN_CALLBACK_SEEDS_DIR"]) / "001_cd1a0beb1648b540.txt"] \
    if os.environ.get("SFN_CALLBACK_SEEDS_DIR") else []
SEED_TEXT_CANDIDATES += [REPO.parent / "shared" / "seeds" / "001_cd1a0beb1648b540.txt",
                         REPO.parents[1] / "shared" / "seeds" / "001_cd1a0beb1648b540.txt"]
_FILE = re.compile(rb"^\*\*`(?P<path>[^`]+)`\*\*\r?\n\r?\n```[a-z]*\r?\n(?P<body>.*?)^```", re.M | re.S)


def seed_text_path() -> Path | None:
    return next((p for p in SEED_TEXT_CANDIDATES if p.is_file()), None)


def extract(seed_text: bytes) -> dict[str, bytes]:
    """{relative path: content} of every file the seed text spells out."""
    return {m.group("path").decode("utf-8"): m.group("body") for m in _FILE.finditer(seed_text)}


def copied_files() -> dict[str, bytes]:
    return {p.relative_to(SEED_COPY).as_posix(): p.read_bytes() for p in sorted(SEED_COPY.rglob("*")) if p.is_file()}
