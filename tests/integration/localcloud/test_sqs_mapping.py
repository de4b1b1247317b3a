"""SQS event source mappings deliver batches like Lambda's pollers: partial failures, redrive to a DLQ."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from support import wait_for

pytestmark = pytest.mark.cloud

CONSUMER = '''
import json, os, boto3

def handler(event, context):
    ddb = boto3.client("dynamodb")
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"])
        ddb.update_item(TableName=os.environ["TABLE"], Key={"pk": {"S": body["id"]}},
                        UpdateExpression="ADD seen :one SET receives = :r",
                        ExpressionAttributeValues={":one": {"N": "1"},
                                                   ":r": {"N": record["attributes"]["ApproximateReceiveCount"]}})
        if body.get("poison") or (body.get("fail_once") and record["attributes"]["ApproximateReceiveCount"] == "1"):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
'''


@pytest.fixture(scope="module")
def wired(local_cloud, make_function):
    ddb = local_cloud.client("dynamodb")
    ddb.create_table(TableName="lc-consumed", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    sqs = local_cloud.client("sqs")
    dlq = sqs.create_queue(QueueName="lc-work-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName="lc-work", Attributes={
        "VisibilityTimeout": "1",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    make_function("lc-consumer", CONSUMER, env={"TABLE": "lc-consumed"})
    local_cloud.client("lambda").create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName="lc-consumer", BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"])

    def seen(key: str) -> dict[str, int]:
        item = ddb.get_item(TableName="lc-consumed", Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return {"seen": int(item["seen"]["N"]), "receives": int(item["receives"]["N"])} if item else {"seen": 0, "receives": 0}

    return sqs, queue, dlq, seen


def test_mapping_delivers_and_deletes(wired):
    sqs, queue, _, seen = wired
    key = uuid.uuid4().hex
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"id": key}))
    assert wait_for(lambda: seen(key)["seen"] == 1, timeout=15)
    time.sleep(2.0)  # past the visibility timeout: a message not deleted would come back
    assert seen(key)["seen"] == 1, "a processed message is deleted, not redelivered"


def test_only_the_reported_item_is_redelivered(wired):
    sqs, queue, _, seen = wired
    ok, flaky = uuid.uuid4().hex, uuid.uuid4().hex
    sqs.send_message_batch(QueueUrl=queue, Entries=[
        {"Id": "1", "MessageBody": json.dumps({"id": ok})},
        {"Id": "2", "MessageBody": json.dumps({"id": flaky, "fail_once": True})},
    ])
    assert wait_for(lambda: seen(flaky)["seen"] == 2)
    time.sleep(1.5)
    assert seen(ok)["seen"] == 1, "the successful item of the batch is not redelivered"
    assert seen(flaky) == {"seen": 2, "receives": 2}


def test_poison_message_reaches_the_dlq(wired):
    sqs, queue, dlq, seen = wired
    key = uuid.uuid4().hex
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"id": key, "poison": True}))
    assert wait_for(lambda: seen(key)["seen"] == 3, timeout=20)
    moved = []
    assert wait_for(lambda: moved.extend(sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])) or moved,
                      timeout=15)
    assert json.loads(moved[0]["Body"])["id"] == key
    time.sleep(1.5)
    assert seen(key)["seen"] == 3, "after maxReceiveCount the message is no longer delivered"


SLOW = '''
import json, time, boto3

def handler(event, context):
    started = time.time()
    time.sleep(1.5)
    for record in event["Records"]:
        boto3.client("dynamodb").put_item(TableName="lc-batch-times", Item={
            "pk": {"S": json.loads(record["body"])["id"]},
            "started": {"N": str(started)}, "ended": {"N": str(time.time())}})
    return {"batchItemFailures": []}
'''


def test_a_mapping_runs_batches_concurrently(local_cloud, make_function):
    """Like Lambda's pollers, one mapping processes several batches at once: slow jobs do not queue."""
    sqs = local_cloud.client("sqs")
    queue = sqs.create_queue(QueueName="lc-parallel-batches")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ddb = local_cloud.client("dynamodb")
    ddb.create_table(TableName="lc-batch-times", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    make_function("lc-slow-consumer", SLOW, timeout=10)
    local_cloud.client("lambda").create_event_source_mapping(EventSourceArn=arn, FunctionName="lc-slow-consumer",
                                                             BatchSize=1, ScalingConfig={"MaximumConcurrency": 3})
    for i in range(3):
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"id": f"b{i}"}))

    def items():
        return [ddb.get_item(TableName="lc-batch-times", Key={"pk": {"S": f"b{i}"}}).get("Item") for i in range(3)]

    assert wait_for(lambda: all(items()), timeout=20)
    spans = [(float(i["started"]["N"]), float(i["ended"]["N"])) for i in items()]
    assert max(s for s, _ in spans) < min(e for _, e in spans), f"batches did not overlap: {spans}"
