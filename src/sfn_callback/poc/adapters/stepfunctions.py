"""Step Functions callback adapter: SendTaskSuccess / SendTaskFailure.

A token that is already finished answers ``TaskDoesNotExist`` or ``TaskTimedOut`` on AWS and ``InvalidToken``
on moto: all three mean "finished" (``SendResult(accepted=False)``). Throttling is retried with bounded
exponential backoff and full jitter; other errors propagate (the claim stays, a later poll resends).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from sfn_callback.poc.lifecycle import Outcome, SendResult
from sfn_callback.util.task_callbacks import (
    FINISHED_CODES,
    THROTTLING_CODES,
    send_or_finished,
)

__all__ = ["FINISHED_CODES", "THROTTLING_CODES", "StepFunctionsCallbackSender"]


class StepFunctionsCallbackSender:
    def __init__(
        self,
        client: Any,
        *,
        max_retries: int = 6,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self._sfn = client
        self._max_retries = max_retries
        self._base = base_delay
        self._cap = max_delay
        self._sleep = sleep
        self._rng = rng or random.Random()

    def send(self, task_token: str, outcome: Outcome) -> SendResult:
        finished = send_or_finished(lambda: self._send_once(task_token, outcome), max_retries=self._max_retries,
                                    base_delay=self._base, max_delay=self._cap, sleep=self._sleep,
                                    uniform=self._rng.uniform)
        if finished:
            return SendResult(accepted=False, finished_reason=finished)
        return SendResult(accepted=True)

    def _send_once(self, task_token: str, outcome: Outcome) -> None:
        if outcome.is_success:
            self._sfn.send_task_success(taskToken=task_token, output=json.dumps(outcome.output or {}, default=str))
        else:
            kwargs: dict[str, Any] = {"taskToken": task_token, "error": outcome.error}
            if outcome.cause:
                kwargs["cause"] = outcome.cause
            self._sfn.send_task_failure(**kwargs)
