"""The export job: tasks, their outcomes, the completion rule and the callback payloads.

Pure Python: no AWS code here. Everything the Step Functions callback carries is computed from the entity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sfn_callback.common.clock import iso, parse_iso  # noqa: F401  (parse_iso: part of the export domain's API)

FAILURE_ERROR = "JobCompletedWithFailures"


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class JobStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_FAILURES = "COMPLETED_WITH_FAILURES"


class ExportDomainError(Exception):
    """Base class for rule violations of the export model."""


class UnknownTask(ExportDomainError):
    def __init__(self, job_id: str, task_id: str) -> None:
        super().__init__(f"job {job_id} has no task {task_id!r}")


class JobNotComplete(ExportDomainError):
    def __init__(self, job_id: str, pending: int) -> None:
        super().__init__(f"job {job_id} still has {pending} pending task(s)")


iso_millis = iso
"""ISO 8601 in UTC with milliseconds and ``Z`` (the one time helper, :mod:`sfn_callback.common.clock`)."""


@dataclass
class ExportTask:
    """One file of the export: where it comes from, what it is called, and how it ended."""

    task_id: str
    url: str
    name: str
    status: TaskStatus = TaskStatus.PENDING
    error: str | None = None
    location: str | None = None
    finished_at: datetime | None = None

    @property
    def has_outcome(self) -> bool:
        return self.status is not TaskStatus.PENDING


@dataclass(frozen=True)
class SuccessCallback:
    """SendTaskSuccess: ``output`` is the JSON document the workflow receives."""

    output: dict[str, Any]


@dataclass(frozen=True)
class FailureCallback:
    """SendTaskFailure: Step Functions carries only ``error`` and ``cause``.

    ``details`` (the counts) do not travel with the callback: they are stored on the job record, where
    a workflow or an operator can read them by ``jobId``.
    """

    error: str
    cause: str
    details: dict[str, Any]


Callback = SuccessCallback | FailureCallback


@dataclass
class ExportJob:
    """An export job and its tasks. The job is complete when every task has an outcome."""

    job_id: str
    export_id: str
    user_id: str
    metadata: dict[str, Any]
    tasks: list[ExportTask]
    started_at: datetime
    task_token: str | None = None
    completed_at: datetime | None = None
    version: int = 0
    callback_state: str | None = None  # written by the repository's callback bookkeeping only
    callback_error: str | None = None

    @classmethod
    def create(
        cls,
        *,
        job_id: str,
        export_id: str,
        user_id: str,
        files: list[tuple[str, str]],
        started_at: datetime,
        metadata: dict[str, Any] | None = None,
        task_token: str | None = None,
    ) -> ExportJob:
        """A new job with one pending task per ``(url, name)`` file, numbered ``task-1``, ``task-2``, ...

        A job with no files is complete at once (``completed_at == started_at``).
        """
        tasks = [ExportTask(task_id=f"task-{i}", url=url, name=name) for i, (url, name) in enumerate(files, 1)]
        return cls(
            job_id=job_id,
            export_id=export_id,
            user_id=user_id,
            metadata=dict(metadata or {}),
            tasks=tasks,
            started_at=started_at,
            task_token=task_token or None,
            completed_at=None if tasks else started_at,
        )

    # --- queries -------------------------------------------------------------------------------------
    def has_task_token(self) -> bool:
        return bool(self.task_token)

    def task(self, task_id: str) -> ExportTask:
        for task in self.tasks:
            if task.task_id == task_id:
                return task
        raise UnknownTask(self.job_id, task_id)

    @property
    def pending_tasks(self) -> list[ExportTask]:
        return [t for t in self.tasks if not t.has_outcome]

    @property
    def total_tasks(self) -> int:
        return len(self.tasks)

    @property
    def completed_tasks(self) -> int:
        return sum(1 for t in self.tasks if t.status is TaskStatus.COMPLETED)

    @property
    def failed_tasks(self) -> int:
        return sum(1 for t in self.tasks if t.status is TaskStatus.FAILED)

    @property
    def is_complete(self) -> bool:
        """The completion rule: every task has an outcome (a job with no tasks is complete at once)."""
        return all(t.has_outcome for t in self.tasks)

    @property
    def status(self) -> JobStatus:
        if not self.is_complete:
            return JobStatus.RUNNING
        return JobStatus.COMPLETED_WITH_FAILURES if self.failed_tasks else JobStatus.COMPLETED

    @property
    def duration_ms(self) -> int | None:
        if self.completed_at is None:
            return None
        return max(0, round((self.completed_at - self.started_at).total_seconds() * 1000))

    # --- commands ------------------------------------------------------------------------------------
    def record_outcome(
        self,
        task_id: str,
        *,
        success: bool,
        at: datetime,
        error: str | None = None,
        location: str | None = None,
    ) -> bool:
        """Record a task's outcome. Returns False (and changes nothing) if the task already has one.

        When this outcome completes the job, ``completed_at`` is set to ``at``.
        """
        task = self.task(task_id)
        if task.has_outcome:
            return False
        task.status = TaskStatus.COMPLETED if success else TaskStatus.FAILED
        task.error = None if success else (error or "task failed")
        task.location = location if success else None
        task.finished_at = at
        if self.is_complete and self.completed_at is None:
            self.completed_at = at
        return True

    # --- the callback --------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        return {
            "totalTasks": self.total_tasks,
            "completedTasks": self.completed_tasks,
            "failedTasks": self.failed_tasks,
        }

    def success_output(self) -> dict[str, Any]:
        """Seed 004's success payload."""
        self._require_complete()
        assert self.completed_at is not None
        return {
            "jobId": self.job_id,
            "exportId": self.export_id,
            "userId": self.user_id,
            "status": "COMPLETED",
            **self.counts(),
            "completedAt": iso_millis(self.completed_at),
            "durationMs": self.duration_ms,
        }

    def failure_callback(self) -> FailureCallback:
        """Seed 004's failure payload: the cause is exactly the seed's sentence."""
        self._require_complete()
        return FailureCallback(
            error=FAILURE_ERROR,
            cause=f"Job completed with {self.failed_tasks} failed tasks out of {self.total_tasks} total",
            details={"jobId": self.job_id, "exportId": self.export_id, **self.counts()},
        )

    def callback(self) -> Callback:
        """The callback this complete job owes its workflow: failure if any task failed, else success."""
        self._require_complete()
        if self.failed_tasks:
            return self.failure_callback()
        return SuccessCallback(self.success_output())

    def _require_complete(self) -> None:
        if not self.is_complete or self.completed_at is None:
            raise JobNotComplete(self.job_id, len(self.pending_tasks))
