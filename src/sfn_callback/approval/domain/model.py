"""The approval task and its rules, with no AWS in it.

A task is created PENDING when the workflow's request arrives. Exactly one decision moves it to APPROVED or
REJECTED; the decision is *claimed* in the store first (a conditional write from PENDING), then its callback
is sent, then the callback's fate is recorded:

* ``SENDING``: claimed, the callback not confirmed yet (a crash or a failed call leaves the task here; a
  redelivery sends the same recorded decision again, never another one);
* ``SENT``: Step Functions accepted the callback;
* ``CLOSED``: Step Functions had already closed the token (timeout): the task becomes TIMED_OUT and the
  refused decision stays in the audit trail.

A task nobody decided can end with its execution: its TimeoutSeconds lapsed (TIMED_OUT), or the execution was
stopped, failed or otherwise ended while the task waited (status CLOSED, ``closedReason`` says how and when).
:meth:`ExecutionEnd.closes` is that rule; the service applies it so that a dead task never shows as PENDING.

A second send of the same token can never resume the workflow twice: Step Functions accepts one callback per
token and answers "finished" to the rest, which is why a redelivery is safe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sfn_callback.common import clock

DEFAULT_TIMEOUT_SECONDS = 120
MAX_TIMEOUT_SECONDS = 365 * 24 * 3600  # a task token lives at most one year
TTL_RETENTION = timedelta(days=30)  # how long a task (and its audit trail) is kept after its deadline
MAX_OUTPUT_BYTES = 200 * 1024  # SendTaskSuccess output is at most 256 KB, wrapped with the decision's metadata
MAX_REASON_CHARS = 1000
REJECTED_ERROR = "Rejected"  # the error name the workflow's Catch routes to its Rejected state
INSECURE_ACTOR = "insecure-local"


class Status(str, Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    TIMED_OUT = "TIMED_OUT"
    CLOSED = "CLOSED"  # the execution ended while the task waited (stopped, failed, ...), without a decision

    @property
    def token_closed(self) -> bool:
        """No decision can be sent any more (410)."""
        return self in (Status.TIMED_OUT, Status.CLOSED)


class Action(str, Enum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"

    @property
    def status(self) -> Status:
        return Status.APPROVED if self is Action.APPROVE else Status.REJECTED


class CallbackState(str, Enum):
    SENDING = "SENDING"
    SENT = "SENT"
    CLOSED = "CLOSED"


def iso(moment: datetime) -> str:
    """The approval items' time text: :func:`sfn_callback.common.clock.iso` with microseconds (fixed width,
    sorts as time sorts): ``2025-01-02T03:04:05.678901Z``."""
    return clock.iso(moment, "us")


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    event: str
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": iso(self.at), "actor": self.actor, "event": self.event, "detail": self.detail}


@dataclass(frozen=True)
class Decision:
    action: Action
    actor: str  # the name of the API key that decided
    at: datetime
    claim_id: str
    reason: str | None = None
    output: Any = None

    def success_output(self) -> str:
        """SendTaskSuccess output: what the workflow's Approved state carries."""
        return json.dumps({"output": self.output, "decidedBy": self.actor, "decidedAt": iso(self.at),
                           "reason": self.reason}, separators=(",", ":"), default=str)

    def failure(self) -> tuple[str, str]:
        """SendTaskFailure (error, cause)."""
        return REJECTED_ERROR, (self.reason or "")


@dataclass(frozen=True)
class ApprovalTask:
    order_id: str
    transaction_id: str  # the execution ARN
    task_token: str
    start_time: datetime
    timeout_seconds: int
    received_at: datetime
    status: Status = Status.PENDING
    details: dict[str, Any] = field(default_factory=dict)
    decision: Decision | None = None
    callback_state: CallbackState | None = None
    callback_attempts: int = 0
    callback_error: str | None = None
    callback_maybe_delivered: bool = False
    callback_sent_at: datetime | None = None
    lease_until: datetime | None = None
    closed_reason: str | None = None
    audit: tuple[AuditEntry, ...] = ()

    @property
    def expires_at(self) -> datetime:
        return self.start_time + timedelta(seconds=self.timeout_seconds)

    @property
    def ttl(self) -> int:
        """Epoch seconds for the table's TTL: the deadline plus the retention of the audit trail."""
        return int((self.expires_at + TTL_RETENTION).timestamp())

    @property
    def is_decided(self) -> bool:
        return self.status in (Status.APPROVED, Status.REJECTED)

    @property
    def callback_pending(self) -> bool:
        return self.callback_state is CallbackState.SENDING

    def with_decision(self, decision: Decision, lease_until: datetime) -> ApprovalTask:
        """The claimed task (what the conditional write from PENDING stores)."""
        if self.status is not Status.PENDING:
            raise ValueError(f"task {self.order_id} is {self.status.value}, not PENDING")
        return replace(
            self,
            status=decision.action.status,
            decision=decision,
            callback_state=CallbackState.SENDING,
            lease_until=lease_until,
            audit=self.audit + (AuditEntry(decision.at, decision.actor, audit_event(decision.action), decision.reason),),
        )

    def view(self, now: datetime) -> dict[str, Any]:
        """What the API shows: everything but the task token."""
        decision = None
        if self.decision is not None:
            decision = {
                "action": self.decision.action.value,
                "decidedBy": self.decision.actor,
                "decidedAt": iso(self.decision.at),
                "reason": self.decision.reason,
                "output": self.decision.output,
            }
        return {
            "orderId": self.order_id,
            "status": self.status.value,
            "transactionId": self.transaction_id,
            "startTime": iso(self.start_time),
            "timeoutSeconds": self.timeout_seconds,
            "expiresAt": iso(self.expires_at),
            "ageSeconds": round(max(0.0, (now - self.start_time).total_seconds()), 3),
            "timeLeftSeconds": round(max(0.0, (self.expires_at - now).total_seconds()), 3)
            if self.status is Status.PENDING else 0.0,
            "details": self.details,
            "decision": decision,
            "callback": {
                "state": self.callback_state.value if self.callback_state else None,
                "attempts": self.callback_attempts,
                "sentAt": iso(self.callback_sent_at) if self.callback_sent_at else None,
                "lastError": self.callback_error,
                "closedReason": self.closed_reason,
            },
            "audit": [entry.to_dict() for entry in self.audit],
        }


TASK_OUTCOMES = ("TaskSucceeded", "TaskFailed", "TaskTimedOut")


@dataclass(frozen=True)
class ExecutionEnd:
    """An execution as Step Functions shows it: ``status`` (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, or
    NOT_FOUND), when it stopped, and the last task outcome in its history (``TaskSucceeded`` / ``TaskFailed`` /
    ``TaskTimedOut``; None: none yet, or the history was not read)."""

    status: str
    stopped_at: datetime | None = None
    task_outcome: str | None = None

    def closes(self) -> tuple[Status, str] | None:
        """What an undecided (PENDING) task of this execution becomes, and why; None while it still waits."""
        if self.task_outcome == "TaskTimedOut":
            return Status.TIMED_OUT, "TaskTimedOut: the task's TimeoutSeconds lapsed"
        if self.task_outcome in ("TaskSucceeded", "TaskFailed"):
            return Status.CLOSED, f"the task ended without this service ({self.task_outcome})"
        if self.status == "RUNNING":
            return None
        if self.status == "NOT_FOUND":
            return Status.CLOSED, "the execution no longer exists"
        when = f" at {iso(self.stopped_at)}" if self.stopped_at else ""
        if self.status == "TIMED_OUT":
            return Status.TIMED_OUT, f"execution TIMED_OUT{when}"
        return Status.CLOSED, f"execution {self.status}{when}"


def audit_event(action: Action) -> str:
    return "APPROVED" if action is Action.APPROVE else "REJECTED"
