"""Step Functions callback adapter: SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat with boto3.

Errors are classified, never raised:

* ``TaskDoesNotExist``, ``InvalidToken``, ``TaskTimedOut``: the token is finished (used, timed out, or its
  execution ended) or was never valid. Final, not retried. AWS and the local cloud answer ``TaskTimedOut``
  or ``TaskDoesNotExist`` for a finished token and ``InvalidToken`` for one that is not a token at all.
* Throttling, 5xx and network errors: retried with exponential backoff and full jitter, a bounded number of
  attempts (the boto3 client should be built without its own retries, see :func:`callback_client_config`,
  shared by every sender in ``sfn_callback.callbacks.retry``).
* Any other client error (access denied, validation): final, not retried.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from sfn_callback.export.application.ports import CallbackErrorKind, CallbackOutcome
from sfn_callback.callbacks.retry import (
    FINISHED_CODES,
    THROTTLING_CODES,
    call_with_backoff,
    callback_client_config,
    error_code,
    full_jitter,
    http_status,
)

TOKEN_FINISHED_ERRORS = FINISHED_CODES
TRANSIENT_ERRORS = THROTTLING_CODES | frozenset(
    {
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_TRANSIENT_NETWORK = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)


def classify_error(exc: BaseException) -> tuple[str, CallbackErrorKind]:
    """Map an exception from a SendTask* call to ``(error code, kind)``."""
    if isinstance(exc, ClientError):
        code = error_code(exc) or "Unknown"
        status = http_status(exc) or 0
        if code in TOKEN_FINISHED_ERRORS:
            return code, CallbackErrorKind.TOKEN_FINISHED
        if code in TRANSIENT_ERRORS or status >= 500 or status == 429:
            return code, CallbackErrorKind.TRANSIENT
        return code, CallbackErrorKind.REJECTED
    if isinstance(exc, _TRANSIENT_NETWORK):
        return type(exc).__name__, CallbackErrorKind.TRANSIENT
    if isinstance(exc, BotoCoreError):
        return type(exc).__name__, CallbackErrorKind.REJECTED
    return type(exc).__name__, CallbackErrorKind.UNEXPECTED


class StepFunctionsCallbackAdapter:
    """Implements ``StepFunctionsPort`` on a boto3 ``stepfunctions`` client."""

    def __init__(
        self,
        client: Any,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.1,
        max_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[float, float], float] = random.uniform,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._client = client
        self._max_attempts = max_attempts
        self._base = base_delay
        self._cap = max_delay
        self._sleep = sleep
        self._rand = rand

    def send_task_success(self, task_token: str, output: dict[str, Any]) -> CallbackOutcome:
        body = json.dumps(output, separators=(",", ":"), default=str)
        return self._call("success", lambda: self._client.send_task_success(taskToken=task_token, output=body))

    def send_task_failure(self, task_token: str, error: str, cause: str) -> CallbackOutcome:
        return self._call(
            "failure", lambda: self._client.send_task_failure(taskToken=task_token, error=error, cause=cause)
        )

    def send_task_heartbeat(self, task_token: str) -> CallbackOutcome:
        return self._call("heartbeat", lambda: self._client.send_task_heartbeat(taskToken=task_token))

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in ``[0, min(max_delay, base_delay * 2**(attempt-1))]``."""
        return full_jitter(attempt - 1, self._base, self._cap, self._rand)

    def _call(self, kind: str, send: Callable[[], Any]) -> CallbackOutcome:
        started = time.perf_counter()
        attempts = 0

        def once() -> None:
            nonlocal attempts
            attempts += 1
            send()

        try:
            call_with_backoff(once, retry_if=lambda exc: classify_error(exc)[1] is CallbackErrorKind.TRANSIENT,
                              max_retries=self._max_attempts - 1, base_delay=self._base, max_delay=self._cap,
                              sleep=self._sleep, uniform=self._rand)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an outcome (errors are never raised)
            code, error_kind = classify_error(exc)
            return CallbackOutcome(
                kind=kind,
                ok=False,
                error_code=code,
                error_kind=error_kind,
                message=_message(exc),
                attempts=attempts,
                latency_ms=_elapsed_ms(started),
            )
        return CallbackOutcome(kind=kind, ok=True, attempts=attempts, latency_ms=_elapsed_ms(started))


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message") or exc)
    return str(exc)
