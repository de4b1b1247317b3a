"""What every sender of Step Functions task callbacks (SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat)
needs: which error codes mean the token is finished, which mean "slow down", and a bounded retry loop with
exponential backoff and full jitter.

* :data:`FINISHED_CODES`: the token is already closed (used, timed out, or its execution ended) or was never
  valid. AWS and the local cloud answer ``TaskDoesNotExist`` or ``TaskTimedOut`` for a finished token, moto and
  AWS ``InvalidToken`` for a value that is not a token. Final: a retry cannot succeed.
* :data:`THROTTLING_CODES`: the request was refused for its rate; it is safe to send again after a pause.

Each adapter decides for itself what to retry (``retry_if``) and what an error means to its callers.

**One retry layer.** A sender's boto3 client is built with :func:`callback_client_config` (botocore makes one
attempt per call); the sender's own loop is the only retry, at most :data:`CALLBACK_MAX_ATTEMPTS` calls per
callback. Wrapping a client with botocore's standard retries (5 attempts) in a loop of its own multiplies the
two: one throttled callback made up to 35 calls.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

T = TypeVar("T")

FINISHED_CODES = frozenset({"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"})
THROTTLING_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"})
CALLBACK_MAX_ATTEMPTS = 5
"""Calls a sender makes for one callback at most (the first and its retries)."""


def callback_client_config() -> Config:
    """The client config of every SendTask* sender: botocore does not retry (the sender does, and counts)."""
    return Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=10,
                  max_pool_connections=50)


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
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)):
        return True
    return is_throttling(exc) or (http_status(exc) or 0) >= 500


def maybe_delivered(exc: BaseException) -> bool:
    """The failed call may still have reached Step Functions (a 5xx, a connection lost after sending)."""
    if isinstance(exc, (ConnectionClosedError, ReadTimeoutError)):
        return True
    return not is_throttling(exc) and (http_status(exc) or 0) >= 500


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


def send_or_finished(
    send: Callable[[], object],
    *,
    max_retries: int,
    base_delay: float,
    max_delay: float,
    sleep: Callable[[float], None] = time.sleep,
    uniform: Callable[[float, float], float] = random.uniform,
) -> str | None:
    """One SendTask* call with throttling retried (:func:`call_with_backoff`): ``None`` when it went through,
    the error code when the token is finished (:data:`FINISHED_CODES`); any other error propagates."""
    try:
        call_with_backoff(send, retry_if=is_throttling, max_retries=max_retries, base_delay=base_delay,
                          max_delay=max_delay, sleep=sleep, uniform=uniform)
    except ClientError as exc:
        code = error_code(exc)
        if code in FINISHED_CODES:
            return code
        raise
    return None
