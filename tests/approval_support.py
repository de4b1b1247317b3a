"""Fixtures for the SQS variant's tests: its stack applied to the session's local cloud, and the approval API
served over real HTTP (uvicorn on a free loopback port) against it.

The component is deployed alone (``sfn_callback.approval.stack.deploy_component``), from the same spec objects
(``sfn_callback.approval.stack``), with the request queue's visibility timeout shortened to 1 s so
that a refused message reaches the DLQ in about three seconds.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sfn_callback import config
from sfn_callback.approval.bootstrap import bootstrap
from sfn_callback.approval.entrypoints.auth import KeyRing
from sfn_callback.approval.entrypoints.rest_app import create_app
from sfn_callback.approval.entrypoints.server import ServerThread
from sfn_callback.approval.stack import deploy_component
from sfn_callback.config import Target
from support import wait_execution, wait_for

KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef"}
MACHINE_ARN = f"arn:aws:states:us-east-1:000000000000:stateMachine:{config.APPROVAL_WORKFLOW}"


@dataclass
class ApprovalStack:
    target: Target
    sfn: Any
    ddb: Any
    sqs: Any
    queue_url: str
    dlq_url: str

    def start(self, order_id: str | None = None, **extra: Any) -> tuple[str, str]:
        order_id = order_id or f"o-{uuid.uuid4().hex[:12]}"
        arn = self.sfn.start_execution(stateMachineArn=MACHINE_ARN, name=f"{order_id}-{uuid.uuid4().hex[:6]}",
                                       input=json.dumps({"orderId": order_id, **extra}))["executionArn"]
        return order_id, arn

    def item(self, order_id: str) -> dict[str, Any] | None:
        return self.ddb.get_item(TableName=config.APPROVALS_TABLE, Key={"orderId": {"S": order_id}},
                                 ConsistentRead=True).get("Item")

    def wait_item(self, order_id: str, timeout: float = 20.0) -> dict[str, Any]:
        return wait_for(lambda: self.item(order_id), timeout, what=f"task {order_id} stored")

    def wait_done(self, arn: str, timeout: float = 20.0) -> dict[str, Any]:
        return wait_execution(self.sfn, arn, timeout)

    def callbacks_in_history(self, arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return [e["type"] for e in events if e["type"] in ("TaskSucceeded", "TaskFailed", "TaskTimedOut")]


@pytest.fixture(scope="session")
def _approval_stack_deployed(local_cloud) -> ApprovalStack:
    target = Target(local_cloud.endpoint_url)
    deploy_component(target)
    sqs = local_cloud.client("sqs")
    return ApprovalStack(target, local_cloud.client("stepfunctions"), local_cloud.client("dynamodb"), sqs,
                         sqs.get_queue_url(QueueName=config.APPROVAL_QUEUE)["QueueUrl"],
                         sqs.get_queue_url(QueueName=config.APPROVAL_DLQ)["QueueUrl"])


@pytest.fixture
def approval_stack(_approval_stack_deployed) -> ApprovalStack:
    """The approval component on the session's local cloud, its queue redelivering within a test's time (a
    refused message comes back after 1 s instead of the queue's default). Set for every test: another test
    module may deploy the whole stack meanwhile, which puts the queue's own visibility timeout back."""
    stack = _approval_stack_deployed
    stack.sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"VisibilityTimeout": "1"})
    return stack


@dataclass
class ApprovalApi:
    url: str
    service: Any

    def client(self, key_name: str | None = "alice", **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {KEYS[key_name]}"} if key_name else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="session")
def approval_api(_approval_stack_deployed: ApprovalStack):
    service = bootstrap(_approval_stack_deployed.target, lease_seconds=2, retry_seconds=0.5)
    app = create_app(service, KeyRing.from_mapping(KEYS), redeliver_interval=0.5, table_name=config.APPROVALS_TABLE)
    with ServerThread(app) as server:
        yield ApprovalApi(server.url, service)
