"""The CLI as a real subprocess: every invalid input is one line on stderr and a documented exit code, refused
before any call; ``--endpoint aws`` means AWS even when a local endpoint is configured.

Calls are watched with a listener on a loopback port that stands where a call would go (``--endpoint`` or
``AWS_ENDPOINT_URL``): it counts every connection. Nothing here can reach the Internet: ``HTTPS_PROXY``
points at a closed loopback port (loopback itself is not proxied), so a call to AWS fails at once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("sfn-callback"))


class Listener:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.connections = 0
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@pytest.fixture
def listener():
    watched = Listener()
    yield watched
    watched.sock.close()


def cli(*args: str, env: dict[str, str] | None = None, tmp: Path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.lower() not in ("no_proxy",)}
    base.update({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00", "AWS_SECRET_ACCESS_KEY": "not-a-real-key",
                 "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_MAX_ATTEMPTS": "1",
                 "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost",
                 "SFN_CALLBACK_STATE_DIR": str(tmp)})
    base.update(env or {})
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=base, timeout=120, cwd=tmp)


def one_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("args, says", [
    (["--endpoint", "not-a-url", "monitor"], "--endpoint (or AWS_ENDPOINT_URL) 'not-a-url' is not an endpoint URL"),
    (["--endpoint", "http://:99", "deploy", "--plan"], "is not an endpoint URL"),
    (["--region", "mars-1", "monitor"], "--region 'mars-1' is not an AWS region"),
    (["--region", "mars-1", "--endpoint", "aws", "deploy", "--plan"], "--region 'mars-1' is not an AWS region"),
    (["run", "--jobs", "100000"], "--jobs 100000 would start 100000 executions per scenario; at most 1000"),
    (["run", "--timeout", "-5"], "--timeout -5 must be a number of seconds above 0"),
    (["run", "--timeout", "0"], "--timeout 0 must be a number of seconds above 0"),
    (["run", "--scenario", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
])
def test_invalid_input_is_one_line_and_exit_2_before_any_call(listener, tmp_path, args, says):
    proc = cli(*args, env={"AWS_ENDPOINT_URL": listener.url}, tmp=tmp_path)
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc)
    assert line.startswith("error: ") and says in line, line
    assert listener.connections == 0, "refused input must not reach the endpoint"


def test_typer_usage_errors_are_exit_2(listener, tmp_path):
    proc = cli("--endpoint", listener.url, "run", "--jobs", "0", tmp=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--jobs" in proc.stderr
    assert listener.connections == 0


def test_allow_many_lifts_the_jobs_bound(listener, tmp_path):
    proc = cli("--endpoint", listener.url, "run", "--jobs", "1001", "--allow-many", "--scenario", "complete",
               tmp=tmp_path)
    # Past the bound, the command runs: it calls the endpoint (which hangs up) and fails as unreachable.
    assert proc.returncode == 1 and listener.connections >= 1
    assert "cannot reach" in one_line(proc)


def test_unknown_profile_is_one_line_exit_2(tmp_path):
    proc = cli("--endpoint", "aws", "--profile", "no-such-profile", "monitor", tmp=tmp_path)
    assert proc.returncode == 2 and "no-such-profile" in one_line(proc)


def test_endpoint_aws_ignores_configured_endpoint_urls(listener, tmp_path):
    """With AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE> and an endpoint_url in the AWS config file all pointing
    at a local endpoint, ``--endpoint aws deploy --plan`` plans against AWS: nothing reaches the local endpoint,
    and without credentials that work it fails with one clear line."""
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\nendpoint_url = {listener.url}\nregion = us-east-1\n")
    configured = {"AWS_ENDPOINT_URL": listener.url, "AWS_ENDPOINT_URL_DYNAMODB": listener.url,
                  "AWS_ENDPOINT_URL_STS": listener.url, "AWS_CONFIG_FILE": str(config)}
    proc = cli("--endpoint", "aws", "deploy", "--plan", env=configured, tmp=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert listener.connections == 0, "--endpoint aws reached the configured (local) endpoint"
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr and lines[-1].startswith("error: cannot reach the target (AWS"), proc.stderr
    assert "planning against https://<service>.us-east-1.amazonaws.com" in proc.stderr
    # The control: without --endpoint aws the same variables do send the plan's calls to the local endpoint.
    local = cli("deploy", "--plan", env=configured, tmp=tmp_path)
    assert local.returncode != 0 and listener.connections >= 1
    assert f"planning against {listener.url}" in local.stderr


def test_deploy_on_unreachable_aws_stops_at_identifying_the_account(tmp_path):
    """``deploy --yes`` on AWS first identifies the account it will change; with no reachable AWS it stops
    there, with one line naming the region (the confirmation itself: tests/unit/deploy/test_infra_cli_guard.py)."""
    proc = cli("--endpoint", "aws", "--region", "eu-west-1", "deploy", "--yes", tmp=tmp_path)
    assert proc.returncode == 2 and "cannot reach AWS to identify the account (region eu-west-1)" in one_line(proc)
