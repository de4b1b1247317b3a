"""The schedule runner fires EventBridge Scheduler schedules stored in the local cloud."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud

COUNTER = '''
import os, boto3

def handler(event, context):
    boto3.client("dynamodb").update_item(
        TableName=os.environ["TABLE"], Key={"pk": {"S": event["key"]}},
        UpdateExpression="ADD fired :one", ExpressionAttributeValues={":one": {"N": "1"}})
    return {"ok": True}
'''


@pytest.fixture(scope="module")
def counter(local_cloud, make_function):
    ddb = local_cloud.client("dynamodb")
    ddb.create_table(TableName="lc-fired", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    arn = make_function("lc-counter", COUNTER, env={"TABLE": "lc-fired"})

    def fired(key: str) -> int:
        item = ddb.get_item(TableName="lc-fired", Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return int(item["fired"]["N"]) if item else 0

    return arn, fired


def schedule(local_cloud, fn_arn, key, expression, **extra):
    scheduler = local_cloud.client("scheduler")
    name = f"s-{key}"
    scheduler.create_schedule(Name=name, ScheduleExpression=expression, FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": fn_arn, "RoleArn": local_cloud.role_arn(),
                                      "Input": json.dumps({"key": key})}, **extra)
    return name


def test_rate_schedule_fires_repeatedly_and_stops_when_deleted(local_cloud, counter):
    fn_arn, fired = counter
    key = uuid.uuid4().hex[:8]
    started = time.monotonic()
    name = schedule(local_cloud, fn_arn, key, "rate(1 second)")
    deadline = started + 20
    while fired(key) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    count, elapsed = fired(key), time.monotonic() - started
    assert count >= 3, "rate(1 second) fires repeatedly"
    assert count <= elapsed + 1, f"rate(1 second) fired {count} times in {elapsed:.1f} s"
    local_cloud.client("scheduler").delete_schedule(Name=name)
    time.sleep(0.5)  # let an invoke already in flight land
    after_delete = fired(key)
    time.sleep(2.0)
    assert fired(key) == after_delete, "a deleted schedule does not fire"


def test_at_schedule_fires_once_and_deletes_itself(local_cloud, counter):
    fn_arn, fired = counter
    key = uuid.uuid4().hex[:8]
    when = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    name = schedule(local_cloud, fn_arn, key, f"at({when})", ActionAfterCompletion="DELETE")
    deadline = time.monotonic() + 10
    while fired(key) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fired(key) == 1
    time.sleep(1.5)
    assert fired(key) == 1, "at() fires once"
    with pytest.raises(ClientError) as gone:
        local_cloud.client("scheduler").get_schedule(Name=name)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_disabled_schedule_never_fires_until_enabled(local_cloud, counter):
    fn_arn, fired = counter
    key = uuid.uuid4().hex[:8]
    name = schedule(local_cloud, fn_arn, key, "rate(1 second)", State="DISABLED")
    time.sleep(2.5)
    assert fired(key) == 0
    scheduler = local_cloud.client("scheduler")
    current = scheduler.get_schedule(Name=name)
    scheduler.update_schedule(Name=name, ScheduleExpression="rate(1 second)", FlexibleTimeWindow={"Mode": "OFF"},
                              Target=current["Target"], State="ENABLED")
    time.sleep(2.5)
    assert fired(key) >= 1, "updates take effect without a restart"
    scheduler.delete_schedule(Name=name)


def test_end_date_in_the_past_stops_firing(local_cloud, counter):
    fn_arn, fired = counter
    key = uuid.uuid4().hex[:8]
    name = schedule(local_cloud, fn_arn, key, "rate(1 second)", EndDate=datetime.now(UTC) + timedelta(seconds=1.5))
    time.sleep(4)
    assert fired(key) <= 2, "nothing fires after EndDate"
    assert local_cloud.client("scheduler").get_schedule(Name=name)["Name"] == name
    local_cloud.client("scheduler").delete_schedule(Name=name)


def test_sqs_and_step_functions_targets(local_cloud):
    sqs = local_cloud.client("sqs")
    url = sqs.create_queue(QueueName="lc-scheduled")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sfn = local_cloud.client("stepfunctions")
    machine = sfn.create_state_machine(name="lc-scheduled-machine", roleArn=local_cloud.role_arn(), definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    scheduler = local_cloud.client("scheduler")
    when = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    for name, arn in (("lc-to-sqs", queue_arn), ("lc-to-sfn", machine)):
        scheduler.create_schedule(Name=name, ScheduleExpression=f"at({when})", FlexibleTimeWindow={"Mode": "OFF"},
                                  ActionAfterCompletion="DELETE",
                                  Target={"Arn": arn, "RoleArn": local_cloud.role_arn(), "Input": '{"from": "scheduler"}'})
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
    assert [json.loads(m["Body"]) for m in messages] == [{"from": "scheduler"}]
    deadline = time.monotonic() + 10
    while not (executions := sfn.list_executions(stateMachineArn=machine)["executions"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(executions) == 1
    described = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(described["input"]) == {"from": "scheduler"}


@pytest.mark.parametrize("expression", ["rate(0 minutes)", "rate(5 fortnights)", "every 5 minutes",
                                        "cron(0 12 * * ? )", "cron(0 12 * * * *)", "at(2026-13-45T99:00:00)"])
def test_invalid_schedule_expression_is_a_validation_error(local_cloud, counter, expression):
    fn_arn, _ = counter
    with pytest.raises(ClientError) as error:
        schedule(local_cloud, fn_arn, uuid.uuid4().hex[:8], expression)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "Invalid Schedule Expression" in error.value.response["Error"]["Message"]


def test_unknown_group_and_malformed_target(local_cloud, counter):
    fn_arn, _ = counter
    scheduler = local_cloud.client("scheduler")
    with pytest.raises(ClientError) as no_group:
        scheduler.create_schedule(Name="lc-nogroup", GroupName="no-such-group", ScheduleExpression="rate(1 minute)",
                                  FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": fn_arn, "RoleArn": local_cloud.role_arn()})
    assert no_group.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as bad_target:
        scheduler.create_schedule(Name="lc-badtarget", ScheduleExpression="rate(1 minute)",
                                  FlexibleTimeWindow={"Mode": "OFF"},
                                  Target={"Arn": "not-an-arn", "RoleArn": local_cloud.role_arn()})
    assert bad_target.value.response["Error"]["Code"] == "ValidationException"


def test_target_that_does_not_exist_is_logged_and_the_cloud_keeps_serving(local_cloud):
    scheduler = local_cloud.client("scheduler")
    missing = "arn:aws:lambda:us-east-1:000000000000:function:lc-never-created"
    when = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    scheduler.create_schedule(Name="lc-missing-target", ScheduleExpression=f"at({when})",
                              FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
                              Target={"Arn": missing, "RoleArn": local_cloud.role_arn()})
    deadline = time.monotonic() + 10
    while "lc-never-created" not in local_cloud.log_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "Function not found" in local_cloud.log_text()
    assert local_cloud.health()["status"] == "running"


def _at_soon() -> str:
    return (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")


def test_an_undeliverable_event_lands_in_the_dead_letter_queue_with_schedulers_attributes(local_cloud):
    sqs = local_cloud.client("sqs")
    dlq_url = sqs.create_queue(QueueName="lc-sched-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    missing = "arn:aws:sqs:us-east-1:000000000000:lc-sched-never-created"
    before = local_cloud.health()["scheduler"]
    scheduler = local_cloud.client("scheduler")
    schedule_arn = scheduler.create_schedule(
        Name="lc-to-dlq", ScheduleExpression=f"at({_at_soon()})", FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={"Arn": missing, "RoleArn": local_cloud.role_arn(), "Input": '{"job": "dead"}',
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 600},
                "DeadLetterConfig": {"Arn": dlq_arn}})["ScheduleArn"]
    messages = []
    deadline = time.monotonic() + 20
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=2, MessageAttributeNames=["All"]).get("Messages", [])
    assert len(messages) == 1, "the event reached the dead-letter queue"
    message = messages[0]
    assert json.loads(message["Body"]) == {"job": "dead"}
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["SCHEDULE_ARN"] == schedule_arn and attributes["TARGET_ARN"] == missing
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts" and attributes["RETRY_ATTEMPTS"] == "2"
    assert attributes["ERROR_CODE"] == "AWS.SimpleQueueService.NonExistentQueue" and attributes["ERROR_MESSAGE"]
    assert attributes["IS_PAYLOAD_TRUNCATED"] == "false" and len(attributes["EXECUTION_ID"]) == 36
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", attributes["SCHEDULED_TIME"])
    # The runner counts a dead-lettered event once its send has returned: the message can be read just before.
    deadline = time.monotonic() + 10
    while (after := local_cloud.health()["scheduler"])["dead_lettered"] == before["dead_lettered"] \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert after["failed_deliveries"] == before["failed_deliveries"] + 1
    assert after["dead_lettered"] == before["dead_lettered"] + 1
    assert "giving up after 3 attempt(s) (MaximumRetryAttempts)" in local_cloud.log_text()


def test_a_failed_delivery_is_retried_until_the_target_can_take_it(local_cloud):
    sqs = local_cloud.client("sqs")
    arn = "arn:aws:sqs:us-east-1:000000000000:lc-sched-late-queue"
    before = local_cloud.health()["scheduler"]
    local_cloud.client("scheduler").create_schedule(
        Name="lc-retried", ScheduleExpression=f"at({_at_soon()})", FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={"Arn": arn, "RoleArn": local_cloud.role_arn(), "Input": '{"late": true}',
                "RetryPolicy": {"MaximumRetryAttempts": 50, "MaximumEventAgeInSeconds": 600}})
    deadline = time.monotonic() + 10
    while local_cloud.health()["scheduler"]["retries"] == before["retries"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert local_cloud.health()["scheduler"]["retries"] > before["retries"], "the first delivery failed and is retried"
    url = sqs.create_queue(QueueName="lc-sched-late-queue")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15).get("Messages", [])
    assert [json.loads(m["Body"]) for m in messages] == [{"late": True}], "a retry delivered it"
    assert local_cloud.health()["scheduler"]["failed_deliveries"] == before["failed_deliveries"]
