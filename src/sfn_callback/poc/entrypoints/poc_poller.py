"""``poc-poller``: one poll of one job, fired by the job's schedule (or by hand, as seed 001's script does).

A schedule's delivery carries ``scheduledTime`` (its poll slot: duplicates of one slot count one attempt); a
manual poll, ``{"jobId"}``, is an extra poll (see ``sfn_callback.polling.domain.lifecycle``, "Slots"). The invocation's
request id is recorded with a claim, so Lambda's retry of an invocation whose runtime died resumes it at once.

Returns ``{"status", "attempt", "maxAttempts"}`` plus ``"reconnected": true`` when this poll's callback resumed
the workflow, ``"skipped": true`` when it did nothing (its slot was polled already, or a verdict waits for an
open status check) and ``"recovered": true`` when it finished a callback whose sender had died.
"""

from __future__ import annotations

from typing import Any


from sfn_callback.common.logging import lambda_logger
from sfn_callback.poc import bootstrap
from sfn_callback.polling.domain.events import PollerEvent, parse

logger = lambda_logger("poc-poller")


@logger.inject_lambda_context(log_event=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    request: PollerEvent = parse(PollerEvent, event, "poller")
    if request.scheduled_time is not None and request.slot is None:
        logger.warning("scheduledTime was not replaced by the scheduler; polling as a manual poll",
                       extra={"jobId": request.job_id})
    poller = bootstrap.token_poller()
    poller.log = lambda message, **fields: logger.info(message, extra=fields)
    result = poller.poll(request.job_id, slot=request.slot,
                         holder=getattr(context, "aws_request_id", None)).to_dict()
    logger.info("poll finished", extra=result)
    return result
