"""The message ``poc-approval-workflow`` sends to ``poc-approval-requests`` (seed 003's fields plus two).

Seed 003's body is ``transactionId``, ``taskToken``, ``startTime``, ``orderId``; the workflow also sends
``timeoutSeconds`` (so approvers see the time left) and ``details`` (the execution input's optional details).
A body that is not this shape is refused: the consumer reports it as a batch item failure and the queue's
redrive policy moves it to the DLQ, where nothing of it is lost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, ConfigDict, Field, Json, field_validator

from sfn_callback.approval.domain.model import DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS

ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,127}$"


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    order_id: str = Field(alias="orderId", pattern=ORDER_ID_PATTERN)
    transaction_id: str = Field(alias="transactionId", pattern=r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:.+")
    task_token: str = Field(alias="taskToken", min_length=1, max_length=8192)
    start_time: datetime = Field(alias="startTime")
    timeout_seconds: int = Field(DEFAULT_TIMEOUT_SECONDS, alias="timeoutSeconds", ge=1, le=MAX_TIMEOUT_SECONDS)
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("start_time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @field_validator("details", mode="before")
    @classmethod
    def _null_details(cls, value: Any) -> Any:
        return {} if value is None else value


class ApprovalSqsRecord(SqsRecordModel):
    """An SQS record whose body is an :class:`ApprovalRequest` (Powertools' BatchProcessor parses it)."""

    body: Json[ApprovalRequest]
