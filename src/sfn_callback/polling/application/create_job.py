"""Create-job use case (seed ``poc-create-job``): create the external job, store the token, schedule polling.

Every field of the event is checked against the limits AWS and the design impose before anything is created
(``sfn_callback.polling.domain.events``). Order matters: the token record is written before the schedule exists (so the
first poll finds it). A step that fails undoes the steps before it, and the call fails with what happened: if
the token record cannot be stored the external job is cancelled; if the schedule cannot be created the record
is deleted again and the external job cancelled. No record is left that nothing will ever poll, and no
external job that no workflow waits for.

The submit itself may be tried more than once within the invocation (:class:`SubmitRetry`): a job submitter
that raises :class:`SubmitTransient` (the job API could not take the job now: a refused connection, a timeout,
408, 429 or 5xx) is asked again after a backoff, or after its ``Retry-After`` when that is longer, while tries are
left and the Lambda's remaining time allows the wait and one more request; any other error is final at once.
Every try carries the same ``idempotencyKey`` (:func:`submit_key`, a hash of the task token), so an API that
honours it creates one job however many tries reached it, and a re-invocation of the same task sends the same key.
When the tries run out create-job fails with :class:`SubmitFailed` naming the last answer; nothing was stored.
A repeated invocation for a task whose run stored its record (the API answered the same job for the key) gets
that record's answer again: nothing is created twice and nothing undone.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sfn_callback.config import SWEEP_MODE_SCHEDULE_NAME
from sfn_callback.polling.domain.events import CreateJobEvent, InvalidEvent, parse
from sfn_callback.polling.domain.job_api_config import FALLBACK_FACTOR
from sfn_callback.polling.domain.lifecycle import RecordExists, TokenRecord, TokenRepository, iso, new_record, utcnow


class CreateJobFailed(RuntimeError):
    """A step after the external job was created failed; what was created was undone (the message says)."""


class StoringFailed(CreateJobFailed):
    """The token record could not be stored; the external job was cancelled."""


class SchedulingFailed(CreateJobFailed):
    """The polling schedule could not be created; the token record was removed and the external job cancelled."""


class ExternalApiError(RuntimeError):
    """The external job API answered with an error."""


class SubmitTransient(ExternalApiError):
    """The job API could not take the submit now (connection error, timeout, 408, 429, 5xx): try again.

    ``retry_after``: seconds the API asked to wait (``Retry-After``); ``request_seconds``: how long one more
    try may take (the request timeout), so that a retry is only made when it fits in the remaining time."""

    def __init__(self, message: str, retry_after: float | None = None, request_seconds: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.request_seconds = request_seconds


class SubmitFailed(ExternalApiError):
    """The submit was answered transiently on every try create-job could make; the message names the last
    answer, the tries and why it stopped. Nothing was stored, no schedule created."""


SUBMIT_KEY_PREFIX = "sfncb-"


def submit_key(task_token: str) -> str:
    """The idempotency key of a task's submit: a SHA-256 of the task token (never the token itself), the same on
    every try and on every invocation for that task."""
    digest = hashlib.sha256(b"sfn-callback submit\n" + task_token.encode()).hexdigest()
    return SUBMIT_KEY_PREFIX + digest


@dataclass(frozen=True)
class SubmitRetry:
    """How create-job tries a submit that was answered transiently: at most ``tries`` in all, waiting
    ``backoff_seconds`` × 2^(n-1) before the n-th retry (0.5, 1, 2 s), or the answer's ``Retry-After`` when
    longer; never past the Lambda's remaining time less ``margin_seconds`` and one more request
    (``request_seconds`` unless the answer says); without a Lambda context a wait is at most
    ``max_wait_seconds``."""

    tries: int = 4
    backoff_seconds: float = 0.5
    margin_seconds: float = 2.0
    request_seconds: float = 10.0
    max_wait_seconds: float = 30.0


class JobCreator(Protocol):
    def create_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Submit the job; ``{"jobId": ...}``, plus ``"jobApi"`` (an object) when the job's status checks need
        more than its id: it is stored on the token record (``TokenRecord.job_api``). The payload carries
        ``idempotencyKey`` (the same on every try for the task); :class:`SubmitTransient`: ask again."""

    def cancel_job(self, job_id: str) -> None:
        """Cancel the job (a job the API no longer knows is fine)."""


class ScheduleCreator(Protocol):
    def create(self, schedule_name: str, job_id: str, interval_seconds: int) -> None: ...


def check_interval(interval_seconds: int, allow_sub_minute: bool) -> None:
    """EventBridge Scheduler on AWS knows ``rate(N minutes)`` with N >= 1; seconds exist only locally."""
    if allow_sub_minute:
        return
    if interval_seconds < 60 or interval_seconds % 60:
        raise InvalidEvent(
            f"pollingConfig: an interval of {interval_seconds} s is not possible on AWS "
            "(EventBridge Scheduler rate() takes whole minutes, at least 1); use intervalMinutes"
        )


@dataclass
class CreateJobService:
    jobs: JobCreator
    repository: TokenRepository
    schedules: ScheduleCreator
    allow_sub_minute: bool = False
    clock: Callable[[], datetime] = utcnow
    log: Callable[..., None] = lambda message, **fields: None
    retry: SubmitRetry = field(default_factory=SubmitRetry)
    sleep: Callable[[float], None] = time.sleep

    def handle(self, event: Any, time_left: Callable[[], float] | None = None) -> dict[str, Any]:
        """Create the job for ``event``; ``time_left``: the invocation's remaining seconds (the Lambda
        context's), which bounds the submit's retries."""
        request: CreateJobEvent = parse(CreateJobEvent, event, "create-job")
        config = request.polling_config
        check_interval(config.interval, self.allow_sub_minute)

        payload: dict[str, Any] = {"recordId": request.record.id, "data": request.record.data or {}}
        if config.job_options is not None:
            payload.update(config.job_options.as_payload())
        if config.job_api is not None:
            payload["jobApi"] = config.job_api
        payload["idempotencyKey"] = submit_key(request.task_token)
        job = self._submit(payload, time_left)
        job_id = job.get("jobId") if isinstance(job, dict) else None
        if not isinstance(job_id, str) or not job_id:
            raise ExternalApiError(f"the external job API returned no jobId: {job!r}")
        # What the job's status checks need beyond its id (the HTTP adapter's per-job config and fields).
        job_api = job.get("jobApi")
        interval = config.interval
        if job.get("expectsPush"):  # the push completes it: polls are the fallback, at a slower cadence
            fallback = job.get("fallbackIntervalSeconds")
            interval = int(fallback) if isinstance(fallback, int) and fallback > 0 else FALLBACK_FACTOR * interval
            if not self.allow_sub_minute:  # AWS's rate() takes whole minutes
                interval = max(60, -(-interval // 60) * 60)

        now = self.clock()
        record: TokenRecord = new_record(
            job_id=job_id,
            task_token=request.task_token,
            execution_id=request.execution_id,
            now=now,
            interval_seconds=interval,
            timeout_seconds=config.timeout,
            max_attempts=config.max_attempts,
        )
        if isinstance(job_api, dict):
            record = replace(record, job_api=job_api)
        if config.mode == "sweep":
            # No schedule of its own: the sweep poller finds the record through the status GSI.
            record = replace(record, schedule_name=SWEEP_MODE_SCHEDULE_NAME)
        existing = self._store(record)
        if existing is not None:
            # Create-job ran before for this task (the invocation was repeated) and the job API answered the
            # same job for its idempotency key: that run stored the record; it is answered again, nothing undone.
            self.log("create-job repeated for a task whose job and token record exist; answering them again",
                     job_id=job_id)
            return _answer(existing)
        if config.mode == "sweep":
            self.log("job created; the sweep poller will poll it", job_id=job_id)
            return _answer(record)
        try:
            self.schedules.create(record.schedule_name, job_id, interval)
        except Exception as exc:
            removed = self.repository.delete_polling(job_id)
            raise SchedulingFailed(
                f"could not create schedule {record.schedule_name}: {_error(exc)}; "
                + ("the token record was removed" if removed else "the token record could not be removed")
                + "; " + self._cancel(job_id)
            ) from exc
        self.log("job created and polling scheduled", job_id=job_id, schedule=record.schedule_name)
        return _answer(record)

    def _submit(self, payload: dict[str, Any], time_left: Callable[[], float] | None) -> dict[str, Any]:
        """``jobs.create_job(payload)``, tried again after a transient answer while the policy and the
        remaining time allow (see the module's docstring)."""
        policy = self.retry
        tries = 0
        while True:
            tries += 1
            try:
                return self.jobs.create_job(payload)
            except SubmitTransient as exc:
                last = exc
            wait = policy.backoff_seconds * 2 ** (tries - 1)
            if last.retry_after is not None:
                wait = max(wait, last.retry_after)
            stop = None
            if tries >= policy.tries:
                stop = "no tries left"
            elif time_left is not None:
                needed = wait + (last.request_seconds or policy.request_seconds) + policy.margin_seconds
                left = time_left()
                if needed > left:
                    stop = (f"waiting {wait:g} s and trying again (up to {needed:g} s with the request and the "
                            f"margin) would pass the invocation's remaining {left:.1f} s")
            elif wait > policy.max_wait_seconds:
                stop = f"a wait of {wait:g} s is longer than {policy.max_wait_seconds:g} s"
            if stop is not None:
                raise SubmitFailed(f"the job API did not take the submit after {tries} "
                                   f"{'try' if tries == 1 else 'tries'} ({stop}); the last answer: {last}") from None
            self.log("the job API answered the submit transiently; trying again", tries=tries,
                     wait_seconds=wait, answer=str(last)[:300])
            self.sleep(wait)

    def _store(self, record: TokenRecord) -> TokenRecord | None:
        """Store ``record``; the record found instead when this task stored it before (same token)."""
        try:
            self.repository.put_new(record)
            return None
        except RecordExists as exc:
            if exc.existing is not None and exc.existing.task_token == record.task_token:
                return exc.existing
            raise StoringFailed(f"could not store the token record of {record.job_id}: {_error(exc)}; "
                                + self._cancel(record.job_id)) from exc
        except Exception as exc:
            raise StoringFailed(f"could not store the token record of {record.job_id}: {_error(exc)}; "
                                + self._cancel(record.job_id)) from exc

    def _cancel(self, job_id: str) -> str:
        """Undo the external job; what happened, for the error message."""
        try:
            self.jobs.cancel_job(job_id)
        except Exception as exc:
            self.log("could not cancel the external job", job_id=job_id, error=_error(exc))
            return f"the external job {job_id} could not be cancelled ({_error(exc)})"
        self.log("external job cancelled after a failed create-job", job_id=job_id)
        return f"the external job {job_id} was cancelled"


def _answer(record: TokenRecord) -> dict[str, Any]:
    """Create-job's answer for a stored record."""
    if record.schedule_name == SWEEP_MODE_SCHEDULE_NAME:
        return {"jobId": record.job_id, "status": record.status.value, "pollingMode": "sweep",
                "expiresAt": iso(record.expires_at)}
    return {"jobId": record.job_id, "status": record.status.value, "scheduleName": record.schedule_name,
            "expiresAt": iso(record.expires_at)}


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
