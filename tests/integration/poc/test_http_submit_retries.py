"""Create-job's submit under transient answers on the deployed stack: the callback workflow on the local cloud
against the reference job service (a real ``job-api`` subprocess on a free loopback port) whose jobs script
their submits (``submitAnswers``), checked from the execution, the token table, the schedules and the service's
own counts (``GET /submits``)."""

from __future__ import annotations

import json
import time

import pytest

from sfn_callback import config
from sfn_callback.config import Target
from sfn_callback.poc.http_scenarios import JobApiProcess, reference_job_api

pytestmark = pytest.mark.cloud

WORKFLOW_ARN = f"arn:aws:states:{config.DEFAULT_REGION}:{config.LOCAL_ACCOUNT_ID}:stateMachine:{config.CALLBACK_WORKFLOW}"


@pytest.fixture(scope="module")
def job_api(deployed):
    service = JobApiProcess().start(Target(endpoint_url=deployed.endpoint_url))
    try:
        yield service
    finally:
        service.stop()


def run(deployed, service, name, job, seconds=90):
    """One execution of the callback workflow whose job is ``job`` on the service; its end, and what the
    service counted meanwhile (``/submits`` after minus before)."""
    sfn = deployed.client("stepfunctions")
    before = service.call("GET", "/submits")
    execution_input = {
        "record": {"id": name, "data": {"job": {"completeAfterChecks": 1, **job}}},
        "pollingConfig": {"intervalSeconds": 1, "maxAttempts": 5, "timeoutSeconds": 60,
                          "jobApi": reference_job_api(service.url, timeout_seconds=1)},
        "taskTimeoutSeconds": 120,
    }
    arn = sfn.start_execution(stateMachineArn=WORKFLOW_ARN, name=f"{name}-{time.time_ns()}",
                              input=json.dumps(execution_input))["executionArn"]
    deadline = time.monotonic() + seconds
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{name} still running after {seconds} s"
        time.sleep(0.5)
    after = service.call("GET", "/submits")
    counted = {kind: after["submits"][kind] - before["submits"][kind] for kind in after["submits"]}
    counted["jobs"] = after["jobs"] - before["jobs"]
    return arn, json.loads(described.get("output") or "{}"), counted


def records_of(deployed, execution_arn):
    pages = deployed.client("dynamodb").get_paginator("scan").paginate(
        TableName=config.TOKENS_TABLE, FilterExpression="executionId = :e",
        ExpressionAttributeValues={":e": {"S": execution_arn}})
    return [item for page in pages for item in page["Items"]]


def schedules(deployed):
    pages = deployed.client("scheduler").get_paginator("list_schedules").paginate()
    return {f"{s['GroupName']}/{s['Name']}" for page in pages for s in page["Schedules"]}


def test_throttled_and_failing_submits_then_success_make_one_job_and_the_workflow_completes(deployed, job_api):
    arn, output, counted = run(deployed, job_api, "submit-flaky", {"submitAnswers": ["429", "503", "500"],
                                                                   "retryAfter": 1})
    assert output.get("status") == "SUCCESS", output
    assert counted == {"created": 1, "replayed": 0, "throttled": 1, "errors": 2, "slow": 0, "conflicts": 0,
                       "jobs": 1}, counted
    records = records_of(deployed, arn)
    assert len(records) == 1 and records[0]["status"]["S"] == "COMPLETED", records
    assert records[0]["jobId"]["S"] == output["result"]["jobId"]


def test_a_timed_out_submit_that_reached_the_service_is_answered_the_same_job_on_the_retry(deployed, job_api):
    # The service creates the job and answers after 2.5 s; create-job gave up after 1 s and tries again with
    # the same Idempotency-Key: the same job, no second one.
    arn, output, counted = run(deployed, job_api, "submit-slow", {"submitAnswers": ["slow"], "slowSeconds": 2.5})
    assert output.get("status") == "SUCCESS", output
    assert counted == {"created": 0, "replayed": 1, "throttled": 0, "errors": 0, "slow": 1, "conflicts": 0,
                       "jobs": 1}, counted
    records = records_of(deployed, arn)
    assert len(records) == 1 and records[0]["jobId"]["S"] == output["result"]["jobId"]


def test_submits_that_never_succeed_fail_the_task_with_the_named_error_and_leave_nothing(deployed, job_api):
    before = schedules(deployed)
    arn, output, counted = run(deployed, job_api, "submit-down", {"submitAnswers": ["503"] * 10})
    assert (output.get("status"), output.get("errorName")) == ("FAILED", "SubmitFailed"), output
    cause = json.loads(output["error"]["Cause"])["errorMessage"]
    assert "did not take the submit after 4 tries (no tries left)" in cause and "HTTP 503" in cause, cause
    assert counted == {"created": 0, "replayed": 0, "throttled": 0, "errors": 4, "slow": 0, "conflicts": 0,
                       "jobs": 0}, counted
    assert records_of(deployed, arn) == []
    assert schedules(deployed) - before == set()


def test_a_repeated_create_job_invocation_for_the_same_task_answers_its_job_again(deployed, job_api):
    """The same task's create-job invoked twice (as a workflow Retry after a timed-out invocation does): the
    job API answers the same job for the key, and create-job answers the stored record again, cancelling
    nothing. The token is not a real one: the job never completes, and the test removes what it made."""
    lam, ddb = deployed.client("lambda"), deployed.client("dynamodb")
    event = {"record": {"id": "submit-again", "data": {"job": {"completeAfterChecks": 1000}}},
             "taskToken": f"AAAA{time.time_ns()}" + "r" * 200, "executionId": "arn:exec:submit-again",
             "pollingConfig": {"intervalSeconds": 30, "maxAttempts": 5, "timeoutSeconds": 300,
                               "jobApi": reference_job_api(job_api.url, timeout_seconds=1)}}
    before = job_api.call("GET", "/submits")
    answers = [json.loads(lam.invoke(FunctionName=config.CREATE_JOB_FUNCTION,
                                     Payload=json.dumps(event).encode())["Payload"].read()) for _ in range(2)]
    job_id = answers[0].get("jobId")
    try:
        assert answers[0] == answers[1] and answers[0]["status"] == "POLLING", answers
        after = job_api.call("GET", "/submits")
        assert after["jobs"] - before["jobs"] == 1
        assert after["submits"]["replayed"] - before["submits"]["replayed"] == 1
        assert job_api.served(job_id)["cancelled"] is False
        assert len(records_of(deployed, "arn:exec:submit-again")) == 1
    finally:
        if job_id:
            deployed.client("scheduler").delete_schedule(Name=answers[0]["scheduleName"],
                                                         GroupName=config.POLLING_SCHEDULE_GROUP)
            ddb.delete_item(TableName=config.TOKENS_TABLE, Key={"jobId": {"S": job_id}})
