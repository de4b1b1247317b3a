"""Your worker: a Lambda on an SQS queue that a workflow feeds with ``sqs:sendMessage.waitForTaskToken``.

Each message is ``{"taskToken", "item", "steps", "stepSeconds", "fail"}``. The worker does ``steps`` steps,
sending ``SendTaskHeartbeat`` as it starts and after each (the task's ``HeartbeatSeconds`` is shorter than the whole job, so
without heartbeats it would time out), then ``SendTaskSuccess`` with its result or ``SendTaskFailure``. The
callback core answers a result instead of raising: a finished token (timed out, or already answered) stops the
work; a transient failure returns the message to the queue (``batchItemFailures``) to be tried again; a refused
callback is logged and dropped (sending it again would be refused again).
"""

from __future__ import annotations

import json
import time
from typing import Any

from sfn_callback import StepFunctionsCallbacks, lambda_logger

logger = lambda_logger("sqs-worker")
callbacks = StepFunctionsCallbacks()


def work(message: dict[str, Any]) -> str:
    """One message; ``retry`` when the message should come back, else ``done``."""
    token = message["taskToken"]
    steps = int(message.get("steps", 3))
    for step in range(steps + 1):
        if step:  # a heartbeat as the work starts, then after every step
            time.sleep(float(message.get("stepSeconds", 0.5)))
        beat = callbacks.heartbeat(token)
        if beat.token_finished:
            logger.warning("the task is finished; stopping", extra={"taskToken": token, "reason": beat.code})
            return "done"
        logger.info("working", extra={"step": step, "of": steps, "heartbeat": beat.status.value})
    if message.get("fail"):
        result = callbacks.fail(token, "ItemRejected", f"item {message.get('item')!r} cannot be processed")
    else:
        result = callbacks.succeed(token, {"item": message.get("item"), "steps": int(message.get("steps", 3))})
    logger.info("callback", extra={"taskToken": token, "result": result.describe(), "attempts": result.attempts})
    return "retry" if result.transient else "done"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event.get("Records", []):
        if work(json.loads(record["body"])) == "retry":
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
