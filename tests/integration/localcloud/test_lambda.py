"""Lambda on the local cloud runs the deployed zip's Python handler, over real HTTP."""

from __future__ import annotations

import concurrent.futures
import json
import time

import pytest
from botocore.exceptions import ClientError

from sfn_callback.deploy.packaging import zip_files

pytestmark = pytest.mark.cloud

APP = '''
import os, time, boto3

def handler(event, context):
    if event.get("table"):
        ddb = boto3.client("dynamodb")  # no endpoint here: the environment points it at the local cloud
        ddb.put_item(TableName=event["table"], Item={"pk": {"S": event["key"]}, "greeting": {"S": os.environ["GREETING"]}})
        got = ddb.get_item(TableName=event["table"], Key={"pk": {"S": event["key"]}})["Item"]
        return {"stored": got["greeting"]["S"]}
    if event.get("sleep"):
        started = time.time()
        time.sleep(event["sleep"])
        return {"started": started, "ended": time.time(), "pid": os.getpid()}
    if event.get("raise"):
        raise ValueError("bad input: " + event["raise"])
    print("computing", event)
    return {"sum": event["a"] + event["b"], "greeting": os.environ.get("GREETING"),
            "request_id": context.aws_request_id, "function": context.function_name,
            "remaining_ms": context.get_remaining_time_in_millis(), "pid": os.getpid()}
'''


def invoke(lam, name, payload, **kwargs):
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kwargs)
    return response, json.loads(response["Payload"].read() or b"null")


@pytest.fixture(scope="module")
def calc(make_function):
    make_function("lc-calc", APP, env={"GREETING": "hello"}, timeout=3)
    return "lc-calc"


def test_invoke_returns_what_the_code_computed(local_cloud, calc):
    response, body = invoke(local_cloud.client("lambda"), calc, {"a": 2, "b": 40})
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert body["sum"] == 42
    assert body["greeting"] == "hello"
    assert body["function"] == "lc-calc"
    assert len(body["request_id"]) == 36
    assert 0 < body["remaining_ms"] <= 3000


def test_handler_reads_and_writes_dynamodb_without_an_endpoint_in_its_code(local_cloud, calc):
    ddb = local_cloud.client("dynamodb")
    ddb.create_table(TableName="lc-greetings", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    _, body = invoke(local_cloud.client("lambda"), calc, {"table": "lc-greetings", "key": "k1"})
    assert body == {"stored": "hello"}
    item = ddb.get_item(TableName="lc-greetings", Key={"pk": {"S": "k1"}})["Item"]
    assert item["greeting"]["S"] == "hello"


def test_workers_stay_warm_and_code_updates_replace_them(local_cloud, make_function):
    lam = local_cloud.client("lambda")
    make_function("lc-warm", APP, env={"GREETING": "v1"})
    pids = {invoke(lam, "lc-warm", {"a": 1, "b": 1})[1]["pid"] for _ in range(5)}
    assert len(pids) == 1, "sequential invokes reuse one warm environment"


def test_code_update_replaces_the_environment(local_cloud, make_function):
    lam = local_cloud.client("lambda")
    make_function("lc-update", APP, env={"GREETING": "v1"})
    first = invoke(lam, "lc-update", {"a": 1, "b": 1})[1]
    lam.update_function_code(FunctionName="lc-update", ZipFile=zip_files({"app.py": APP.replace("event[\"a\"] + event[\"b\"]", "event[\"a\"] * event[\"b\"]")}))
    second = invoke(lam, "lc-update", {"a": 3, "b": 5})[1]
    assert second["sum"] == 15, "the new code runs after update-function-code"
    assert second["pid"] != first["pid"]
    lam.update_function_configuration(FunctionName="lc-update", Environment={"Variables": {"GREETING": "v2"}})
    third = invoke(lam, "lc-update", {"a": 1, "b": 1})[1]
    assert third["greeting"] == "v2"


def test_concurrent_invokes_run_in_parallel(local_cloud, make_function):
    lam = local_cloud.client("lambda")
    make_function("lc-parallel", APP, env={"GREETING": "p"})
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: invoke(lam, "lc-parallel", {"sleep": 2.0})[1], range(3)))
    # Each handler reports when it ran: in parallel, all three were sleeping at the same moment.
    assert max(r["started"] for r in results) < min(r["ended"] for r in results), results
    assert len({r["pid"] for r in results}) == 3, "each concurrent invoke has its own environment"


def test_handler_exception_is_an_unhandled_function_error(local_cloud, calc):
    lam = local_cloud.client("lambda")
    response, body = invoke(lam, calc, {"raise": "nope"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "bad input: nope"
    assert any("app.py" in line for line in body["stackTrace"])
    assert invoke(lam, calc, {"a": 1, "b": 2})[1]["sum"] == 3, "the next invoke works"


def test_timeout_kills_the_worker_and_says_so(local_cloud, make_function):
    lam = local_cloud.client("lambda")
    make_function("lc-slow", APP, env={"GREETING": "s"}, timeout=1)
    response, body = invoke(lam, "lc-slow", {"sleep": 5})
    assert response["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    assert invoke(lam, "lc-slow", {"a": 2, "b": 2})[1]["sum"] == 4, "the pool recovers"
    assert "Task timed out after 1.00 seconds" in local_cloud.log_text()


def test_missing_handler_and_syntax_error_are_runtime_errors(local_cloud, make_function):
    lam = local_cloud.client("lambda")
    make_function("lc-nohandler", APP, handler="app.nothing_here")
    response, body = invoke(lam, "lc-nohandler", {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.HandlerNotFound"
    make_function("lc-nomodule", APP, handler="missing.handler")
    assert invoke(lam, "lc-nomodule", {})[1]["errorType"] == "Runtime.ImportModuleError"
    make_function("lc-syntax", "def handler(event, context)\n    return 1\n")
    response, body = invoke(lam, "lc-syntax", {})
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    # The local cloud keeps serving.
    make_function("lc-after", APP, env={"GREETING": "ok"})
    assert invoke(lam, "lc-after", {"a": 1, "b": 1})[1]["sum"] == 2


def test_unknown_function_and_malformed_zip_are_aws_errors(local_cloud):
    lam = local_cloud.client("lambda")
    with pytest.raises(ClientError) as unknown:
        lam.invoke(FunctionName="lc-does-not-exist", Payload=b"{}")
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as bad_zip:
        lam.create_function(FunctionName="lc-badzip", Runtime="python3.11", Role=local_cloud.role_arn(),
                            Handler="app.handler", Code={"ZipFile": b"this is not a zip"})
    assert bad_zip.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "Could not unzip uploaded file" in bad_zip.value.response["Error"]["Message"]
    assert "rejected a function upload" in local_cloud.log_text()
    assert local_cloud.health()["status"] == "running"


def test_event_invocation_returns_at_once_and_runs(local_cloud, calc):
    lam = local_cloud.client("lambda")
    ddb = local_cloud.client("dynamodb")
    ddb.create_table(TableName="lc-async", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    response = lam.invoke(FunctionName=calc, InvocationType="Event",
                          Payload=json.dumps({"table": "lc-async", "key": "a1"}).encode())
    assert response["StatusCode"] == 202
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if "Item" in ddb.get_item(TableName="lc-async", Key={"pk": {"S": "a1"}}):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the Event invoke never ran")


STAMP = '''
import os, time, boto3

def handler(event, context):
    started = time.time()
    time.sleep(event.get("sleep", 0))
    boto3.client("dynamodb").put_item(TableName="lc-async-order", Item={
        "pk": {"S": event["key"]}, "started": {"N": repr(started)}})
    return {}
'''


def test_one_functions_event_backlog_does_not_hold_up_another(local_cloud, make_function):
    """Each function has its own event queue, as on Lambda: a backlog of slow events of one function does not
    delay another function's event."""
    ddb = local_cloud.client("dynamodb")
    ddb.create_table(TableName="lc-async-order", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    make_function("lc-async-slow", STAMP, timeout=10)
    make_function("lc-async-quick", STAMP, timeout=10)
    lam = local_cloud.client("lambda")
    for i in range(40):  # four waves at the slow function's concurrency (10): a backlog of 1.5 s events
        lam.invoke(FunctionName="lc-async-slow", InvocationType="Event",
                   Payload=json.dumps({"key": f"slow-{i}", "sleep": 1.5}).encode())
    lam.invoke(FunctionName="lc-async-quick", InvocationType="Event", Payload=json.dumps({"key": "quick"}).encode())

    def started(key):
        item = ddb.get_item(TableName="lc-async-order", Key={"pk": {"S": key}}).get("Item")
        return float(item["started"]["N"]) if item else None

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (started("quick") is None or started("slow-39") is None):
        time.sleep(0.2)
    slow = sorted(started(f"slow-{i}") for i in range(40))
    assert started("quick") is not None and None not in slow
    # The quick event was not queued behind the backlog: it ran before the slow function's last wave began
    # (behind the backlog it would start after all 40; its own cold start may outlast the first wave on a
    # loaded machine).
    assert started("quick") < slow[30], (started("quick"), slow[::10])


def test_oversized_payloads_are_refused_before_the_handler_runs(local_cloud, calc):
    lam = local_cloud.client("lambda")
    big = json.dumps({"a": 1, "b": 2, "pad": "x" * (6 * 1024 * 1024)}).encode()
    with pytest.raises(ClientError) as sync:
        lam.invoke(FunctionName=calc, Payload=big)
    assert sync.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    medium = json.dumps({"a": 1, "b": 2, "pad": "x" * (2 * 1024 * 1024)}).encode()
    with pytest.raises(ClientError) as event:
        lam.invoke(FunctionName=calc, InvocationType="Event", Payload=medium)
    assert event.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    _, body = invoke(lam, calc, {"a": 1, "b": 2, "pad": "x" * (2 * 1024 * 1024)})
    assert body["sum"] == 3, "a 2 MB payload is within the synchronous limit"
    assert "over the" in local_cloud.log_text() and local_cloud.health()["status"] == "running"


FLAKY = '''
import boto3

def handler(event, context):
    ddb = boto3.client("dynamodb")
    ddb.put_item(TableName="lc-async-ids", Item={"pk": {"S": event["key"] + "#" + context.aws_request_id + "#"
                                                        + str(ddb.scan(TableName="lc-async-ids")["Count"])},
                                                 "rid": {"S": context.aws_request_id}})
    raise RuntimeError("fails every time")
'''


def test_async_retries_of_one_event_keep_its_request_id(local_cloud, make_function):
    ddb = local_cloud.client("dynamodb")
    ddb.create_table(TableName="lc-async-ids", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    make_function("lc-async-flaky", FLAKY)
    local_cloud.client("lambda").invoke(FunctionName="lc-async-flaky", InvocationType="Event", Payload=b'{"key": "e1"}')
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and ddb.scan(TableName="lc-async-ids")["Count"] < 3:
        time.sleep(0.2)
    items = ddb.scan(TableName="lc-async-ids")["Items"]
    assert len(items) == 3, "the first attempt and Lambda's two retries"
    assert len({item["rid"]["S"] for item in items}) == 1, "one event, one request id across its retries"
