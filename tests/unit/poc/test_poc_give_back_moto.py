"""The token store's give-back of an attempt (a transient answer, a deferred verdict) against moto's DynamoDB:
the attempt and the check window in one conditional write, the attempt alone once another check replaced the
window, nothing once the record left POLLING; the new attributes round-trip."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from sfn_callback.polling.adapters.dynamodb import DynamoTokenRepository
from sfn_callback.polling.domain.lifecycle import Claim, Outcome, TokenStatus, new_record

T0 = datetime(2025, 1, 1, tzinfo=UTC)
TABLE = "tokens"


@pytest.fixture()
def repo(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName=TABLE, AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
        repo = DynamoTokenRepository(ddb, TABLE)
        record = new_record(job_id="j-1", task_token="t" * 300, execution_id="arn:e", now=T0, interval_seconds=1,
                            timeout_seconds=60, max_attempts=5)
        repo.put_new(replace(record, job_api={"fields": {"run": "r-9"}, "config": {"timeoutSeconds": 2}}))
        yield repo


def test_a_transient_answer_gives_back_its_attempt_and_closes_its_window(repo):
    mine = T0 + timedelta(seconds=16)
    assert repo.increment_attempt("j-1", T0, T0 + timedelta(seconds=1), slot=T0, check_until=mine).attempt == 1
    nb = T0 + timedelta(seconds=5)
    assert repo.give_back_attempt("j-1", mine, None, error="attempt 1: transient: HTTP 429", not_before=nb,
                                  next_poll_at=nb)
    record = repo.get("j-1")
    assert record.attempt_count == 0 and record.transient_checks == 1 and record.check_until is None
    assert record.not_before == nb == record.next_poll_at and record.last_check_error.endswith("HTTP 429")
    assert record.job_api == {"fields": {"run": "r-9"}, "config": {"timeoutSeconds": 2}}


def test_another_checks_window_stays_and_a_decided_record_is_left_alone(repo):
    first, second = T0 + timedelta(seconds=15), T0 + timedelta(seconds=16)
    repo.increment_attempt("j-1", T0, T0, slot=T0, check_until=first)
    repo.increment_attempt("j-1", T0, T0, slot=T0 + timedelta(seconds=1), check_until=second)
    assert repo.give_back_attempt("j-1", first, None, error="attempt 1: transient: HTTP 503")
    record = repo.get("j-1")
    assert record.attempt_count == 1 and record.check_until == second  # the other check's window stays
    # A deferred verdict (no error): attempt given back, window set back to the earlier check's, no transient.
    assert repo.give_back_attempt("j-1", second, first, error=None)
    record = repo.get("j-1")
    assert record.attempt_count == 0 and record.check_until == first and record.transient_checks == 1
    outcome = Outcome(TokenStatus.COMPLETED, output={"ok": True})
    assert repo.claim("j-1", Claim("c-1", T0, outcome), previous_claim_id=None)
    assert not repo.give_back_attempt("j-1", first, None, error="late")
    assert repo.get("j-1").attempt_count == 0
