"""The task-token lifecycle, as pure domain code (no boto3 here).

A token record moves through these statuses::

    POLLING --(claim)--> CALLBACK_PENDING --(finalize)--> COMPLETED | FAILED | MAX_ATTEMPTS | TIMEOUT

One poll (``TokenPoller.poll``):

1. read the record; unknown jobId -> ``UnknownJob`` (nothing written);
2. a terminal record: delete the schedule again (idempotent) and report its status;
3. CALLBACK_PENDING: if the claim is older than the lease, or the claim is this poll's own (its holder is
   this invocation's request id: Lambda retries an invocation whose runtime died with the same request id),
   re-claim it (conditional on the old claim id) and resend the stored outcome; otherwise another poller is
   sending, do nothing;
4. POLLING: count the attempt atomically, **once per poll slot** (see "Slots" below); past ``expiresAt`` ->
   PollingTimeout; ``attempt > maxAttempts`` -> MaxAttemptsExceeded (the two *verdicts*); otherwise ask the
   external API: COMPLETED -> success, FAILED -> JobFailed, anything else -> keep polling;
5. before any callback, claim the record (POLLING -> CALLBACK_PENDING with the intended outcome, a claim id,
   claimedAt and the holder's request id); only the winner sends; then finalize (CALLBACK_PENDING ->
   terminal, conditional on the claim id), then delete the schedule.

A send answered "finished" (the token is closed) means: when resending our own stored outcome (or after an
attempt of this send that may have reached Step Functions), the earlier send went through -> done;
otherwise Step Functions closed the token itself (e.g. ``States.Timeout``) -> the record ends TIMEOUT with
the reason stored.

Slots. Each poll says which slot it polls: a scheduled delivery its ``scheduledTime`` (the schedule's
``<aws.scheduler.scheduled-time>``), the sweep the ``nextPollAt`` it found due. The attempt is counted only
if no attempt was counted for that slot or a later one (``polledSlot < slot``, a conditional write that also
sets ``polledSlot``), so duplicate deliveries of one slot (Scheduler delivers at least once; Lambda retries
an event after a function error) count one attempt and ask the API once; a delivery whose slot is taken
changes nothing and answers ``skipped``. Arrival time plays no part: a delivery that comes a little early or
late still polls its slot. A poll without a slot (``sfn-callback poll JOB_ID``, seed 001's
``poll-manually.sh``) is an extra poll: it counts an attempt and asks the API now, whatever the schedule did
in this slot, and leaves the schedule's slots alone.

Open status checks. An outcome the external API reported must never lose to a verdict, even when a slow
check overlaps the next slot's verdict (or a manual poll's). So an attempt that will ask the API also writes
``checkUntil`` (in the same conditional write that counts it): its status check is open until then, one
check window (``CHECK_WINDOW_SECONDS``, 15 s) later; an answer that comes after it is not used (the check timed
out). A verdict is claimed only when no check is open (``checkUntil`` absent or older than now minus a margin,
a condition of the claim); otherwise it is deferred to the next slot. So that verdicts are not deferred in the
normal case, a check whose window could still be open when a verdict falls due at the job's cadence (with a
1-second local interval the last 15 attempts or so and the checks within 15 s of ``expiresAt``; with AWS's
1-minute minimum, only a check within 15 s of ``expiresAt``), or any check of a manual poll (manual polls keep
no cadence), removes its ``checkUntil`` when it answers: one extra write, only for those checks.

Transient answers. A check that answers :class:`~sfn_callback.polling.domain.jobs.Transient` (the job API was
unreachable, timed out, answered 5xx or throttled with 429) says nothing about the job: the poll gives its
attempt back (``ADD attemptCount -1, transientChecks 1``, ``lastCheckError``) while the record is POLLING, and
closes its check in the same write when the record still holds this check's ``checkUntil`` (if another poll's
check replaced it, that one stays). Each poll gives back only its own increment, so the count is the attempts
that were answered (or that failed) whatever the order of the writes, never below them; once another poll
decided the job nothing is written. An attempts verdict deferred for an open check gives its attempt back the
same way (it did nothing): with a transient check racing it, the verdict's attempt must not spend the budget
that the transient answer gave back. With a ``retry_after`` the same write sets
``notBefore`` (and moves ``nextPollAt`` there, so the sweep does not find the job due before it): scheduled and
sweep polls before ``notBefore`` skip without counting; a manual poll asks anyway; past ``expiresAt`` nothing
skips, so the polling timeout still ends a job whose API keeps throttling.

Pushes. A job API that calls a webhook when a job ends (``TokenPoller.complete_from_push``) completes the token
through the same claim (POLLING -> CALLBACK_PENDING with the outcome, conditional), so exactly one callback is
sent whichever of the push and a poll claims first; the loser reports what the record holds. A push counts no
attempt, opens no status check and may claim while a poll's check is open (it is the API's own answer, as that
check's would be). A push for a finished record answers "already finished" and sends nothing.

Released claims. A claim whose send failed transiently (throttling, a 5xx, a lost connection, after the callback
core's bounded attempts) is released by its holder (``claimReleasedAt`` and ``nextPollAt`` now, conditional on the claim id) before
the poll fails: the holder has stopped sending, so the next poll (a per-job poll's next slot, Lambda's retry of
the invocation, the sweep's next pass) resumes the claim at once instead of after the lease. A refused send
(``AccessDenied``, a validation error) keeps the claim for the lease, as does a holder that died.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Protocol

from sfn_callback.callbacks.port import TaskCallbacks
from sfn_callback.callbacks.result import CallbackResult
from sfn_callback.common.clock import iso, parse_iso, utcnow
from sfn_callback.polling.domain.jobs import ERROR_JOB_FAILED, Completed, Failed, Transient, job_state

DEFAULT_CLAIM_LEASE_SECONDS = 60.0
TTL_AFTER_EXPIRY = timedelta(days=7)
CHECK_WINDOW_SECONDS = 15.0
"""How long a status check may take: an answer that comes later is not used (the check timed out)."""
MAX_CHECK_MARGIN_SECONDS = 5.0
"""A verdict waits this long (half an interval at most) past the end of an open check's window."""
MAX_CHECK_ERROR_CHARS = 300
"""How much of a failed status check's error the record keeps (``lastCheckError``)."""
MAX_RETRY_AFTER_SECONDS = 86400.0
"""The longest wait a transient answer's ``retry_after`` may impose (the polling timeout still ends the job)."""


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


class RecordExists(LifecycleError):
    """``put_new`` found a record with this jobId; ``existing`` is it, when the store could say."""

    def __init__(self, job_id: str, existing: TokenRecord | None = None):
        super().__init__(f"a token record for jobId {job_id!r} exists already")
        self.job_id = job_id
        self.existing = existing


class ExternalJobNotFound(LifecycleError):
    """The external job API does not know the job."""

    def __init__(self, job_id: str):
        super().__init__(f"the external job API does not know jobId {job_id!r}")
        self.job_id = job_id


# ------------------------------------------------------------------------------------------ values
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
    def from_dict(cls, doc: dict[str, Any]) -> Outcome:
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
    the next per-job poll. See ``sfn_callback.polling.application.sweep``."""
    polled_slot: datetime | None = None
    """The latest slot an attempt was counted for (see "Slots" in the module docstring)."""
    check_until: datetime | None = None
    """A status check may be open until then (see "Open status checks")."""
    claim_holder: str | None = None
    """The request id of the invocation that holds the claim (CALLBACK_PENDING)."""
    claim_released_at: datetime | None = None
    """The claim's holder stopped sending (its SendTask* failed transiently after the callback core's bounded
    attempts) and let go of the claim: any poll may resume it at once (see "Released claims")."""
    failed_checks: int = 0
    """Attempts whose status check raised (the API failed or was unreachable): counted, but never answered."""
    last_check_error: str | None = None
    transient_checks: int = 0
    """Status checks answered :class:`Transient` whose attempt was given back (see "Transient answers")."""
    not_before: datetime | None = None
    """Scheduled and sweep polls before then skip without counting (a transient answer's ``retry_after``)."""
    job_api: dict[str, Any] | None = None
    """What the job's status checks need beyond its id, stored by create-job (the HTTP adapter: the per-job
    configuration and the fields of the submit answer); None for a job checked by its id alone."""

    @property
    def check_window(self) -> timedelta:
        """How long a status check of this record may take."""
        return timedelta(seconds=CHECK_WINDOW_SECONDS)

    @property
    def check_margin(self) -> timedelta:
        """How long after a check window a verdict waits (clock differences, the claim's own write)."""
        return timedelta(seconds=min(self.interval_seconds / 2, MAX_CHECK_MARGIN_SECONDS))

    @property
    def ttl(self) -> int:
        """Epoch seconds after which DynamoDB may expire the record."""
        return int((self.expires_at + TTL_AFTER_EXPIRY).timestamp())


@dataclass(frozen=True)
class Claim:
    claim_id: str
    claimed_at: datetime
    outcome: Outcome
    holder: str | None = None
    """The request id of the claiming invocation (its own retry may resume the claim at once)."""


@dataclass(frozen=True)
class Counted:
    """An attempt counted by ``increment_attempt``."""

    attempt: int
    previous_check_until: datetime | None = None
    """The record's ``checkUntil`` just before this attempt was counted (another check may be open)."""


@dataclass(frozen=True)
class SendResult:
    """``accepted``: Step Functions took the callback. Otherwise the token was already finished."""

    accepted: bool
    finished_reason: str | None = None  # TaskDoesNotExist | TaskTimedOut | InvalidToken
    maybe_ours: bool = False
    """Finished, but an earlier attempt of this same send may have reached Step Functions (a 5xx, a lost
    connection): the token may have been closed by this callback."""


@dataclass(frozen=True)
class PollResult:
    status: str
    attempt: int
    max_attempts: int
    reconnected: bool = False
    job_id: str | None = None
    detail: str | None = None
    skipped: bool = False
    """Nothing done: the slot was polled already, or a verdict waits for an open status check."""
    recovered: bool = False
    """This poll took over a claim whose holder had died (its own earlier attempt, or a stale claim)."""

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"status": self.status, "attempt": self.attempt, "maxAttempts": self.max_attempts}
        if self.reconnected:
            doc["reconnected"] = True
        if self.skipped:
            doc["skipped"] = True
        if self.recovered:
            doc["recovered"] = True
        if self.job_id is not None:
            doc["jobId"] = self.job_id
        if self.detail is not None:
            doc["detail"] = self.detail
        return doc


# ------------------------------------------------------------------------------------------- ports
class TokenRepository(Protocol):
    def get(self, job_id: str) -> TokenRecord | None: ...

    def put_new(self, record: TokenRecord) -> None:
        """Store a new record; :class:`RecordExists` (with the record found, when known) if the jobId exists."""

    def delete_polling(self, job_id: str) -> bool:
        """Delete a record still in POLLING (undo of a failed creation). True when deleted."""

    def increment_attempt(self, job_id: str, now: datetime, next_poll_at: datetime, *,
                          slot: datetime | None = None, check_until: datetime | None = None,
                          adopt: bool | None = False) -> Counted | None:
        """Count one attempt (``ADD attemptCount 1``, set ``lastPolledAt`` and ``nextPollAt``) if the status is
        POLLING and, with a ``slot``, ``polledSlot`` is absent or earlier than it (then set it to ``slot``).
        ``check_until``: this attempt asks the external API, set ``checkUntil``. ``adopt``: False (a per-job
        poll: its schedule polls the record again, the sweep lets go) removes ``adoptedAt``, True (the sweep
        adopts the record) sets it if absent, None leaves it. None when the condition failed."""

    def end_check(self, job_id: str, check_until: datetime, restore: datetime | None) -> bool:
        """The status check that wrote ``checkUntil = check_until`` has answered: remove it, or set it back to
        ``restore`` (an earlier check's, possibly still open), if the record still holds ``check_until``."""

    def count_failed_check(self, job_id: str, error: str) -> None:
        """A counted attempt's status check raised: ``ADD failedChecks 1``, set ``lastCheckError``."""

    def give_back_attempt(self, job_id: str, check_until: datetime, restore: datetime | None, *,
                          error: str | None, not_before: datetime | None = None,
                          next_poll_at: datetime | None = None) -> bool:
        """A counted attempt did not spend itself: ``ADD attemptCount -1`` if the record is POLLING, and, if it
        still holds ``checkUntil = check_until``, remove it (or set it back to ``restore``). With an
        ``error`` (its check answered :class:`Transient`) also ``ADD transientChecks 1`` and set
        ``lastCheckError``; without one, a verdict deferred for an open check. ``notBefore``, ``nextPollAt``
        when given. True when written."""

    def claim(self, job_id: str, claim: Claim, previous_claim_id: str | None,
              open_checks_before: datetime | None = None) -> bool:
        """POLLING -> CALLBACK_PENDING (``previous_claim_id`` None), or take over a stale claim (status
        CALLBACK_PENDING and claimId == previous_claim_id). ``open_checks_before`` (a verdict): only if no
        status check is open, i.e. ``checkUntil`` is absent or earlier than it. True when this caller holds
        the claim."""

    def release_claim(self, job_id: str, claim_id: str, at: datetime) -> bool:
        """The holder of ``claim_id`` stopped sending: set ``claimReleasedAt`` (and ``nextPollAt``, so the
        sweep finds the record due now) to ``at`` if the record is still CALLBACK_PENDING with that claim (a new
        claim removes ``claimReleasedAt``). True when written."""

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
        throttling and transient errors are retried inside the adapter (the one retry layer); anything else
        raises."""


class CallbackNotSent(LifecycleError):
    """The callback core could not deliver the callback now (transient, or refused): the claim stays and a later
    poll resends it (for a poller Lambda, the failed invocation is retried with its request id)."""

    def __init__(self, result: CallbackResult):
        super().__init__(f"callback not sent: {result.describe()}")
        self.result = result


TRANSIENT_SEND_FAILURE = "sfn_callback_transient"
"""Set (True) on an error a :class:`CallbackSender` raises when the send may succeed if tried again now."""


def send_failed_transiently(error: BaseException) -> bool:
    """Did the send that raised ``error`` fail transiently (throttling, a 5xx, a lost connection, after the
    callback core's bounded attempts), rather than being refused?"""
    if isinstance(error, CallbackNotSent):
        return error.result.transient
    return getattr(error, TRANSIENT_SEND_FAILURE, False) is True


class TaskCallbacksSender:
    """The poller's :class:`CallbackSender` on the callback core (:class:`~sfn_callback.callbacks.TaskCallbacks`):
    delivered -> accepted; token finished -> not accepted, with AWS's reason and whether an earlier attempt of
    this send may have closed it; anything else raises (the AWS error itself when there is one), so the claim
    stays for a later poll."""

    def __init__(self, callbacks: TaskCallbacks):
        self.callbacks = callbacks

    def send(self, task_token: str, outcome: Outcome) -> SendResult:
        if outcome.is_success:
            result = self.callbacks.succeed(task_token, outcome.output or {})
        else:
            result = self.callbacks.fail(task_token, outcome.error or ERROR_JOB_FAILED, outcome.cause)
        if result.delivered:
            return SendResult(accepted=True)
        if result.token_finished:
            return SendResult(accepted=False, finished_reason=result.code, maybe_ours=result.maybe_delivered)
        if result.error is not None:
            if result.transient:
                setattr(result.error, TRANSIENT_SEND_FAILURE, True)
            raise result.error
        raise CallbackNotSent(result)


class ScheduleRemover(Protocol):
    def delete(self, schedule_name: str) -> None:
        """Delete the schedule; a schedule already gone is fine."""


class JobApi(Protocol):
    def check_status(self, job_id: str) -> Any:
        """The external job's state: a :data:`~sfn_callback.polling.domain.jobs.JobState`, or a status document
        (``status`` is IN_PROGRESS, COMPLETED or FAILED)."""


class RecordJobApi(JobApi, Protocol):
    def check_record(self, record: TokenRecord) -> Any:
        """As ``check_status``, for a job whose check needs what create-job stored (``record.job_api``). A
        job API that has this method is asked through it."""


def check_job(jobs: JobApi, record: TokenRecord) -> Any:
    """Ask ``jobs`` for ``record``'s job: through ``check_record`` when the port has it, else by the job's id."""
    check_record = getattr(jobs, "check_record", None)
    if callable(check_record):
        return check_record(record)
    return jobs.check_status(record.job_id)


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


def decide_from_job(record: TokenRecord, attempt: int, job: Any, now: datetime) -> Outcome | None:
    """From the external job's state (a :data:`~sfn_callback.polling.domain.jobs.JobState`, or a status document
    in the simulated API's protocol): an outcome to send, or None to keep polling."""
    state = job_state(job)
    if isinstance(state, Completed):
        return Outcome(
            TokenStatus.COMPLETED,
            output={
                "jobId": record.job_id,
                "status": "COMPLETED",
                "completedAt": iso(now),
                "attempts": attempt,
                "result": state.output,
            },
        )
    if isinstance(state, Failed):
        return Outcome(TokenStatus.FAILED, error=state.error, cause=state.cause)
    return None


def job_status_of(job: Any) -> str:
    """The status text of a check's answer, for a poll's result (``IN_PROGRESS`` for a state in progress)."""
    if isinstance(job, dict):
        return str(job.get("status") or "IN_PROGRESS")
    return {Completed: "COMPLETED", Failed: "FAILED"}.get(type(job), "IN_PROGRESS")


# ------------------------------------------------------------------------------------------ service
def next_slot(slot: datetime | str | None, now: datetime, default: datetime) -> datetime:
    """The slot after ``slot``: one interval later (``default - now`` is the interval), or ``default`` (now
    plus the interval) when that is already past: a late poll does not make a job due again at once."""
    if slot is None:
        return default
    following = (parse_iso(slot) if isinstance(slot, str) else slot) + (default - now)
    return following if following > now else default


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

    def poll(self, job_id: str, *, slot: datetime | None = None, record: TokenRecord | None = None,
             adopt: bool | None = False, holder: str | None = None) -> PollResult:
        """Poll ``job_id`` once. ``slot``: the poll slot this poll is for (a scheduled delivery's
        ``scheduledTime``, the ``nextPollAt`` the sweep found due), None for a manual poll. ``record``: a copy
        of the record to use for the first read (the sweep's query). ``adopt``: see
        ``TokenRepository.increment_attempt``. ``holder``: this invocation's request id."""
        # A lost conditional write means another poller moved the record; look again (bounded). Once this
        # poll has counted its attempt it never counts another.
        def step(record: TokenRecord, now: datetime) -> PollResult | None:
            if slot is not None and record.polled_slot is not None and record.polled_slot >= slot:
                return self._report(record, detail=f"slot {iso(slot)} already polled", skipped=True)
            if (slot is not None and record.not_before is not None and now < record.not_before
                    and now <= record.expires_at):
                return self._report(record, detail=f"the job API asked to wait until {iso(record.not_before)}",
                                    skipped=True)
            return self._count_and_decide(record, now, slot, adopt, holder)

        return self._on_each_read(job_id, step, holder, "poll", record)

    def complete_from_push(self, job_id: str, state: Any, *, holder: str | None = None) -> PollResult:
        """The job API pushed the job's end (``state``: :class:`Completed` or :class:`Failed`, or a status
        document): complete the token through the same claim as a poll, so exactly one callback is sent
        whichever of the push and a poll gets there first. Counts no attempt and asks the API nothing. A
        terminal record answers "already finished" (nothing sent); a claim held elsewhere answers "callback in
        progress elsewhere" (a stale one is resent, with its own stored outcome); a state still in progress
        changes nothing. ``holder``: the push invocation's request id. Unknown jobId -> :class:`UnknownJob`."""
        def step(record: TokenRecord, now: datetime) -> PollResult | None:
            if isinstance(state, Transient):
                return self._report(record, detail="the push reported no end of the job")
            outcome = decide_from_job(record, record.attempt_count, state, now)
            if outcome is None:
                return self._report(record, detail="the push reported the job still in progress")
            claim = Claim(self.new_claim_id(), now, outcome, holder)
            if not self.repository.claim(record.job_id, claim, previous_claim_id=None):
                return None  # a poll claimed (or finished) first: report what it did
            self.log("job end pushed by the job API", job_id=record.job_id, status=outcome.terminal_status.value)
            return self._send_and_finalize(record, claim, record.attempt_count, resending=False)

        return self._on_each_read(job_id, step, holder, "push")

    def _on_each_read(self, job_id: str, step: Callable[[TokenRecord, datetime], PollResult | None],
                      holder: str | None, what: str, record: TokenRecord | None = None) -> PollResult:
        """Read the record and act on it, for a poll and a push alike: a finished record answers "already
        finished" (its schedule deleted again), a pending claim goes to recovery, any other state to ``step``.
        None (from recovery or ``step``) means another writer moved the record: read again, a bounded number of
        times. ``record``: a copy to use for the first read."""
        for _ in range(4):
            if record is None:
                record = self.repository.get(job_id)
            if record is None:
                raise UnknownJob(job_id)
            now = self.clock()
            if record.status.is_terminal:
                self.schedules.delete(record.schedule_name)
                return self._report(record, detail="already finished")
            result = (self._recover(record, now, holder) if record.status is TokenStatus.CALLBACK_PENDING
                      else step(record, now))
            if result is not None:
                return result
            record = None
        record = self.repository.get(job_id)
        if record is None:
            raise UnknownJob(job_id)
        return self._report(record, detail=f"record kept changing under this {what}")

    def _count_and_decide(self, record: TokenRecord, now: datetime, slot: datetime | None, adopt: bool | None,
                          holder: str | None) -> PollResult | None:
        """Count this poll's attempt, then the verdict or the status check; None: re-read (not counted)."""
        next_poll_at = next_slot(slot, now, now + timedelta(seconds=record.interval_seconds))
        # An attempt that will ask the API opens a status check in the same write that counts it. Whether it
        # will is known only once counted: the count this read shows may still drop (a transient answer gives
        # its attempt back), so every attempt opens one except past the timeout (time only moves on); an attempt
        # that turns out to be a verdict closes it again before claiming.
        will_check = now <= record.expires_at
        check_until = now + record.check_window if will_check else None
        counted = self.repository.increment_attempt(record.job_id, now, next_poll_at, slot=slot,
                                                    check_until=check_until, adopt=adopt)
        if counted is None:
            return None
        attempt = counted.attempt
        verdict = decide_before_check(record, attempt, now)
        if verdict is not None:
            open_until = counted.previous_check_until
            if check_until is not None and open_until is not None and open_until + record.check_margin > self.clock():
                # The verdict waits for another poll's open check: this poll does nothing, so it spends no
                # attempt (that check may yet give its own back, and then this one must not count either).
                given = self._give_back(record, check_until, open_until, error=None)
                return self._deferred(record, attempt - 1 if given else attempt, verdict, open_until)
            if check_until is not None:  # other polls counted attempts first: this one asks nothing after all
                self._end_check(record, check_until, counted.previous_check_until)
            return self._verdict(record, attempt, verdict, counted.previous_check_until, holder)
        assert check_until is not None
        # Close the check's window when it answers if a verdict could otherwise wait for it: a check near the
        # limits, or any check of a manual poll (manual polls keep no cadence).
        closes = slot is None or self._check_is_critical(record, attempt, check_until, next_poll_at)
        try:
            job = check_job(self.jobs, record)
        except Exception as exc:
            self._count_failed_check(record, attempt, exc)
            if closes:
                self._end_check(record, check_until, counted.previous_check_until)
            raise
        answered = self.clock()
        if isinstance(job, Transient):
            return self._transient(record, attempt, job, check_until, counted.previous_check_until, next_poll_at,
                                   answered)
        if answered > check_until:
            self.log("status check answered after its window; not used", job_id=record.job_id, attempt=attempt,
                     check_until=iso(check_until))
            return PollResult(status=TokenStatus.POLLING.value, attempt=attempt, max_attempts=record.max_attempts,
                              job_id=record.job_id, detail="status check answered after its window; not used")
        outcome = decide_from_job(record, attempt, job, answered)
        if outcome is None:
            if closes:
                self._end_check(record, check_until, counted.previous_check_until)
            self.log("job still in progress", job_id=record.job_id, attempt=attempt,
                     job_status=job.get("status") if isinstance(job, dict) else job_status_of(job))
            return PollResult(
                status=job_status_of(job),
                attempt=attempt,
                max_attempts=record.max_attempts,
                job_id=record.job_id,
            )
        claim = Claim(self.new_claim_id(), self.clock(), outcome, holder)
        if not self.repository.claim(record.job_id, claim, previous_claim_id=None):
            return self._after_lost_claim(record.job_id)
        return self._send_and_finalize(record, claim, attempt, resending=False)

    def _verdict(self, record: TokenRecord, attempt: int, verdict: Outcome, open_until: datetime | None,
                 holder: str | None) -> PollResult | None:
        """Claim the attempts/timeout verdict, unless a status check is open (then it waits for the next slot)."""
        now = self.clock()
        if open_until is not None and open_until + record.check_margin > now:
            return self._deferred(record, attempt, verdict, open_until)
        claim = Claim(self.new_claim_id(), now, verdict, holder)
        if not self.repository.claim(record.job_id, claim, previous_claim_id=None,
                                     open_checks_before=now - record.check_margin):
            return self._after_lost_claim(record.job_id, verdict=verdict, attempt=attempt)
        return self._send_and_finalize(record, claim, attempt, resending=False)

    def _deferred(self, record: TokenRecord, attempt: int, verdict: Outcome, open_until: datetime | None) -> PollResult:
        detail = f"{verdict.error} deferred: a status check is open" + (
            f" until {iso(open_until)}" if open_until is not None else "")
        self.log("verdict deferred for an open status check", job_id=record.job_id, attempt=attempt,
                 verdict=verdict.error)
        return PollResult(status=TokenStatus.POLLING.value, attempt=attempt, max_attempts=record.max_attempts,
                          job_id=record.job_id, detail=detail, skipped=True)

    def _after_lost_claim(self, job_id: str, verdict: Outcome | None = None, attempt: int = 0) -> PollResult:
        """This poll counted its attempt but lost the claim: report what the record holds now."""
        record = self.repository.get(job_id)
        if record is None:
            raise UnknownJob(job_id)
        if verdict is not None and record.status is TokenStatus.POLLING:  # a status check opened meanwhile
            return self._deferred(record, attempt, verdict, record.check_until)
        return self._report(record, detail="another poll decided first")

    @staticmethod
    def _check_is_critical(record: TokenRecord, attempt: int, check_until: datetime, next_poll_at: datetime) -> bool:
        """Could a verdict fall due, at the job's cadence (slots at ``next_poll_at`` and every interval after),
        while this check's window is still open (a verdict would wait for it)?"""
        reach = (check_until + record.check_margin - next_poll_at).total_seconds()
        slots = math.floor(reach / max(record.interval_seconds, 1)) + 1 if reach >= 0 else 0
        return attempt + slots > record.max_attempts or record.expires_at <= check_until + record.check_margin

    def _transient(self, record: TokenRecord, attempt: int, answer: Transient, check_until: datetime,
                   previous: datetime | None, next_poll_at: datetime, answered: datetime) -> PollResult:
        """The check said nothing about the job: give the attempt back, and wait ``retry_after`` if asked."""
        not_before = None
        if answer.retry_after is not None and answer.retry_after > 0:
            not_before = answered + timedelta(seconds=min(float(answer.retry_after), MAX_RETRY_AFTER_SECONDS))
        restore = previous if previous is not None and previous + record.check_margin > answered else None
        text = f"attempt {attempt}: transient: {answer.reason}"[:MAX_CHECK_ERROR_CHARS]
        given = self._give_back(record, check_until, restore, error=text, not_before=not_before,
                                next_poll_at=max(next_poll_at, not_before) if not_before is not None else None)
        self.log("transient answer from the job API", job_id=record.job_id, attempt=attempt,
                 reason=answer.reason, retry_after=answer.retry_after, attempt_given_back=given)
        detail = f"transient: {answer.reason}" + (f"; next poll not before {iso(not_before)}" if not_before else "")
        if not given:
            detail += "; attempt kept (another poll moved the record)"
        return PollResult(status=TokenStatus.POLLING.value, attempt=attempt - 1 if given else attempt,
                          max_attempts=record.max_attempts, job_id=record.job_id, detail=detail)

    def _give_back(self, record: TokenRecord, check_until: datetime, restore: datetime | None, *,
                   error: str | None, not_before: datetime | None = None,
                   next_poll_at: datetime | None = None) -> bool:
        try:
            return self.repository.give_back_attempt(record.job_id, check_until, restore, error=error,
                                                     not_before=not_before, next_poll_at=next_poll_at)
        except Exception as exc:  # the attempt stays counted and the window ends by itself
            self.log("could not give back an attempt", job_id=record.job_id, error=f"{type(exc).__name__}: {exc}")
            return False

    def _count_failed_check(self, record: TokenRecord, attempt: int, error: Exception) -> None:
        """Keep on the record that this attempt asked and got no answer (the error itself propagates)."""
        text = f"attempt {attempt}: {type(error).__name__}: {error}"[:MAX_CHECK_ERROR_CHARS]
        try:
            self.repository.count_failed_check(record.job_id, text)
        except Exception as exc:  # the poll fails with the check's own error either way
            self.log("could not record the failed status check", job_id=record.job_id, attempt=attempt,
                     error=f"{type(exc).__name__}: {exc}")

    def _end_check(self, record: TokenRecord, check_until: datetime, previous: datetime | None) -> None:
        restore = previous if previous is not None and previous + record.check_margin > self.clock() else None
        try:
            self.repository.end_check(record.job_id, check_until, restore)
        except Exception as exc:  # the window ends by itself; a verdict only waits for it
            self.log("could not close the status check", job_id=record.job_id, error=f"{type(exc).__name__}: {exc}")

    def _recover(self, record: TokenRecord, now: datetime, holder: str | None) -> PollResult | None:
        claimed_at = record.claimed_at or datetime.min.replace(tzinfo=UTC)
        own = holder is not None and record.claim_holder == holder
        released = record.claim_released_at is not None
        if not own and not released and (now - claimed_at).total_seconds() < self.lease_seconds:
            return self._report(record, detail="callback in progress elsewhere")
        if record.outcome is None:  # a claim always stores its outcome; a record without one is corrupt
            raise LifecycleError(f"record {record.job_id!r} is CALLBACK_PENDING without a stored outcome")
        claim = Claim(self.new_claim_id(), now, record.outcome, holder)
        if not self.repository.claim(record.job_id, claim, previous_claim_id=record.claim_id):
            return None
        why = ("resuming this invocation's own claim after its runtime died" if own
               else "resuming a claim its holder released after a transient callback failure" if released
               else "resending a stale claim")
        self.log(why, job_id=record.job_id, stale_claim_id=record.claim_id)
        return replace(self._send_and_finalize(record, claim, record.attempt_count, resending=True), recovered=True)

    def _send_and_finalize(self, record: TokenRecord, claim: Claim, attempt: int, resending: bool) -> PollResult:
        outcome = claim.outcome
        try:
            sent = self.sender.send(record.task_token, outcome)
        except Exception as exc:
            if send_failed_transiently(exc):
                self._release(record, claim, exc)
            raise
        if sent.accepted:
            status, callback_result, reason = outcome.terminal_status, "ACCEPTED", outcome.error
        elif resending or (sent.maybe_ours and sent.finished_reason != "TaskTimedOut"):
            # The earlier holder's send (or an earlier attempt of this send) went through: the token is closed
            # by our own callback.
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

    def _release(self, record: TokenRecord, claim: Claim, error: BaseException) -> None:
        """This poll's send failed transiently and it stops trying: let any poll resume the claim at once
        rather than after the lease. Safe: a resume is a conditional re-claim on this claim id, and a second
        SendTask* for the token answers "finished"."""
        try:
            released = self.repository.release_claim(record.job_id, claim.claim_id, self.clock())
        except Exception as exc:  # the claim then ends with its lease, as before
            self.log("could not release the claim", job_id=record.job_id, error=f"{type(exc).__name__}: {exc}")
            return
        self.log("callback failed transiently; claim released for the next poll", job_id=record.job_id,
                 claim_id=claim.claim_id, error=f"{type(error).__name__}: {error}"[:300], released=released)

    def _report(self, record: TokenRecord, detail: str | None = None, skipped: bool = False) -> PollResult:
        return PollResult(
            status=record.status.value,
            attempt=record.attempt_count,
            max_attempts=record.max_attempts,
            job_id=record.job_id,
            detail=detail or record.reason,
            skipped=skipped,
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

