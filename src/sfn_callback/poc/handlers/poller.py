"""``poc-poller``: one poll of one job, fired by the job's schedule (or by hand, as seed 001's script does).

Returns ``{"status", "attempt", "maxAttempts"}`` plus ``"reconnected": true`` when this poll's callback resumed
the workflow.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from sfn_callback.poc import bootstrap
from sfn_callback.poc.events import PollerEvent, parse

logger = Logger(service="poc-poller")


@logger.inject_lambda_context(log_event=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    request: PollerEvent = parse(PollerEvent, event, "poller")
    poller = bootstrap.token_poller()
    poller.log = lambda message, **fields: logger.info(message, extra=fields)
    result = poller.poll(request.job_id).to_dict()
    logger.info("poll finished", extra=result)
    return result
