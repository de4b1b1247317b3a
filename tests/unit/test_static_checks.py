"""The static checks `make test` runs on a clean baseline: ruff and mypy (pyproject.toml [tool.ruff], [tool.mypy])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    result = _run("ruff", "check", "--no-cache", "src", "tests", "examples", "scripts")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_mypy_finds_nothing():
    # pyproject.toml [tool.mypy] names the files (src/sfn_callback) and the stricter public toolkit
    result = _run("mypy", "--no-color-output")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
