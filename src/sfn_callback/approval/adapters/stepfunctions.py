"""Sends a decision's callback to Step Functions and, when needed, asks how a task ended.

``send`` answers ``Delivered``, or ``Finished(code)`` when the token is already closed (``TaskDoesNotExist`` /
``TaskTimedOut`` on AWS, ``InvalidToken`` on moto), or raises :class:`CallbackUnavailable` when the call did not
go through; ``maybe_delivered`` then says whether it might have reached Step Functions anyway (a connection
or read timeout, a 5xx) or certainly did not (a 4xx such as throttling or access denied). Throttling is retried
here with full-jitter backoff before giving up, at most ``CALLBACK_MAX_ATTEMPTS`` calls: the one retry layer (the
client is built without botocore's retries, ``sfn_callback.common.aws.callback_client``); a 5xx or a lost connection
is left to the service, which redelivers the recorded decision. ``execution_end`` tells how a task's
execution stands, for tasks that may have ended without a decision.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sfn_callback.approval.domain import TASK_OUTCOMES, Action, Decision, ExecutionEnd
from sfn_callback.callbacks.retry import (
    CALLBACK_MAX_ATTEMPTS,
    FINISHED_CODES,
    THROTTLING_CODES,
    error_code,
    http_status,
    send_or_finished,
)

__all__ = ["FINISHED_CODES", "THROTTLING_CODES", "CallbackUnavailable", "Delivered", "ExecutionEnd", "Finished",
           "SendResult", "StepFunctionsCallbacks"]


@dataclass(frozen=True)
class Delivered:
    pass


@dataclass(frozen=True)
class Finished:
    code: str


SendResult = Delivered | Finished

class CallbackUnavailable(Exception):
    def __init__(self, message: str, maybe_delivered: bool):
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class StepFunctionsCallbacks:
    def __init__(self, client: Any, *, max_retries: int = CALLBACK_MAX_ATTEMPTS - 1, base_delay: float = 0.05,
                 max_delay: float = 1.0, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None):
        self._sfn = client
        self._max_retries = max_retries
        self._base = base_delay
        self._cap = max_delay
        self._sleep = sleep
        self._rng = rng or random.Random()

    def send(self, task_token: str, decision: Decision) -> SendResult:
        try:
            finished = send_or_finished(lambda: self._send_once(task_token, decision), max_retries=self._max_retries,
                                        base_delay=self._base, max_delay=self._cap, sleep=self._sleep,
                                        uniform=self._rng.uniform)
        except ClientError as exc:
            code = error_code(exc)
            status = http_status(exc) or 400
            raise CallbackUnavailable(f"{code or 'ClientError'}: {exc}", maybe_delivered=status >= 500) from exc
        except BotoCoreError as exc:  # connection refused, read timeout, ...
            raise CallbackUnavailable(f"{type(exc).__name__}: {exc}", maybe_delivered=True) from exc
        return Finished(finished) if finished else Delivered()

    def _send_once(self, task_token: str, decision: Decision) -> None:
        if decision.action is Action.APPROVE:
            self._sfn.send_task_success(taskToken=task_token, output=decision.success_output())
        else:
            error, cause = decision.failure()
            self._sfn.send_task_failure(taskToken=task_token, error=error, cause=cause)

    def closed_by_timeout(self, execution_arn: str) -> bool | None:
        """Did the execution's callback task end by timing out (True), by a callback (False), or unknown (None)?"""
        try:
            events = self._sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True,
                                                     maxResults=1000)["events"]
        except (ClientError, BotoCoreError):
            return None
        for event in events:
            kind = event.get("type", "")
            if kind in ("TaskTimedOut", "ExecutionTimedOut"):
                return True
            if kind in ("TaskSucceeded", "TaskFailed"):
                return False
        return None

    def execution_end(self, execution_arn: str, *, with_history: bool = False) -> ExecutionEnd | None:
        """How the execution stands (None if Step Functions cannot say now). The history is read when the
        execution has ended, or when ``with_history`` (the task's deadline has passed)."""
        try:
            described = self._sfn.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
                return ExecutionEnd("NOT_FOUND", None, None)
            return None
        except BotoCoreError:
            return None
        status = described["status"]
        task_outcome = None
        if status != "RUNNING" or with_history:
            try:
                events = self._sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True,
                                                         maxResults=1000)["events"]
            except (ClientError, BotoCoreError):
                return None
            task_outcome = next((e["type"] for e in events if e.get("type") in TASK_OUTCOMES), None)
        return ExecutionEnd(status, described.get("stopDate"), task_outcome)
