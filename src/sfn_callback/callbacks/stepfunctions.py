"""The callback core's boto3 adapter: SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat on Step Functions.

Every call answers a :class:`~sfn_callback.callbacks.result.CallbackResult`; no AWS answer is raised:

* the output is checked before anything is sent: a string must be a JSON document, any other value is
  serialised compactly (``default=str`` for dates and the like); NaN and Infinity (not JSON) and an output over
  256 KB (Step Functions' limit) are ``REFUSED`` with ``OutputNotJson`` / ``OutputTooLarge``, nothing sent;
* a finished token (``TaskTimedOut``, ``TaskDoesNotExist``, ``InvalidToken``) is ``TOKEN_FINISHED``, never retried;
* throttling, 5xx and network errors are retried here, the one retry layer (the client makes one attempt per
  call, :func:`~sfn_callback.common.aws.callback_client`): at most ``max_attempts`` calls with full-jitter
  backoff, then ``TRANSIENT``. ``maybe_delivered`` records whether any attempt may have reached Step Functions,
  also on a later ``TOKEN_FINISHED`` (the token may have been closed by this very callback);
* any other AWS answer (validation, access denied) or client-side error (no credentials) is ``REFUSED``.

``retry_only_throttling``: retry throttling only and answer the first 5xx or network error at once (for a caller
that redelivers the callback itself, such as the approval service).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sfn_callback.callbacks.result import CallbackResult, CallbackStatus
from sfn_callback.callbacks.retry import (
    CALLBACK_MAX_ATTEMPTS,
    call_with_backoff,
    classify,
    error_code,
    full_jitter,
    is_throttling,
)
from sfn_callback.common.logging import remember_token

MAX_OUTPUT_BYTES = 262_144
"""SendTaskSuccess ``output``: at most 256 KB of UTF-8."""

__all__ = ["MAX_OUTPUT_BYTES", "OutputRefused", "StepFunctionsCallbacks", "encode_output"]


class OutputRefused(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def encode_output(output: Any) -> str:
    """The ``output`` of SendTaskSuccess as compact JSON; :class:`OutputRefused` when it is not JSON or too big."""
    if isinstance(output, (bytes, bytearray)):
        try:
            output = output.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise OutputRefused("OutputNotJson", f"output is not UTF-8: {exc}") from exc
    if isinstance(output, str):
        try:
            json.loads(output, parse_constant=_no_constant)
        except ValueError as exc:
            raise OutputRefused("OutputNotJson", f"output is not a JSON document: {exc}") from exc
        text = output
    else:
        try:
            text = json.dumps(output, separators=(",", ":"), allow_nan=False, default=str)
        except (ValueError, TypeError, RecursionError) as exc:
            raise OutputRefused("OutputNotJson", f"output cannot be JSON: {exc}") from exc
    size = len(text.encode("utf-8"))
    if size > MAX_OUTPUT_BYTES:
        raise OutputRefused("OutputTooLarge", f"output is {size} bytes, over Step Functions' {MAX_OUTPUT_BYTES}")
    return text


class StepFunctionsCallbacks:
    """:class:`~sfn_callback.callbacks.port.TaskCallbacks` on a boto3 ``stepfunctions`` client (built with
    :func:`~sfn_callback.common.aws.callback_client`; ``None``: the ambient one, as in a Lambda)."""

    def __init__(
        self,
        client: Any = None,
        *,
        max_attempts: int = CALLBACK_MAX_ATTEMPTS,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        retry_only_throttling: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if client is None:
            from sfn_callback.common.aws import callback_client

            client = callback_client()
        self.client = client
        self.max_attempts = max_attempts
        self._base = base_delay
        self._cap = max_delay
        self._only_throttling = retry_only_throttling
        self._sleep = sleep
        self._uniform = uniform

    # --- the port ----------------------------------------------------------------------------------------
    def succeed(self, token: str, output: Any) -> CallbackResult:
        remember_token(token)
        try:
            body = encode_output(output)
        except OutputRefused as exc:
            return CallbackResult("success", CallbackStatus.REFUSED, exc.code, str(exc), attempts=0, error=exc)
        return self._call("success", lambda: self.client.send_task_success(taskToken=token, output=body))

    def fail(self, token: str, error: str, cause: str | None = None) -> CallbackResult:
        remember_token(token)
        kwargs: dict[str, Any] = {"taskToken": token, "error": error}
        if cause:
            kwargs["cause"] = cause
        return self._call("failure", lambda: self.client.send_task_failure(**kwargs))

    def heartbeat(self, token: str) -> CallbackResult:
        remember_token(token)
        return self._call("heartbeat", lambda: self.client.send_task_heartbeat(taskToken=token))

    # --- the retry layer ------------------------------------------------------------------------------------
    def backoff(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1 for the first):
        uniform in ``[0, min(max_delay, base_delay * 2**(attempt-1))]``."""
        return full_jitter(attempt - 1, self._base, self._cap, self._uniform)

    def _call(self, kind: str, send: Callable[[], Any]) -> CallbackResult:
        started = time.perf_counter()
        attempts = 0
        maybe = False

        def once() -> None:
            nonlocal attempts
            attempts += 1
            send()

        def retry_if(exc: Exception) -> bool:
            nonlocal maybe
            if not isinstance(exc, (ClientError, BotoCoreError)):
                return False
            status, may_have = classify(exc)
            maybe = maybe or may_have
            if status is not CallbackStatus.TRANSIENT:
                return False
            return is_throttling(exc) or not self._only_throttling

        try:
            call_with_backoff(once, retry_if=retry_if, max_retries=self.max_attempts - 1, base_delay=self._base,
                              max_delay=self._cap, sleep=self._sleep, uniform=self._uniform)
        except (ClientError, BotoCoreError) as exc:
            status, _ = classify(exc)
            return CallbackResult(kind, status, error_code(exc) or type(exc).__name__, _message(exc),
                                  maybe_delivered=maybe, attempts=attempts, latency_ms=_elapsed_ms(started), error=exc)
        return CallbackResult(kind, CallbackStatus.DELIVERED, attempts=attempts, latency_ms=_elapsed_ms(started))


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message") or exc)
    return str(exc)


