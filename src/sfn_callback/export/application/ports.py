"""Ports: what the use cases need from the outside world, as Protocols.

Adapters in :mod:`sfn_callback.export.adapters` implement them with AWS and HTTP; tests implement them with
in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from sfn_callback.export.domain import ExportJob, ExportTask

ProgressCallback = Callable[[int], None]
"""Called with a byte count each time a transfer makes progress (drives the heartbeat's liveness)."""


# --- errors the ports may raise -----------------------------------------------------------------------
class ExportError(Exception):
    """Base class for errors raised by the export application and its ports."""


class JobNotFound(ExportError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"export job {job_id!r} not found")
        self.job_id = job_id


class JobAlreadyExists(ExportError):
    def __init__(self, job_id: str, reason: str = "") -> None:
        super().__init__(f"export job {job_id!r} already exists" + (f": {reason}" if reason else ""))
        self.job_id = job_id


class ConcurrentUpdate(ExportError):
    """The job changed since it was read (optimistic concurrency on ``ExportJob.version``)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"export job {job_id!r} was modified concurrently")
        self.job_id = job_id


class FileSourceError(ExportError):
    """A file could not be fetched (HTTP error, timeout, too large, bad URL)."""


class ExportSinkError(ExportError):
    """An exported file could not be written."""


# --- callback outcomes --------------------------------------------------------------------------------
class CallbackErrorKind(StrEnum):
    TOKEN_FINISHED = "TOKEN_FINISHED"  # TaskDoesNotExist / InvalidToken / TaskTimedOut: never retried
    TRANSIENT = "TRANSIENT"  # throttling, 5xx, network: retried with backoff, attempts exhausted
    REJECTED = "REJECTED"  # any other client error (access denied, validation): not retried
    UNEXPECTED = "UNEXPECTED"  # the adapter itself failed


@dataclass(frozen=True)
class CallbackOutcome:
    """What happened to one SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat call.

    Callback adapters return this instead of raising, so that a callback problem never fails a job.
    """

    kind: str  # "success" | "failure" | "heartbeat"
    ok: bool
    error_code: str | None = None
    error_kind: CallbackErrorKind | None = None
    message: str | None = None
    attempts: int = 1
    latency_ms: float = 0.0

    @property
    def token_finished(self) -> bool:
        return self.error_kind is CallbackErrorKind.TOKEN_FINISHED

    @property
    def retryable_later(self) -> bool:
        """A later attempt (e.g. on redelivery of the job's message) may succeed."""
        return self.error_kind in (CallbackErrorKind.TRANSIENT, CallbackErrorKind.UNEXPECTED)


class CallbackState(StrEnum):
    """Callback bookkeeping on the job record (see :meth:`JobRepository.claim_callback`)."""

    CLAIMED = "CLAIMED"  # a worker is sending it; re-claimable once stale (crash recovery)
    SENT = "SENT"  # terminal
    FAILED = "FAILED"  # terminal: token finished or request rejected
    RETRYABLE = "RETRYABLE"  # transient failure; re-claimable at once


# --- ports ----------------------------------------------------------------------------------------------
@runtime_checkable
class JobRepository(Protocol):
    """Persistence of export jobs, with the task token, keyed by ``job_id``."""

    def add(self, job: ExportJob) -> None:
        """Store a new job. Raises :class:`JobAlreadyExists`."""

    def get(self, job_id: str) -> ExportJob:
        """Load a job, with its callback bookkeeping. Raises :class:`JobNotFound`."""

    def save(self, job: ExportJob) -> None:
        """Write task outcomes and completion if ``job.version`` is still current, then bump it.

        Raises :class:`ConcurrentUpdate` when someone else saved first. Never touches callback fields.
        """

    def claim_callback(self, job_id: str, *, now: datetime, stale_after_seconds: float,
                       until: datetime | None = None) -> bool:
        """Atomically take the right to send the job's callback, until ``until`` (the claiming invocation's
        deadline: it cannot run past it), or for ``stale_after_seconds`` when no deadline is known.

        True when the callback was never claimed, when the last attempt failed transiently, or when the
        previous claim has ended (its holder died or timed out before recording how the callback went). False
        otherwise, so a job completed twice sends one callback.
        """

    def record_callback(
        self, job_id: str, *, state: CallbackState, at: datetime, error: str | None = None, attempts: int = 0
    ) -> None:
        """Record how the claimed callback ended."""


@runtime_checkable
class StepFunctionsPort(Protocol):
    """The three task-token calls. Implementations return an outcome and do not raise."""

    def send_task_success(self, task_token: str, output: dict[str, Any]) -> CallbackOutcome: ...

    def send_task_failure(self, task_token: str, error: str, cause: str) -> CallbackOutcome: ...

    def send_task_heartbeat(self, task_token: str) -> CallbackOutcome: ...


@runtime_checkable
class FileSource(Protocol):
    """Fetches a file's bytes by URL. Raises :class:`FileSourceError`."""

    def fetch(self, url: str, on_progress: ProgressCallback | None = None) -> bytes: ...


@runtime_checkable
class ExportSink(Protocol):
    """Writes an exported file and returns where it went (path or ``s3://`` URI). Raises :class:`ExportSinkError`."""

    def write(self, job: ExportJob, task: ExportTask, data: bytes) -> str: ...


@runtime_checkable
class ExportMetrics(Protocol):
    """Counters for dashboards: callback success rate, latency, errors by type, jobs with tokens."""

    def job_started(self, *, has_token: bool) -> None: ...

    def callback_result(self, outcome: CallbackOutcome) -> None: ...


class NullMetrics:
    """Metrics that go nowhere."""

    def job_started(self, *, has_token: bool) -> None:
        return None

    def callback_result(self, outcome: CallbackOutcome) -> None:
        return None


Clock = Callable[[], datetime]
