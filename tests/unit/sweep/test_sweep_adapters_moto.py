"""The sweep's DynamoDB adapters against moto in-process: whole records from the index, the lease, adoption."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from sfn_callback.config import SWEEP_MODE_SCHEDULE_NAME
from sfn_callback.polling.adapters.dynamodb import DynamoTokenRepository
from sfn_callback.polling.adapters.sweep import LEASE_KEY_PREFIX, DynamoDueSource, DynamoSweepLease, _whole_record
from sfn_callback.polling.domain.lifecycle import Claim, Outcome, TokenStatus, new_record, parse_iso

T0 = datetime(2025, 1, 1, tzinfo=UTC)
TABLE = "poc-task-tokens"


def make_table(ddb, projection):
    ddb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("jobId", "status", "nextPollAt")],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "status-index",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                          {"AttributeName": "nextPollAt", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": projection},
        }],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture()
def ddb(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


def seed(ddb, n=3):
    repo = DynamoTokenRepository(ddb, TABLE)
    records = []
    for i in range(n):
        r = new_record(job_id=f"job-{i}", task_token="AAAA" + "t" * 400, execution_id=f"arn:exec:{i}",
                       now=T0 + timedelta(seconds=i), interval_seconds=2, timeout_seconds=60, max_attempts=5)
        r = replace(r, schedule_name=SWEEP_MODE_SCHEDULE_NAME)
        repo.put_new(r)
        records.append(r)
    return records


def test_due_records_carry_the_whole_record_when_the_index_projects_it(ddb):
    make_table(ddb, "ALL")
    records = seed(ddb)
    source = DynamoDueSource(ddb, TABLE)
    due = source.due(T0 + timedelta(seconds=3), T0 - timedelta(seconds=60), 10)
    assert [d.job_id for d in due] == ["job-0", "job-1"]  # oldest slot first; job-2 is due at 4 s
    assert [d.record for d in due] == records[:2]


def test_an_index_that_projects_only_some_attributes_leaves_the_read_to_the_poll():
    item = {"jobId": {"S": "job-0"}, "status": {"S": "POLLING"}, "nextPollAt": {"S": "2025-01-01T00:00:02.000Z"},
            "scheduleName": {"S": SWEEP_MODE_SCHEDULE_NAME}}
    assert _whole_record(item) is None


def test_the_lease_is_one_sweep_at_a_time_expires_and_stays_out_of_the_index(ddb):
    make_table(ddb, "ALL")
    seed(ddb, 1)
    a, b = DynamoSweepLease(ddb, TABLE, "poc-sweep"), DynamoSweepLease(ddb, TABLE, "poc-sweep")
    assert a.acquire("one", T0, T0 + timedelta(seconds=50))
    assert not b.acquire("two", T0 + timedelta(seconds=10), T0 + timedelta(seconds=60))
    b.release("two")  # not the holder: nothing happens
    assert not b.acquire("two", T0 + timedelta(seconds=10), T0 + timedelta(seconds=60))
    # The lease item is not a token record: the sweep's query never sees it.
    assert [d.job_id for d in DynamoDueSource(ddb, TABLE).due(T0 + timedelta(days=1), T0, 10)] == ["job-0"]
    a.release("one")
    assert "Item" not in ddb.get_item(TableName=TABLE, Key={"jobId": {"S": LEASE_KEY_PREFIX + "poc-sweep"}})
    assert b.acquire("two", T0 + timedelta(seconds=11), T0 + timedelta(seconds=61))
    # A holder that died: its lease expires.
    assert a.acquire("three", T0 + timedelta(seconds=62), T0 + timedelta(seconds=100))


def test_adoption_takes_per_job_records_overdue_by_the_grace_only_and_a_per_job_poll_takes_them_back(ddb):
    make_table(ddb, "ALL")
    repo = DynamoTokenRepository(ddb, TABLE)
    sweep_mode = seed(ddb, 1)[0]  # job-0, due at 2 s
    for job_id, created in (("orphan", T0), ("recent", T0 + timedelta(seconds=250))):
        repo.put_new(new_record(job_id=job_id, task_token="AAAA" + "t" * 400, execution_id=f"arn:exec:{job_id}",
                                now=created, interval_seconds=60, timeout_seconds=900, max_attempts=5))
    source = DynamoDueSource(ddb, TABLE)
    now = T0 + timedelta(seconds=361)
    grace = timedelta(seconds=300)
    stale = now - timedelta(seconds=60)
    assert [d.job_id for d in source.due(now, stale, 10)] == ["job-0"]  # adoption off: per-job records left alone
    due = source.due(now, stale, 10, adopt_before=now - grace, adopt_claims_before=stale - grace)
    # The sweep-mode record first (never adopted, however late); then the per-job record overdue by more than
    # the grace ("recent" is due at 310 s: 51 s overdue, within the grace).
    assert [(d.job_id, d.adopted) for d in due] == [("job-0", False), ("orphan", True)]
    assert due[1].record == repo.get("orphan") and due[1].next_poll_at == "2025-01-01T00:01:00.000Z"
    assert [d.job_id for d in source.due(now, stale, 1, adopt_before=now - grace)] == ["job-0"]  # within the limit

    assert repo.increment_attempt("orphan", now, now + timedelta(seconds=60), slot=parse_iso(due[1].next_poll_at),
                                  adopt=True).attempt == 1
    adopted = repo.get("orphan")
    assert adopted.adopted_at == now and adopted.schedule_name == "poll-orphan"
    # Adopted: due at its cadence through the first query, no longer an adoption.
    later = now + timedelta(seconds=60)
    due = source.due(later, later - timedelta(seconds=60), 10, adopt_before=later - grace)
    assert [(d.job_id, d.adopted) for d in due] == [("job-0", False), ("orphan", False)]
    assert sweep_mode.schedule_name == SWEEP_MODE_SCHEDULE_NAME
    # A per-job poll (its schedule is back) removes the mark: the record is its schedule's again.
    assert repo.increment_attempt("orphan", later, later + timedelta(seconds=60)).attempt == 2
    assert repo.get("orphan").adopted_at is None
    assert [d.job_id for d in source.due(later + timedelta(seconds=60), later, 10, adopt_before=later - grace)] \
        == ["job-0"]


def test_a_per_job_claim_is_adopted_only_after_the_lease_and_the_grace(ddb):
    make_table(ddb, "ALL")
    repo = DynamoTokenRepository(ddb, TABLE)
    repo.put_new(new_record(job_id="claimed", task_token="AAAA" + "t" * 400, execution_id="arn:exec:c", now=T0,
                            interval_seconds=60, timeout_seconds=900, max_attempts=5))
    assert repo.claim("claimed", Claim("c1", T0 + timedelta(seconds=60), Outcome(TokenStatus.COMPLETED, {})), None)
    source = DynamoDueSource(ddb, TABLE)

    def due_at(seconds):
        now = T0 + timedelta(seconds=seconds)
        stale = now - timedelta(seconds=60)
        return [(d.job_id, d.status, d.adopted) for d in source.due(
            now, stale, 10, adopt_before=now - timedelta(seconds=300), adopt_claims_before=stale - timedelta(seconds=300))]

    assert due_at(60 + 60 + 299) == []  # stale for its own poller, which resends it
    assert due_at(60 + 60 + 300) == [("claimed", "CALLBACK_PENDING", True)]


def test_a_released_claim_is_due_at_once_for_the_sweep_and_a_new_claim_clears_the_release(ddb):
    make_table(ddb, "ALL")
    repo = DynamoTokenRepository(ddb, TABLE)
    record = new_record(job_id="released", task_token="AAAA" + "t" * 400, execution_id="arn:exec:r", now=T0,
                        interval_seconds=3600, timeout_seconds=7200, max_attempts=5)  # next slot far away
    repo.put_new(replace(record, schedule_name=SWEEP_MODE_SCHEDULE_NAME))
    claimed = T0 + timedelta(seconds=60)
    assert repo.claim("released", Claim("c1", claimed, Outcome(TokenStatus.COMPLETED, {}), "req-1"), None)
    source = DynamoDueSource(ddb, TABLE)

    def due(now):
        return [d.job_id for d in source.due(now, now - timedelta(seconds=60), 10)]

    assert due(claimed + timedelta(seconds=1)) == []  # within its lease
    assert not repo.release_claim("released", "other-claim", claimed)
    assert repo.release_claim("released", "c1", claimed + timedelta(seconds=1))
    released = repo.get("released")
    assert released.claim_released_at == released.next_poll_at == claimed + timedelta(seconds=1)
    assert due(claimed + timedelta(seconds=1)) == ["released"]
    assert repo.claim("released", Claim("c2", claimed + timedelta(seconds=2), Outcome(TokenStatus.COMPLETED, {}),
                                        "req-2"), "c1")
    assert repo.get("released").claim_released_at is None and due(claimed + timedelta(seconds=3)) == []
