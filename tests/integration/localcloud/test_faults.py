"""Fault injection on the local cloud (``/_sfn_callback/faults``): armed faults answer AWS errors in each
protocol's shape, only to the caller they name, as many times as asked; a kill fault SIGKILLs the Lambda
worker that made the call."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sfn_callback.localcloud import faults

pytestmark = pytest.mark.cloud

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture()
def fault_api(local_cloud):
    url = local_cloud.endpoint_url + faults.FAULTS_PATH
    httpx.delete(url)
    yield url
    httpx.delete(url)


def arm(url: str, **fault) -> dict:
    resp = httpx.post(url, json=fault)
    assert resp.status_code == 201, resp.text
    return resp.json()["fault"]


def test_armed_errors_answer_in_each_protocols_shape_then_the_calls_go_through(local_cloud, fault_api):
    ddb = local_cloud.client("dynamodb", config=NO_RETRIES)
    sts = local_cloud.client("sts", config=NO_RETRIES)
    lam = local_cloud.client("lambda", config=NO_RETRIES)
    arm(fault_api, operation="ListTables", count=2)  # JSON protocol, ThrottlingException by default
    arm(fault_api, operation="GetCallerIdentity", error="InternalFailure")  # query protocol, 500
    arm(fault_api, operation="Invoke", error="TooManyRequestsException", status=429, caller="client")  # REST
    arm(fault_api, operation="ListTables", caller="poc-poller")  # another caller: never fires here

    for _ in range(2):
        with pytest.raises(ClientError) as throttled:
            ddb.list_tables()
        assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
        assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "TableNames" in ddb.list_tables()  # the third call: the fault has fired twice
    with pytest.raises(ClientError) as failed:
        sts.get_caller_identity()
    assert failed.value.response["Error"]["Code"] == "InternalFailure"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    with pytest.raises(lam.exceptions.TooManyRequestsException):
        lam.invoke(FunctionName="no-such-function", Payload=b"{}")

    state = httpx.get(fault_api).json()
    assert [f["operation"] for f in state["armed"]] == ["ListTables"]  # only the other caller's is left
    assert [(f["operation"], f["caller"], f.get("error")) for f in state["fired"]] == [
        ("ListTables", "client", "ThrottlingException"), ("ListTables", "client", "ThrottlingException"),
        ("GetCallerIdentity", "client", "InternalFailure"), ("Invoke", "client", "TooManyRequestsException")]
    assert state["calls"]["ListTables"]["client"] == 3
    assert httpx.delete(fault_api).json() == {"cleared": 1}
    cleared = httpx.get(fault_api).json()  # (other clients of the shared cloud may have called since)
    assert cleared["armed"] == [] and cleared["fired"] == [] and "ListTables" not in cleared["calls"]


@pytest.mark.parametrize("fault, message", [
    ({}, "operation must be"),
    ({"operation": "SendTaskSuccess", "count": 0}, "count must be"),
    ({"operation": "SendTaskSuccess", "action": "explode"}, "action must be one of"),
    ({"operation": "SendTaskSuccess", "status": 200}, "status must be an HTTP error status"),
    ({"operation": "SendTaskSuccess", "probability": 2}, "probability"),
    ({"operation": "SendTaskSuccess", "colour": "red"}, "unknown fields ['colour']"),
    ({"operation": "SendTaskSuccess", "action": "duplicate"}, '"action": "duplicate" goes with'),
    ({"operation": "ScheduleDelivery", "action": "kill"}, "can only be duplicated"),
    ({"operation": "SendTaskSuccess", "contains": ""}, "contains must be a non-empty string"),
    ([1, 2], "JSON object"),
])
def test_a_bad_fault_definition_is_a_clear_400(fault_api, fault, message):
    resp = httpx.post(fault_api, json=fault)
    assert resp.status_code == 400 and message in resp.json()["error"]
    assert httpx.post(fault_api, content=b"{nope").status_code == 400
    assert httpx.put(fault_api, json={}).status_code == 405
    assert httpx.get(fault_api).json()["armed"] == []


def test_skip_lets_the_first_calls_through(local_cloud, fault_api):
    ddb = local_cloud.client("dynamodb", config=NO_RETRIES)
    arm(fault_api, operation="DescribeLimits", skip=1, error="LimitExceededException")
    ddb.describe_limits()
    with pytest.raises(ClientError, match="LimitExceededException"):
        ddb.describe_limits()
    ddb.describe_limits()


def test_contains_aims_a_fault_at_the_calls_whose_body_names_it(local_cloud, fault_api):
    ddb = local_cloud.client("dynamodb", config=NO_RETRIES)
    aimed = f"fault-aimed-{uuid.uuid4().hex[:6]}"
    arm(fault_api, operation="DescribeTable", contains=aimed, count=5)
    with pytest.raises(ClientError) as other:
        ddb.describe_table(TableName=f"fault-other-{uuid.uuid4().hex[:6]}")
    assert other.value.response["Error"]["Code"] == "ResourceNotFoundException"  # moto's own answer
    with pytest.raises(ClientError) as hit:
        ddb.describe_table(TableName=aimed)
    assert hit.value.response["Error"]["Code"] == "ThrottlingException"
    (armed,) = httpx.get(fault_api).json()["armed"]
    assert (armed["seen"], armed["fired"]) == (1, 1)


def test_a_duplicate_fault_delivers_the_matching_scheduler_event_twice(local_cloud, fault_api):
    from datetime import datetime, timedelta

    sqs, scheduler = local_cloud.client("sqs"), local_cloud.client("scheduler")
    url = sqs.create_queue(QueueName=f"fault-dup-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aimed = f"job-aimed-{uuid.uuid4().hex[:6]}"
    arm(fault_api, operation="ScheduleDelivery", action="duplicate", contains=aimed)
    when = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    names = {}
    for job in (aimed, f"job-other-{uuid.uuid4().hex[:6]}"):
        names[job] = f"fault-dup-{uuid.uuid4().hex[:6]}"
        scheduler.create_schedule(Name=names[job], ScheduleExpression=f"at({when})", FlexibleTimeWindow={"Mode": "OFF"},
                                  ActionAfterCompletion="DELETE",
                                  Target={"Arn": arn, "RoleArn": local_cloud.role_arn(),
                                          "Input": json.dumps({"jobId": job})})
    bodies: list[str] = []
    deadline = time.monotonic() + 20
    while len(bodies) < 3 and time.monotonic() < deadline:
        bodies += [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                          WaitTimeSeconds=1).get("Messages", [])]
    time.sleep(1.5)  # nothing more comes
    bodies += [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]
    assert sorted(json.loads(b)["jobId"] for b in bodies) == sorted([aimed, aimed, *set(names) - {aimed}])
    fired = [f for f in httpx.get(fault_api).json()["fired"] if f["operation"] == "ScheduleDelivery"]
    assert [(f["action"], f["caller"], f["schedule"]) for f in fired] == [
        ("duplicate", "scheduler", f"default/{names[aimed]}")]


def test_a_kill_fault_sigkills_the_calling_lambda_worker(local_cloud, make_function, fault_api):
    name = f"fault-kill-{uuid.uuid4().hex[:6]}"
    make_function(name, (
        "import os, boto3\n"
        "def handler(event, context):\n"
        "    boto3.client('dynamodb').describe_limits()\n"
        "    return {'pid': os.getpid()}\n"
    ))
    lam = local_cloud.client("lambda")
    alive = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())["pid"]
    arm(fault_api, operation="DescribeLimits", caller=name, action="kill")
    resp = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(resp["Payload"].read())
    assert resp["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.ExitError", body
    (fired,) = httpx.get(fault_api).json()["fired"]
    assert fired["action"] == "kill" and fired["pid"] == alive and fired["caller"] == name
    again = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert again["pid"] != alive  # a new environment replaced the killed one


def test_a_kill_that_finds_no_worker_stays_armed_for_the_next_call_a_few_times(local_cloud, fault_api):
    """A call whose connection no worker owns (here: this test process; under load, a caller that gave up and
    retried on a new connection) kills nothing: the fault stays armed for the next matching call, up to
    KILL_MISSES times, then fires with pid null. Each such call answers 500."""
    ddb = local_cloud.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
    arm(fault_api, operation="DescribeLimits", caller="client", action="kill")
    for miss in range(faults.KILL_MISSES):
        with pytest.raises(ClientError, match="InternalFailure"):
            ddb.describe_limits()
        state = httpx.get(fault_api).json()
        assert state["fired"] == [] and [f["missed"] for f in state["armed"]] == [miss + 1]
    with pytest.raises(ClientError, match="InternalFailure"):
        ddb.describe_limits()
    state = httpx.get(fault_api).json()
    (fired,) = state["fired"]
    assert state["armed"] == [] and fired["action"] == "kill" and fired["pid"] is None
    ddb.describe_limits()  # spent


def test_only_loopback_clients_reach_the_route():
    environ = {"PATH_INFO": faults.FAULTS_PATH, "REQUEST_METHOD": "GET", "REMOTE_ADDR": "10.0.0.7"}
    answered = []
    body = faults.handle(environ, lambda status, headers: answered.append(status))
    assert answered == ["403 Forbidden"] and b"loopback" in b"".join(body)
