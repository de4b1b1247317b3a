"""The export stack spec: names, least-privilege permissions, timings per target and their overrides."""

from __future__ import annotations

import pytest

from sfn_callback import config
from sfn_callback.deploy.spec import Bucket, EventSourceMapping, Function, Queue, Role, Stack, StackContext, Table
from sfn_callback.export.stack import ExportStackSettings, ExportWorkflow, contribute, exports_bucket

LOCAL = StackContext("000000000000", "us-east-1", local=True)
AWS = StackContext("123456789012", "eu-west-1", local=False)


def build(ctx: StackContext, settings: ExportStackSettings | None = None) -> dict[tuple[str, str], object]:
    stack = Stack(ctx)
    contribute(stack, ctx, settings)
    return {(r.kind, r.name): r for r in stack.ordered()}


def test_resources_have_the_seed_names_and_the_bucket_is_unique_on_aws():
    local = build(LOCAL)
    assert set(local) == {
        ("log-group", "/aws/lambda/poc-export-consumer"), ("table", "poc-export-job-state"),
        ("bucket", "poc-exports"), ("queue", "poc-export-jobs-dlq"), ("queue", "poc-export-jobs"),
        ("role", "poc-export-consumer-role"), ("role", "poc-export-workflow-role"),
        ("function", "poc-export-consumer"), ("event-source-mapping", "poc-export-jobs->poc-export-consumer"),
        ("state-machine", "poc-export-workflow")}
    assert exports_bucket(AWS) == "poc-exports-123456789012-eu-west-1"
    assert ("bucket", "poc-exports-123456789012-eu-west-1") in build(AWS)
    table = local[("table", config.EXPORT_JOBS_TABLE)]
    assert isinstance(table, Table) and table.partition_key.name == "jobId" and table.ttl_attribute == "ttl"
    assert isinstance(local[("bucket", "poc-exports")], Bucket)


def test_consumer_permissions_are_exactly_what_the_handler_calls():
    fn = build(AWS)[("function", config.EXPORT_CONSUMER_FUNCTION)]
    assert isinstance(fn, Function)
    grants = {(tuple(sorted(p.actions)), p.resources) for p in fn.role().permissions}
    assert grants == {
        (("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"), ("*",)),
        (("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
         ("arn:aws:dynamodb:eu-west-1:123456789012:table/poc-export-job-state",)),
        (("sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"),
         ("arn:aws:sqs:eu-west-1:123456789012:poc-export-jobs",)),
        (("states:SendTaskFailure", "states:SendTaskHeartbeat", "states:SendTaskSuccess"), ("*",)),
        (("s3:PutObject",), ("arn:aws:s3:::poc-exports-123456789012-eu-west-1/*",)),
    }
    env = fn.environment(AWS)
    assert env["EXPORT_SINK"] == "s3://poc-exports-123456789012-eu-west-1"
    assert env["EXPORT_JOBS_TABLE"] == "poc-export-job-state"
    workflow_role = build(AWS)[("role", "poc-export-workflow-role")]
    assert isinstance(workflow_role, Role) and workflow_role.assumed_by == "states.amazonaws.com"
    assert [(p.actions, p.resources) for p in workflow_role.permissions] == \
        [(("sqs:SendMessage",), ("arn:aws:sqs:eu-west-1:123456789012:poc-export-jobs",))]


def test_queue_outlasts_the_consumer_and_redrives_to_the_dlq():
    for ctx in (LOCAL, AWS):
        resources = build(ctx)
        queue = resources[("queue", config.EXPORT_QUEUE)]
        fn = resources[("function", config.EXPORT_CONSUMER_FUNCTION)]
        mapping = resources[("event-source-mapping", "poc-export-jobs->poc-export-consumer")]
        assert isinstance(queue, Queue) and isinstance(fn, Function) and isinstance(mapping, EventSourceMapping)
        assert queue.dlq == config.EXPORT_DLQ and queue.max_receive_count == 3
        assert queue.visibility_timeout > fn.timeout
        assert mapping.report_batch_item_failures and mapping.batch_size == 1


def test_workflow_numbers_stay_numbers_and_follow_the_target():
    local = build(LOCAL)[("state-machine", config.EXPORT_WORKFLOW)]
    assert isinstance(local, ExportWorkflow)
    task = local.properties(LOCAL)["definition"]["States"]["StartExportJob"]
    assert (task["HeartbeatSeconds"], task["TimeoutSeconds"]) == (10, 120)
    assert task["Parameters"]["QueueUrl"] == "https://sqs.us-east-1.amazonaws.com/000000000000/poc-export-jobs"
    aws = build(AWS)[("state-machine", config.EXPORT_WORKFLOW)]
    task = aws.properties(AWS)["definition"]["States"]["StartExportJob"]
    assert (task["HeartbeatSeconds"], task["TimeoutSeconds"]) == (120, 3600)
    fn = build(LOCAL)[("function", config.EXPORT_CONSUMER_FUNCTION)]
    env = fn.environment(LOCAL)
    assert (env["EXPORT_HEARTBEAT_INTERVAL_SECONDS"], env["EXPORT_STALL_AFTER_SECONDS"]) == ("1", "2")


def test_settings_from_the_environment_and_their_validation():
    settings = ExportStackSettings.for_context(LOCAL, {"EXPORT_STACK_HEARTBEAT_SECONDS": "6",
                                                       "EXPORT_STACK_BEAT_INTERVAL_SECONDS": "1.5"})
    assert (settings.heartbeat_seconds, settings.beat_interval_seconds, settings.timeout_seconds) == (6, 1.5, 120)
    task = build(LOCAL, settings)[("state-machine", config.EXPORT_WORKFLOW)].definition()["States"]["StartExportJob"]
    assert task["HeartbeatSeconds"] == 6
    with pytest.raises(ValueError, match="EXPORT_STACK_TIMEOUT_SECONDS='soon' is not a valid int"):
        ExportStackSettings.for_context(LOCAL, {"EXPORT_STACK_TIMEOUT_SECONDS": "soon"})
    with pytest.raises(ValueError, match="visibility_timeout must exceed function_timeout"):
        ExportStackSettings.for_context(LOCAL, {"EXPORT_STACK_VISIBILITY_TIMEOUT": "60"})
    with pytest.raises(ValueError, match="at most half of heartbeat_seconds"):
        ExportStackSettings.for_context(LOCAL, {"EXPORT_STACK_BEAT_INTERVAL_SECONDS": "6"})
    with pytest.raises(ValueError, match="0 < heartbeat_seconds < timeout_seconds"):
        ExportStackSettings.for_context(AWS, {"EXPORT_STACK_HEARTBEAT_SECONDS": "3600"})
