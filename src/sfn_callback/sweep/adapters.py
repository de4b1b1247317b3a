"""DynamoDB side of the sweep: due records through the ``status-index`` GSI, and the slot-conditional attempt.

The GSI's key is (``status``, ``nextPollAt``), so "POLLING and due" is a key condition, not a scan; the
sweep-mode records are picked by a filter on ``scheduleName``. GSI reads are eventually consistent: a record
seen late is polled by the next sweep, and a record seen stale is protected by the slot condition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from sfn_callback.poc.adapters.dynamodb import STATUS_INDEX, STATUS_INDEX_SORT_KEY
from sfn_callback.poc.lifecycle import TokenStatus, iso
from sfn_callback.sweep import SWEEP_MODE_SCHEDULE_NAME
from sfn_callback.sweep.service import DueRecord


class DynamoDueSource:
    def __init__(self, client: Any, table_name: str):
        self._ddb = client
        self._table = table_name

    def _query(self, status: TokenStatus, now: datetime, limit: int, extra_filter: str = "",
               extra_values: dict[str, Any] | None = None) -> list[DueRecord]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#s = :status AND #next <= :now",
            "FilterExpression": "scheduleName = :sweep" + extra_filter,
            "ProjectionExpression": "jobId, #s, #next",
            "ExpressionAttributeNames": {"#s": "status", "#next": STATUS_INDEX_SORT_KEY},
            "ExpressionAttributeValues": {
                ":status": {"S": status.value},
                ":now": {"S": iso(now)},
                ":sweep": {"S": SWEEP_MODE_SCHEDULE_NAME},
                **(extra_values or {}),
            },
        }
        found: list[DueRecord] = []
        while len(found) < limit:
            resp = self._ddb.query(**kwargs)
            for item in resp.get("Items", []):
                found.append(DueRecord(
                    job_id=item["jobId"]["S"],
                    status=item["status"]["S"],
                    next_poll_at=item.get(STATUS_INDEX_SORT_KEY, {}).get("S"),
                ))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return found[:limit]

    def due(self, now: datetime, stale_claims_before: datetime, limit: int) -> list[DueRecord]:
        polling = self._query(TokenStatus.POLLING, now, limit)
        room = limit - len(polling)
        if room <= 0:
            return polling
        stale = self._query(TokenStatus.CALLBACK_PENDING, now, room, " AND claimedAt <= :stale",
                            {":stale": {"S": iso(stale_claims_before)}})
        return polling + stale

    def increment_attempt_in_slot(self, job_id: str, now: datetime, next_poll_at: datetime,
                                  slot: str | None) -> int | None:
        values: dict[str, Any] = {
            ":one": {"N": "1"},
            ":now": {"S": iso(now)},
            ":next": {"S": iso(next_poll_at)},
            ":polling": {"S": TokenStatus.POLLING.value},
        }
        if slot is None:
            condition = "#s = :polling AND attribute_not_exists(nextPollAt)"
        else:
            condition = "#s = :polling AND nextPollAt = :slot"
            values[":slot"] = {"S": slot}
        try:
            resp = self._ddb.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}},
                UpdateExpression="ADD attemptCount :one SET lastPolledAt = :now, nextPollAt = :next",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return int(resp["Attributes"]["attemptCount"]["N"])
