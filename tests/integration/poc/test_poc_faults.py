"""The callback PoC under races, bad input, crashes and throttling, on the local cloud with its real Lambdas:
what an adversarial run found (concurrent polls of one job, create-job events past AWS's limits, a poller
killed between claim and callback, throttled callbacks), each reproduced through the real parts."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from test_poc_cli import cli

from sfn_callback import config
from sfn_callback.approval.adapters.stepfunctions import ApprovalStepFunctions, CallbackUnavailable
from sfn_callback.approval.domain.model import Action, Decision
from sfn_callback.callbacks import StepFunctionsCallbacks
from sfn_callback.callbacks.retry import CALLBACK_MAX_ATTEMPTS
from sfn_callback.common.aws import callback_client
from sfn_callback.config import Target
from sfn_callback.export.application import ExportCallbacks
from sfn_callback.localcloud.faults import FAULTS_PATH
from sfn_callback.poc.scenarios import PocObserver
from sfn_callback.polling.domain.lifecycle import Outcome, TaskCallbacksSender, TokenStatus
from support import wait_execution, wait_for

pytestmark = pytest.mark.cloud

SM_ARN = f"arn:aws:states:us-east-1:{config.LOCAL_ACCOUNT_ID}:stateMachine:{config.CALLBACK_WORKFLOW}"
QUIET = {"intervalSeconds": 3600, "timeoutSeconds": 7200}  # the job's own schedule stays quiet during a test


@pytest.fixture()
def fault_api(deployed):
    url = deployed.endpoint_url + FAULTS_PATH
    httpx.delete(url)
    yield url
    httpx.delete(url)


def arm(url: str, **fault) -> None:
    resp = httpx.post(url, json=fault)
    assert resp.status_code == 201, resp.text


def start_job(cloud, name: str, **polling) -> tuple[str, str]:
    """An execution of the callback workflow; its arn and jobId once create-job stored the token record."""
    body = {"record": {"id": name}, "taskTimeoutSeconds": 3600, "pollingConfig": QUIET | polling}
    arn = cloud.client("stepfunctions").start_execution(
        stateMachineArn=SM_ARN, name=f"{name}-{uuid.uuid4().hex[:6]}", input=json.dumps(body))["executionArn"]
    observer = PocObserver(Target(endpoint_url=cloud.endpoint_url))
    record = wait_for(lambda: observer.record_for_execution(arn), timeout=60, interval=0.1, what="the token record")
    return arn, record["jobId"]


def record_of(cloud, job_id: str) -> dict:
    return PocObserver(Target(endpoint_url=cloud.endpoint_url)).record(job_id)[0]


def poll(cloud, event: dict) -> dict:
    resp = cloud.client("lambda").invoke(FunctionName=config.POLLER_FUNCTION, Payload=json.dumps(event))
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    return body


def callbacks_in_history(cloud, arn: str) -> list[str]:
    events = cloud.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["type"] for e in events if e["type"] in ("TaskSucceeded", "TaskFailed")]


# ---------------------------------------------------------------------------------- concurrent polls
def test_ten_concurrent_polls_of_each_job_never_end_a_completed_job_max_attempts(deployed):
    """The finding: five jobs with maxAttempts 3 that complete at their 2nd status check, each polled by 10
    concurrent poc-poller invokes; 4 of 5 ended MaxAttemptsExceeded although the API had answered COMPLETED."""
    cloud = deployed
    jobs = [start_job(cloud, f"race-{i}", maxAttempts=3, jobOptions={"completeAfterChecks": 2}) for i in range(5)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        for _, job_id in jobs:
            list(pool.map(lambda _: poll(cloud, {"jobId": job_id}), range(10)))  # noqa: B023
    for arn, job_id in jobs:
        desc = wait_execution(cloud.client("stepfunctions"), arn, timeout=90)
        record = record_of(cloud, job_id)
        assert (json.loads(desc["output"])["status"], record["status"]) == ("SUCCESS", "COMPLETED"), record
        assert callbacks_in_history(cloud, arn) == ["TaskSucceeded"]


def test_duplicate_deliveries_of_a_slot_count_one_attempt_and_ask_the_api_once(deployed):
    cloud = deployed
    arn, job_id = start_job(cloud, "dup", maxAttempts=3, jobOptions={"completeAfterChecks": 2})
    ddb = cloud.client("dynamodb")

    def burst(slot: str) -> list[dict]:
        with ThreadPoolExecutor(max_workers=10) as pool:  # what Scheduler's at-least-once delivery can do
            return list(pool.map(lambda _: poll(cloud, {"jobId": job_id, "scheduledTime": slot}), range(10)))

    first = burst("2030-01-01T00:00:01Z")
    assert sorted(r.get("skipped", False) for r in first) == [False] + [True] * 9, first
    record = record_of(cloud, job_id)
    job = ddb.get_item(TableName=config.JOBS_TABLE, Key={"jobId": {"S": job_id}}, ConsistentRead=True)["Item"]
    assert record["attemptCount"] == 1 == int(job["pollCount"]["N"]) and record["status"] == "POLLING"
    assert record["polledSlot"] == "2030-01-01T00:00:01.000Z"
    second = burst("2030-01-01T01:00:01Z")
    assert sum(1 for r in second if r.get("reconnected")) == 1 and all(r["status"] != "MAX_ATTEMPTS" for r in second)
    wait_execution(cloud.client("stepfunctions"), arn, timeout=60)
    assert record_of(cloud, job_id)["attemptCount"] == 2 and callbacks_in_history(cloud, arn) == ["TaskSucceeded"]


# ------------------------------------------------------------------------------ bad create-job events
def _items_of(cloud, record_id: str, execution_prefix: str) -> dict[str, list]:
    ddb = cloud.client("dynamodb")
    jobs = ddb.scan(TableName=config.JOBS_TABLE, FilterExpression="contains(payload, :r)",
                    ExpressionAttributeValues={":r": {"S": f'"recordId": "{record_id}"'}})["Items"]
    tokens = ddb.scan(TableName=config.TOKENS_TABLE, FilterExpression="begins_with(executionId, :e)",
                      ExpressionAttributeValues={":e": {"S": execution_prefix}})["Items"]
    return {"jobs": jobs, "tokens": tokens}


def _nested(levels: int) -> dict:
    doc = leaf = {}
    for _ in range(levels - 1):
        leaf["x"] = {}
        leaf = leaf["x"]
    return doc


GOOD_POLLING = {"intervalSeconds": 60, "maxAttempts": 3, "timeoutSeconds": 600}


@pytest.mark.parametrize("change, field", [
    ({"pollingConfig": GOOD_POLLING | {"timeoutSeconds": 10**15}}, "polling timeout must be at most"),
    ({"pollingConfig": GOOD_POLLING | {"intervalSeconds": 10**12}}, "polling interval must not be longer"),
    ({"pollingConfig": GOOD_POLLING | {"maxAttempts": 10**40}}, "maxAttempts must be at most"),
    ({"taskToken": "A" * 420 * 1024}, "taskToken: String should have at most 2048 characters"),
    ({"record": {"id": "{rid}", "data": {"blob": "x" * 300 * 1024}}}, "record: Value error, larger than 256 KB"),
    ({"record": {"id": "{rid}", "data": _nested(40)}}, "nested more than 32 levels deep"),
    ({"pollingConfig": GOOD_POLLING | {"jobOptions": {"completeAfterChecks": 10**9}}}, "less than or equal to 1000000"),
])
def test_a_bad_create_job_event_is_a_clear_error_and_leaves_nothing_behind(deployed, change, field):
    cloud = deployed
    rid = f"bad-{uuid.uuid4().hex[:8]}"
    execution = f"arn:aws:states:us-east-1:000000000000:execution:{rid}"
    event = {"record": {"id": rid}, "taskToken": "AAAA" + "t" * 300, "executionId": execution,
             "pollingConfig": GOOD_POLLING} | json.loads(json.dumps(change).replace("{rid}", rid))
    resp = cloud.client("lambda").invoke(FunctionName=config.CREATE_JOB_FUNCTION, Payload=json.dumps(event))
    body = json.loads(resp["Payload"].read())
    assert resp.get("FunctionError") and body["errorType"] == "InvalidEvent", body
    assert field in body["errorMessage"]
    assert "tttttttt" not in body["errorMessage"]  # never the token
    assert _items_of(cloud, rid, execution) == {"jobs": [], "tokens": []}


@pytest.mark.parametrize("operation, error_type, undone", [
    ("PutItem", "StoringFailed", "the external job job-.* was cancelled"),
    ("CreateSchedule", "SchedulingFailed", "the token record was removed; the external job job-.* was cancelled"),
])
def test_a_step_that_fails_after_the_job_was_created_undoes_it(deployed, fault_api, operation, error_type, undone):
    import re

    cloud = deployed
    rid = f"undo-{uuid.uuid4().hex[:8]}"
    execution = f"arn:aws:states:us-east-1:000000000000:execution:{rid}"
    arm(fault_api, operation=operation, caller=config.CREATE_JOB_FUNCTION, error="AccessDeniedException")
    event = {"record": {"id": rid}, "taskToken": "AAAA" + "t" * 300, "executionId": execution,
             "pollingConfig": GOOD_POLLING}
    resp = cloud.client("lambda").invoke(FunctionName=config.CREATE_JOB_FUNCTION, Payload=json.dumps(event))
    body = json.loads(resp["Payload"].read())
    assert resp.get("FunctionError") and body["errorType"] == error_type, body
    assert "AccessDeniedException" in body["errorMessage"] and re.search(undone, body["errorMessage"]), body
    assert _items_of(cloud, rid, execution) == {"jobs": [], "tokens": []}
    assert len(httpx.get(fault_api).json()["fired"]) == 1


# ------------------------------------------------------------------------------------ crash recovery
def test_a_poller_killed_between_claim_and_callback_is_resumed_by_its_own_retry_and_run_passes(deployed, fault_api):
    """The finding: recovery took the whole 60 s claim lease and ``run`` failed it on claimCount 2. Now the
    killed invocation's own retry (same request id, as Lambda retries) resumes its claim at once, and ``run``
    judges exactly once from the history and reports the recovery."""
    arm(fault_api, operation="SendTaskSuccess", caller=config.POLLER_FUNCTION, action="kill")
    done = cli(deployed, "run", "--scenario", "complete", "--no-deploy", "--json", timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = json.loads(done.stdout)["runs"]
    (fired,) = httpx.get(fault_api).json()["fired"]
    assert fired["action"] == "kill" and fired["pid"]
    checks = {c["name"]: c for c in run["checks"]}
    detail = checks["callback sent exactly once"]["detail"]
    assert "1 recovered after a poller died between claim and callback" in detail
    (job_id,) = run["data"]["jobIds"]
    assert run["data"]["recoveries"] == {job_id: 1}
    record = record_of(deployed, job_id)
    assert record["claimCount"] == 2 and record["callbacksAccepted"] == 1 and record["status"] == "COMPLETED"
    (arn,) = run["data"]["executions"]
    events = deployed.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
    (succeeded,) = [e for e in events if e["type"] == "TaskSucceeded"]
    recovered_after = succeeded["timestamp"].timestamp() - fired["at"]
    assert recovered_after < 30, f"the callback came {recovered_after:.1f} s after the kill: it waited for the lease"


# ------------------------------------------------------------------------------------------ throttling
def test_a_throttled_callback_makes_one_layer_of_attempts(deployed, fault_api):
    """Every sender makes at most CALLBACK_MAX_ATTEMPTS SendTask* calls for one callback (botocore's own 5
    retries under each sender's loop made up to 35); the poller's invocation that gave up is retried by
    Lambda with its request id and resumes its claim at once."""
    cloud = deployed
    arn, job_id = start_job(cloud, "throttled", maxAttempts=3, jobOptions={"completeAfterChecks": 1})
    token = cloud.client("dynamodb").get_item(TableName=config.TOKENS_TABLE, Key={"jobId": {"S": job_id}},
                                               ConsistentRead=True)["Item"]["taskToken"]["S"]
    target = Target(endpoint_url=cloud.endpoint_url)
    arm(fault_api, operation="SendTaskSuccess", caller="client", count=1000)
    arm(fault_api, operation="SendTaskHeartbeat", caller="client", count=1000)
    arm(fault_api, operation="SendTaskFailure", caller="client", count=1000)
    sender = TaskCallbacksSender(StepFunctionsCallbacks(callback_client(target), base_delay=0.001, max_delay=0.01))
    with pytest.raises(Exception, match="ThrottlingException"):
        sender.send(token, Outcome(TokenStatus.COMPLETED, output={"jobId": job_id}))
    approval = ApprovalStepFunctions(callback_client(target), base_delay=0.001, max_delay=0.01)
    with pytest.raises(CallbackUnavailable):
        approval.send(token, Decision(Action.REJECT, actor="test", at=datetime.now(UTC), claim_id="c",
                                      reason="throttled"))
    export = ExportCallbacks(StepFunctionsCallbacks(callback_client(target), base_delay=0.001, max_delay=0.01))
    assert not export.send_task_heartbeat(token).ok
    calls = httpx.get(fault_api).json()["calls"]
    assert calls["SendTaskSuccess"]["client"] == CALLBACK_MAX_ATTEMPTS == 5
    assert calls["SendTaskFailure"]["client"] == CALLBACK_MAX_ATTEMPTS
    assert calls["SendTaskHeartbeat"]["client"] == 5
    httpx.delete(fault_api)

    # The poller: one invocation's worth of throttling (5 calls), then Lambda's retry resumes the claim.
    arm(fault_api, operation="SendTaskSuccess", caller=config.POLLER_FUNCTION, count=CALLBACK_MAX_ATTEMPTS)
    cloud.client("lambda").invoke(FunctionName=config.POLLER_FUNCTION, InvocationType="Event",
                                  Payload=json.dumps({"jobId": job_id, "scheduledTime": "2030-01-01T00:00:01Z"}))
    desc = wait_execution(cloud.client("stepfunctions"), arn, timeout=90)
    assert json.loads(desc["output"])["status"] == "SUCCESS"
    state = httpx.get(fault_api).json()
    assert len(state["fired"]) == CALLBACK_MAX_ATTEMPTS and state["armed"] == []
    assert state["calls"]["SendTaskSuccess"][config.POLLER_FUNCTION] >= CALLBACK_MAX_ATTEMPTS + 1
    record = record_of(cloud, job_id)
    assert (record["status"], record["claimCount"], record["callbacksAccepted"]) == ("COMPLETED", 2, 1)
    assert callbacks_in_history(cloud, arn) == ["TaskSucceeded"]


# ------------------------------------------------------------------------------------------- run waits
def test_run_stops_waiting_once_an_execution_ended_and_no_record_can_appear(deployed):
    """An execution whose create-job fails (job options past the limit) ends at once; run reports it then,
    instead of waiting for its timeout."""
    register = """
        from sfn_callback.poc.scenarios import Expectation, PocScenario
        from sfn_callback.scenarios import register
        register(PocScenario("create-job-refused", "test only", {"completeAfterChecks": 10**9},
                             Expectation("SUCCESS", None, "COMPLETED")))
    """
    started = time.monotonic()
    done = cli(deployed, "run", "--scenario", "create-job-refused", "--no-deploy", "--json", "--timeout", "240",
               code=register, timeout=300)
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr[-3000:]
    (run,) = json.loads(done.stdout)["runs"]
    failed = {c["name"]: c["detail"] for c in run["checks"] if not c["passed"]}
    assert "finished in time" not in failed and "no token record" in failed["token stored"]
    assert took < 120, f"run waited {took:.0f} s for an execution that had ended"
