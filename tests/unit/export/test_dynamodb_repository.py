"""DynamoDbJobRepository on in-process moto (a stop-gap until the local cloud tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from sfn_callback.export.adapters import DynamoDbJobRepository
from sfn_callback.export.application import CallbackState, ConcurrentUpdate, JobAlreadyExists, JobNotFound
from sfn_callback.export.domain import ExportJob

T0 = datetime(2025, 1, 15, 10, 29, 15, 250000, tzinfo=UTC)


@pytest.fixture
def repo(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="poc-export-job-state",
            KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoDbJobRepository(client, "poc-export-job-state", ttl_days=7), client


def new_job(token: str | None = "tok-123") -> ExportJob:
    return ExportJob.create(job_id="j1", export_id="e1", user_id="u1", metadata={"format": "csv", "ratio": 0.5, "n": 3},
                            files=[("http://h/a", "a.csv"), ("http://h/b", "b.csv")], started_at=T0, task_token=token)


def test_round_trip_with_token_ttl_and_counts(repo) -> None:
    repository, client = repo
    repository.add(new_job())
    with pytest.raises(JobAlreadyExists):
        repository.add(new_job())
    job = repository.get("j1")
    assert job.task_token == "tok-123" and job.metadata == {"format": "csv", "ratio": 0.5, "n": 3}
    assert job.started_at == T0 and job.version == 1 and [t.name for t in job.tasks] == ["a.csv", "b.csv"]

    job.record_outcome("task-1", success=True, at=T0 + timedelta(seconds=1), location="/x/a.csv")
    job.record_outcome("task-2", success=False, at=T0 + timedelta(seconds=2), error="HTTP 404")
    repository.save(job)
    item = client.get_item(TableName="poc-export-job-state", Key={"jobId": {"S": "j1"}})["Item"]
    assert item["status"]["S"] == "COMPLETED_WITH_FAILURES"
    assert item["failureCause"]["S"] == "Job completed with 1 failed tasks out of 2 total"
    assert (item["totalTasks"]["N"], item["completedTasks"]["N"], item["failedTasks"]["N"]) == ("2", "1", "1")
    assert int(item["ttl"]["N"]) == int((T0 + timedelta(seconds=2, days=7)).timestamp())
    again = repository.get("j1")
    assert again.completed_at == T0 + timedelta(seconds=2) and again.tasks[1].error == "HTTP 404"
    assert again.callback() == job.callback()


def test_stale_version_is_a_concurrent_update(repo) -> None:
    repository, _ = repo
    repository.add(new_job())
    a, b = repository.get("j1"), repository.get("j1")
    a.record_outcome("task-1", success=True, at=T0)
    repository.save(a)
    b.record_outcome("task-2", success=True, at=T0)
    with pytest.raises(ConcurrentUpdate):
        repository.save(b)
    with pytest.raises(JobNotFound):
        repository.get("nope")


def test_callback_claim_is_conditional(repo) -> None:
    repository, _ = repo
    repository.add(new_job())
    assert repository.claim_callback("j1", now=T0, stale_after_seconds=60)
    assert not repository.claim_callback("j1", now=T0 + timedelta(seconds=30), stale_after_seconds=60)
    assert repository.claim_callback("j1", now=T0 + timedelta(seconds=61), stale_after_seconds=60)  # stale
    repository.record_callback("j1", state=CallbackState.RETRYABLE, at=T0, error="ThrottlingException", attempts=5)
    assert repository.get("j1").callback_error == "ThrottlingException"
    assert repository.claim_callback("j1", now=T0, stale_after_seconds=60)
    repository.record_callback("j1", state=CallbackState.SENT, at=T0, attempts=1)
    assert not repository.claim_callback("j1", now=T0 + timedelta(days=1), stale_after_seconds=60)
    job = repository.get("j1")
    assert job.callback_state == "SENT" and job.callback_error is None
    assert not repository.claim_callback("missing", now=T0, stale_after_seconds=60)
