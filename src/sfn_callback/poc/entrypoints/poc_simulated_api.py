"""``poc-simulated-api``: seed 001's action-based simulated external API.

``{"action": "CREATE_JOB", "payload": {...}}`` -> ``{jobId, status: "IN_PROGRESS", completionPolls}``;
``{"action": "CHECK_STATUS", "jobId": ...}`` -> ``{jobId, status, pollCount, completionPolls}``.
Unknown job, unknown action or a malformed event raise (the invocation returns a function error).
"""

from __future__ import annotations

from typing import Any

from sfn_callback.common.logging import lambda_logger
from sfn_callback.poc import bootstrap

logger = lambda_logger("poc-simulated-api")


@logger.inject_lambda_context(log_event=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    action = event.get("action") if isinstance(event, dict) else None
    result = bootstrap.simulated_api().handle(event)
    logger.info("simulated API answered", extra={"action": action, "result": result})
    return result
