"""Roles that do not exist: accepted with a warning by default (LocalStack-style scripts), refused as AWS
refuses them with ``up --strict-iam``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest
from botocore.exceptions import ClientError

from sfn_callback.deploy.packaging import zip_files
from sfn_callback.localcloud import process

pytestmark = pytest.mark.cloud

MISSING = "arn:aws:iam::000000000000:role/no-such-role"
MACHINE = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
CODE = zip_files({"app.py": "def handler(event, context):\n    return 'ran'\n"})


def _create_all(client, role: str, suffix: str) -> dict[str, object]:
    """Create a function, a state machine and a schedule with ``role``; each outcome (ARN or ClientError)."""
    outcomes: dict[str, object] = {}
    calls = {
        "function": lambda: client("lambda").create_function(
            FunctionName=f"iam-fn-{suffix}", Runtime="python3.11", Role=role, Handler="app.handler",
            Code={"ZipFile": CODE})["FunctionArn"],
        "state machine": lambda: client("stepfunctions").create_state_machine(
            name=f"iam-sm-{suffix}", definition=MACHINE, roleArn=role)["stateMachineArn"],
        "schedule": lambda: client("scheduler").create_schedule(
            Name=f"iam-s-{suffix}", ScheduleExpression="rate(1 hour)", FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": f"arn:aws:lambda:us-east-1:000000000000:function:iam-fn-{suffix}", "RoleArn": role})["ScheduleArn"],
    }
    for kind, call in calls.items():
        try:
            outcomes[kind] = call()
        except ClientError as error:
            outcomes[kind] = error
    return outcomes


def test_missing_roles_are_accepted_with_a_warning_by_default(local_cloud):
    outcomes = _create_all(local_cloud.client, MISSING, "lenient")
    for kind, outcome in outcomes.items():
        assert isinstance(outcome, str), f"{kind}: {outcome}"
    log = local_cloud.log_text()
    for resource in ("function iam-fn-lenient", "state machine iam-sm-lenient", "schedule default/iam-s-lenient"):
        assert f"{resource} names role {MISSING}, which does not exist: accepted" in log
    assert "AWS would refuse it (InvalidParameterValueException: The role defined for the function cannot be assumed" in log
    response = local_cloud.client("lambda").invoke(FunctionName="iam-fn-lenient", Payload=b"{}")
    assert response["Payload"].read() == b'"ran"', "an accepted function runs"
    health = local_cloud.health()
    assert health["status"] == "running" and health["iam"]["strict"] is False
    assert health["iam"]["missing_roles_accepted"] >= 3
    assert "running" in json.dumps(health), "seed 001's health check greps for it"


@pytest.fixture(scope="module")
def strict_cloud(tmp_path_factory):
    state = tmp_path_factory.mktemp("strict-iam")
    port = process.free_port()
    # `sfn-callback up --strict-iam` itself, as a user starts it.
    log_file = open(state / "up.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "sfn_callback.cli.main", "up", "--port", str(port), "--strict-iam"],
                            stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, "SFN_CALLBACK_STATE_DIR": str(state)},
                            start_new_session=True)
    log_file.close()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        process.wait_healthy(endpoint, timeout=60, proc=proc)
        yield endpoint, state / "up.log"
    finally:
        process.stop_process(proc.pid)


def test_strict_iam_keeps_aws_refusals(strict_cloud):
    endpoint, log_path = strict_cloud

    def client(service):
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                            aws_secret_access_key="test")

    outcomes = _create_all(client, MISSING, "strict")
    expected = {
        "function": ("InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda."),
        "state machine": ("AccessDeniedException", "Neither the global service principal states.amazonaws.com, nor "
                                                   "the regional one is authorized to assume the provided role."),
        "schedule": ("ValidationException", "The execution role you provide must allow AWS EventBridge Scheduler to "
                                            "assume the role."),
    }
    for kind, (code, message) in expected.items():
        outcome = outcomes[kind]
        assert isinstance(outcome, ClientError), f"{kind} was accepted: {outcome}"
        assert outcome.response["Error"]["Code"] == code and outcome.response["Error"]["Message"] == message
    role = client("iam").create_role(RoleName="real-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    assert all(isinstance(v, str) for v in _create_all(client, role, "existing").values()), "an existing role is fine"
    health = process.health(endpoint, timeout=5)
    assert health["iam"] == {"strict": True, "missing_roles_accepted": 0, "missing_roles": []}
    assert "refused, as on AWS (--strict-iam)" in log_path.read_text()
