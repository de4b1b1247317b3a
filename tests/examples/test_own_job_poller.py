"""examples/own_job_poller deployed as Lambdas on the local cloud and run to completion: a job that completes
and one that fails, each with one callback, its token record terminal and its schedule deleted."""

from __future__ import annotations

import json
import uuid

import pytest

from examples.own_job_poller import deploy
from sfn_callback import config
from sfn_callback.config import Target
from support import wait_execution

pytestmark = pytest.mark.cloud

POLLING = {"intervalSeconds": 1, "maxAttempts": 10, "timeoutSeconds": 120}


def test_a_users_own_poller_completes_and_fails_jobs_with_one_callback_each(local_cloud):
    target = Target(endpoint_url=local_cloud.endpoint_url)
    deploy.deploy(target)
    sfn = local_cloud.client("stepfunctions")
    machine = f"arn:aws:states:us-east-1:{config.LOCAL_ACCOUNT_ID}:stateMachine:{deploy.WORKFLOW}"
    runs = {}
    for name, data in (("ok", {"checks": 2}), ("bad", {"checks": 1, "fail": True})):
        body = {"record": {"id": f"r-{name}", "data": data}, "pollingConfig": POLLING}
        runs[name] = sfn.start_execution(stateMachineArn=machine, name=f"own-{name}-{uuid.uuid4().hex[:6]}",
                                         input=json.dumps(body))["executionArn"]
    ddb = local_cloud.client("dynamodb")
    try:
        ok = wait_execution(sfn, runs["ok"], timeout=120)
        bad = wait_execution(sfn, runs["bad"], timeout=120)
    except AssertionError as exc:
        history = {n: [e["type"] for e in sfn.get_execution_history(executionArn=a, maxResults=1000)["events"]]
                   for n, a in runs.items()}
        raise AssertionError(f"{exc}; histories {history}; records {ddb.scan(TableName=deploy.TOKENS)['Items']}; "
                             f"schedules {local_cloud.client('scheduler').list_schedules(GroupName=deploy.GROUP)}") from exc

    assert ok["status"] == "SUCCEEDED", ok
    assert bad["status"] == "FAILED" and bad.get("error") == "RenderFailed", bad
    records = {i["executionId"]["S"]: i for i in ddb.scan(TableName=deploy.TOKENS)["Items"]}
    for name, status in (("ok", "COMPLETED"), ("bad", "FAILED")):
        arn = runs[name]
        record = records[arn]
        assert record["status"]["S"] == status
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        callbacks = [e["type"] for e in events if e["type"] in ("TaskSucceeded", "TaskFailed")]
        assert callbacks == (["TaskSucceeded"] if name == "ok" else ["TaskFailed"])
    succeeded = next(e for e in sfn.get_execution_history(executionArn=runs["ok"], maxResults=1000)["events"]
                     if e["type"] == "TaskSucceeded")
    output = json.loads(succeeded["taskSucceededEventDetails"]["output"])
    assert output["status"] == "COMPLETED" and output["result"]["url"].startswith("s3://renders/own-")
    assert output["result"]["recordId"] == "r-ok" and output["attempts"] == 2
    failed = next(e for e in sfn.get_execution_history(executionArn=runs["bad"], maxResults=1000)["events"]
                  if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert failed["error"] == "RenderFailed" and "render farm" in failed["cause"]
    schedules = local_cloud.client("scheduler").list_schedules(GroupName=deploy.GROUP)["Schedules"]
    assert schedules == []
