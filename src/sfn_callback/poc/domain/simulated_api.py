"""The simulated external job system (seed 001's ``poc-simulated-api``), as domain code over a job store.

A job completes after 2-3 status checks by default. ``CREATE_JOB``'s payload may ask for
``completeAfterChecks: N``, ``failAfterChecks: N`` (status FAILED), ``neverComplete: true`` or ``completeAt:
<ISO time>`` (completes at the first check at or after that moment) so that every scenario is reproducible. The check counter is incremented atomically by the store. ``CANCEL_JOB`` cancels a
job and forgets it (its item is deleted): create-job's undo when a step after creating the job fails.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from sfn_callback.polling.domain.events import (
    CancelJobAction,
    CheckStatusAction,
    CreateJobAction,
    InvalidEvent,
    JobOptions,
    parse_simulated_api_event,
)
from sfn_callback.polling.domain.lifecycle import iso, parse_iso, utcnow

NEVER = "NEVER"


class JobNotFound(LookupError):
    """CHECK_STATUS for a jobId the simulated API never created."""

    def __init__(self, job_id: str):
        super().__init__(f"Job not found: {job_id!r}")
        self.job_id = job_id


class JobStore(Protocol):
    def create(self, item: dict[str, Any]) -> None: ...

    def record_check(self, job_id: str) -> dict[str, Any] | None:
        """Atomically add 1 to ``pollCount`` of an existing job; the item after the update, or None."""

    def finish(self, job_id: str, status: str, completed_at: str) -> None:
        """IN_PROGRESS -> ``status`` (a no-op when the job is already finished)."""

    def delete(self, job_id: str) -> bool:
        """Remove the job; False when there was none."""


def new_job_id(now_ms: int | None = None) -> str:
    return f"job-{now_ms if now_ms is not None else int(time.time() * 1000)}-{secrets.token_hex(4)}"


@dataclass
class SimulatedJobApi:
    store: JobStore
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable = utcnow
    new_id: Callable[[], str] = new_job_id

    def handle(self, event: Any) -> dict[str, Any]:
        request = parse_simulated_api_event(event)
        if isinstance(request, CreateJobAction):
            return self.create_job(request.payload)
        if isinstance(request, CancelJobAction):
            return self.cancel_job(request.job_id)
        assert isinstance(request, CheckStatusAction)
        return self.check_status(request.job_id)

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        if not self.store.delete(job_id):
            raise JobNotFound(job_id)
        return {"jobId": job_id, "status": "CANCELLED"}

    def create_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            options = JobOptions.model_validate(payload)
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise InvalidEvent(f"simulated API: CREATE_JOB payload: {details}") from None
        if options.never_complete or options.complete_at is not None:
            planned, completion_polls = ("COMPLETED" if options.complete_at else NEVER), None
        elif options.fail_after_checks is not None:
            planned, completion_polls = "FAILED", options.fail_after_checks
        else:
            planned = "COMPLETED"
            completion_polls = options.complete_after_checks or self.rng.randint(2, 3)
        job_id = self.new_id()
        item: dict[str, Any] = {
            "jobId": job_id,
            "status": "IN_PROGRESS",
            "pollCount": 0,
            "plannedOutcome": planned,
            "payload": json.dumps(payload, sort_keys=True, default=str),
            "createdAt": iso(self.clock()),
        }
        if completion_polls is not None:
            item["completionPolls"] = completion_polls
        if options.complete_at is not None:
            item["completeAt"] = iso(parse_iso(options.complete_at))
        self.store.create(item)
        return {"jobId": job_id, "status": "IN_PROGRESS", "completionPolls": completion_polls}

    def check_status(self, job_id: str) -> dict[str, Any]:
        item = self.store.record_check(job_id)
        if item is None:
            raise JobNotFound(job_id)
        poll_count = int(item["pollCount"])
        completion = item.get("completionPolls")
        completion = int(completion) if completion is not None else None
        status = item.get("status", "IN_PROGRESS")
        completed_at = item.get("completedAt")
        due = item.get("completeAt")
        if status == "IN_PROGRESS" and ((completion is not None and poll_count >= completion)
                                        or (due is not None and self.clock() >= parse_iso(due))):
            status = item.get("plannedOutcome", "COMPLETED")
            completed_at = iso(self.clock())
            self.store.finish(job_id, status, completed_at)
        doc: dict[str, Any] = {
            "jobId": job_id,
            "status": status,
            "pollCount": poll_count,
            "completionPolls": completion,
        }
        if completed_at and status != "IN_PROGRESS":
            doc["completedAt"] = completed_at
        return doc
