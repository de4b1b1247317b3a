"""`sfn-callback up --detach` / `down` as a script uses them: real subprocesses, health over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from sfn_callback.localcloud import process


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=180)  # returns when done; the bound is for a hung command


def test_detach_health_and_down(tmp_path):
    env = {**os.environ, "SFN_CALLBACK_STATE_DIR": str(tmp_path)}
    port = process.free_port()
    started = cli("up", "--detach", "--port", str(port), env=env)
    assert started.returncode == 0, started.stderr
    assert f"http://127.0.0.1:{port}" in started.stdout
    assert "aws --endpoint-url" in started.stdout
    status = process.health(f"http://127.0.0.1:{port}")
    assert status and status["status"] == "running"
    assert {"lambda", "stepfunctions", "dynamodb", "sqs", "scheduler"} <= set(status["services"])
    assert (tmp_path / f"localcloud-{port}.pid").exists()

    again = cli("up", "--detach", "--port", str(port), env=env)
    assert again.returncode == 1 and "already answers" in again.stderr

    stopped = cli("down", "--port", str(port), env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert process.health(f"http://127.0.0.1:{port}", timeout=0.5) is None
    assert not (tmp_path / f"localcloud-{port}.pid").exists()
    assert cli("down", "--port", str(port), env=env).returncode == 1


def test_a_cloud_started_for_a_process_stops_when_that_process_is_killed(tmp_path):
    """A test session or benchmark killed half-way (SIGKILL: no cleanup runs) leaves no local cloud behind."""
    env = {**os.environ, "SFN_CALLBACK_STATE_DIR": str(tmp_path)}
    starter = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from sfn_callback.localcloud import process\n"
         "proc, endpoint = process.start_detached('127.0.0.1', process.free_port(), log_path=sys.argv[1], timeout=60)\n"
         "print(proc.pid, endpoint, flush=True)\n"
         "time.sleep(300)\n", str(tmp_path / "cloud.log")],
        stdout=subprocess.PIPE, text=True, env=env)
    try:
        pid, endpoint = starter.stdout.readline().split()
        assert process.health(endpoint)["status"] == "running"
    finally:
        starter.kill()
        starter.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{pid}"), "the local cloud outlived the process it was started for"
    assert process.health(endpoint, timeout=0.5) is None
    assert "is gone; stopping" in (tmp_path / "cloud.log").read_text()


def test_refuses_a_non_loopback_host(tmp_path):
    env = {**os.environ, "SFN_CALLBACK_STATE_DIR": str(tmp_path)}
    refused = cli("up", "--host", "0.0.0.0", "--port", str(process.free_port()), env=env)
    assert refused.returncode != 0
    assert "loopback" in refused.stderr


def test_bench_cloud_prints_one_json_document(tmp_path):
    import json

    env = {**os.environ, "SFN_CALLBACK_STATE_DIR": str(tmp_path)}
    done = cli("bench", "cloud", "--invokes", "5", "--callbacks", "3", "--json", env=env)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)  # exactly one JSON document on stdout; progress went to stderr
    assert figures["invoke_warm"]["n"] == 5
    assert figures["invoke_warm_node"]["n"] == 5 and figures["invoke_cold_node"]["n"] == figures["invoke_cold"]["n"]
    assert figures["node"]["version"].startswith("v") and figures["node_python_warm_ratio_p50"] > 0
    assert figures["callback_ours"]["n"] == figures["callback_bare_moto"]["n"] == 3
    assert figures["up_to_healthy_s"] > 0
    assert figures["callback_ratio_p50"] > 0
