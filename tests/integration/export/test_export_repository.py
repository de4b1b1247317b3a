"""DynamoDbJobRepository against the deployed poc-export-job-state table, and CompleteJob with the real
adapters when the token is already finished."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from export_support import export_cloud  # noqa: F401  (fixture)

from sfn_callback import config
from sfn_callback.callbacks import StepFunctionsCallbacks
from sfn_callback.common.aws import callback_client_config
from sfn_callback.export.adapters import DynamoDbJobRepository
from sfn_callback.export.application import (
    CallbackState,
    CompleteJob,
    ConcurrentUpdate,
    ExportCallbacks,
    JobAlreadyExists,
    JobNotFound,
)
from sfn_callback.export.application.use_cases import CallbackResult
from sfn_callback.export.domain import ExportJob

pytestmark = pytest.mark.cloud

T0 = datetime(2025, 1, 15, 10, 29, 15, 250000, tzinfo=UTC)


@pytest.fixture
def repo(export_cloud):
    client = export_cloud.client("dynamodb")
    return DynamoDbJobRepository(client, config.EXPORT_JOBS_TABLE, ttl_days=7), client


def new_job(token: str | None = "tok-123", started_at: datetime = T0) -> ExportJob:
    return ExportJob.create(job_id=f"repo-{uuid.uuid4().hex[:10]}", export_id="e1", user_id="u1",
                            metadata={"format": "csv", "ratio": 0.5, "n": 3},
                            files=[("http://h/a", "a.csv"), ("http://h/b", "b.csv")], started_at=started_at,
                            task_token=token)


def test_round_trip_with_token_ttl_and_counts(repo):
    repository, client = repo
    job = new_job()
    repository.add(job)
    with pytest.raises(JobAlreadyExists):
        repository.add(ExportJob.create(job_id=job.job_id, export_id="e1", user_id="u1", files=[], started_at=T0))
    loaded = repository.get(job.job_id)
    assert loaded.task_token == "tok-123" and loaded.metadata == {"format": "csv", "ratio": 0.5, "n": 3}
    assert loaded.started_at == T0 and loaded.version == 1 and [t.name for t in loaded.tasks] == ["a.csv", "b.csv"]

    loaded.record_outcome("task-1", success=True, at=T0 + timedelta(seconds=1), location="s3://b/a.csv")
    loaded.record_outcome("task-2", success=False, at=T0 + timedelta(seconds=2), error="HTTP 404")
    repository.save(loaded)
    item = client.get_item(TableName=config.EXPORT_JOBS_TABLE, Key={"jobId": {"S": job.job_id}},
                           ConsistentRead=True)["Item"]
    assert item["status"]["S"] == "COMPLETED_WITH_FAILURES"
    assert item["failureCause"]["S"] == "Job completed with 1 failed tasks out of 2 total"
    assert (item["totalTasks"]["N"], item["completedTasks"]["N"], item["failedTasks"]["N"]) == ("2", "1", "1")
    assert int(item["ttl"]["N"]) == int((T0 + timedelta(seconds=2, days=7)).timestamp())
    again = repository.get(job.job_id)
    assert again.completed_at == T0 + timedelta(seconds=2) and again.tasks[1].error == "HTTP 404"
    assert again.callback() == loaded.callback()
    ttl = client.describe_time_to_live(TableName=config.EXPORT_JOBS_TABLE)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "ttl" and ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")


def test_stale_version_is_a_concurrent_update(repo):
    repository, _ = repo
    job = new_job()
    repository.add(job)
    a, b = repository.get(job.job_id), repository.get(job.job_id)
    a.record_outcome("task-1", success=True, at=T0)
    repository.save(a)
    b.record_outcome("task-2", success=True, at=T0)
    with pytest.raises(ConcurrentUpdate):
        repository.save(b)
    with pytest.raises(JobNotFound):
        repository.get("repo-does-not-exist")


def test_callback_claim_is_conditional(repo):
    repository, _ = repo
    job = new_job()
    repository.add(job)
    jid = job.job_id
    assert repository.claim_callback(jid, now=T0, stale_after_seconds=60)
    assert not repository.claim_callback(jid, now=T0 + timedelta(seconds=30), stale_after_seconds=60)
    assert repository.claim_callback(jid, now=T0 + timedelta(seconds=61), stale_after_seconds=60)  # stale claim
    repository.record_callback(jid, state=CallbackState.RETRYABLE, at=T0, error="ThrottlingException", attempts=5)
    assert repository.get(jid).callback_error == "ThrottlingException"
    assert repository.claim_callback(jid, now=T0, stale_after_seconds=60)
    repository.record_callback(jid, state=CallbackState.SENT, at=T0, attempts=1)
    assert not repository.claim_callback(jid, now=T0 + timedelta(days=1), stale_after_seconds=60)
    loaded = repository.get(jid)
    assert loaded.callback_state == "SENT" and loaded.callback_error is None
    assert not repository.claim_callback("repo-does-not-exist", now=T0, stale_after_seconds=60)


def test_a_claim_with_its_holders_deadline_ends_at_the_deadline(repo):
    """The consumer claims until its invocation's deadline: taken over right after it, never before, however
    long ``stale_after_seconds`` is."""
    repository, client = repo
    job = new_job()
    repository.add(job)
    jid = job.job_id
    assert repository.claim_callback(jid, now=T0, stale_after_seconds=300, until=T0 + timedelta(seconds=60))
    item = client.get_item(TableName=config.EXPORT_JOBS_TABLE, Key={"jobId": {"S": jid}}, ConsistentRead=True)["Item"]
    assert item["callbackClaimExpiresAt"]["S"] == "2025-01-15T10:30:15.250Z"
    assert not repository.claim_callback(jid, now=T0 + timedelta(seconds=59), stale_after_seconds=300)
    assert repository.claim_callback(jid, now=T0 + timedelta(seconds=61), stale_after_seconds=300)
    assert not repository.claim_callback(jid, now=T0 + timedelta(seconds=62), stale_after_seconds=300)


def test_complete_job_with_a_finished_token_records_failed_and_never_resends(export_cloud, repo):
    repository, _ = repo
    adapter = ExportCallbacks(StepFunctionsCallbacks(
        export_cloud.cloud.client("stepfunctions", config=callback_client_config()),
        sleep=lambda s: pytest.fail("a finished token must not be retried")))
    now = datetime.now(UTC)
    job = new_job(token="not-a-real-task-token", started_at=now)
    repository.add(job)
    for task in job.tasks:
        job.record_outcome(task.task_id, success=True, at=now)
    repository.save(job)
    complete = CompleteJob(repository, adapter, clock=lambda: datetime.now(UTC))
    first = complete.execute(job)
    assert first.result is CallbackResult.FAILED and first.outcome.error_code == "InvalidToken"
    stored = repository.get(job.job_id)
    assert stored.callback_state == CallbackState.FAILED.value and stored.callback_error.startswith("InvalidToken")
    assert complete.execute(repository.get(job.job_id)).result is CallbackResult.ALREADY_CLAIMED
