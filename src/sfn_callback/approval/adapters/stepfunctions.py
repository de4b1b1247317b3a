"""The approval service's Step Functions port: a decision's callback through the callback core, and how a task's
execution stands.

``send`` answers ``Delivered``, or ``Finished(code)`` when the token is already closed (``TaskDoesNotExist`` /
``TaskTimedOut`` on AWS, ``InvalidToken`` on moto), or raises :class:`CallbackUnavailable` when the call did not
go through; ``maybe_delivered`` then says whether it might have reached Step Functions anyway (a connection lost
or a read timeout, a 5xx) or certainly did not (throttling, a refusal such as access denied). The core retries
throttling only here (``retry_only_throttling``), at most ``CALLBACK_MAX_ATTEMPTS`` calls; a 5xx or a lost
connection is left to the service, which redelivers the recorded decision. ``execution_end`` tells how a task's
execution stands, for tasks that may have ended without a decision.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sfn_callback.approval.domain.model import TASK_OUTCOMES, Action, Decision, ExecutionEnd
from sfn_callback.callbacks import CALLBACK_MAX_ATTEMPTS, CallbackResult, StepFunctionsCallbacks, TaskCallbacks
from sfn_callback.callbacks.retry import error_code

__all__ = ["ApprovalStepFunctions", "CallbackUnavailable", "Delivered", "ExecutionEnd", "Finished", "SendResult",
           "decision_result"]


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


def decision_result(result: CallbackResult) -> SendResult:
    """The callback core's result in the approval service's terms (raises :class:`CallbackUnavailable`)."""
    if result.delivered:
        return Delivered()
    if result.token_finished:
        return Finished(result.code or "TaskDoesNotExist")
    detail = f"{result.code}: {result.error if result.error is not None else result.message}"
    raise CallbackUnavailable(detail, maybe_delivered=result.maybe_delivered)


class ApprovalStepFunctions:
    """The service's ``Callbacks`` port on a Step Functions client: callbacks through the core, execution reads."""

    def __init__(self, client: Any, *, max_retries: int = CALLBACK_MAX_ATTEMPTS - 1, base_delay: float = 0.05,
                 max_delay: float = 1.0, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, callbacks: TaskCallbacks | None = None):
        self._sfn = client
        self.callbacks = callbacks or StepFunctionsCallbacks(
            client, max_attempts=max_retries + 1, base_delay=base_delay, max_delay=max_delay,
            retry_only_throttling=True, sleep=sleep, uniform=(rng or random.Random()).uniform)

    def send(self, task_token: str, decision: Decision) -> SendResult:
        if decision.action is Action.APPROVE:
            result = self.callbacks.succeed(task_token, decision.success_output())
        else:
            error, cause = decision.failure()
            result = self.callbacks.fail(task_token, error, cause)
        return decision_result(result)

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
