"""``poc-polling-job``: the status-check Lambda of the polling baseline (``poc-polling-workflow``).

The workflow calls it in two ways, both through the same external job API the callback workflow uses:

* ``{"action": "CREATE_JOB", "record", "pollingConfig", "executionId", "startedAt"}`` creates the job and
  returns the loop's state: ``{jobId, status, attempt: 0, maxAttempts, intervalSeconds, expiresAt}``;
* ``{"action": "CHECK_STATUS", "jobId", "attempt", "maxAttempts", "intervalSeconds", "expiresAt"}`` returns
  the same shape with the job's ``status`` (and its document as ``result``); past ``expiresAt`` it answers
  ``TIMEOUT`` without asking the API, as the callback poller does.

The ``Choice`` state of the workflow decides from ``status``, ``attempt`` and ``maxAttempts``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import Field

from sfn_callback.polling.domain.events import NonEmpty, PollingConfig, Positive, Record, StrictModel, parse
from sfn_callback.polling.domain.lifecycle import iso, parse_iso, utcnow


class JobClient(Protocol):
    def create_job(self, payload: dict[str, Any]) -> dict[str, Any]: ...

    def check_status(self, job_id: str) -> dict[str, Any]: ...


class CreateRequest(StrictModel):
    action: Literal["CREATE_JOB"]
    record: Record
    polling_config: PollingConfig = Field(alias="pollingConfig")
    execution_id: NonEmpty = Field(alias="executionId")
    started_at: NonEmpty = Field(alias="startedAt")


class CheckRequest(StrictModel):
    action: Literal["CHECK_STATUS"]
    job_id: NonEmpty = Field(alias="jobId")
    attempt: Positive
    max_attempts: Positive = Field(alias="maxAttempts")
    interval_seconds: Positive = Field(alias="intervalSeconds")
    expires_at: NonEmpty = Field(alias="expiresAt")


class PollingJobService:
    def __init__(self, jobs: JobClient, clock: Callable[[], datetime] = utcnow):
        self.jobs = jobs
        self.clock = clock

    def handle(self, event: Any) -> dict[str, Any]:
        action = event.get("action") if isinstance(event, dict) else None
        if action == "CREATE_JOB":
            return self.create(parse(CreateRequest, event, "polling job"))
        if action == "CHECK_STATUS":
            return self.check(parse(CheckRequest, event, "polling job"))
        from sfn_callback.polling.domain.events import InvalidEvent

        raise InvalidEvent("polling job: action must be CREATE_JOB or CHECK_STATUS")

    def create(self, request: CreateRequest) -> dict[str, Any]:
        config = request.polling_config
        payload: dict[str, Any] = {"recordId": request.record.id, "data": request.record.data or {}}
        if config.job_options is not None:
            payload.update(config.job_options.as_payload())
        job = self.jobs.create_job(payload)
        try:
            started = parse_iso(request.started_at)
        except ValueError:
            from sfn_callback.polling.domain.events import InvalidEvent

            raise InvalidEvent("polling job: startedAt is not an ISO-8601 timestamp") from None
        return {
            "jobId": job["jobId"],
            "status": str(job.get("status") or "IN_PROGRESS"),
            "attempt": 0,
            "maxAttempts": config.max_attempts,
            "intervalSeconds": config.interval,
            "expiresAt": iso(started + timedelta(seconds=config.timeout)),
        }

    def check(self, request: CheckRequest) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "jobId": request.job_id,
            "attempt": request.attempt,
            "maxAttempts": request.max_attempts,
            "intervalSeconds": request.interval_seconds,
            "expiresAt": request.expires_at,
        }
        if self.clock() > parse_iso(request.expires_at):
            return {**doc, "status": "TIMEOUT", "result": None}
        job = self.jobs.check_status(request.job_id)
        return {**doc, "status": str(job.get("status") or "IN_PROGRESS"), "result": job}


def handler(event: Any, context: Any) -> dict[str, Any]:
    from sfn_callback.poc import bootstrap

    return PollingJobService(bootstrap.job_api()).handle(event)
