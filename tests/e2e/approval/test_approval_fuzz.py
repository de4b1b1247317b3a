"""Fuzz the API from its own OpenAPI document with schemathesis over real HTTP: no 5xx, responses match."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from approval_support import KEYS

pytestmark = pytest.mark.cloud


def test_schemathesis_finds_no_server_errors(approval_api, tmp_path):
    st = Path(sys.executable).with_name("schemathesis")  # a development dependency, installed in the venv
    assert st.exists(), "schemathesis is a development dependency: run `make test` to install it"
    command = [str(st), "run", f"{approval_api.url}/openapi.json",
               "-H", f"Authorization: Bearer {KEYS['alice']}",
               "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
               "ignored_auth,negative_data_rejection",
               "--max-examples", "15", "--seed", "1", "--workers", "1", "--request-timeout", "20",
               "--phases", "examples,coverage,fuzzing", "--generation-database", "none"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=150, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
