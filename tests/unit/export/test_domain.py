from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sfn_callback.export.domain import (
    ExportJob,
    FailureCallback,
    JobNotComplete,
    JobStatus,
    SuccessCallback,
    TaskStatus,
    UnknownTask,
    iso_millis,
)

T0 = datetime(2025, 1, 15, 10, 29, 15, tzinfo=UTC)


def make_job(n: int = 2, token: str | None = "tok") -> ExportJob:
    return ExportJob.create(
        job_id="job-1",
        export_id="export-1",
        user_id="user-1",
        files=[(f"http://h/{i}", f"f{i}.csv") for i in range(n)],
        started_at=T0,
        task_token=token,
    )


def test_iso_millis_is_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2025, 1, 15, 11, 30, 0, 123456, tzinfo=UTC).astimezone()
    assert iso_millis(moment) == "2025-01-15T11:30:00.123Z"
    with pytest.raises(ValueError):
        iso_millis(datetime(2025, 1, 1))


def test_job_is_complete_when_every_task_has_an_outcome() -> None:
    job = make_job(2)
    assert [t.task_id for t in job.tasks] == ["task-1", "task-2"]
    assert not job.is_complete and job.status is JobStatus.RUNNING
    assert job.record_outcome("task-1", success=True, at=T0 + timedelta(seconds=1))
    assert not job.is_complete and job.completed_at is None
    assert job.record_outcome("task-2", success=False, error="404", at=T0 + timedelta(seconds=2))
    assert job.is_complete and job.status is JobStatus.COMPLETED_WITH_FAILURES
    assert job.completed_at == T0 + timedelta(seconds=2)
    assert job.tasks[1].status is TaskStatus.FAILED and job.tasks[1].error == "404"


def test_an_outcome_is_recorded_once() -> None:
    job = make_job(1)
    assert job.record_outcome("task-1", success=True, at=T0)
    assert not job.record_outcome("task-1", success=False, at=T0)
    assert job.tasks[0].status is TaskStatus.COMPLETED
    with pytest.raises(UnknownTask):
        job.record_outcome("task-9", success=True, at=T0)


def test_success_payload_is_seed_004s() -> None:
    job = make_job(2)
    job.record_outcome("task-1", success=True, at=T0 + timedelta(seconds=10))
    job.record_outcome("task-2", success=True, at=T0 + timedelta(seconds=45))
    callback = job.callback()
    assert isinstance(callback, SuccessCallback)
    assert callback.output == {
        "jobId": "job-1",
        "exportId": "export-1",
        "userId": "user-1",
        "status": "COMPLETED",
        "totalTasks": 2,
        "completedTasks": 2,
        "failedTasks": 0,
        "completedAt": "2025-01-15T10:30:00.000Z",
        "durationMs": 45000,
    }


def test_failure_payload_has_the_seed_sentence_and_counts() -> None:
    job = make_job(3)
    job.record_outcome("task-1", success=True, at=T0)
    job.record_outcome("task-2", success=False, at=T0)
    job.record_outcome("task-3", success=False, at=T0)
    callback = job.callback()
    assert isinstance(callback, FailureCallback)
    assert callback.error == "JobCompletedWithFailures"
    assert callback.cause == "Job completed with 2 failed tasks out of 3 total"
    assert callback.details == {
        "jobId": "job-1",
        "exportId": "export-1",
        "totalTasks": 3,
        "completedTasks": 1,
        "failedTasks": 2,
    }


def test_no_callback_before_completion_and_empty_job_is_complete() -> None:
    with pytest.raises(JobNotComplete):
        make_job(1).callback()
    empty = make_job(0)
    assert empty.is_complete and empty.duration_ms == 0
    assert empty.callback().output["totalTasks"] == 0  # type: ignore[union-attr]


def test_has_task_token() -> None:
    assert make_job(token="abc").has_task_token()
    assert not make_job(token=None).has_task_token()
    assert not make_job(token="").has_task_token()
