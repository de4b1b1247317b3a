"""Lambda handler of ``poc-export-consumer``: SQS batch → one export job per message.

Each record is validated (seed 004's schema), started (the task token stored) and run (files exported,
heartbeats while alive, callback at the end). A malformed message or an infrastructure error fails that
record only (``batchItemFailures``): SQS delivers it again and, after the queue's ``maxReceiveCount``, moves
it to the dead-letter queue. A job whose files fail is still a processed message: its workflow learns of
the failures through the ``JobCompletedWithFailures`` callback.

Handler path: ``sfn_callback.export.entrypoints.poc_export_consumer.handler``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from sfn_callback.export.adapters.metrics import EmfExportMetrics
from sfn_callback.export.bootstrap import ExportService, bootstrap
from sfn_callback.export.entrypoints.messages import InvalidExportMessage, parse_message
from sfn_callback.export.log import logger
from sfn_callback.export.settings import ExportSettings

processor = BatchProcessor(event_type=EventType.SQS)
_settings = ExportSettings.from_env()
metrics = Metrics(namespace=_settings.metrics_namespace)
_service: ExportService | None = None


def get_service() -> ExportService:
    """The service, built once per warm container."""
    global _service
    if _service is None:
        _service = bootstrap(_settings, metrics=EmfExportMetrics(metrics, namespace=_settings.metrics_namespace))
    return _service


def set_service(service: ExportService | None) -> None:
    """Replace the wired service (tests, embedding); ``None`` rebuilds it from the environment next time."""
    global _service
    _service = service


def _deadline(context: Any) -> datetime | None:
    """When this invocation stops running (Lambda's deadline), or None without a Lambda context."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return datetime.now(UTC) + timedelta(milliseconds=remaining())


def record_handler(record: SQSRecord, lambda_context: Any = None) -> dict[str, Any]:
    """Process one SQS record; raising marks it as a batch item failure.

    The job's callback claim lasts until this invocation's deadline: if the invocation dies or times out
    after claiming, the message comes back after the queue's visibility timeout (longer than the function's
    timeout, which the stack checks), finds the claim ended and sends the callback."""
    try:
        message = parse_message(record.body)
    except InvalidExportMessage as exc:
        logger.error("Rejected export job message", extra={"messageId": record.message_id, "error": str(exc)})
        raise
    logger.append_keys(jobId=message.job_id)
    try:
        result = get_service().handle(message, holder_deadline=_deadline(lambda_context))
    except Exception:
        logger.exception(
            "Export job message failed; it will be delivered again",
            extra={"messageId": record.message_id, "taskToken": message.task_token},
        )
        raise
    finally:
        logger.remove_keys(["jobId"])
    job = result.job
    return {
        "jobId": job.job_id,
        "status": job.status.value,
        **job.counts(),
        "callback": result.callback.result.value if result.callback else None,
    }


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """SQS event → ``{"batchItemFailures": [...]}``."""
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        logger.append_keys(requestId=request_id)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
