"""Handlers and DynamoDB adapter against moto in-process (no server): conditional writes really hold."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import boto3
import pytest
from moto import mock_aws
from poc_fakes import T0

from sfn_callback.poc.adapters.jobs_dynamodb import DynamoJobStore
from sfn_callback.polling.adapters.dynamodb import DynamoTokenRepository
from sfn_callback.polling.domain.events import InvalidEvent
from sfn_callback.polling.domain.lifecycle import Claim, Outcome, RecordExists, TokenStatus, new_record

TOKEN = "AAAAKgAAAAIAAAAAAAAAAT" + "z" * 300


@dataclass
class Ctx:
    function_name: str = "poc-test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:poc-test"
    memory_limit_in_mb: int = 128
    aws_request_id: str = "req-1"
    log_group_name: str = "/aws/lambda/poc-test"
    log_stream_name: str = "s"

    def get_remaining_time_in_millis(self) -> int:
        return 30000


@pytest.fixture()
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("SFN_CALLBACK_LOCAL", "1")
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="poc-task-tokens",
            AttributeDefinitions=[
                {"AttributeName": "jobId", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
                {"AttributeName": "nextPollAt", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{
                "IndexName": "status-index",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                              {"AttributeName": "nextPollAt", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.create_table(
            TableName="poc-jobs",
            AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        from sfn_callback.common import aws as aws_util
        from sfn_callback.poc import bootstrap

        aws_util._ambient_client.cache_clear()
        for f in (bootstrap.simulated_api, bootstrap.create_job_service, bootstrap.token_poller):
            f.cache_clear()
        yield ddb
        aws_util._ambient_client.cache_clear()
        for f in (bootstrap.simulated_api, bootstrap.create_job_service, bootstrap.token_poller):
            f.cache_clear()


def scan(ddb, table):
    return ddb.scan(TableName=table)["Items"]


def record(job_id="job-1"):
    return new_record(job_id=job_id, task_token=TOKEN, execution_id="arn:exec", now=T0, interval_seconds=1,
                      timeout_seconds=60, max_attempts=3)


def test_repository_round_trip_and_conditional_transitions(aws):
    repo = DynamoTokenRepository(aws, "poc-task-tokens")
    repo.put_new(record())
    with pytest.raises(RecordExists) as exists:  # the record found comes with the refusal (no read of its own)
        repo.put_new(record())
    assert exists.value.existing == record()
    got = repo.get("job-1")
    assert got == record()
    raw = repo.get_raw("job-1")
    assert raw["ttl"] == record().ttl and raw["status"] == "POLLING" and raw["attemptCount"] == 0
    assert {"jobId", "taskToken", "executionId", "scheduleName", "createdAt", "expiresAt", "attemptCount",
            "maxAttempts", "status", "ttl", "nextPollAt"} <= set(raw)

    assert repo.increment_attempt("job-1", T0, T0 + timedelta(seconds=1)).attempt == 1
    assert repo.increment_attempt("job-1", T0, T0 + timedelta(seconds=2)).attempt == 2
    assert [r["jobId"] for r in repo.list_by_status("POLLING")] == ["job-1"]

    outcome = Outcome(TokenStatus.COMPLETED, output={"jobId": "job-1"})
    assert repo.claim("job-1", Claim("c1", T0, outcome), None)
    assert not repo.claim("job-1", Claim("c2", T0, outcome), None)  # no longer POLLING
    assert repo.increment_attempt("job-1", T0, T0) is None
    assert not repo.claim("job-1", Claim("c3", T0, outcome), "wrong")
    assert repo.claim("job-1", Claim("c4", T0, outcome), "c1")  # take-over of a stale claim
    assert not repo.finalize("job-1", "c1", TokenStatus.COMPLETED, T0, "ACCEPTED", None)
    assert repo.finalize("job-1", "c4", TokenStatus.COMPLETED, T0, "ACCEPTED", None)
    final = repo.get("job-1")
    assert final.status is TokenStatus.COMPLETED and final.claim_count == 2 and final.outcome == outcome
    assert repo.get_raw("job-1")["callbacksAccepted"] == 1
    assert list(repo.list_by_status("POLLING")) == []
    assert not repo.delete_polling("job-1")


def test_one_attempt_per_slot_open_checks_and_the_verdict_condition(aws):
    repo = DynamoTokenRepository(aws, "poc-task-tokens")
    repo.put_new(record())
    slot = T0 + timedelta(seconds=1)
    until = T0 + timedelta(seconds=3)
    first = repo.increment_attempt("job-1", T0, slot + timedelta(seconds=1), slot=slot, check_until=until)
    assert (first.attempt, first.previous_check_until) == (1, None)
    assert repo.increment_attempt("job-1", T0, slot, slot=slot) is None  # a duplicate of the slot
    assert repo.increment_attempt("job-1", T0, slot, slot=T0) is None  # an older slot
    raw = repo.get_raw("job-1")
    assert raw["attemptCount"] == 1 and raw["polledSlot"] == "2025-01-01T12:00:01.000Z"
    assert raw["checkUntil"] == "2025-01-01T12:00:03.000Z"
    later = repo.increment_attempt("job-1", T0, slot, slot=slot + timedelta(seconds=1),
                                   check_until=until + timedelta(seconds=1))
    assert (later.attempt, later.previous_check_until) == (2, until)
    assert repo.increment_attempt("job-1", T0, slot).attempt == 3  # a manual poll: no slot, no condition
    assert repo.get("job-1").polled_slot == slot + timedelta(seconds=1)

    verdict = Outcome(TokenStatus.MAX_ATTEMPTS, error="MaxAttemptsExceeded")
    # A verdict waits for open checks: checkUntil (12:00:04) is not before 12:00:04.
    assert not repo.claim("job-1", Claim("v1", T0, verdict), None, open_checks_before=until + timedelta(seconds=1))
    assert not repo.end_check("job-1", until, None)  # not the record's checkUntil any more
    assert repo.end_check("job-1", until + timedelta(seconds=1), restore=until)  # back to the earlier check's
    assert repo.get("job-1").check_until == until
    assert repo.end_check("job-1", until, None)
    assert "checkUntil" not in repo.get_raw("job-1")
    assert repo.claim("job-1", Claim("v1", T0, verdict, holder="req-7"), None, open_checks_before=T0)
    assert repo.get("job-1").claim_holder == "req-7"
    assert repo.claim("job-1", Claim("v2", T0, verdict), "v1")  # a holder-less re-claim drops the holder
    assert repo.get("job-1").claim_holder is None


def test_failed_checks_are_counted_on_the_record_and_never_create_one(aws):
    repo = DynamoTokenRepository(aws, "poc-task-tokens")
    repo.put_new(record())
    repo.count_failed_check("job-1", "attempt 1: ExternalApiError: timed out")
    repo.count_failed_check("job-1", "attempt 2: ExternalApiError: Runtime.ExitError")
    got = repo.get("job-1")
    assert got.failed_checks == 2 and got.last_check_error == "attempt 2: ExternalApiError: Runtime.ExitError"
    assert got.status is TokenStatus.POLLING and got.attempt_count == 0  # nothing else changes
    repo.count_failed_check("job-gone", "attempt 1: x")
    assert repo.get("job-gone") is None


def test_job_store_counts_atomically(aws):
    store = DynamoJobStore(aws, "poc-jobs")
    assert store.record_check("nope") is None
    assert scan(aws, "poc-jobs") == []
    store.create({"jobId": "j", "status": "IN_PROGRESS", "pollCount": 0})
    assert store.record_check("j")["pollCount"] == 1
    assert store.record_check("j")["pollCount"] == 2
    store.finish("j", "COMPLETED", "t")
    store.finish("j", "FAILED", "t2")
    assert store.record_check("j")["status"] == "COMPLETED"


def test_simulated_api_handler(aws):
    from sfn_callback.poc.entrypoints import poc_simulated_api as simulated_api

    created = simulated_api.handler({"action": "CREATE_JOB", "payload": {"completeAfterChecks": 2}}, Ctx())
    job_id = created["jobId"]
    assert created == {"jobId": job_id, "status": "IN_PROGRESS", "completionPolls": 2}
    first = simulated_api.handler({"action": "CHECK_STATUS", "jobId": job_id}, Ctx())
    second = simulated_api.handler({"action": "CHECK_STATUS", "jobId": job_id}, Ctx())
    assert (first["status"], first["pollCount"], second["status"]) == ("IN_PROGRESS", 1, "COMPLETED")


@pytest.mark.parametrize("event", [{}, {"action": "NOPE"}, {"action": "CHECK_STATUS", "jobId": "job-unknown"},
                                   {"action": "CHECK_STATUS", "jobId": ["x"]}, "CREATE_JOB"])
def test_simulated_api_handler_bad_events(aws, event):
    from sfn_callback.poc.entrypoints import poc_simulated_api as simulated_api

    with pytest.raises((InvalidEvent, LookupError)):
        simulated_api.handler(event, Ctx())
    assert scan(aws, "poc-jobs") == []


@pytest.mark.parametrize("event", [{}, {"jobId": ""}, {"jobId": 5}, {"jobId": None}, [], "job-1"])
def test_poller_handler_bad_events_change_nothing(aws, event):
    from sfn_callback.poc.entrypoints import poc_poller as poller

    DynamoTokenRepository(aws, "poc-task-tokens").put_new(record())
    before = scan(aws, "poc-task-tokens")
    with pytest.raises(InvalidEvent):
        poller.handler(event, Ctx())
    assert scan(aws, "poc-task-tokens") == before


def test_poller_handler_unknown_job(aws):
    from sfn_callback.poc.entrypoints import poc_poller as poller
    from sfn_callback.polling.domain.lifecycle import UnknownJob

    with pytest.raises(UnknownJob):
        poller.handler({"jobId": "job-unknown"}, Ctx())
    assert scan(aws, "poc-task-tokens") == []


@pytest.mark.parametrize("event", [{}, {"record": {"id": "r"}, "taskToken": TOKEN, "executionId": "e",
                                        "pollingConfig": {"intervalSeconds": "1", "maxAttempts": 3, "timeoutSeconds": 9}}])
def test_create_job_handler_bad_events(aws, event, capsys):
    from sfn_callback.poc.entrypoints import poc_create_job as create_job

    with pytest.raises(InvalidEvent):
        create_job.handler(event, Ctx())
    assert scan(aws, "poc-task-tokens") == [] and scan(aws, "poc-jobs") == []
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err


def test_handler_logs_mask_the_token(aws, capsys):
    import sys

    from sfn_callback.poc.entrypoints import poc_create_job as create_job

    create_job.logger.registered_handler.stream = sys.stdout  # the stream captured for this test
    with pytest.raises(Exception):  # noqa: B017  the simulated API function does not exist here (any error)
        create_job.handler({"record": {"id": "r"}, "taskToken": TOKEN, "executionId": "e",
                            "pollingConfig": {"intervalSeconds": 1, "maxAttempts": 3, "timeoutSeconds": 9}}, Ctx())
    out = capsys.readouterr()
    logged = out.out + out.err
    assert "AAAAKgAA...********..." in logged and TOKEN not in logged
    for line in out.out.splitlines():
        if line.startswith("{"):
            json.loads(line)
