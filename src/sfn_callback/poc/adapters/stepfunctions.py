"""Step Functions callback adapter: SendTaskSuccess / SendTaskFailure.

A token that is already finished answers ``TaskDoesNotExist`` or ``TaskTimedOut`` on AWS and ``InvalidToken``
on moto: all three mean "finished" (``SendResult(accepted=False)``). Throttling, 5xx and network errors are
retried here with bounded exponential backoff and full jitter, at most ``max_attempts`` calls: this loop is the
only retry layer (build the client with ``sfn_callback.common.aws.callback_client``, botocore does not retry).
A "finished" answer after an attempt that may have reached Step Functions (a 5xx, a lost connection) is
reported ``maybe_ours``: that attempt may have closed the token. Other errors propagate (the claim stays, a
later poll resends).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from sfn_callback.poc.lifecycle import Outcome, SendResult
from sfn_callback.callbacks.retry import (
    CALLBACK_MAX_ATTEMPTS,
    FINISHED_CODES,
    THROTTLING_CODES,
    call_with_backoff,
    error_code,
    is_transient,
    maybe_delivered,
)

__all__ = ["FINISHED_CODES", "THROTTLING_CODES", "StepFunctionsCallbackSender"]


class StepFunctionsCallbackSender:
    def __init__(
        self,
        client: Any,
        *,
        max_attempts: int = CALLBACK_MAX_ATTEMPTS,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._sfn = client
        self._max_attempts = max_attempts
        self._base = base_delay
        self._cap = max_delay
        self._sleep = sleep
        self._rng = rng or random.Random()

    def send(self, task_token: str, outcome: Outcome) -> SendResult:
        maybe = False

        def retry_if(exc: Exception) -> bool:
            nonlocal maybe
            if not is_transient(exc):
                return False
            maybe = maybe or maybe_delivered(exc)
            return True

        try:
            call_with_backoff(lambda: self._send_once(task_token, outcome), retry_if=retry_if,
                              max_retries=self._max_attempts - 1, base_delay=self._base, max_delay=self._cap,
                              sleep=self._sleep, uniform=self._rng.uniform)
        except ClientError as exc:
            code = error_code(exc)
            if code in FINISHED_CODES:
                return SendResult(accepted=False, finished_reason=code, maybe_ours=maybe)
            raise
        return SendResult(accepted=True)

    def _send_once(self, task_token: str, outcome: Outcome) -> None:
        if outcome.is_success:
            self._sfn.send_task_success(taskToken=task_token, output=json.dumps(outcome.output or {}, default=str))
        else:
            kwargs: dict[str, Any] = {"taskToken": task_token, "error": outcome.error}
            if outcome.cause:
                kwargs["cause"] = outcome.cause
            self._sfn.send_task_failure(**kwargs)
