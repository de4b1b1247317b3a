"""Packaging for users: a base install without the local cloud, the approval service or the report; the extras;
the licence; ``sfn-callback --version``."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import sfn_callback

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_base_install_is_what_a_lambda_bundle_or_an_application_needs():
    base = _names(PROJECT["dependencies"])
    # jmespath and urllib3: the HTTP job adapter (both already come with boto3's botocore)
    assert base == {"boto3", "aws-lambda-powertools", "pydantic", "jmespath", "urllib3"}
    assert not base & {"moto", "matplotlib", "fastapi", "uvicorn", "playwright", "typer"}


def test_the_extras_split_the_rest():
    extras = PROJECT["optional-dependencies"]
    assert {"moto", "croniter", "typer", "rich", "httpx"} <= _names(extras["local"])
    assert {"fastapi", "uvicorn"} <= _names(extras["approval"])
    assert {"fastapi", "uvicorn"} <= _names(extras["jobapi"])
    assert _names(extras["report"]) == {"matplotlib"}
    assert extras["all"] == ["sfn-callback[local,approval,jobapi,report]"]
    assert "sfn-callback[all]" in extras["dev"] and {"pytest", "import-linter"} <= _names(extras["dev"])


def test_the_licence_file_matches_the_declared_licence():
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_version_flag_prints_the_package_version():
    cli = Path(sys.executable).with_name("sfn-callback")
    done = subprocess.run([str(cli), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"sfn-callback {sfn_callback.__version__}" == f"sfn-callback {PROJECT['version']}"
