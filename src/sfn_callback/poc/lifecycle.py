"""The task-token lifecycle, as pure domain code (no boto3 here).

A token record moves through these statuses::

    POLLING --(claim)--> CALLBACK_PENDING --(finalize)--> COMPLETED | FAILED | MAX_ATTEMPTS | TIMEOUT

One poll (``TokenPoller.poll``):

1. read the record; unknown jobId -> ``UnknownJob`` (nothing written);
2. a terminal record: delete the schedule again (idempotent) and report its status;
3. CALLBACK_PENDING: if the claim is older than the lease, re-claim it (conditional on the old claim id) and
   resend the stored outcome; otherwise another poller is sending, do nothing;
4. POLLING: count the attempt atomically (conditional on POLLING, the repository returns the new count);
   past ``expiresAt`` -> PollingTimeout; ``attempt > maxAttempts`` -> MaxAttemptsExceeded; otherwise ask the
   external API: COMPLETED -> success, FAILED -> JobFailed, anything else -> keep polling;
5. before any callback, claim the record (POLLING -> CALLBACK_PENDING with the intended outcome, a claim id
   and claimedAt); only the winner sends; then finalize (CALLBACK_PENDING -> terminal, conditional on the
   claim id), then delete the schedule.

A send answered "finished" (the token is closed) means: when resending our own stored outcome, the earlier
send went through -> done; otherwise Step Functions closed the token itself (e.g. ``States.Timeout``) -> the
record ends TIMEOUT with the reason stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Callable, Protocol

DEFAULT_CLAIM_LEASE_SECONDS = 60.0
TTL_AFTER_EXPIRY = timedelta(days=7)


class TokenStatus(str, Enum):
    POLLING = "POLLING"
    CALLBACK_PENDING = "CALLBACK_PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    MAX_ATTEMPTS = "MAX_ATTEMPTS"
    TIMEOUT = "TIMEOUT"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {TokenStatus.COMPLETED, TokenStatus.FAILED, TokenStatus.MAX_ATTEMPTS, TokenStatus.TIMEOUT}
)

# Error names sent with SendTaskFailure (the state machine's Catch blocks match them).
ERROR_JOB_FAILED = "JobFailed"
ERROR_MAX_ATTEMPTS = "MaxAttemptsExceeded"
ERROR_POLLING_TIMEOUT = "PollingTimeout"


# --------------------------------------------------------------------------------------------- errors
class LifecycleError(Exception):
    """Base of the errors a poll can raise on purpose."""


class UnknownJob(LifecycleError):
    """No token record for this jobId."""

    def __init__(self, job_id: str):
        super().__init__(f"no token record for jobId {job_id!r}")
        self.job_id = job_id


class ExternalJobNotFound(LifecycleError):
    """The external job API does not know the job."""

    def __init__(self, job_id: str):
        super().__init__(f"the external job API does not know jobId {job_id!r}")
        self.job_id = job_id


# ------------------------------------------------------------------------------------------ values
def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(ts: datetime) -> str:
    """ISO-8601 UTC with milliseconds and ``Z`` (the seeds' ``new Date().toISOString()`` form)."""
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Outcome:
    """What the workflow is to be told, decided before any callback is sent (and stored with the claim)."""

    terminal_status: TokenStatus
    output: dict[str, Any] | None = None  # SendTaskSuccess
    error: str | None = None  # SendTaskFailure
    cause: str | None = None

    @property
    def is_success(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"terminalStatus": self.terminal_status.value}
        if self.output is not None:
            doc["output"] = self.output
        if self.error is not None:
            doc["error"] = self.error
        if self.cause is not None:
            doc["cause"] = self.cause
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "Outcome":
        return cls(
            terminal_status=TokenStatus(doc["terminalStatus"]),
            output=doc.get("output"),
            error=doc.get("error"),
            cause=doc.get("cause"),
        )


@dataclass(frozen=True)
class TokenRecord:
    job_id: str
    task_token: str
    execution_id: str
    schedule_name: str
    created_at: datetime
    expires_at: datetime
    max_attempts: int
    interval_seconds: int
    attempt_count: int = 0
    status: TokenStatus = TokenStatus.POLLING
    next_poll_at: datetime | None = None
    claim_id: str | None = None
    claimed_at: datetime | None = None
    claim_count: int = 0
    outcome: Outcome | None = None
    callback_result: str | None = None  # ACCEPTED | ALREADY_FINISHED
    reason: str | None = None
    completed_at: datetime | None = None
    adopted_at: datetime | None = None
    """Set when the sweep adopted this per-job record (its own schedule had stopped polling it); cleared by
    the next per-job poll. See ``sfn_callback.sweep.service``."""

    @property
    def ttl(self) -> int:
        """Epoch seconds after which DynamoDB may expire the record."""
        return int((self.expires_at + TTL_AFTER_EXPIRY).timestamp())


@dataclass(frozen=True)
class Claim:
    claim_id: str
    claimed_at: datetime
    outcome: Outcome


@dataclass(frozen=True)
class SendResult:
    """``accepted``: Step Functions took the callback. Otherwise the token was already finished."""

    accepted: bool
    finished_reason: str | None = None  # TaskDoesNotExist | TaskTimedOut | InvalidToken


@dataclass(frozen=True)
class PollResult:
    status: str
    attempt: int
    max_attempts: int
    reconnected: bool = False
    job_id: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"status": self.status, "attempt": self.attempt, "maxAttempts": self.max_attempts}
        if self.reconnected:
            doc["reconnected"] = True
        if self.job_id is not None:
            doc["jobId"] = self.job_id
        if self.detail is not None:
            doc["detail"] = self.detail
        return doc


# ------------------------------------------------------------------------------------------- ports
class TokenRepository(Protocol):
    def get(self, job_id: str) -> TokenRecord | None: ...

    def put_new(self, record: TokenRecord) -> None:
        """Store a new record; fails if the jobId exists."""

    def delete_polling(self, job_id: str) -> bool:
        """Delete a record still in POLLING (undo of a failed creation). True when deleted."""

    def increment_attempt(self, job_id: str, now: datetime, next_poll_at: datetime) -> int | None:
        """``ADD attemptCount 1`` if the status is POLLING; the new count, or None if it was not POLLING.
        A per-job poll also clears ``adopted_at``: its schedule polls the record again, the sweep lets go."""

    def claim(self, job_id: str, claim: Claim, previous_claim_id: str | None) -> bool:
        """POLLING -> CALLBACK_PENDING (``previous_claim_id`` None), or take over a stale claim (status
        CALLBACK_PENDING and claimId == previous_claim_id). True when this caller holds the claim."""

    def finalize(
        self,
        job_id: str,
        claim_id: str,
        status: TokenStatus,
        completed_at: datetime,
        callback_result: str,
        reason: str | None,
    ) -> bool:
        """CALLBACK_PENDING -> terminal, conditional on claimId. True when written."""


class CallbackSender(Protocol):
    def send(self, task_token: str, outcome: Outcome) -> SendResult:
        """SendTaskSuccess / SendTaskFailure. Finished tokens answer ``SendResult(accepted=False)``;
        throttling is retried inside the adapter; anything else raises."""


class ScheduleRemover(Protocol):
    def delete(self, schedule_name: str) -> None:
        """Delete the schedule; a schedule already gone is fine."""


class JobApi(Protocol):
    def check_status(self, job_id: str) -> dict[str, Any]:
        """The external job's status document (``status`` is IN_PROGRESS, COMPLETED or FAILED)."""


# ----------------------------------------------------------------------------------------- decisions
def decide_before_check(record: TokenRecord, attempt: int, now: datetime) -> Outcome | None:
    """After counting the attempt: the polling timeout and the attempt limit."""
    if now > record.expires_at:
        return Outcome(
            TokenStatus.TIMEOUT,
            error=ERROR_POLLING_TIMEOUT,
            cause=f"Job exceeded maximum wait time (expired at {iso(record.expires_at)})",
        )
    if attempt > record.max_attempts:
        return Outcome(
            TokenStatus.MAX_ATTEMPTS,
            error=ERROR_MAX_ATTEMPTS,
            cause=f"Exceeded {record.max_attempts} polling attempts",
        )
    return None


def decide_from_job(record: TokenRecord, attempt: int, job: dict[str, Any], now: datetime) -> Outcome | None:
    """From the external job's status: an outcome to send, or None to keep polling."""
    status = job.get("status")
    if status == "COMPLETED":
        return Outcome(
            TokenStatus.COMPLETED,
            output={
                "jobId": record.job_id,
                "status": "COMPLETED",
                "completedAt": iso(now),
                "attempts": attempt,
                "result": job,
            },
        )
    if status == "FAILED":
        return Outcome(TokenStatus.FAILED, error=ERROR_JOB_FAILED, cause="External job failed")
    return None


# ------------------------------------------------------------------------------------------ service
@dataclass
class TokenPoller:
    """One poll of one job; safe to run concurrently and to re-run after a crash at any point."""

    repository: TokenRepository
    sender: CallbackSender
    schedules: ScheduleRemover
    jobs: JobApi
    lease_seconds: float = DEFAULT_CLAIM_LEASE_SECONDS
    clock: Callable[[], datetime] = utcnow
    new_claim_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    log: Callable[..., None] = field(default=lambda message, **fields: None)

    def poll(self, job_id: str) -> PollResult:
        # A lost conditional write means another poller moved the record; look again (bounded).
        for _ in range(4):
            record = self.repository.get(job_id)
            if record is None:
                raise UnknownJob(job_id)
            result = self._step(record)
            if result is not None:
                return result
        record = self.repository.get(job_id)
        assert record is not None
        return self._report(record, detail="record kept changing under this poll")

    # One attempt at progressing ``record``; None means "the record changed under us, re-read".
    def _step(self, record: TokenRecord) -> PollResult | None:
        now = self.clock()
        if record.status.is_terminal:
            self.schedules.delete(record.schedule_name)
            return self._report(record, detail="already finished")
        if record.status is TokenStatus.CALLBACK_PENDING:
            return self._recover(record, now)

        next_poll_at = now + timedelta(seconds=record.interval_seconds)
        attempt = self.repository.increment_attempt(record.job_id, now, next_poll_at)
        if attempt is None:
            return None
        outcome = decide_before_check(record, attempt, now)
        if outcome is None:
            job = self.jobs.check_status(record.job_id)
            outcome = decide_from_job(record, attempt, job, self.clock())
            if outcome is None:
                self.log("job still in progress", job_id=record.job_id, attempt=attempt, job_status=job.get("status"))
                return PollResult(
                    status=str(job.get("status") or "IN_PROGRESS"),
                    attempt=attempt,
                    max_attempts=record.max_attempts,
                    job_id=record.job_id,
                )
        claim = Claim(self.new_claim_id(), self.clock(), outcome)
        if not self.repository.claim(record.job_id, claim, previous_claim_id=None):
            return None
        return self._send_and_finalize(record, claim, attempt, resending=False)

    def _recover(self, record: TokenRecord, now: datetime) -> PollResult | None:
        claimed_at = record.claimed_at or datetime.min.replace(tzinfo=timezone.utc)
        if (now - claimed_at).total_seconds() < self.lease_seconds:
            return self._report(record, detail="callback in progress elsewhere")
        if record.outcome is None:  # a claim always stores its outcome; a record without one is corrupt
            raise LifecycleError(f"record {record.job_id!r} is CALLBACK_PENDING without a stored outcome")
        claim = Claim(self.new_claim_id(), now, record.outcome)
        if not self.repository.claim(record.job_id, claim, previous_claim_id=record.claim_id):
            return None
        self.log("resending a stale claim", job_id=record.job_id, stale_claim_id=record.claim_id)
        return self._send_and_finalize(record, claim, record.attempt_count, resending=True)

    def _send_and_finalize(self, record: TokenRecord, claim: Claim, attempt: int, resending: bool) -> PollResult:
        outcome = claim.outcome
        sent = self.sender.send(record.task_token, outcome)
        if sent.accepted:
            status, callback_result, reason = outcome.terminal_status, "ACCEPTED", outcome.error
        elif resending:
            # The earlier holder's send went through before it died: the token is closed by our own callback.
            status, callback_result, reason = outcome.terminal_status, "ALREADY_FINISHED", outcome.error
        else:
            status, callback_result = TokenStatus.TIMEOUT, "ALREADY_FINISHED"
            reason = (
                f"{sent.finished_reason or 'TokenFinished'}: the token was closed by Step Functions before the "
                f"callback (intended {outcome.error or 'success'})"
            )
        written = self.repository.finalize(record.job_id, claim.claim_id, status, self.clock(), callback_result, reason)
        if not written:
            self.log("finalize lost to a newer claim", job_id=record.job_id, claim_id=claim.claim_id)
        self.schedules.delete(record.schedule_name)
        self.log(
            "callback finished",
            job_id=record.job_id,
            status=status.value,
            callback_result=callback_result,
            error=outcome.error,
        )
        return PollResult(
            status=status.value,
            attempt=attempt,
            max_attempts=record.max_attempts,
            reconnected=sent.accepted,
            job_id=record.job_id,
            detail=reason,
        )

    def _report(self, record: TokenRecord, detail: str | None = None) -> PollResult:
        return PollResult(
            status=record.status.value,
            attempt=record.attempt_count,
            max_attempts=record.max_attempts,
            job_id=record.job_id,
            detail=detail or record.reason,
        )


def new_record(
    *,
    job_id: str,
    task_token: str,
    execution_id: str,
    now: datetime,
    interval_seconds: int,
    timeout_seconds: int,
    max_attempts: int,
) -> TokenRecord:
    """The record create-job stores (the seed's attributes, plus what the lifecycle needs)."""
    return TokenRecord(
        job_id=job_id,
        task_token=task_token,
        execution_id=execution_id,
        schedule_name=schedule_name_for(job_id),
        created_at=now,
        expires_at=now + timedelta(seconds=timeout_seconds),
        max_attempts=max_attempts,
        interval_seconds=interval_seconds,
        next_poll_at=now + timedelta(seconds=interval_seconds),
    )


def schedule_name_for(job_id: str) -> str:
    return f"poll-{job_id}"

