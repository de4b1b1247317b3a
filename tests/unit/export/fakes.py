"""In-memory fakes for every port of the export service (no AWS)."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sfn_callback.export.application import (
    CallbackErrorKind,
    CallbackOutcome,
    CallbackState,
    ConcurrentUpdate,
    ExportSinkError,
    FileSourceError,
    JobAlreadyExists,
    JobNotFound,
)
from sfn_callback.export.application.ports import ProgressCallback
from sfn_callback.export.domain import ExportJob, ExportTask, iso_millis, parse_iso

TOKEN = "AAAAKgAAAAIAAAAAAAAAAebfqJhRE-mock-task-token-0123456789abcdef"


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 1, 15, 10, 29, 15, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeRepository:
    """Same contract as the DynamoDB repository: copies in and out, versioned saves, conditional claim."""

    def __init__(self) -> None:
        self.jobs: dict[str, ExportJob] = {}
        self.callback: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.conflicts_to_raise = 0

    def add(self, job: ExportJob) -> None:
        with self.lock:
            if job.job_id in self.jobs:
                raise JobAlreadyExists(job.job_id)
            job.version = 1
            self.jobs[job.job_id] = copy.deepcopy(job)

    def get(self, job_id: str) -> ExportJob:
        with self.lock:
            if job_id not in self.jobs:
                raise JobNotFound(job_id)
            job = copy.deepcopy(self.jobs[job_id])
            cb = self.callback.get(job_id, {})
            job.callback_state = cb.get("state")
            job.callback_error = cb.get("error")
            return job

    def save(self, job: ExportJob) -> None:
        with self.lock:
            if self.conflicts_to_raise:
                self.conflicts_to_raise -= 1
                self.jobs[job.job_id].version += 1  # someone else saved
                raise ConcurrentUpdate(job.job_id)
            stored = self.jobs.get(job.job_id)
            if stored is None or stored.version != job.version:
                raise ConcurrentUpdate(job.job_id)
            job.version += 1
            self.jobs[job.job_id] = copy.deepcopy(job)

    def claim_callback(self, job_id: str, *, now: datetime, stale_after_seconds: float,
                       until: datetime | None = None) -> bool:
        with self.lock:
            cb = self.callback.get(job_id)
            stale = cb is not None and cb["state"] == CallbackState.CLAIMED and parse_iso(cb["expiresAt"]) < now
            if cb is None or cb["state"] == CallbackState.RETRYABLE or stale:
                expires = until if until is not None else now + timedelta(seconds=stale_after_seconds)
                self.callback[job_id] = {"state": CallbackState.CLAIMED, "claimedAt": iso_millis(now),
                                         "expiresAt": iso_millis(expires)}
                return True
            return False

    def record_callback(
        self, job_id: str, *, state: CallbackState, at: datetime, error: str | None = None, attempts: int = 0
    ) -> None:
        with self.lock:
            self.callback.setdefault(job_id, {}).update(state=state, at=at, error=error, attempts=attempts)


@dataclass
class FakeStepFunctions:
    """Records calls; answers with a configured outcome (or raises, to model a broken adapter)."""

    success_outcome: CallbackOutcome | None = None
    failure_outcome: CallbackOutcome | None = None
    heartbeat_outcome: CallbackOutcome | None = None
    raise_on_send: Exception | None = None
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def _record(self, kind: str, args: tuple[Any, ...], configured: CallbackOutcome | None) -> CallbackOutcome:
        with self.lock:
            self.calls.append((kind, args))
        if self.raise_on_send is not None and kind != "heartbeat":
            raise self.raise_on_send
        return configured or CallbackOutcome(kind=kind, ok=True)

    def send_task_success(self, task_token: str, output: dict[str, Any]) -> CallbackOutcome:
        return self._record("success", (task_token, output), self.success_outcome)

    def send_task_failure(self, task_token: str, error: str, cause: str) -> CallbackOutcome:
        return self._record("failure", (task_token, error, cause), self.failure_outcome)

    def send_task_heartbeat(self, task_token: str) -> CallbackOutcome:
        return self._record("heartbeat", (task_token,), self.heartbeat_outcome)

    def of_kind(self, kind: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [args for k, args in self.calls if k == kind]


def finished_token_outcome(kind: str = "success", code: str = "TaskTimedOut") -> CallbackOutcome:
    return CallbackOutcome(kind=kind, ok=False, error_code=code, error_kind=CallbackErrorKind.TOKEN_FINISHED)


class FakeFileSource:
    """Serves bytes by URL; a URL mapped to an exception raises it; a URL in ``hang`` blocks until released."""

    def __init__(self, files: dict[str, bytes | Exception] | None = None) -> None:
        self.files = dict(files or {})
        self.hang: dict[str, threading.Event] = {}
        self.fetched: list[str] = []

    def fetch(self, url: str, on_progress: ProgressCallback | None = None) -> bytes:
        self.fetched.append(url)
        if url in self.hang:
            self.hang[url].wait(10)
        value = self.files.get(url)
        if value is None:
            raise FileSourceError(f"GET {url} answered HTTP 404 Not Found")
        if isinstance(value, Exception):
            raise value
        if on_progress:
            on_progress(len(value))
        return value


class FakeSink:
    def __init__(self, fail_names: set[str] | None = None) -> None:
        self.written: dict[str, bytes] = {}
        self.fail_names = fail_names or set()

    def write(self, job: ExportJob, task: ExportTask, data: bytes) -> str:
        if task.name in self.fail_names:
            raise ExportSinkError(f"cannot write {task.name}: disk full")
        key = f"mem://{job.export_id}/{job.job_id}/{task.name}"
        self.written[key] = data
        return key


class FakeMetrics:
    def __init__(self) -> None:
        self.jobs: list[bool] = []
        self.outcomes: list[CallbackOutcome] = []
        self.lock = threading.Lock()

    def job_started(self, *, has_token: bool) -> None:
        self.jobs.append(has_token)

    def callback_result(self, outcome: CallbackOutcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def failures(self, kind: str | None = None) -> list[CallbackOutcome]:
        return [o for o in self.outcomes if not o.ok and (kind is None or o.kind == kind)]
