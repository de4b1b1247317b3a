"""``poc-create-job``: create the external job, store the task token, schedule its polling (seed 000/001)."""

from __future__ import annotations

from typing import Any


from sfn_callback.common.logging import lambda_logger
from sfn_callback.poc import bootstrap

logger = lambda_logger("poc-create-job")


@logger.inject_lambda_context(log_event=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    token = event.get("taskToken") if isinstance(event, dict) else None
    logger.info("create-job request", extra={"taskToken": token})
    service = bootstrap.create_job_service()
    service.log = lambda message, **fields: logger.info(message, extra=fields)
    result = service.handle(event)
    logger.info(
        "task token stored; the workflow now waits for the callback",
        extra={"jobId": result["jobId"], "taskToken": token},
    )
    return result
