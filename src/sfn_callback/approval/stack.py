"""The SQS variant's resources (seed 003 names): queue + DLQ, table, consumer function and its mapping,
the workflow and its role."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfn_callback import config
from sfn_callback.approval.adapters.dynamodb import (
    CALLBACK_INDEX,
    CALLBACK_INDEX_KEY,
    CALLBACK_INDEX_SORT_KEY,
    STATUS_INDEX,
    STATUS_INDEX_SORT_KEY,
)
from sfn_callback.deploy.spec import (
    EventSourceMapping,
    Function,
    Gsi,
    Key,
    Permission,
    Queue,
    Role,
    Stack,
    StackContext,
    StateMachine,
    Table,
)

if TYPE_CHECKING:
    from sfn_callback.config import Target

WORKFLOW_ROLE = f"{config.APPROVAL_WORKFLOW}-role"
CONSUMER_HANDLER = "sfn_callback.approval.entrypoints.poc_approval_consumer.handler"
QUEUE_VISIBILITY_TIMEOUT = 30
MAX_RECEIVE_COUNT = 3


def queue_url(ctx: StackContext, name: str) -> str:
    """The queue URL the workflow sends to (moto, LocalStack and AWS all resolve the queue by its name here)."""
    return f"https://sqs.{ctx.region}.amazonaws.com/{ctx.account_id}/{name}"


def contribute(stack: Stack, ctx: StackContext) -> None:
    table_arn = ctx.table_arn(config.APPROVALS_TABLE)
    queue_arn = ctx.queue_arn(config.APPROVAL_QUEUE)
    stack.add(
        Queue(config.APPROVAL_DLQ, visibility_timeout=QUEUE_VISIBILITY_TIMEOUT),
        Queue(config.APPROVAL_QUEUE, visibility_timeout=QUEUE_VISIBILITY_TIMEOUT, dlq=config.APPROVAL_DLQ,
              max_receive_count=MAX_RECEIVE_COUNT),
        Table(
            config.APPROVALS_TABLE,
            Key("orderId"),
            gsis=(
                Gsi(STATUS_INDEX, Key("status"), Key(STATUS_INDEX_SORT_KEY)),
                Gsi(CALLBACK_INDEX, Key(CALLBACK_INDEX_KEY), Key(CALLBACK_INDEX_SORT_KEY)),
            ),
            ttl_attribute="ttl",
        ),
        Function(
            config.APPROVAL_CONSUMER_FUNCTION,
            CONSUMER_HANDLER,
            env=(("APPROVALS_TABLE", config.APPROVALS_TABLE), ("POWERTOOLS_SERVICE_NAME", "poc-approval")),
            timeout=QUEUE_VISIBILITY_TIMEOUT // 2,
            permissions=(
                Permission(("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"), (queue_arn,)),
                Permission(("dynamodb:PutItem", "dynamodb:GetItem"), (table_arn,)),
            ),
        ),
        EventSourceMapping(config.APPROVAL_CONSUMER_FUNCTION, config.APPROVAL_QUEUE, batch_size=10,
                           report_batch_item_failures=True),
        Role(WORKFLOW_ROLE, "states.amazonaws.com", (Permission(("sqs:SendMessage",), (queue_arn,)),)),
        StateMachine(
            config.APPROVAL_WORKFLOW,
            "sfn_callback.approval",
            "workflow.asl.json",
            role=WORKFLOW_ROLE,
            substitutions=(("ApprovalQueueUrl", queue_url(ctx, config.APPROVAL_QUEUE)),),
        ),
    )


# What the approval service itself needs (it runs outside Lambda: an EC2 instance, a container, a laptop).
SERVICE_PERMISSIONS = (
    Permission(("dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DescribeTable"),
               ("arn:aws:dynamodb:*:*:table/" + config.APPROVALS_TABLE,
                "arn:aws:dynamodb:*:*:table/" + config.APPROVALS_TABLE + "/index/*")),
    Permission(("states:SendTaskSuccess", "states:SendTaskFailure", "states:GetExecutionHistory"), ("*",)),
)


def deploy_component(target: Target) -> StackContext:
    """Deploy only this component's resources (benchmarks and tests); ``sfn-callback deploy`` deploys all."""
    from sfn_callback.deploy.deployer import Deployer, context_for
    from sfn_callback.deploy.stack import build_stack

    ctx = context_for(target)
    deployer = Deployer(target, build_stack(ctx, (__name__,)))
    deployer.apply(deployer.plan(detect_deletes=False))  # the other components' resources are not ours to remove
    return ctx
