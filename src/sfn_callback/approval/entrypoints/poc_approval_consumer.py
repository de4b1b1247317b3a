"""Lambda handler of ``poc-approval-consumer``: SQS batch → one PENDING task per message.

Powertools' BatchProcessor parses each record with :class:`ApprovalSqsRecord` (the body must be a valid
:class:`ApprovalRequest`); a record that does not parse, or conflicts with another execution's task for the same
order, or meets an infrastructure error, is reported in ``batchItemFailures``: SQS delivers it again and, after
the queue's ``maxReceiveCount``, moves it to the DLQ. The rest of the batch is stored. A duplicate delivery of
a stored request changes nothing.

Handler path: ``sfn_callback.approval.entrypoints.poc_approval_consumer.handler``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from pydantic import ValidationError

from sfn_callback.approval.application.service import ApprovalService
from sfn_callback.approval.bootstrap import bootstrap
from sfn_callback.approval.entrypoints.messages import ApprovalSqsRecord
from sfn_callback.common.logging import lambda_logger

logger = lambda_logger("poc-approval")


def describe_error(exc: BaseException) -> str:
    """The error without the input values (a validation error would otherwise echo the task token)."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False))
    return f"{type(exc).__name__}: {exc}"[:500]


class ApprovalBatchProcessor(BatchProcessor):
    def failure_handler(self, record: Any, exception: Any) -> Any:
        message_id = getattr(record, "message_id", None) or getattr(record, "messageId", None)
        logger.error("Approval message not stored; SQS delivers it again, then its DLQ keeps it",
                     extra={"messageId": message_id, "error": describe_error(exception[1])})
        return super().failure_handler(record, exception)


processor = ApprovalBatchProcessor(event_type=EventType.SQS, model=ApprovalSqsRecord)
_service: ApprovalService | None = None


def get_service() -> ApprovalService:
    global _service
    if _service is None:
        _service = bootstrap()
    return _service


def set_service(service: ApprovalService | None) -> None:
    global _service
    _service = service


def record_handler(record: ApprovalSqsRecord) -> dict[str, Any]:
    request = record.body
    outcome = get_service().record_request(request, message_id=record.messageId)  # ConflictingRequest: a failure
    logger.info("Approval request recorded", extra={"messageId": record.messageId, "orderId": request.order_id,
                                                     "outcome": outcome.value,
                                                     "taskToken": request.task_token})
    return {"orderId": request.order_id, "outcome": outcome.value}


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """SQS event → ``{"batchItemFailures": [...]}``."""
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
