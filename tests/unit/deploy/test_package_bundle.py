"""``sfn-callback package``: what goes in the Lambda zip and that the same inputs give the same bytes.

The dependency download is measured at ~2-10 s from this machine's package index, so one real install
runs per test session (cached in a temp dir); the determinism checks run on the zip step.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from sfn_callback.deploy import bundle, packaging
from sfn_callback.deploy.manifest import terraform_context
from sfn_callback.deploy.stack import build_stack


@pytest.fixture(scope="session")
def deps_dir(tmp_path_factory):
    return bundle.install_dependencies(bundle.lambda_requirements(), tmp_path_factory.mktemp("lambda-deps"))


def _names(data: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_requirements_are_the_handlers_imports_pinned_without_the_runtime_sdk():
    reqs = bundle.lambda_requirements()
    names = {r.split("==")[0] for r in reqs}
    assert all("==" in r for r in reqs)
    assert {"aws-lambda-powertools", "pydantic", "pydantic-core"} <= names
    assert not names & bundle.PROVIDED_BY_RUNTIME
    assert not names & {"moto", "matplotlib", "fastapi", "uvicorn", "pytest", "playwright"}, "local-only tools leaked in"


def test_import_scan_follows_relative_function_level_and_parent_imports(tmp_path):
    pkg = tmp_path / "sfn_callback"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("import yaml\n")
    (pkg / "a" / "h.py").write_text("from . import b\n\ndef handler(e, c):\n    import httpx\n")
    (pkg / "a" / "b.py").write_text("import json, os\nfrom pydantic import BaseModel\n")
    modules, external = bundle.import_closure(["sfn_callback.a.h"], root=pkg)
    assert modules == {"sfn_callback", "sfn_callback.a", "sfn_callback.a.h", "sfn_callback.a.b"}
    assert external == {"yaml", "httpx", "pydantic"}


def test_unknown_import_is_an_error():
    with pytest.raises(bundle.PackageError, match="no_such_dist_xyz"):
        bundle.pinned_requirements({"no_such_dist_xyz"})


def test_bundle_holds_code_and_dependencies_and_nothing_cached(deps_dir):
    data = bundle.build_bundle(deps_dir)
    names = _names(data)
    assert names == sorted(names)
    assert "sfn_callback/poc/entrypoints/poc_poller.py" in names
    assert "sfn_callback/poc/workflow.asl.json" in names
    assert any(n.startswith("aws_lambda_powertools/") for n in names)
    assert any(n.startswith("pydantic_core/") and "x86_64-linux-gnu.so" in n for n in names), \
        "pydantic_core must be the manylinux cp311 x86_64 build"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.split("/")[0].split("-")[0] in bundle.PROVIDED_BY_RUNTIME]
    for info in zipfile.ZipFile(io.BytesIO(data)).infolist():
        assert info.date_time == packaging.FIXED_TIME and info.external_attr >> 16 == 0o644


def test_same_inputs_same_bytes(deps_dir, tmp_path):
    first = bundle.build_bundle(deps_dir)
    (tmp_path / "stray.pyc").write_bytes(b"x")
    second = bundle.build_bundle(deps_dir)
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()


def test_a_changed_source_changes_the_bytes(tmp_path):
    src = tmp_path / "sfn_callback"
    src.mkdir()
    (src / "__init__.py").write_text("A = 1\n")
    one = bundle.build_bundle(None, source_root=src)
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    assert bundle.build_bundle(None, source_root=src) == one
    (src / "__init__.py").write_text("A = 2\n")
    assert bundle.build_bundle(None, source_root=src) != one


def test_package_writes_zip_manifest_and_requirements(deps_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(bundle, "install_dependencies", lambda reqs, cache: deps_dir)
    result = bundle.package(tmp_path / "build")
    again = bundle.package(tmp_path / "build2")
    assert result.zip_path.read_bytes() == again.zip_path.read_bytes()
    assert result.manifest_path.read_text() == again.manifest_path.read_text()
    doc = json.loads(result.manifest_path.read_text())
    assert doc["lambda_zip"]["code_sha256"] == packaging.code_sha256(result.zip_path.read_bytes())
    assert set(doc["functions"]) == {r.name for r in build_stack(terraform_context()).find("function")}
    assert (tmp_path / "build" / "requirements.txt").read_text().split() == result.requirements


def test_package_for_the_local_target_writes_the_local_stack(tmp_path):
    """``--target local``: the stack the deployer gives a local cloud, and project code only when asked."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", "package", "--target", "local",
                           "--without-dependencies", "--out", str(tmp_path / "build"), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["target"] == "local" and result["requirements"] == []
    doc = json.loads((tmp_path / "build" / "stack.json").read_text())
    assert doc["target"] == "local"
    assert {f["environment"].get("SFN_CALLBACK_LOCAL") for f in doc["functions"].values()} == {"1"}
    assert doc["lambda_zip"]["code_sha256"] == packaging.code_sha256(packaging.build_zip())
    wrong = subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", "package", "--target", "moon",
                            "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "--target must be one of aws, local" in wrong.stderr
    assert not (tmp_path / "x").exists()
