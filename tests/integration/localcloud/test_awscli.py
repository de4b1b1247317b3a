"""The aws CLI, pointed with --endpoint-url, works against the local cloud (a real subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

pytestmark = pytest.mark.cloud


def aws_cli() -> list[str]:
    """AWS CLI v2 (Debian's awscli, installed by scripts/ensure-test-tools.sh), else whatever `aws` is on PATH."""
    found = "/usr/bin/aws" if os.path.exists("/usr/bin/aws") else shutil.which("aws")
    if not found:
        pytest.fail("no aws CLI: scripts/ensure-test-tools.sh installs Debian's awscli (v2)")
    return [found]


def run_aws(local_cloud, *args: str) -> dict:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
    done = subprocess.run([*aws_cli(), "--endpoint-url", local_cloud.endpoint_url, "--output", "json", *args],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_cli_lists_tables_invokes_and_starts_an_execution(local_cloud, make_function, tmp_path):
    local_cloud.client("dynamodb").create_table(
        TableName="lc-cli-table", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    assert "lc-cli-table" in run_aws(local_cloud, "dynamodb", "list-tables")["TableNames"]

    make_function("lc-cli-fn", "def handler(event, context):\n    return {'echo': event['value'] * 3}\n")
    out = tmp_path / "out.json"
    meta = run_aws(local_cloud, "lambda", "invoke", "--function-name", "lc-cli-fn",
                   "--payload", json.dumps({"value": 14}), "--cli-binary-format", "raw-in-base64-out", str(out))
    assert meta["StatusCode"] == 200
    assert json.loads(out.read_text()) == {"echo": 42}

    sfn = local_cloud.client("stepfunctions")
    machine = sfn.create_state_machine(name="lc-cli-machine", roleArn=local_cloud.role_arn(), definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    started = run_aws(local_cloud, "stepfunctions", "start-execution", "--state-machine-arn", machine,
                      "--name", f"cli-{uuid.uuid4()}", "--input", '{"x": 1}')
    assert started["executionArn"].startswith("arn:aws:states:us-east-1:000000000000:execution:lc-cli-machine:")
    described = run_aws(local_cloud, "stepfunctions", "describe-execution", "--execution-arn", started["executionArn"])
    assert described["status"] in {"RUNNING", "SUCCEEDED"}
