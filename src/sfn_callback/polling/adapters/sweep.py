"""DynamoDB side of the sweep: due records through the ``status-index`` GSI and the sweep lease (the
slot-conditional attempt is the token repository's, shared with per-job polls).

The GSI's key is (``status``, ``nextPollAt``), so "POLLING and due" is a key condition, not a scan; the
sweep-mode records (and the per-job records the sweep adopted, ``adoptedAt`` set) are picked by a filter on
``scheduleName``. Per-job records overdue by the adoption grace are a third query, ``nextPollAt <= now -
grace`` as the key condition and ``scheduleName <> sweep-mode`` as the filter (see ``service``, "Adoption").
GSI reads are eventually consistent: a record seen late is polled by the next sweep, and a record seen stale
is protected by the slot condition.

The index projects ALL attributes, so the query returns whole records and the poll needs no GetItem. A
Query's read units are counted on the index entries it reads (whole items with an ALL projection, summed and
rounded up to 4 KB, halved for eventual consistency), whatever ``ProjectionExpression`` asks: returning the
whole item costs no more than returning its key, and saves a strongly consistent GetItem (one read unit per
4 KB, rounded up per item) per record polled. With a KEYS_ONLY or INCLUDE index the items lack the token and
the poll reads the record as before.

The lease is one item in the tokens table (``jobId`` = :data:`LEASE_KEY_PREFIX` + the sweep's name) with no
``status``, so it never appears in the index; it exists only while a sweep runs (or until it expires, after
a crash) and carries ``ttl``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from sfn_callback.common.dynamo import from_item
from sfn_callback.config import SWEEP_MODE_SCHEDULE_NAME
from sfn_callback.polling.adapters.dynamodb import STATUS_INDEX, STATUS_INDEX_SORT_KEY, item_to_record
from sfn_callback.polling.application.sweep import DueRecord
from sfn_callback.polling.domain.lifecycle import TokenRecord, TokenStatus, iso

LEASE_KEY_PREFIX = "sweep-lease#"


def _whole_record(item: dict[str, Any]) -> TokenRecord | None:
    """The record, when the index projected all that the lifecycle reads; otherwise None (read it)."""
    if "taskToken" not in item or "expiresAt" not in item or "maxAttempts" not in item:
        return None
    try:
        return item_to_record(from_item(item))
    except (KeyError, ValueError, TypeError):
        return None


class DynamoDueSource:
    def __init__(self, client: Any, table_name: str):
        self._ddb = client
        self._table = table_name

    def _query(self, status: TokenStatus, before: datetime, limit: int, filter_expression: str,
               extra_values: dict[str, Any] | None = None) -> list[DueRecord]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#s = :status AND #next <= :now",
            "FilterExpression": filter_expression,
            "ExpressionAttributeNames": {"#s": "status", "#next": STATUS_INDEX_SORT_KEY},
            "ExpressionAttributeValues": {
                ":status": {"S": status.value},
                ":now": {"S": iso(before)},
                ":sweep": {"S": SWEEP_MODE_SCHEDULE_NAME},
                **(extra_values or {}),
            },
        }
        found: list[DueRecord] = []
        while len(found) < limit:
            resp = self._ddb.query(**kwargs)
            for item in resp.get("Items", []):
                schedule = item.get("scheduleName", {}).get("S")
                found.append(DueRecord(
                    job_id=item["jobId"]["S"],
                    status=item["status"]["S"],
                    next_poll_at=item.get(STATUS_INDEX_SORT_KEY, {}).get("S"),
                    record=_whole_record(item),
                    # A per-job record not adopted yet: this poll adopts it.
                    adopted=schedule != SWEEP_MODE_SCHEDULE_NAME and "adoptedAt" not in item,
                ))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return found[:limit]

    def due(self, now: datetime, stale_claims_before: datetime, limit: int, adopt_before: datetime | None = None,
            adopt_claims_before: datetime | None = None) -> list[DueRecord]:
        ours = "(scheduleName = :sweep OR attribute_exists(adoptedAt))"
        found = self._query(TokenStatus.POLLING, now, limit, ours)
        # A claim to resume: older than the lease, or released by its holder after a transient send failure.
        ended = "(claimedAt <= :stale OR attribute_exists(claimReleasedAt))"
        claims_filter, claims_values = f"{ended} AND {ours}", {":stale": {"S": iso(stale_claims_before)}}
        if adopt_claims_before is not None:
            # A per-job claim older than the lease plus the grace: its poller died and no schedule resent it.
            claims_filter = f"({ended} AND {ours}) OR claimedAt <= :orphan"
            claims_values[":orphan"] = {"S": iso(adopt_claims_before)}
        if limit - len(found) > 0:
            found += self._query(TokenStatus.CALLBACK_PENDING, now, limit - len(found), claims_filter, claims_values)
        if adopt_before is not None and limit - len(found) > 0:
            seen = {d.job_id for d in found}
            overdue = self._query(TokenStatus.POLLING, adopt_before, limit - len(found),
                                  "scheduleName <> :sweep AND attribute_not_exists(adoptedAt)")
            found += [d for d in overdue if d.job_id not in seen]
        return found


class DynamoSweepLease:
    """One sweep at a time: a conditional PutItem takes the lease, a conditional DeleteItem gives it back."""

    def __init__(self, client: Any, table_name: str, name: str):
        self._ddb = client
        self._table = table_name
        self._key = {"jobId": {"S": LEASE_KEY_PREFIX + name}}

    def acquire(self, holder: str, now: datetime, until: datetime) -> bool:
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=self._key | {
                    "leaseHolder": {"S": holder},
                    "leaseUntil": {"S": iso(until)},
                    "ttl": {"N": str(int(until.timestamp()) + 3600)},
                },
                ConditionExpression="attribute_not_exists(jobId) OR leaseUntil < :now",
                ExpressionAttributeValues={":now": {"S": iso(now)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, holder: str) -> None:
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key=self._key,
                ConditionExpression="leaseHolder = :me",
                ExpressionAttributeValues={":me": {"S": holder}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
