"""Use cases: record a request, decide (exactly once), redeliver outstanding callbacks, list.

The order of a decision, and why:

1. **Claim** the decision in DynamoDB: a conditional write PENDING → APPROVED/REJECTED that stores who, when,
   why, the output, a claim id, ``callbackState = SENDING`` and a short lease. Of two concurrent decisions
   exactly one write succeeds; the other answers 409 with the winner's decision. Nothing has been sent yet,
   so a loser never reaches Step Functions.
2. **Send** the callback (SendTaskSuccess / SendTaskFailure) with the token read from the claimed item.
3. **Finalize**: ``SENT``; or, when Step Functions answers that the token is already closed, ``TIMED_OUT``
   (410; the refused decision stays in the audit trail).

If the call in step 2 fails (network, throttling past the retries, access denied, a crash of this process),
the claim stays ``SENDING`` with the error, the attempt count and a retry time. Nothing is lost: the decision
is recorded and :meth:`ApprovalService.redeliver_pending` (run periodically by the API) sends *the same recorded
decision* again once the lease expires; a different decision can never be sent because the claim is the only
source. Nothing is sent twice in effect: a lease lets one redeliverer at a time work on a task, and even
a repeated send of the same token cannot resume the workflow twice (Step Functions accepts one callback per
token and answers "finished" to the rest). When a resend answers "finished" after an attempt that may have
landed, the execution history tells whether that was our callback (``SENT``) or a timeout (``TIMED_OUT``).

**Reconciliation.** A task nobody decided ends with its execution: its TimeoutSeconds lapses, or the execution
is stopped or fails while the task waits. Nothing tells the service, so it asks Step Functions
(DescribeExecution, and the history once the execution ended or the deadline passed) and records the end with
a conditional write from PENDING (TIMED_OUT, or CLOSED with how and when the execution ended): a decision and
a reconciliation cannot both win. It asks

* in :meth:`ApprovalService.reconcile_pending`, run by the API every few seconds (``reconcile_interval``, 5):
  each round walks one page of PENDING tasks (oldest first, continuing where the last round stopped) and
  checks those past their deadline and those not checked for ``check_every_seconds`` (30);
* when a PENDING task is read (``GET /tasks/{orderId}``: past its deadline or not checked lately) or listed
  (``GET /tasks?status=PENDING``: past its deadline), so approvers never see a dead task as waiting.

Our clock only picks the tasks to ask about; what is recorded comes from Step Functions' answer, so a task
whose deadline passed by our clock but that Step Functions still holds stays PENDING until it does not.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Protocol

from sfn_callback.approval.adapters.dynamodb import ClaimConflict, InvalidCursor
from sfn_callback.approval.adapters.stepfunctions import CallbackUnavailable, Delivered, Finished, SendResult
from sfn_callback.approval.domain.model import (
    Action,
    ApprovalTask,
    AuditEntry,
    Decision,
    ExecutionEnd,
    Status,
)
from sfn_callback.approval.entrypoints.messages import ApprovalRequest
from sfn_callback.common.clock import utcnow
from sfn_callback.common.logging import std_logger

log = std_logger("sfn_callback.approval")


class Repository(Protocol):
    def get(self, order_id: str) -> ApprovalTask | None: ...
    def list_by_status(self, status: Status, limit: int, cursor: str | None = None) -> tuple[list[ApprovalTask], str | None]: ...
    def pending_callbacks(self, now: datetime, limit: int = 25) -> list[ApprovalTask]: ...
    def create(self, task: ApprovalTask) -> bool: ...
    def claim(self, order_id: str, decision: Decision, lease_until: datetime) -> ApprovalTask: ...
    def take_lease(self, task: ApprovalTask, now: datetime, lease_until: datetime) -> ApprovalTask: ...
    def mark_sent(self, task: ApprovalTask, at: datetime, detail: str | None = None) -> ApprovalTask: ...
    def mark_closed(self, task: ApprovalTask, at: datetime, code: str,
                    status: Status = Status.TIMED_OUT) -> ApprovalTask: ...
    def mark_ended(self, task: ApprovalTask, at: datetime, status: Status, reason: str) -> ApprovalTask: ...
    def record_callback_failure(self, task: ApprovalTask, at: datetime, error: str, maybe_delivered: bool,
                                retry_at: datetime) -> ApprovalTask: ...


class Callbacks(Protocol):
    def send(self, task_token: str, decision: Decision) -> SendResult: ...
    def closed_by_timeout(self, execution_arn: str) -> bool | None: ...
    def execution_end(self, execution_arn: str, *, with_history: bool = False) -> ExecutionEnd | None: ...


class Outcome(str, Enum):
    DECIDED = "DECIDED"  # claimed and delivered (200)
    DELIVERY_PENDING = "DELIVERY_PENDING"  # claimed, callback not confirmed yet; redelivery owns it (202)
    ALREADY_DECIDED = "ALREADY_DECIDED"  # 409, with the existing decision
    CLOSED = "CLOSED"  # the token was already closed; recorded TIMED_OUT or CLOSED (410)
    NOT_FOUND = "NOT_FOUND"  # 404


class RecordOutcome(str, Enum):
    CREATED = "CREATED"
    DUPLICATE = "DUPLICATE"  # the same request delivered again: nothing changed


class ConflictingRequest(Exception):
    """A request for an orderId that already has a task of another execution."""


@dataclass(frozen=True)
class DecisionResult:
    outcome: Outcome
    task: ApprovalTask | None


class ApprovalService:
    def __init__(self, repository: Repository, callbacks: Callbacks, *, clock: Callable[[], datetime] = utcnow,
                 lease_seconds: float = 30.0, retry_seconds: float = 5.0, new_id: Callable[[], str] | None = None,
                 check_every_seconds: float = 30.0):
        self.repository = repository
        self.callbacks = callbacks
        self._clock = clock
        self._lease = timedelta(seconds=lease_seconds)
        self._retry = timedelta(seconds=retry_seconds)
        self._new_id = new_id or (lambda: uuid.uuid4().hex)
        self._check_every = timedelta(seconds=check_every_seconds)
        self._checked: dict[str, datetime] = {}  # orderId -> when its execution was last asked about
        self._walk_cursor: str | None = None

    def now(self) -> datetime:
        return self._clock()

    # -- the consumer ----------------------------------------------------------------------------------------
    def record_request(self, request: ApprovalRequest, message_id: str | None = None) -> RecordOutcome:
        now = self._clock()
        task = ApprovalTask(
            order_id=request.order_id,
            transaction_id=request.transaction_id,
            task_token=request.task_token,
            start_time=request.start_time,
            timeout_seconds=request.timeout_seconds,
            received_at=now,
            details=request.details,
            audit=(AuditEntry(now, "sqs", "RECEIVED", message_id),),
        )
        if self.repository.create(task):
            log.info("approval task stored", extra={"orderId": task.order_id, "taskToken": task.task_token})
            return RecordOutcome.CREATED
        existing = self.repository.get(request.order_id)
        if existing is not None and existing.transaction_id == request.transaction_id \
                and existing.task_token == request.task_token:
            return RecordOutcome.DUPLICATE
        raise ConflictingRequest(
            f"order {request.order_id!r} already has an approval task of execution "
            f"{existing.transaction_id if existing else '?'}; this request is for {request.transaction_id}"
        )

    # -- decisions -------------------------------------------------------------------------------------------
    def decide(self, order_id: str, action: Action, actor: str, reason: str | None = None,
               output: Any = None) -> DecisionResult:
        # The claim is the first call: no read before it, so nothing can change between a read and the write.
        now = self._clock()
        decision = Decision(action=action, actor=actor, at=now, claim_id=self._new_id(), reason=reason, output=output)
        try:
            claimed = self.repository.claim(order_id, decision, lease_until=now + self._lease)
        except ClaimConflict:
            current = self.repository.get(order_id)
            return self._refusal(current) if current else DecisionResult(Outcome.NOT_FOUND, None)
        log.info("decision claimed", extra={"orderId": order_id, "action": action.value, "actor": actor})
        return self._deliver(claimed)

    def _refusal(self, task: ApprovalTask) -> DecisionResult:
        if task.status.token_closed:
            return DecisionResult(Outcome.CLOSED, task)
        return DecisionResult(Outcome.ALREADY_DECIDED, task)

    def _deliver(self, task: ApprovalTask) -> DecisionResult:
        assert task.decision is not None
        try:
            result = self.callbacks.send(task.task_token, task.decision)
        except CallbackUnavailable as exc:
            now = self._clock()
            log.warning("callback not confirmed; it stays claimed for redelivery",
                        extra={"orderId": task.order_id, "taskToken": task.task_token, "error": str(exc)})
            try:
                updated = self.repository.record_callback_failure(task, now, str(exc), exc.maybe_delivered,
                                                                  retry_at=now + self._retry)
            except ClaimConflict:
                updated = self.repository.get(task.order_id) or task
            return DecisionResult(Outcome.DELIVERY_PENDING, updated)
        try:
            return self._finalize(task, result)
        except ClaimConflict:
            # Another redeliverer finalized it first: report what is stored.
            current = self.repository.get(task.order_id) or task
            outcome = Outcome.CLOSED if current.status.token_closed else Outcome.DECIDED
            return DecisionResult(outcome, current)

    def _finalize(self, task: ApprovalTask, result: SendResult) -> DecisionResult:
        now = self._clock()
        if isinstance(result, Delivered):
            return DecisionResult(Outcome.DECIDED, self.repository.mark_sent(task, now))
        assert isinstance(result, Finished)
        if task.callback_maybe_delivered:
            # An earlier attempt may have landed: was the token closed by our callback or by a timeout?
            timed_out = self.callbacks.closed_by_timeout(task.transaction_id)
            if timed_out is False:
                return DecisionResult(Outcome.DECIDED, self.repository.mark_sent(
                    task, now, f"confirmed by the execution history after {result.code}"))
            if timed_out is None:
                log.error("token closed after an attempt that may have landed; outcome unverified",
                          extra={"orderId": task.order_id, "code": result.code})
                return DecisionResult(Outcome.DECIDED, self.repository.mark_sent(
                    task, now, f"{result.code} after an attempt that may have landed; unverified"))
        log.info("token already closed", extra={"orderId": task.order_id, "code": result.code,
                                                 "taskToken": task.task_token})
        status, code = Status.TIMED_OUT, result.code
        if result.code != "TaskTimedOut":  # closed, but not by the task's timeout: how did its execution end?
            end = self.callbacks.execution_end(task.transaction_id, with_history=True)
            verdict = end.closes() if end else None
            if verdict is not None:
                status, code = verdict[0], f"{result.code}; {verdict[1]}"
        return DecisionResult(Outcome.CLOSED, self.repository.mark_closed(task, now, code, status))

    def redeliver_pending(self, limit: int = 25) -> list[DecisionResult]:
        """Send the recorded decision of every task whose callback is outstanding and whose lease expired."""
        results = []
        now = self._clock()
        for task in self.repository.pending_callbacks(now, limit):
            try:
                owned = self.repository.take_lease(task, now, now + self._lease)
            except ClaimConflict:
                continue  # finalized or leased meanwhile
            log.info("redelivering a claimed decision", extra={"orderId": task.order_id,
                                                                "attempts": owned.callback_attempts})
            results.append(self._deliver(owned))
        return results

    # -- undecided tasks whose execution ended ---------------------------------------------------------------
    def reconcile(self, task: ApprovalTask) -> ApprovalTask:
        """Ask Step Functions about a PENDING task; record its end if it has one. The task as it is now."""
        if task.status is not Status.PENDING:
            return task
        now = self._clock()
        end = self.callbacks.execution_end(task.transaction_id, with_history=now >= task.expires_at)
        self._checked[task.order_id] = now
        verdict = end.closes() if end else None
        if verdict is None:
            return task
        status, reason = verdict
        try:
            updated = self.repository.mark_ended(task, now, status, reason)
        except ClaimConflict:  # decided (or reconciled) meanwhile
            return self.repository.get(task.order_id) or task
        finally:
            self._checked.pop(task.order_id, None)
        log.info("undecided task ended with its execution",
                 extra={"orderId": task.order_id, "status": status.value, "reason": reason})
        return updated

    def _check_due(self, task: ApprovalTask, now: datetime) -> bool:
        return now >= task.expires_at or now - self._checked.get(task.order_id, task.received_at) >= self._check_every

    def reconcile_pending(self, limit: int = 25) -> list[ApprovalTask]:
        """One round: the next page of PENDING tasks; those due a check are asked about. The tasks that ended."""
        try:
            tasks, self._walk_cursor = self.repository.list_by_status(Status.PENDING, limit, self._walk_cursor)
        except InvalidCursor:
            tasks, self._walk_cursor = self.repository.list_by_status(Status.PENDING, limit, None)
        if len(self._checked) > 10 * max(limit, len(tasks)) + 10_000:
            self._checked.clear()  # bounded memory; forgetting only makes the next checks sooner
        now = self._clock()
        ended = []
        for task in tasks:
            if self._check_due(task, now):
                current = self.reconcile(task)
                if current.status is not Status.PENDING:
                    ended.append(current)
        return ended

    # -- reads -----------------------------------------------------------------------------------------------
    def get(self, order_id: str) -> ApprovalTask | None:
        task = self.repository.get(order_id)
        if task is not None and task.status is Status.PENDING and self._check_due(task, self._clock()):
            task = self.reconcile(task)
        return task

    def list(self, status: Status, limit: int, cursor: str | None = None) -> tuple[list[ApprovalTask], str | None]:
        tasks, next_cursor = self.repository.list_by_status(status, limit, cursor)
        if status is Status.PENDING:
            now = self._clock()
            tasks = [t for t in (self.reconcile(t) if now >= t.expires_at else t for t in tasks)
                     if t.status is Status.PENDING]
        return tasks, next_cursor
