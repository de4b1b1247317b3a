"""Composition root: the service wired to DynamoDB and Step Functions for a target (or the ambient AWS)."""

from __future__ import annotations

import os

from sfn_callback import config
from sfn_callback.approval.adapters.dynamodb import DynamoApprovalRepository
from sfn_callback.approval.adapters.stepfunctions import ApprovalStepFunctions
from sfn_callback.approval.application.service import ApprovalService
from sfn_callback.config import Target
from sfn_callback.common.aws import callback_client, client


def table_name() -> str:
    return os.environ.get("APPROVALS_TABLE", config.APPROVALS_TABLE)


def bootstrap(target: Target | None = None, table: str | None = None, **service_options) -> ApprovalService:
    """``target`` None: the ambient configuration (inside a Lambda, or AWS_* variables)."""
    repository = DynamoApprovalRepository(client("dynamodb", target), table or table_name())
    callbacks = ApprovalStepFunctions(callback_client(target))
    return ApprovalService(repository, callbacks, **service_options)
