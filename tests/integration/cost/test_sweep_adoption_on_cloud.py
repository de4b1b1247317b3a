"""No job orphaned, on the local cloud: a per-job record whose schedule is gone (a create-job that died after
storing the record and before creating the schedule) is adopted by the sweep and finished with one callback."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from sfn_callback import config
from sfn_callback.config import Target
from sfn_callback.deploy.deployer import ensure_deployed
from sfn_callback.poc.sweep_stack import SWEEP_FUNCTION
from sfn_callback.polling.domain.lifecycle import parse_iso
from support import wait_execution, wait_for

GRACE_SECONDS = 5

pytestmark = pytest.mark.cloud


@pytest.fixture(scope="module")
def deployed(local_cloud, monkeypatch_module):
    # A short grace keeps the test quick (the local default leaves room for an overloaded machine).
    monkeypatch_module.setenv("SFN_CALLBACK_SWEEP_ADOPT_SECONDS", str(GRACE_SECONDS))
    ensure_deployed(Target(endpoint_url=local_cloud.endpoint_url), progress=lambda message: None)
    return local_cloud


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_a_per_job_record_without_its_schedule_is_adopted_and_called_back_once(deployed):
    cloud = deployed
    sfn, ddb, scheduler = cloud.client("stepfunctions"), cloud.client("dynamodb"), cloud.client("scheduler")
    env = cloud.client("lambda").get_function_configuration(FunctionName=SWEEP_FUNCTION)["Environment"]["Variables"]
    assert env["SWEEP_ADOPT_AFTER_SECONDS"] == str(GRACE_SECONDS)

    run = uuid.uuid4().hex[:8]
    body = {"record": {"id": f"orphan-{run}"}, "taskTimeoutSeconds": 120,
            "pollingConfig": {"intervalSeconds": 2, "maxAttempts": 20, "timeoutSeconds": 120,
                              "jobOptions": {"completeAfterChecks": 2}}}
    arn = f"arn:aws:states:us-east-1:{config.LOCAL_ACCOUNT_ID}:stateMachine:{config.CALLBACK_WORKFLOW}"
    ex = sfn.start_execution(stateMachineArn=arn, name=f"orphan-{run}", input=json.dumps(body))["executionArn"]

    def record():
        items = ddb.scan(TableName=config.TOKENS_TABLE, FilterExpression="executionId = :e",
                         ExpressionAttributeValues={":e": {"S": ex}}, ConsistentRead=True)["Items"]
        return items[0] if items else None

    job_id = wait_for(record, timeout=30, interval=0.05, what="the token record stored")["jobId"]["S"]
    schedule = f"poll-{job_id}"

    def delete_schedule():
        try:
            scheduler.delete_schedule(Name=schedule, GroupName=config.POLLING_SCHEDULE_GROUP)
            return True
        except scheduler.exceptions.ResourceNotFoundException:
            return False  # create-job has not created it yet

    # As if create-job had died right after storing the record: its schedule never polls the job.
    wait_for(delete_schedule, timeout=10, interval=0.02, what=f"schedule {schedule} deleted")
    at_deletion = record()
    assert at_deletion["status"]["S"] == "POLLING" and "adoptedAt" not in at_deletion

    desc = wait_execution(sfn, ex, timeout=60, interval=0.3)
    assert desc["status"] == "SUCCEEDED" and json.loads(desc["output"])["status"] == "SUCCESS"
    events = sfn.get_execution_history(executionArn=ex, maxResults=1000)["events"]
    assert [e["type"] for e in events if e["type"] in ("TaskSucceeded", "TaskFailed")] == ["TaskSucceeded"]

    final = wait_for(lambda: (r := record())["status"]["S"] != "CALLBACK_PENDING" and r, timeout=20, interval=0.2,
                     what="the record finalized")
    assert final["status"]["S"] == "COMPLETED"
    assert final["callbacksAccepted"]["N"] == "1" and final["claimCount"]["N"] == "1"
    assert "adoptedAt" in final  # the sweep polled it, not a schedule
    assert final["scheduleName"]["S"] == schedule  # it kept its own schedule's name
    # Adopted no sooner than the grace after the slot its schedule missed.
    overdue = parse_iso(final["adoptedAt"]["S"]) - parse_iso(at_deletion["nextPollAt"]["S"])
    assert overdue >= timedelta(seconds=GRACE_SECONDS)
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=config.POLLING_SCHEDULE_GROUP)["Schedules"]]
    assert schedule not in names
