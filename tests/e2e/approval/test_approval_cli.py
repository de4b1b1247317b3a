"""The CLI as a real subprocess: approval-api (refusals, startup), tasks / approve / reject, bench smoke run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from approval_support import KEYS
from sfn_callback.localcloud.process import free_port
from support import wait_for

pytestmark = pytest.mark.cloud
CLI = str(Path(sys.executable).with_name("sfn-callback"))


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("APPROVAL_API")}
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout, env={**base, **(env or {})})


def test_api_refuses_to_start_without_keys(local_cloud):
    refused = run("--endpoint", local_cloud.endpoint_url, "approval-api", "--port", "0")
    assert refused.returncode == 2 and "no API keys configured" in refused.stderr
    exposed = run("approval-api", "--insecure-local", "--host", "0.0.0.0")
    assert exposed.returncode == 2 and "loopback only" in exposed.stderr
    short = run("approval-api", env={"APPROVAL_API_KEYS": "alice=short"})
    assert short.returncode == 2 and "at least 16" in short.stderr


def test_api_subprocess_serves_with_a_keys_file(approval_stack, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"carol={'c' * 24}\n")
    port = free_port()
    proc = subprocess.Popen([CLI, "approval-api", "--port", str(port), "--endpoint", approval_stack.target.endpoint_url,
                             "--keys-file", str(keys)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"

        def up():
            try:
                return httpx.get(f"{url}/health", timeout=1).json()
            except httpx.HTTPError:
                return None

        assert wait_for(up, 20, interval=0.2, what="approval-api up")["tableReachable"] is True
        assert httpx.get(f"{url}/tasks", headers={"Authorization": f"Bearer {'c' * 24}"}).status_code == 200
        assert httpx.get(f"{url}/tasks", headers={"Authorization": f"Bearer {KEYS['alice']}"}).status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_tasks_approve_reject_commands(approval_stack, approval_api):
    first, first_arn = approval_stack.start()
    second, second_arn = approval_stack.start()
    approval_stack.wait_item(first)
    approval_stack.wait_item(second)
    env = {"APPROVAL_API_URL": approval_api.url, "APPROVAL_API_KEY": KEYS["bob"]}
    listed = run("tasks", "--all", "--limit", "2", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert {first, second} <= {t["orderId"] for t in json.loads(listed.stdout)["items"]}
    approved = run("approve", first, "--output", '{"ok": true}', "--json", env=env)
    assert approved.returncode == 0 and json.loads(approved.stdout)["task"]["status"] == "APPROVED"
    rejected = run("reject", second, "--reason", "duplicate order", env=env)
    assert rejected.returncode == 0 and second in rejected.stdout
    again = run("approve", first, env=env)
    assert again.returncode == 1 and "HTTP 409" in again.stderr and "bob" in again.stderr
    bad = run("approve", first, "--output", "{nope", env=env)
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr
    assert json.loads(approval_stack.wait_done(first_arn)["output"])["decision"]["output"] == {"ok": True}
    assert json.loads(approval_stack.wait_done(second_arn)["output"])["status"] == "REJECTED"


def test_bench_smoke_json(approval_stack):
    out = run("--endpoint", approval_stack.target.endpoint_url, "bench", "approval", "--tasks", "6",
              "--concurrency", "3", "--json", timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["ok"] and result["lostDecisions"] == 0 and result["doubleDecisions"] == 0
    assert result["approved"] + result["rejected"] == 6 and result["decisionToResumedMs"]["samples"] == 6
