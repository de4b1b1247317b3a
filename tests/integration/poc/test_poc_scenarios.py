"""The PoC deployed to the embedded local cloud: each scenario end to end, and bad events to each Lambda."""

from __future__ import annotations

import json
import uuid

import pytest

from sfn_callback import config, scenarios
from sfn_callback.config import Target
from sfn_callback.poc.scenarios import SCENARIOS, PocObserver, scenario
from sfn_callback.scenarios import RunOptions
from support import stretched, wait_execution, wait_for

pytestmark = pytest.mark.cloud

SM_ARN = f"arn:aws:states:us-east-1:{config.LOCAL_ACCOUNT_ID}:stateMachine:{config.CALLBACK_WORKFLOW}"


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_scenario(deployed, name):
    """Each scenario end to end through the same code ``sfn-callback run`` uses; every check from the data."""
    target = Target(endpoint_url=deployed.endpoint_url)
    result = scenarios.get(name).run(target, RunOptions(jobs=1, interval_seconds=1, timeout_seconds=stretched(60)))
    failed = [(c.name, c.detail) for c in result.checks if not c.passed]
    assert result.passed, failed
    assert len(result.checks) >= 7
    (job,) = result.jobs
    expected = scenario(name).expect
    assert job["token"].startswith(expected.record_status)
    record = deployed.client("dynamodb").get_item(
        TableName=config.TOKENS_TABLE, Key={"jobId": {"S": result.data["jobIds"][0]}})["Item"]
    # Polled by its schedule: each delivery named its slot (Scheduler's <aws.scheduler.scheduled-time>).
    assert record["polledSlot"]["S"].endswith(".000Z")
    if name == "sfn-timeout":
        # Step Functions closed the token first; the poller's late SendTaskFailure is answered TaskTimedOut,
        # as on AWS, and the record keeps that reason.
        record = deployed.client("dynamodb").get_item(
            TableName=config.TOKENS_TABLE, Key={"jobId": {"S": result.data["jobIds"][0]}})["Item"]
        assert record["callbackResult"]["S"] == "ALREADY_FINISHED"
        assert record["reason"]["S"].startswith("TaskTimedOut:")


def test_seed_start_execution_without_input_and_manual_polls(deployed):
    cloud = deployed
    sfn, lam = cloud.client("stepfunctions"), cloud.client("lambda")
    ex = sfn.start_execution(stateMachineArn=SM_ARN, name=f"seed-{uuid.uuid4().hex[:8]}")["executionArn"]
    observer = PocObserver(Target(endpoint_url=cloud.endpoint_url))
    item = wait_for(lambda: observer.record_for_execution(ex), timeout=30, what="the token record")
    assert item["maxAttempts"] == 10 and item["intervalSeconds"] == 60
    job_id = item["jobId"]
    sched = cloud.client("scheduler").get_schedule(Name=f"poll-{job_id}", GroupName=config.POLLING_SCHEDULE_GROUP)
    assert sched["ScheduleExpression"] == "rate(1 minute)"
    results = []
    for _ in range(5):
        resp = lam.invoke(FunctionName=config.POLLER_FUNCTION, Payload=json.dumps({"jobId": job_id}))
        assert "FunctionError" not in resp
        results.append(json.loads(resp["Payload"].read()))
        if results[-1].get("reconnected"):
            break
    assert results[-1]["status"] == "COMPLETED" and results[-1]["reconnected"] is True
    assert [r["attempt"] for r in results] == list(range(1, len(results) + 1)) and len(results) in (2, 3)
    desc = wait_execution(sfn, ex)
    assert json.loads(desc["output"])["status"] == "SUCCESS"
    again = json.loads(lam.invoke(FunctionName=config.POLLER_FUNCTION,
                                  Payload=json.dumps({"jobId": job_id}))["Payload"].read())
    assert again["status"] == "COMPLETED" and "reconnected" not in again


@pytest.mark.parametrize("function, event, error_type", [
    (config.POLLER_FUNCTION, {}, "InvalidEvent"),
    (config.POLLER_FUNCTION, {"jobId": 42}, "InvalidEvent"),
    (config.POLLER_FUNCTION, {"jobId": "job-does-not-exist"}, "UnknownJob"),
    (config.SIMULATED_API_FUNCTION, {"action": "CHECK_STATUS", "jobId": "job-does-not-exist"}, "JobNotFound"),
    (config.SIMULATED_API_FUNCTION, {"action": "EXPLODE"}, "UnknownAction"),
    (config.SIMULATED_API_FUNCTION, {"action": "CHECK_STATUS"}, "InvalidEvent"),
    (config.CREATE_JOB_FUNCTION, {"record": {"id": "x"}, "taskToken": "t" * 40, "executionId": "e"}, "InvalidEvent"),
    (config.CREATE_JOB_FUNCTION, {"record": {"id": "x"}, "taskToken": "t" * 40, "executionId": "e",
                                  "pollingConfig": {"intervalSeconds": "1", "maxAttempts": 2, "timeoutSeconds": 5}},
     "InvalidEvent"),
])
def test_bad_events_fail_clearly_and_change_nothing(deployed, function, event, error_type):
    cloud = deployed
    ddb, lam = cloud.client("dynamodb"), cloud.client("lambda")
    before = {t: ddb.scan(TableName=t)["Items"] for t in (config.TOKENS_TABLE, config.JOBS_TABLE)}
    resp = lam.invoke(FunctionName=function, Payload=json.dumps(event))
    assert resp.get("FunctionError")
    body = json.loads(resp["Payload"].read())
    assert body["errorType"] == error_type
    after = {t: ddb.scan(TableName=t)["Items"] for t in (config.TOKENS_TABLE, config.JOBS_TABLE)}
    # Other tests' executions may still be finishing; the items named by this event must not appear or change.
    for table in after:
        assert [i for i in after[table] if i not in before[table] and i["jobId"]["S"] == "job-does-not-exist"] == []
    assert all(i["jobId"]["S"] != "job-does-not-exist" for t in after for i in after[t])
