"""The layers hold: import-linter's contracts (pyproject.toml, ``[tool.importlinter]``), no private name imported
across packages, and the local cloud's defaults equal to the project's."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import sfn_callback
from sfn_callback import config
from sfn_callback.localcloud import defaults

SRC = Path(sfn_callback.__file__).resolve().parent
ROOT = SRC.parent.parent


def test_import_contracts_are_kept():
    """Layers (cli > report > bench | cost | dashboard > monitoring > poc | approval | export > scenarios | observe
    > deploy > polling > metrics > callbacks > common > config), independent components, and a local cloud that imports nothing of ours."""
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(SRC.parent)}
    done = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


def _top_package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "sfn_callback" and len(parts) > 1 else parts[0]


def test_no_private_name_is_imported_across_packages():
    crossings: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sfn_callback."):
                if _top_package(node.module) == _top_package(module):
                    continue
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private:
                    crossings.append(f"{module}:{node.lineno} imports {private} from {node.module}")
    assert crossings == []


def test_a_private_import_across_packages_would_be_found(tmp_path):
    """The scan above sees what it looks for (the check can fail)."""
    tree = ast.parse("from sfn_callback.polling.adapters.dynamodb import _hidden\n")
    (node,) = tree.body
    assert isinstance(node, ast.ImportFrom) and _top_package(node.module) != _top_package("sfn_callback.poc.x")
    assert [a.name for a in node.names if a.name.startswith("_")] == ["_hidden"]


def test_the_local_cloud_defaults_are_the_projects():
    assert (defaults.LOCAL_ACCOUNT_ID, defaults.DEFAULT_REGION, defaults.LOCAL_CREDENTIALS) == (
        config.LOCAL_ACCOUNT_ID, config.DEFAULT_REGION, config.LOCAL_CREDENTIALS)
