"""Deploy the example: ``python -m examples.sqs_worker.deploy [--endpoint URL]``: the queue and its DLQ, the worker
function on it (with ``ReportBatchItemFailures``), the workflow that feeds it."""

from __future__ import annotations

import argparse
from pathlib import Path

from examples.bundle import apply
from sfn_callback.config import Target
from sfn_callback.deploy.deployer import ApplyResult
from sfn_callback.deploy.spec import (
    EventSourceMapping,
    Function,
    Permission,
    Queue,
    Role,
    Stack,
    StackContext,
    StateMachine,
)

QUEUE, DLQ, WORKER, WORKFLOW = "own-work-items", "own-work-items-dlq", "own-sqs-worker", "own-work-workflow"
WORKFLOW_ROLE = "own-work-workflow-role"
HERE = Path(__file__).resolve().parent


def stack(ctx: StackContext) -> Stack:
    built = Stack(ctx)
    built.add(
        Queue(DLQ),
        Queue(QUEUE, visibility_timeout=60, dlq=DLQ, max_receive_count=3),
        Function(WORKER, "sqs_worker.worker.handler", timeout=50, permissions=(
            Permission(("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"), (ctx.queue_arn(QUEUE),)),
            Permission(("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"), ("*",)))),
        EventSourceMapping(WORKER, QUEUE, batch_size=1, report_batch_item_failures=True),
        Role(WORKFLOW_ROLE, "states.amazonaws.com", (Permission(("sqs:SendMessage",), (ctx.queue_arn(QUEUE),)),)),
        StateMachine(WORKFLOW, "examples.sqs_worker", "workflow.asl.json", role=WORKFLOW_ROLE, substitutions=(
            ("QueueUrl", f"https://sqs.{ctx.region}.amazonaws.com/{ctx.account_id}/{QUEUE}"),)),
    )
    return built


def deploy(target: Target) -> ApplyResult:
    return apply(target, "own-sqs-worker", stack, HERE)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566", help="a local cloud, or 'aws'")
    args = parser.parse_args()
    result = deploy(Target(endpoint_url=None if args.endpoint == "aws" else args.endpoint))
    print(f"applied {len(result.applied)} changes")
