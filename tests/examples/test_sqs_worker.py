"""examples/sqs_worker on the local cloud: a job one and a half times the task's HeartbeatSeconds survives on heartbeats
and succeeds with the worker's result; a failing item fails the workflow with the worker's error; one callback
each."""

from __future__ import annotations

import json
import uuid

import pytest

from examples.sqs_worker import deploy
from sfn_callback import config
from sfn_callback.config import Target
from support import wait_execution

pytestmark = pytest.mark.cloud


def test_a_heartbeating_sqs_worker_calls_back_once(local_cloud):
    deploy.deploy(Target(endpoint_url=local_cloud.endpoint_url))
    sfn = local_cloud.client("stepfunctions")
    machine = f"arn:aws:states:us-east-1:{config.LOCAL_ACCOUNT_ID}:stateMachine:{deploy.WORKFLOW}"
    # 3 steps of 4 s: 12 s of work, one and a half times the task's HeartbeatSeconds (8).
    def run(fail: bool, steps: int) -> tuple[str, dict]:
        arn = sfn.start_execution(stateMachineArn=machine, name=f"work-{fail}-{uuid.uuid4().hex[:6]}", input=json.dumps(
            {"item": f"item-{fail}", "steps": steps, "stepSeconds": 4, "fail": fail}))["executionArn"]
        return arn, wait_execution(sfn, arn, timeout=90)

    # One after the other: the queue's mapping hands the worker one message at a time.
    ok_arn, ok = run(False, 3)
    _, bad = run(True, 1)
    assert ok["status"] == "SUCCEEDED", (ok.get("error"), ok.get("cause"))
    assert json.loads(ok["output"]) == {"item": "item-False", "steps": 3}
    assert bad["status"] == "FAILED" and bad.get("error") == "ItemRejected", bad
    events = sfn.get_execution_history(executionArn=ok_arn, maxResults=1000)["events"]
    kinds = [e["type"] for e in events]
    assert kinds.count("TaskSucceeded") == 1 and "TaskTimedOut" not in kinds
