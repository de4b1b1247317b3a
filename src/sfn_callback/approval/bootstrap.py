"""Composition root: the service wired to DynamoDB and Step Functions for a target (or the ambient AWS)."""

from __future__ import annotations

import os

from sfn_callback import config
from sfn_callback.approval.adapters.dynamodb import DynamoApprovalRepository
from sfn_callback.config import Target
from sfn_callback.monitoring import emit
from sfn_callback.monitoring.metered_approval import MeteredApprovalCallbacks, MeteredApprovalService
from sfn_callback.util.aws import callback_client, client

METRICS_LOG_GROUP = "/sfn-callback/approval-service"
"""Outside Lambda, the service's EMF documents go to this log group (inside Lambda, to the function's log)."""


def table_name() -> str:
    return os.environ.get("APPROVALS_TABLE", config.APPROVALS_TABLE)


def bootstrap(target: Target | None = None, table: str | None = None, **service_options) -> MeteredApprovalService:
    """``target`` None: the ambient configuration (inside a Lambda, or AWS_* variables)."""
    repository = DynamoApprovalRepository(client("dynamodb", target), table or table_name())
    # Each service publishes to its own target (a process may hold services of several targets).
    publisher = None if emit.in_lambda() else emit.LogsPublisher(client("logs", target), METRICS_LOG_GROUP)
    callbacks = MeteredApprovalCallbacks(callback_client(target), publisher=publisher)
    service = MeteredApprovalService(repository, callbacks, **service_options)
    service.publisher = publisher
    return service
