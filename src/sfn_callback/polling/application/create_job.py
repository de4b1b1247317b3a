"""Create-job use case (seed ``poc-create-job``): create the external job, store the token, schedule polling.

Every field of the event is checked against the limits AWS and the design impose before anything is created
(``sfn_callback.polling.domain.events``). Order matters: the token record is written before the schedule exists (so the
first poll finds it). A step that fails undoes the steps before it, and the call fails with what happened: if
the token record cannot be stored the external job is cancelled; if the schedule cannot be created the record
is deleted again and the external job cancelled. No record is left that nothing will ever poll, and no
external job that no workflow waits for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sfn_callback.config import SWEEP_MODE_SCHEDULE_NAME
from sfn_callback.polling.domain.events import CreateJobEvent, InvalidEvent, parse
from sfn_callback.polling.domain.job_api_config import FALLBACK_FACTOR
from sfn_callback.polling.domain.lifecycle import TokenRecord, TokenRepository, iso, new_record, utcnow


class CreateJobFailed(RuntimeError):
    """A step after the external job was created failed; what was created was undone (the message says)."""


class StoringFailed(CreateJobFailed):
    """The token record could not be stored; the external job was cancelled."""


class SchedulingFailed(CreateJobFailed):
    """The polling schedule could not be created; the token record was removed and the external job cancelled."""


class ExternalApiError(RuntimeError):
    """The external job API answered with an error."""


class JobCreator(Protocol):
    def create_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Submit the job; ``{"jobId": ...}``, plus ``"jobApi"`` (an object) when the job's status checks need
        more than its id: it is stored on the token record (``TokenRecord.job_api``)."""

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

    def handle(self, event: Any) -> dict[str, Any]:
        request: CreateJobEvent = parse(CreateJobEvent, event, "create-job")
        config = request.polling_config
        check_interval(config.interval, self.allow_sub_minute)

        payload: dict[str, Any] = {"recordId": request.record.id, "data": request.record.data or {}}
        if config.job_options is not None:
            payload.update(config.job_options.as_payload())
        if config.job_api is not None:
            payload["jobApi"] = config.job_api
        job = self.jobs.create_job(payload)
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
            self._store(record)
            self.log("job created; the sweep poller will poll it", job_id=job_id)
            return {"jobId": job_id, "status": "POLLING", "pollingMode": "sweep", "expiresAt": iso(record.expires_at)}
        self._store(record)
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
        return {
            "jobId": job_id,
            "status": "POLLING",
            "scheduleName": record.schedule_name,
            "expiresAt": iso(record.expires_at),
        }

    def _store(self, record: TokenRecord) -> None:
        try:
            self.repository.put_new(record)
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


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
