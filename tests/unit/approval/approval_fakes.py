"""In-memory stand-ins for the repository and Step Functions, with the same conditional semantics."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from sfn_callback.approval.adapters.dynamodb import ClaimConflict
from sfn_callback.approval.adapters.stepfunctions import CallbackUnavailable, Delivered, Finished
from sfn_callback.approval.domain.model import ApprovalTask, AuditEntry, CallbackState, Decision, ExecutionEnd, Status


class FakeRepository:
    def __init__(self) -> None:
        self.items: dict[str, ApprovalTask] = {}
        self.lock = threading.Lock()

    def get(self, order_id):
        return self.items.get(order_id)

    def list_by_status(self, status, limit, cursor=None):
        tasks = sorted((t for t in self.items.values() if t.status is status), key=lambda t: t.start_time)
        start = int(cursor or 0)
        page = tasks[start:start + limit]
        return page, (str(start + limit) if start + limit < len(tasks) else None)

    def pending_callbacks(self, now, limit=25):
        return [t for t in self.items.values() if t.callback_pending and t.lease_until <= now][:limit]

    def create(self, task):
        with self.lock:
            if task.order_id in self.items:
                return False
            self.items[task.order_id] = task
            return True

    def claim(self, order_id, decision: Decision, lease_until: datetime):
        with self.lock:
            task = self.items.get(order_id)
            if task is None or task.status is not Status.PENDING:
                raise ClaimConflict(order_id)
            self.items[order_id] = task.with_decision(decision, lease_until)
            return self.items[order_id]

    def _owned(self, task):
        current = self.items.get(task.order_id)
        if current is None or current.callback_state is not CallbackState.SENDING or current.decision.claim_id != task.decision.claim_id:
            raise ClaimConflict(task.order_id)
        return current

    def take_lease(self, task, now, lease_until):
        with self.lock:
            current = self._owned(task)
            if current.lease_until > now:
                raise ClaimConflict(task.order_id)
            self.items[task.order_id] = replace(current, lease_until=lease_until)
            return self.items[task.order_id]

    def mark_sent(self, task, at, detail=None):
        with self.lock:
            current = self._owned(task)
            self.items[task.order_id] = replace(current, callback_state=CallbackState.SENT, callback_sent_at=at,
                                                lease_until=None,
                                                audit=current.audit + (AuditEntry(at, "step-functions", "CALLBACK_SENT", detail),))
            return self.items[task.order_id]

    def mark_closed(self, task, at, code, status=Status.TIMED_OUT):
        with self.lock:
            current = self._owned(task)
            self.items[task.order_id] = replace(current, status=status, callback_state=CallbackState.CLOSED,
                                                closed_reason=code, decision=None, lease_until=None,
                                                audit=current.audit + (AuditEntry(at, "step-functions", "TOKEN_CLOSED", code),))
            return self.items[task.order_id]

    def mark_ended(self, task, at, status, reason):
        with self.lock:
            current = self.items.get(task.order_id)
            if current is None or current.status is not Status.PENDING:
                raise ClaimConflict(task.order_id)
            self.items[task.order_id] = replace(current, status=status, closed_reason=reason,
                                                audit=current.audit + (AuditEntry(at, "step-functions", "EXECUTION_ENDED", reason),))
            return self.items[task.order_id]

    def record_callback_failure(self, task, at, error, maybe_delivered, retry_at):
        with self.lock:
            current = self._owned(task)
            self.items[task.order_id] = replace(
                current, callback_error=error, callback_attempts=current.callback_attempts + 1, lease_until=retry_at,
                callback_maybe_delivered=current.callback_maybe_delivered or maybe_delivered)
            return self.items[task.order_id]


class FakeCallbacks:
    """Scripted answers per call: 'ok', 'finished', 'down' (certainly not delivered), 'lost' (maybe delivered)."""

    def __init__(self, script=None, timed_out=None, ends=None):
        self.script = list(script or [])
        self.sent: list[tuple[str, Decision]] = []
        self.accepted: dict[str, Decision] = {}
        self.timed_out = timed_out  # answer of closed_by_timeout
        self.ends = dict(ends or {})  # execution ARN -> ExecutionEnd (default: RUNNING, still waiting)
        self.described: list[tuple[str, bool]] = []

    def send(self, token, decision):
        step = self.script.pop(0) if self.script else "ok"
        self.sent.append((token, decision))
        if step == "down":
            raise CallbackUnavailable("ThrottlingException: slow down", maybe_delivered=False)
        if step == "lost":  # reached Step Functions, the answer was lost
            self.accepted.setdefault(token, decision)
            raise CallbackUnavailable("ReadTimeoutError: no answer", maybe_delivered=True)
        if step == "finished" or token in self.accepted:
            return Finished("TaskTimedOut" if step == "finished" else "InvalidToken")
        self.accepted[token] = decision
        return Delivered()

    def closed_by_timeout(self, execution_arn):
        return self.timed_out

    def execution_end(self, execution_arn, *, with_history=False):
        self.described.append((execution_arn, with_history))
        return self.ends.get(execution_arn, ExecutionEnd("RUNNING"))
