"""Seed 001's LocalStack PoC, run as its text gives it, unedited, against a fresh local cloud on port 4566.

Its JavaScript Lambdas (nodejs18.x, AWS SDK v3 from their own ``npm install``), its state machine and its
scripts: ``setup.sh``, ``deploy-local.sh`` (``npm install``, ``zip``, ``create-function`` with a role nothing
creates), ``test-local.sh`` (which must end ``TEST PASSED`` with the execution SUCCEEDED), ``poll-manually.sh``
and ``monitor.sh``; then ``aws logs tail /aws/lambda/poc-poller`` must show the poller's own lines. The scripts
hard-code ``http://localhost:4566``, so this is the one test that takes port 4566.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys

import pytest
import seed_files

from sfn_callback.localcloud import process

pytestmark = pytest.mark.cloud

PORT = 4566


def test_the_repository_copy_is_the_seed_byte_for_byte():
    seed = seed_files.seed_text_path()
    if seed is None:
        pytest.skip("the seed text (shared/seeds/001_cd1a0beb1648b540.txt) is not beside this repository")
    from_seed = seed_files.extract(seed.read_bytes())
    assert set(from_seed) >= {"lambdas/simulated-api/index.js", "lambdas/create-job/index.js",
                              "lambdas/poller/index.js", "state-machine/definition.json", "scripts/setup.sh",
                              "scripts/deploy-local.sh", "scripts/test-local.sh", "scripts/poll-manually.sh",
                              "scripts/monitor.sh"}
    assert seed_files.copied_files() == from_seed


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _needs(tool: str, path: str | None = None) -> str:
    found = path if path and os.path.exists(path) else shutil.which(tool)
    if not found:
        pytest.fail(f"`{tool}` is missing: scripts/ensure-test-tools.sh installs it (seed 001's scripts call it)")
    return found


@pytest.fixture
def cloud_on_4566(tmp_path):
    if _port_taken(PORT):
        message = f"port {PORT} is taken (another local cloud or LocalStack?); seed 001's scripts hard-code it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    state = tmp_path / "state"
    state.mkdir()
    log_path = state / "localcloud.log"
    proc, endpoint = process.start_detached("127.0.0.1", PORT, log_path=str(log_path), timeout=60,
                                            env={"SFN_CALLBACK_STATE_DIR": str(state)})
    try:
        yield endpoint, log_path
    finally:
        process.stop_process(proc.pid)


def _run(script: list[str], cwd, env, timeout: float = 600) -> str:
    done = subprocess.run(script, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(script)} exited {done.returncode}:\n{output[-4000:]}"
    return output


def test_seed001_scripts_deploy_and_pass_unedited(cloud_on_4566, tmp_path):
    endpoint, log_path = cloud_on_4566
    aws = _needs("aws", "/usr/bin/aws")
    for tool in ("zip", "npm", "node", "curl"):
        _needs(tool)
    project = tmp_path / "poc-local-stepfunctions"
    for relative, content in seed_files.copied_files().items():
        target = project / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    for script in (project / "scripts").glob("*.sh"):  # the seed's `chmod +x scripts/*.sh`
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    # The aws CLI the scripts call is v2 (Debian's, in /usr/bin), ahead of any v1 shim.
    env = {**os.environ, "PATH": f"{os.path.dirname(aws)}:{os.environ.get('PATH', '')}", "AWS_PAGER": ""}
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "LOCALSTACK_HOSTNAME"):
        env.pop(key, None)

    _run(["./scripts/setup.sh"], project, env)
    assert json.loads((project / "lambdas/poller/package.json").read_text())["dependencies"]
    deployed = _run(["./scripts/deploy-local.sh"], project, env)
    assert "Deployment Complete" in deployed, deployed[-3000:]
    log_text = log_path.read_text(errors="replace")
    assert "role arn:aws:iam::000000000000:role/lambda-role, which does not exist: accepted" in log_text

    tested = _run(["./scripts/test-local.sh"], project, env, timeout=300)
    assert "TEST PASSED" in tested, tested[-3000:]
    assert "Final Status: SUCCEEDED" in tested
    job_id = next(line.split("Job created: ", 1)[1].strip() for line in tested.splitlines() if "Job created: " in line)

    polled = _run(["./scripts/poll-manually.sh", job_id], project, env)
    assert '"COMPLETED"' in polled, polled  # the job is done: the poller says so and sends nothing twice
    monitored = _run(["./scripts/monitor.sh"], project, env)
    assert job_id in monitored and "poc-poller" in monitored and "nodejs18.x" in monitored, monitored

    aws_env = {**env, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    tail = _run([aws, "--endpoint-url", f"http://localhost:{PORT}", "logs", "tail", "/aws/lambda/poc-poller",
                 "--since", "1h"], project, aws_env)
    assert "Poller Event" in tail and "SendTaskSuccess sent!" in tail, tail[-3000:]
    assert "START RequestId:" in tail and "REPORT RequestId:" in tail and "Init Duration:" in tail
    sys.stdout.write(tested[-600:])
