"""Start / complete task / complete job, with fakes for every port."""

from __future__ import annotations

import pytest

from sfn_callback.export.application import (
    CallbackErrorKind,
    CallbackOutcome,
    CallbackResult,
    CallbackState,
    CompleteTask,
    CompleteTaskCommand,
    ConcurrentUpdate,
    FileSpec,
    JobAlreadyExists,
    StartExportJob,
    StartExportJobCommand,
)

from .fakes import TOKEN, FakeClock, FakeMetrics, FakeRepository, FakeStepFunctions, finished_token_outcome


def start(repo: FakeRepository, clock: FakeClock, metrics: FakeMetrics, *, token: str | None = TOKEN, n: int = 1,
          job_id: str = "123"):
    command = StartExportJobCommand(
        job_id=job_id,
        export_id="export-12345",
        user_id="user-67890",
        metadata={"requestedBy": "admin", "format": "csv"},
        files=[FileSpec(url=f"http://files/{i}.csv", name=f"{i}.csv") for i in range(1, n + 1)],
        task_token=token,
    )
    return StartExportJob(repo, metrics=metrics, clock=clock).execute(command)


@pytest.fixture
def complete(repo, sfn, metrics, clock) -> CompleteTask:
    return CompleteTask(repo, sfn, metrics=metrics, clock=clock)


# --- seed 004's two unit tests --------------------------------------------------------------------------
def test_should_send_callback_when_job_has_task_token(repo, sfn, metrics, clock, complete) -> None:
    start(repo, clock, metrics)
    clock.advance(seconds=45)
    result = complete.execute(CompleteTaskCommand(job_id="123", task_id="task-1", success=True))

    assert sfn.of_kind("success") == [
        (
            TOKEN,
            {
                "jobId": "123",
                "exportId": "export-12345",
                "userId": "user-67890",
                "status": "COMPLETED",
                "totalTasks": 1,
                "completedTasks": 1,
                "failedTasks": 0,
                "completedAt": "2025-01-15T10:30:00.000Z",
                "durationMs": 45000,
            },
        )
    ]
    assert sfn.of_kind("failure") == []
    assert result.callback is not None and result.callback.result is CallbackResult.SENT
    assert repo.callback["123"]["state"] is CallbackState.SENT


def test_should_not_send_callback_when_job_has_no_task_token(repo, sfn, metrics, clock, complete) -> None:
    start(repo, clock, metrics, token=None)
    result = complete.execute(CompleteTaskCommand(job_id="123", task_id="task-1", success=True))

    assert sfn.calls == []
    assert result.job_complete and result.callback.result is CallbackResult.NO_TOKEN
    assert repo.get("123").status.value == "COMPLETED"


# --- more -------------------------------------------------------------------------------------------------
def test_failure_callback_has_exact_cause_and_counts_are_stored(repo, sfn, metrics, clock, complete) -> None:
    start(repo, clock, metrics, n=3)
    complete.execute(CompleteTaskCommand("123", "task-1", success=True))
    complete.execute(CompleteTaskCommand("123", "task-2", success=False, error="HTTP 404"))
    assert sfn.calls == []  # not before the last task
    complete.execute(CompleteTaskCommand("123", "task-3", success=False, error="timeout"))

    assert sfn.of_kind("failure") == [
        (TOKEN, "JobCompletedWithFailures", "Job completed with 2 failed tasks out of 3 total")
    ]
    assert sfn.of_kind("success") == []
    stored = repo.get("123")
    assert stored.counts() == {"totalTasks": 3, "completedTasks": 1, "failedTasks": 2}
    assert stored.failure_callback().details["failedTasks"] == 2


def test_job_completed_twice_sends_one_callback(repo, sfn, metrics, clock, complete) -> None:
    start(repo, clock, metrics)
    first = complete.execute(CompleteTaskCommand("123", "task-1", success=True))
    second = complete.execute(CompleteTaskCommand("123", "task-1", success=True))
    third = complete.execute(CompleteTaskCommand("123", "task-1", success=False))

    assert len(sfn.calls) == 1
    assert first.recorded and not second.recorded and not third.recorded
    assert second.callback.result is CallbackResult.ALREADY_CLAIMED
    assert repo.get("123").tasks[0].status.value == "COMPLETED"


def test_two_workers_completing_the_same_job_send_one_callback(repo, sfn, metrics, clock) -> None:
    start(repo, clock, metrics)
    worker_a = CompleteTask(repo, sfn, metrics=metrics, clock=clock)
    worker_b = CompleteTask(repo, sfn, metrics=metrics, clock=clock)
    worker_a.execute(CompleteTaskCommand("123", "task-1", success=True))
    job = repo.get("123")
    assert worker_b.complete_job.execute(job).result is CallbackResult.ALREADY_CLAIMED
    assert len(sfn.of_kind("success")) == 1


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (finished_token_outcome("success", "TaskDoesNotExist"), CallbackState.FAILED),
        (finished_token_outcome("success", "InvalidToken"), CallbackState.FAILED),
        (
            CallbackOutcome("success", ok=False, error_code="ThrottlingException",
                            error_kind=CallbackErrorKind.TRANSIENT, attempts=5),
            CallbackState.RETRYABLE,
        ),
    ],
)
def test_callback_failure_does_not_fail_the_job_and_is_counted(
    repo, metrics, clock, outcome, state, caplog
) -> None:
    sfn = FakeStepFunctions(success_outcome=outcome)
    start(repo, clock, metrics)
    result = CompleteTask(repo, sfn, metrics=metrics, clock=clock).execute(
        CompleteTaskCommand("123", "task-1", success=True)
    )

    assert result.job_complete and repo.get("123").status.value == "COMPLETED"
    assert result.callback.result is CallbackResult.FAILED
    assert metrics.failures("success") == [outcome]
    assert repo.callback["123"]["state"] is state
    assert outcome.error_code in repo.callback["123"]["error"]
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == [
        f"Failed to send Step Functions callback for job 123: {outcome.error_code}"
    ]
    assert errors[0].taskToken == "AAAAKgAA...********...cdef"
    assert all(TOKEN not in str(vars(r)) for r in caplog.records)


def test_a_raising_callback_adapter_does_not_fail_the_job(repo, metrics, clock) -> None:
    sfn = FakeStepFunctions(raise_on_send=ConnectionError("network down"))
    start(repo, clock, metrics)
    result = CompleteTask(repo, sfn, metrics=metrics, clock=clock).execute(
        CompleteTaskCommand("123", "task-1", success=True)
    )
    assert result.callback.result is CallbackResult.FAILED
    assert result.callback.outcome.error_kind is CallbackErrorKind.UNEXPECTED
    assert [o.error_code for o in metrics.failures()] == ["ConnectionError"]
    assert repo.callback["123"]["state"] is CallbackState.RETRYABLE


def test_transient_callback_failure_is_retried_on_the_next_completion(repo, metrics, clock) -> None:
    throttled = CallbackOutcome("success", ok=False, error_code="ThrottlingException",
                                error_kind=CallbackErrorKind.TRANSIENT)
    sfn = FakeStepFunctions(success_outcome=throttled)
    start(repo, clock, metrics)
    use_case = CompleteTask(repo, sfn, metrics=metrics, clock=clock)
    use_case.execute(CompleteTaskCommand("123", "task-1", success=True))
    sfn.success_outcome = None
    again = use_case.complete_job.execute(repo.get("123"))
    assert again.result is CallbackResult.SENT and len(sfn.of_kind("success")) == 2
    assert use_case.complete_job.execute(repo.get("123")).result is CallbackResult.ALREADY_CLAIMED


def test_a_stale_claim_is_taken_over(repo, sfn, metrics, clock) -> None:
    start(repo, clock, metrics)
    job = repo.get("123")
    job.record_outcome("task-1", success=True, at=clock())
    repo.save(job)
    assert repo.claim_callback("123", now=clock(), stale_after_seconds=300)  # a worker claimed, then crashed
    use_case = CompleteTask(repo, sfn, metrics=metrics, clock=clock)
    assert use_case.complete_job.execute(repo.get("123")).result is CallbackResult.ALREADY_CLAIMED
    clock.advance(seconds=301)
    assert use_case.complete_job.execute(repo.get("123")).result is CallbackResult.SENT


def test_start_stores_token_and_counts_jobs_with_tokens(repo, metrics, clock) -> None:
    start(repo, clock, metrics, job_id="a")
    start(repo, clock, metrics, job_id="b", token=None)
    assert repo.get("a").task_token == TOKEN and repo.get("b").task_token is None
    assert metrics.jobs == [True, False]
    assert [t.name for t in repo.get("a").tasks] == ["1.csv"]


def test_start_again_resumes_but_refuses_a_different_token(repo, metrics, clock) -> None:
    first = start(repo, clock, metrics)
    again = start(repo, clock, metrics)
    assert again.job_id == first.job_id and metrics.jobs == [True]
    with pytest.raises(JobAlreadyExists, match="different task token"):
        start(repo, clock, metrics, token=TOKEN + "-other")


def test_concurrent_saves_are_retried(repo, sfn, metrics, clock, complete) -> None:
    start(repo, clock, metrics, n=2)
    repo.conflicts_to_raise = 2
    result = complete.execute(CompleteTaskCommand("123", "task-1", success=True))
    assert result.recorded and repo.get("123").tasks[0].status.value == "COMPLETED"
    repo.conflicts_to_raise = 99
    with pytest.raises(ConcurrentUpdate):
        complete.execute(CompleteTaskCommand("123", "task-2", success=True))
