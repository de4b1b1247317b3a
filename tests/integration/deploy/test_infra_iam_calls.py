"""Least privilege, checked against real calls: the whole stack runs on a private local cloud with the Lambda
worker's call recorder on, the workflows run, and every AWS call each handler made must be allowed by its
role's policy in the spec (the same policy Terraform applies, see test_infra_terraform). For the functions
these runs exercise fully, every action the policy grants must also have been called, except the paths
listed in RARE_PATHS (each with the reason it does not run here)."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import time
import uuid
from collections import defaultdict

import boto3
import pytest

from sfn_callback import config
from sfn_callback.config import Target
from sfn_callback.deploy.deployer import Deployer
from sfn_callback.deploy.spec import Function, StackContext
from sfn_callback.deploy.stack import build_stack
from sfn_callback.localcloud import process

pytestmark = pytest.mark.cloud
ACCOUNT, REGION = config.LOCAL_ACCOUNT_ID, config.DEFAULT_REGION
CTX = StackContext(account_id=ACCOUNT, region=REGION, local=True)

# Granted actions a fully exercised function does not call on these runs, and why.
RARE_PATHS = {
    config.CREATE_JOB_FUNCTION: {"dynamodb:DeleteItem": "removes the token record only when CreateSchedule fails"},
    config.POLLER_FUNCTION: {"states:SendTaskFailure": "the run here completes the job"},
    config.SIMULATED_API_FUNCTION: {},
}
# Actions the Lambda service calls with the function's role, not the handler.
PLATFORM = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    state = tmp_path_factory.mktemp("iam-cloud")
    calls = state / "calls.jsonl"
    calls.touch()
    stack = build_stack(CTX)
    stack.resources = [
        dataclasses.replace(r, env=r.env + (("SFN_CALLBACK_RECORD_CALLS", str(calls)),))
        if isinstance(r, Function) else r
        for r in stack.resources
    ]
    proc, endpoint = process.start_detached("127.0.0.1", process.free_port(), log_path=str(state / "cloud.log"),
                                            env={"SFN_CALLBACK_STATE_DIR": str(state)}, timeout=60)
    try:
        Deployer(Target(endpoint_url=endpoint), stack=stack).apply()
        session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
        sfn = session.client("stepfunctions", endpoint_url=endpoint)
        runs = [
            sfn.start_execution(
                stateMachineArn=CTX.state_machine_arn(config.CALLBACK_WORKFLOW), name=f"iam-{uuid.uuid4().hex[:8]}",
                input=json.dumps({"record": {"id": "iam-1", "data": {}},
                                  "pollingConfig": {"intervalSeconds": 1, "maxAttempts": 10, "timeoutSeconds": 60,
                                                    "jobOptions": {"completeAfterChecks": 2}},
                                  "taskTimeoutSeconds": 120}))["executionArn"],
            sfn.start_execution(
                stateMachineArn=CTX.state_machine_arn(config.APPROVAL_WORKFLOW), name=f"iam-{uuid.uuid4().hex[:8]}",
                input=json.dumps({"orderId": f"iam-{uuid.uuid4().hex[:8]}"}))["executionArn"],
        ]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = sfn.describe_execution(executionArn=runs[0])["status"] != "RUNNING"
            lines = calls.read_text().splitlines()
            if done and any(config.APPROVAL_CONSUMER_FUNCTION in line for line in lines):
                break
            time.sleep(0.5)
        time.sleep(1.5)  # let the sweep poller's schedule fire at least once more
        by_function: dict[str, list[dict]] = defaultdict(list)
        for line in calls.read_text().splitlines():
            entry = json.loads(line)
            by_function[entry["function"]].append(entry)
        yield stack, dict(by_function)
    finally:
        process.stop_process(proc.pid)


def _arn(entry: dict) -> str:
    action, res = entry["action"], entry["resource"]
    service = action.split(":")[0]
    if service == "dynamodb":
        table = CTX.table_arn(res["TableName"])
        return f"{table}/index/{res['IndexName']}" if "IndexName" in res else table
    if service == "lambda":
        name = res["FunctionName"]
        return name if name.startswith("arn:") else CTX.function_arn(name)
    if service == "scheduler":
        return f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{res['GroupName']}/{res['Name']}"
    if service == "sqs":
        return CTX.queue_arn(res["QueueUrl"].rstrip("/").rsplit("/", 1)[-1])
    if service == "iam":
        return res["RoleArn"]
    if service == "s3":
        return f"arn:aws:s3:::{res['Bucket']}/{res.get('Key', '')}"
    return "*"  # task tokens and the like: not resources IAM can name


def _allowed(function: Function, action: str, arn: str) -> bool:
    for p in function.role().permissions:
        if action in p.actions and any(fnmatch.fnmatchcase(arn, pattern) for pattern in p.resources):
            return True
    return False


def test_the_runs_exercised_the_functions_they_aim_at(recorded):
    _, calls = recorded
    for name in (*RARE_PATHS, config.APPROVAL_CONSUMER_FUNCTION, "poc-sweep-poller"):
        assert calls.get(name), f"{name} made no AWS call; is it still deployed and reachable?"


def test_no_call_is_missing_from_the_policy(recorded):
    stack, calls = recorded
    functions = {r.name: r for r in stack.resources if isinstance(r, Function)}
    missing = sorted({(fn, e["action"], _arn(e)) for fn, entries in calls.items() for e in entries
                      if not _allowed(functions[fn], e["action"], _arn(e))})
    assert not missing, "calls the policy does not allow (function, action, resource): " + repr(missing)


# Found by this test, to be fixed in the component's stack module; strict, so the fix makes it fail here.
KNOWN_EXTRA: dict[str, str] = {}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_EXTRA[n])) if n in KNOWN_EXTRA else n
    for n in RARE_PATHS
])
def test_no_action_granted_that_the_handler_does_not_call(recorded, name):
    stack, calls = recorded
    functions = {r.name: r for r in stack.resources if isinstance(r, Function)}
    rare = RARE_PATHS[name]
    granted = {a for p in functions[name].role().permissions for a in p.actions} - PLATFORM
    called = {e["action"] for e in calls.get(name, [])}
    assert granted - called == set(rare), f"{name}: granted but never called: {sorted(granted - called - set(rare))}"
