"""Seed 001's test-local.sh calls, unchanged, with the real AWS CLI v2 against the deployed local cloud."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from support import wait_for

pytestmark = pytest.mark.cloud

AWS_V2 = "/usr/bin/aws"  # Debian's awscli (v2); PyPI's awscli is v1 and rejects --cli-binary-format
SEED_ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:poc-callback-workflow"


@pytest.fixture(scope="module")
def aws(deployed):
    if not os.access(AWS_V2, os.X_OK):
        pytest.fail(f"{AWS_V2} (AWS CLI v2) is missing: run scripts/ensure-test-tools.sh as root")
    version = subprocess.run([AWS_V2, "--version"], capture_output=True, text=True).stdout
    assert version.startswith("aws-cli/2."), version
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("AWS_PROFILE", None)

    def run(*args: str) -> str:
        done = subprocess.run([AWS_V2, f"--endpoint-url={deployed.endpoint_url}", *args],
                              capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


def test_seed_test_local_calls_unchanged(aws):
    execution_arn = aws("stepfunctions", "start-execution", "--state-machine-arn", SEED_ARN,
                        "--name", f"test-{time.time_ns()}", "--query", "executionArn", "--output", "text").strip()
    assert execution_arn.startswith("arn:aws:states:us-east-1:000000000000:execution:poc-callback-workflow:test-")

    # The seed's scan of POLLING records (it takes Items[0]; other tests' records may be POLLING too, so this
    # picks the one of this execution from the same scan).
    def polling_job_id() -> str | None:
        items = json.loads(aws("dynamodb", "scan", "--table-name", "poc-task-tokens",
                               "--filter-expression", "#s = :polling",
                               "--expression-attribute-names", '{"#s": "status"}',
                               "--expression-attribute-values", '{":polling": {"S": "POLLING"}}',
                               "--query", "Items[].{jobId: jobId.S, executionId: executionId.S}",
                               "--output", "json"))
        return next((i["jobId"] for i in items if i["executionId"] == execution_arn), None)

    job_id = wait_for(polling_job_id, timeout=30, interval=0.2, what="a POLLING token record for the execution")

    status = aws("stepfunctions", "describe-execution", "--execution-arn", execution_arn,
                 "--query", "status", "--output", "text").strip()
    assert status == "RUNNING"  # waiting for the callback (the seed's default schedule polls once a minute)

    results = []
    for _ in range(10):  # the seed's MAX_POLLS, without its 5 s pauses
        out = aws("lambda", "invoke", "--function-name", "poc-poller", "--payload", f'{{"jobId": "{job_id}"}}',
                  "--cli-binary-format", "raw-in-base64-out", "/dev/stdout")
        payload, end = json.JSONDecoder().raw_decode(out)  # the payload, then the invoke metadata
        assert json.loads(out[end:])["StatusCode"] == 200
        results.append(payload)
        if re.search(r'"reconnected":\s*true', out.splitlines()[0]):
            break
    assert results[-1]["reconnected"] is True and results[-1]["status"] == "COMPLETED"
    assert [r["attempt"] for r in results] == list(range(1, len(results) + 1)) and len(results) in (2, 3)

    final = wait_for(lambda: (status := aws("stepfunctions", "describe-execution", "--execution-arn", execution_arn,
                                            "--query", "status", "--output", "text").strip()) != "RUNNING"
                     and status, timeout=10, interval=0.2, what="the execution to finish")
    assert final == "SUCCEEDED"
    output = json.loads(aws("stepfunctions", "describe-execution", "--execution-arn", execution_arn,
                            "--query", "output", "--output", "text"))
    assert output["status"] == "SUCCESS" and output["result"]["jobId"] == job_id
