"""Malformed requests to the local cloud's JSON-protocol APIs get AWS's JSON 4xx, never an HTML 500, and the
local cloud stays healthy (raw HTTP, as a hostile or broken client sends them)."""

from __future__ import annotations

import http.client
import json
import uuid
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.cloud

MACHINE = "arn:aws:states:us-east-1:000000000000:stateMachine:lc-malformed"


def post(endpoint: str, service: str, target: str | None, body: bytes,
         content_type: str = "application/x-amz-json-1.0") -> tuple[int, str, dict]:
    url = urlparse(endpoint)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    headers = {"Content-Type": content_type,
               "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    if target:
        headers["X-Amz-Target"] = target
    connection.request("POST", "/", body=body, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = {"raw": raw[:200].decode("utf-8", "replace")}
    return response.status, response.getheader("Content-Type") or "", doc


START = "AWSStepFunctions.StartExecution"
PUT = "DynamoDB_20120810.PutItem"
CASES = [
    # (service, target, body, status, error code)
    ("states", START, b"{not json", 400, "SerializationException"),
    ("states", START, b"[1, 2]", 400, "SerializationException"),
    ("states", START, b"null", 400, "SerializationException"),
    ("states", START, json.dumps({"stateMachineArn": 5}).encode(), 400, "SerializationException"),
    ("states", START, json.dumps({"stateMachineArn": MACHINE, "input": {"a": 1}}).encode(), 400,
     "SerializationException"),
    ("states", START, json.dumps({"stateMachineArn": MACHINE, "name": "n" * 81}).encode(), 400, "ValidationException"),
    ("states", START, b"{}", 400, "ValidationException"),
    ("states", START, b'{"stateMachineArn": "' + MACHINE.encode() + b'", "x": NaN}', 400, "SerializationException"),
    ("states", START, b"\xff\xfe\xfa{}", 400, "SerializationException"),
    ("states", START, b"[" * 100_000 + b"]" * 100_000, 400, "SerializationException"),
    ("states", START, json.dumps({"stateMachineArn": MACHINE, "input": "x" * (10 * 1024 * 1024)}).encode(), 413,
     "RequestEntityTooLargeException"),
    ("states", "AWSStepFunctions.NoSuchOperation", b"{}", 400, "UnknownOperationException"),
    ("states", "Nonsense", b"{}", 400, "UnknownOperationException"),
    ("dynamodb", PUT, b"{not json", 400, "SerializationException"),
    ("dynamodb", PUT, b"[]", 400, "SerializationException"),
    ("dynamodb", PUT, b"null", 400, "SerializationException"),
    ("dynamodb", PUT, json.dumps({"TableName": 5, "Item": []}).encode(), 400, "SerializationException"),
    ("dynamodb", PUT, json.dumps({"TableName": "lc-malformed", "Item": {"pk": {"S": 5}}}).encode(), 400,
     "SerializationException"),
    ("dynamodb", PUT, json.dumps({"TableName": "lc-malformed", "Item": {"pk": {"B": "not base64!"}}}).encode(), 400,
     "SerializationException"),
    ("dynamodb", PUT, json.dumps({"TableName": "lc-malformed", "Item": {"pk": {"S": "a"}},
                                  "ReturnValues": "EVERYTHING"}).encode(), 400, "ValidationException"),
    ("dynamodb", PUT, b"{}", 400, "ValidationException"),
    ("dynamodb", PUT, b"\xc3\x28", 400, "SerializationException"),
    ("dynamodb", PUT, b'{"TableName": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "SerializationException"),
    ("dynamodb", PUT, json.dumps({"TableName": "lc-malformed", "Item": {"pk": {"S": "x" * (10 * 1024 * 1024)}}})
     .encode(), 400, "ValidationException"),  # under DynamoDB's 16 MB request limit: the item is too large
    ("dynamodb", "DynamoDB_20120810.NoSuchOperation", b"{}", 400, "UnknownOperationException"),
    ("sqs", "AmazonSQS.SendMessage", json.dumps({"QueueUrl": 7}).encode(), 400, "SerializationException"),
]


@pytest.fixture(scope="module")
def table(local_cloud):
    ddb = local_cloud.client("dynamodb")
    ddb.create_table(TableName="lc-malformed", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    return "lc-malformed"


def test_malformed_json_requests_get_aws_errors_and_the_cloud_stays_healthy(local_cloud, table):
    wrong = []
    for service, target, body, status, code in CASES:
        got_status, content_type, doc = post(local_cloud.endpoint_url, service, target, body)
        got_code = str(doc.get("__type", "")).rsplit("#", 1)[-1]
        if (got_status, got_code) != (status, code) or "json" not in content_type or not doc.get("message"):
            wrong.append(f"{target} {body[:40]!r}: {got_status} {content_type} {doc}")
    assert not wrong, "\n".join(wrong)
    # Healthy, and well-formed calls still work, through boto3.
    assert local_cloud.health()["status"] == "running"
    ddb = local_cloud.client("dynamodb")
    ddb.put_item(TableName=table, Item={"pk": {"S": "ok"}, "b": {"B": b"\x00\x01"}, "n": {"N": "1e10"}})
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "ok"}})["Item"]["b"]["B"] == b"\x00\x01"
    with pytest.raises(ddb.exceptions.ClientError) as refused:
        ddb.put_item(TableName=table, Item={"pk": {"S": "big"}, "pad": {"S": "x" * (500 * 1024)}})
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_an_operation_moto_lacks_is_a_json_501(local_cloud):
    status, content_type, doc = post(local_cloud.endpoint_url, "states",
                                     "AWSStepFunctions.ValidateStateMachineDefinition", b'{"definition": "{}"}')
    if status == 200:
        pytest.skip("the local cloud implements ValidateStateMachineDefinition")
    assert (status, doc["__type"].rsplit("#", 1)[-1]) == (501, "NotImplemented") and "json" in content_type


@pytest.mark.parametrize("expression", ["rate(99999999999999999999 minutes)", "rate(52560001 minutes)",
                                        "rate(" + "9" * 5000 + " days)", "cron(0 0 * * ? 1-99999999)",
                                        "cron(0 0 * * ? 2025/0)", "cron(0 0 * * ? 10000)"])
def test_absurd_schedule_expressions_are_validation_errors(local_cloud, expression):
    scheduler = local_cloud.client("scheduler")
    with pytest.raises(scheduler.exceptions.ValidationException):
        scheduler.create_schedule(
            Name=f"absurd-{uuid.uuid4().hex[:8]}", ScheduleExpression=expression, FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": "arn:aws:lambda:us-east-1:000000000000:function:none",
                    "RoleArn": "arn:aws:iam::000000000000:role/r"})
    assert local_cloud.health()["status"] == "running"
