"""Apply this component's stack (``stack.py``) to a target directly with boto3.

``sfn-callback deploy`` is the way to deploy the whole system; this applies the same spec objects for this
component alone (create what is missing, refresh the function code and the workflow definition), so that the
benchmark and the tests can stand the SQS variant up on a fresh local cloud in about a second.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sfn_callback.approval import stack as approval_stack
from sfn_callback.config import LOCAL_ACCOUNT_ID, Target
from sfn_callback.deploy import packaging
from sfn_callback.deploy.spec import (
    EventSourceMapping,
    Function,
    LogGroup,
    Queue,
    Role,
    Stack,
    StackContext,
    StateMachine,
    Table,
    policy_document,
)
from sfn_callback.util.aws import client


def component_stack(ctx: StackContext) -> Stack:
    stack = Stack(ctx)
    approval_stack.contribute(stack, ctx)
    return stack


def context_for(target: Target) -> StackContext:
    if target.is_local:
        account = LOCAL_ACCOUNT_ID
    else:
        account = client("sts", target).get_caller_identity()["Account"]
    return StackContext(account_id=account, region=target.region, local=target.is_local)


def apply(target: Target, queue_overrides: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """Create or refresh every resource; returns {kind:name: action}. ``queue_overrides``: extra queue
    attributes by queue name (tests shorten the visibility timeout)."""
    ctx = context_for(target)
    stack = component_stack(ctx)
    done: dict[str, str] = {}
    zip_bytes: bytes | None = None
    for resource in stack.ordered():
        key = f"{resource.kind}:{resource.name}"
        if isinstance(resource, LogGroup):
            continue  # created by Lambda on first log line
        if isinstance(resource, Table):
            done[key] = _table(target, resource)
        elif isinstance(resource, Queue):
            done[key] = _queue(target, ctx, resource, (queue_overrides or {}).get(resource.name, {}))
        elif isinstance(resource, Role):
            done[key] = _role(target, resource)
        elif isinstance(resource, Function):
            if zip_bytes is None:
                zip_bytes = packaging.build_zip()
            done[key] = _function(target, ctx, resource, zip_bytes)
        elif isinstance(resource, EventSourceMapping):
            done[key] = _mapping(target, ctx, resource)
        elif isinstance(resource, StateMachine):
            done[key] = _state_machine(target, ctx, resource)
    return done


def _table(target: Target, table: Table) -> str:
    ddb = client("dynamodb", target)
    try:
        ddb.describe_table(TableName=table.name)
        return "exists"
    except ddb.exceptions.ResourceNotFoundException:
        pass
    keys = {table.partition_key}
    if table.sort_key:
        keys.add(table.sort_key)
    for gsi in table.gsis:
        keys.add(gsi.partition_key)
        if gsi.sort_key:
            keys.add(gsi.sort_key)

    def schema(pk, sk):
        return [{"AttributeName": pk.name, "KeyType": "HASH"}] + (
            [{"AttributeName": sk.name, "KeyType": "RANGE"}] if sk else [])

    kwargs: dict[str, Any] = {
        "TableName": table.name,
        "KeySchema": schema(table.partition_key, table.sort_key),
        "AttributeDefinitions": [{"AttributeName": k.name, "AttributeType": k.type} for k in sorted(keys, key=lambda k: k.name)],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.gsis:
        kwargs["GlobalSecondaryIndexes"] = [
            {"IndexName": g.name, "KeySchema": schema(g.partition_key, g.sort_key), "Projection": {"ProjectionType": "ALL"}}
            for g in table.gsis
        ]
    ddb.create_table(**kwargs)
    ddb.get_waiter("table_exists").wait(TableName=table.name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if table.ttl_attribute:
        ddb.update_time_to_live(TableName=table.name,
                                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute})
    return "created"


def _queue(target: Target, ctx: StackContext, queue: Queue, overrides: dict[str, str]) -> str:
    sqs = client("sqs", target)
    attributes = {"VisibilityTimeout": str(queue.visibility_timeout)}
    if queue.dlq:
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": ctx.queue_arn(queue.dlq),
                                                  "maxReceiveCount": str(queue.max_receive_count)})
    attributes.update(overrides)
    try:
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        sqs.create_queue(QueueName=queue.name, Attributes=attributes)
        return "created"
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return "updated"


def _role(target: Target, role: Role) -> str:
    iam = client("iam", target)
    try:
        iam.get_role(RoleName=role.name)
        action = "exists"
    except iam.exceptions.NoSuchEntityException:
        iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=json.dumps(role.trust_policy()))
        action = "created"
    iam.put_role_policy(RoleName=role.name, PolicyName=f"{role.name}-policy",
                        PolicyDocument=json.dumps(policy_document(role.permissions)))
    return action


def _function(target: Target, ctx: StackContext, function: Function, zip_bytes: bytes) -> str:
    lam = client("lambda", target)
    env = {"Variables": function.environment(ctx)}
    try:
        current = lam.get_function(FunctionName=function.name)["Configuration"]
    except lam.exceptions.ResourceNotFoundException:
        for attempt in range(10):  # a fresh IAM role can take a moment to be assumable on AWS
            try:
                lam.create_function(FunctionName=function.name, Runtime=function.runtime, Role=ctx.role_arn(function.role_name),
                                    Handler=function.handler, Timeout=function.timeout, MemorySize=function.memory,
                                    Code={"ZipFile": zip_bytes}, Environment=env)
                return "created"
            except lam.exceptions.InvalidParameterValueException:
                if attempt == 9:
                    raise
                time.sleep(2)
    if current.get("CodeSha256") != packaging.code_sha256(zip_bytes):
        lam.update_function_code(FunctionName=function.name, ZipFile=zip_bytes)
        _wait_function(lam, function.name)
    lam.update_function_configuration(FunctionName=function.name, Handler=function.handler, Timeout=function.timeout,
                                      MemorySize=function.memory, Environment=env)
    return "updated"


def _wait_function(lam: Any, name: str) -> None:
    for _ in range(60):
        if lam.get_function(FunctionName=name)["Configuration"].get("LastUpdateStatus", "Successful") != "InProgress":
            return
        time.sleep(0.5)


def _mapping(target: Target, ctx: StackContext, mapping: EventSourceMapping) -> str:
    lam = client("lambda", target)
    queue_arn = ctx.queue_arn(mapping.queue)
    existing = lam.list_event_source_mappings(FunctionName=mapping.function, EventSourceArn=queue_arn)
    if existing.get("EventSourceMappings"):
        return "exists"
    lam.create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName=mapping.function, BatchSize=mapping.batch_size,
        FunctionResponseTypes=["ReportBatchItemFailures"] if mapping.report_batch_item_failures else [])
    return "created"


def _state_machine(target: Target, ctx: StackContext, machine: StateMachine) -> str:
    sfn = client("stepfunctions", target)
    arn = ctx.state_machine_arn(machine.name)
    definition = json.dumps(machine.definition())
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
    except sfn.exceptions.StateMachineDoesNotExist:
        sfn.create_state_machine(name=machine.name, definition=definition, roleArn=ctx.role_arn(machine.role))
        return "created"
    sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=ctx.role_arn(machine.role))
    return "updated"
