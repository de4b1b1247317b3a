"""The callback core's error classes and its one retry loop (bounded attempts, exponential backoff, full jitter).

* :data:`FINISHED_CODES`: the token is already closed (used, timed out, or its execution ended) or was never
  valid. AWS and the local cloud answer ``TaskDoesNotExist`` or ``TaskTimedOut`` for a finished token, moto and
  AWS ``InvalidToken`` for a value that is not a token. Final: a retry cannot succeed.
* :data:`THROTTLING_CODES`: the request was refused for its rate; it is safe to send again after a pause.
* :data:`TRANSIENT_CODES` (and any 5xx): the service failed the request; it may have been carried out.

:func:`classify` turns an exception of a SendTask* call into a :class:`~sfn_callback.callbacks.result.CallbackStatus`.

**One retry layer.** The core's boto3 client is built with :func:`callback_client_config` (botocore makes one
attempt per call); :func:`call_with_backoff` in the core's adapter is the only retry, at most
:data:`CALLBACK_MAX_ATTEMPTS` calls per callback. Wrapping a client with botocore's standard retries (5 attempts)
in a loop of its own multiplies the two: one throttled callback made up to 35 calls.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from sfn_callback.callbacks.result import CallbackStatus
from sfn_callback.common.aws import callback_client_config

__all__ = ["CALLBACK_MAX_ATTEMPTS", "FINISHED_CODES", "THROTTLING_CODES", "TRANSIENT_CODES", "call_with_backoff",
           "callback_client_config", "classify", "error_code", "full_jitter", "http_status", "is_throttling",
           "is_transient", "maybe_delivered"]

T = TypeVar("T")

FINISHED_CODES = frozenset({"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"})
THROTTLING_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"})
TRANSIENT_CODES = THROTTLING_CODES | frozenset({
    "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalServerError",
    "InternalServerException", "RequestTimeout", "RequestTimeoutException",
})
CALLBACK_MAX_ATTEMPTS = 5
"""Calls a sender makes for one callback at most (the first and its retries)."""


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ``ClientError`` (``""`` when it has none, or for any other exception)."""
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") or ""
    return ""


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a ``ClientError``'s response, if it has one."""
    if isinstance(exc, ClientError):
        return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or None
    return None


def is_throttling(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES


def is_transient(exc: BaseException) -> bool:
    """Worth sending again after a pause: throttling, a 5xx, a network error."""
    return _aws_error(exc) and classify(exc)[0] is CallbackStatus.TRANSIENT


def maybe_delivered(exc: BaseException) -> bool:
    """The failed call may still have reached Step Functions (a 5xx, a connection lost after sending)."""
    return _aws_error(exc) and classify(exc)[1]


def _aws_error(exc: BaseException) -> bool:
    return isinstance(exc, (ClientError, BotoCoreError))


def classify(exc: BaseException) -> tuple[CallbackStatus, bool]:
    """What an exception of a SendTask* call means: ``(status, maybe_delivered)``.

    ``TOKEN_FINISHED`` for :data:`FINISHED_CODES`; ``TRANSIENT`` for throttling (refused for its rate: certainly
    not delivered), :data:`TRANSIENT_CODES` and 5xx (the service may have carried it out), a connection that could
    not be made (not delivered) or was lost or timed out after the request was sent (may have been delivered);
    ``REFUSED`` for any other AWS answer (validation, access denied) and client-side errors (missing credentials,
    invalid parameters). Raises ``TypeError`` for an exception that is not an AWS or botocore one."""
    if isinstance(exc, ClientError):
        code, status = error_code(exc), http_status(exc) or 0
        if code in FINISHED_CODES:
            return CallbackStatus.TOKEN_FINISHED, False
        if code in THROTTLING_CODES or status == 429:
            return CallbackStatus.TRANSIENT, False
        if code in TRANSIENT_CODES or status >= 500:
            return CallbackStatus.TRANSIENT, True
        return CallbackStatus.REFUSED, False
    if isinstance(exc, (ConnectionClosedError, ReadTimeoutError)):
        return CallbackStatus.TRANSIENT, True
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return CallbackStatus.TRANSIENT, False
    if isinstance(exc, BotoCoreError):
        return CallbackStatus.REFUSED, False
    raise TypeError(f"not an AWS error: {type(exc).__name__}")


def full_jitter(retry: int, base_delay: float, max_delay: float,
                uniform: Callable[[float, float], float] = random.uniform) -> float:
    """The pause before retry number ``retry`` (0 for the first): ``uniform(0, min(max_delay, base * 2**retry))``."""
    return uniform(0.0, min(max_delay, base_delay * (2**retry)))


def call_with_backoff(
    call: Callable[[], T],
    *,
    retry_if: Callable[[Exception], bool],
    max_retries: int,
    base_delay: float,
    max_delay: float,
    sleep: Callable[[float], None] = time.sleep,
    uniform: Callable[[float, float], float] = random.uniform,
) -> T:
    """``call()``; an exception for which ``retry_if`` holds is retried up to ``max_retries`` times, after a
    full-jitter pause each (:func:`full_jitter`). Any other exception, or the last one, propagates."""
    retry = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if retry >= max_retries or not retry_if(exc):
                raise
        sleep(full_jitter(retry, base_delay, max_delay, uniform))
        retry += 1
