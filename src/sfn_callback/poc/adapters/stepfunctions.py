"""Step Functions callback adapter: SendTaskSuccess / SendTaskFailure.

A token that is already finished answers ``TaskDoesNotExist`` or ``TaskTimedOut`` on AWS and ``InvalidToken``
on moto: all three mean "finished" (``SendResult(accepted=False)``). Throttling is retried with bounded
exponential backoff and full jitter; other errors propagate (the claim stays, a later poll resends).
"""

from __future__ import annotations

import json
import random
import time
from typing import Any, Callable

from botocore.exceptions import ClientError

from sfn_callback.poc.lifecycle import Outcome, SendResult

FINISHED_CODES = frozenset({"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"})
THROTTLING_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"})


def backoff_delays(attempts: int, base: float, cap: float, rng: random.Random) -> list[float]:
    """Full-jitter exponential delays: ``uniform(0, min(cap, base * 2**i))``."""
    return [rng.uniform(0, min(cap, base * (2**i))) for i in range(attempts)]


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
        delays = backoff_delays(self._max_retries, self._base, self._cap, self._rng)
        for attempt in range(self._max_retries + 1):
            try:
                if outcome.is_success:
                    self._sfn.send_task_success(
                        taskToken=task_token, output=json.dumps(outcome.output or {}, default=str)
                    )
                else:
                    kwargs: dict[str, Any] = {"taskToken": task_token, "error": outcome.error}
                    if outcome.cause:
                        kwargs["cause"] = outcome.cause
                    self._sfn.send_task_failure(**kwargs)
                return SendResult(accepted=True)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in FINISHED_CODES:
                    return SendResult(accepted=False, finished_reason=code)
                if code in THROTTLING_CODES and attempt < self._max_retries:
                    self._sleep(delays[attempt])
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover
