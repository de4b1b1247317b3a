"""The DynamoDB token store (``poc-task-tokens`` by default).

Every state change is a conditional write; the attempt counter is ``ADD attemptCount :one`` with
``ReturnValues=ALL_NEW``. Records carry ``ttl`` (epoch seconds) for the table's TTL, and ``nextPollAt`` as the
sort key of the ``status-index`` GSI so that listing the records in a status is a Query, never a Scan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from sfn_callback.common.dynamo import from_item, to_item
from sfn_callback.polling.domain.lifecycle import (
    Claim,
    Counted,
    Outcome,
    RecordExists,
    TokenRecord,
    TokenStatus,
    iso,
    parse_iso,
)

STATUS_INDEX = "status-index"
STATUS_INDEX_SORT_KEY = "nextPollAt"

_to_ddb = to_item
_from_ddb = from_item


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def record_to_item(record: TokenRecord) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "jobId": record.job_id,
        "taskToken": record.task_token,
        "executionId": record.execution_id,
        "scheduleName": record.schedule_name,
        "createdAt": iso(record.created_at),
        "expiresAt": iso(record.expires_at),
        "attemptCount": record.attempt_count,
        "maxAttempts": record.max_attempts,
        "intervalSeconds": record.interval_seconds,
        "status": record.status.value,
        "ttl": record.ttl,
        "nextPollAt": iso(record.next_poll_at) if record.next_poll_at else None,
        "claimId": record.claim_id,
        "claimedAt": iso(record.claimed_at) if record.claimed_at else None,
        "claimCount": record.claim_count,
        "outcome": json.dumps(record.outcome.to_dict(), sort_keys=True) if record.outcome else None,
        "callbackResult": record.callback_result,
        "reason": record.reason,
        "completedAt": iso(record.completed_at) if record.completed_at else None,
        "adoptedAt": iso(record.adopted_at) if record.adopted_at else None,
        "polledSlot": iso(record.polled_slot) if record.polled_slot else None,
        "checkUntil": iso(record.check_until) if record.check_until else None,
        "claimHolder": record.claim_holder,
        "claimReleasedAt": iso(record.claim_released_at) if record.claim_released_at else None,
        "failedChecks": record.failed_checks or None,
        "lastCheckError": record.last_check_error,
        "transientChecks": record.transient_checks or None,
        "notBefore": iso(record.not_before) if record.not_before else None,
        "jobApi": json.dumps(record.job_api, sort_keys=True) if record.job_api is not None else None,
    }
    return doc


def item_to_record(doc: dict[str, Any]) -> TokenRecord:
    def ts(name: str) -> datetime | None:
        value = doc.get(name)
        return parse_iso(value) if value else None

    outcome = doc.get("outcome")
    return TokenRecord(
        job_id=doc["jobId"],
        task_token=doc["taskToken"],
        execution_id=doc.get("executionId", ""),
        schedule_name=doc.get("scheduleName") or f"poll-{doc['jobId']}",
        created_at=parse_iso(doc["createdAt"]),
        expires_at=parse_iso(doc["expiresAt"]),
        max_attempts=int(doc["maxAttempts"]),
        interval_seconds=int(doc.get("intervalSeconds", 60)),
        attempt_count=int(doc.get("attemptCount", 0)),
        status=TokenStatus(doc["status"]),
        next_poll_at=ts("nextPollAt"),
        claim_id=doc.get("claimId"),
        claimed_at=ts("claimedAt"),
        claim_count=int(doc.get("claimCount", 0)),
        outcome=Outcome.from_dict(json.loads(outcome)) if outcome else None,
        callback_result=doc.get("callbackResult"),
        reason=doc.get("reason"),
        completed_at=ts("completedAt"),
        adopted_at=ts("adoptedAt"),
        polled_slot=ts("polledSlot"),
        check_until=ts("checkUntil"),
        claim_holder=doc.get("claimHolder"),
        claim_released_at=ts("claimReleasedAt"),
        failed_checks=int(doc.get("failedChecks", 0)),
        last_check_error=doc.get("lastCheckError"),
        transient_checks=int(doc.get("transientChecks", 0)),
        not_before=ts("notBefore"),
        job_api=json.loads(doc["jobApi"]) if doc.get("jobApi") else None,
    )


class DynamoTokenRepository:
    def __init__(self, client: Any, table_name: str):
        self._ddb = client
        self._table = table_name

    def _key(self, job_id: str) -> dict[str, Any]:
        return {"jobId": {"S": job_id}}

    def get(self, job_id: str) -> TokenRecord | None:
        resp = self._ddb.get_item(TableName=self._table, Key=self._key(job_id), ConsistentRead=True)
        item = resp.get("Item")
        return item_to_record(_from_ddb(item)) if item else None

    def get_raw(self, job_id: str) -> dict[str, Any] | None:
        resp = self._ddb.get_item(TableName=self._table, Key=self._key(job_id), ConsistentRead=True)
        item = resp.get("Item")
        return _from_ddb(item) if item else None

    def put_new(self, record: TokenRecord) -> None:
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=_to_ddb(record_to_item(record)),
                ConditionExpression="attribute_not_exists(jobId)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",  # the record found, without a read of its own
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            item = exc.response.get("Item")
            raise RecordExists(record.job_id, item_to_record(_from_ddb(item)) if item else None) from None

    def delete_polling(self, job_id: str) -> bool:
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key=self._key(job_id),
                ConditionExpression="#s = :polling",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":polling": {"S": TokenStatus.POLLING.value}},
            )
            return True
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise

    def increment_attempt(self, job_id: str, now: datetime, next_poll_at: datetime, *,
                          slot: datetime | None = None, check_until: datetime | None = None,
                          adopt: bool | None = False) -> Counted | None:
        sets = ["lastPolledAt = :now", "nextPollAt = :next"]
        removes: list[str] = []
        condition = "#s = :polling"
        values: dict[str, Any] = {
            ":one": {"N": "1"},
            ":now": {"S": iso(now)},
            ":next": {"S": iso(next_poll_at)},
            ":polling": {"S": TokenStatus.POLLING.value},
        }
        if slot is not None:
            # One attempt per slot: polled slots only move forward (ISO-8601 UTC strings sort as times).
            condition += " AND (attribute_not_exists(polledSlot) OR polledSlot < :slot)"
            sets.append("polledSlot = :slot")
            values[":slot"] = {"S": iso(slot)}
        if check_until is not None:
            sets.append("checkUntil = :check")
            values[":check"] = {"S": iso(check_until)}
        if adopt is False:
            # The job's own schedule polls it again, so the sweep stops polling it at its cadence
            # (sfn_callback.polling.application.sweep, "Adoption").
            removes.append("adoptedAt")
        elif adopt:
            sets.append("adoptedAt = if_not_exists(adoptedAt, :now)")
        try:
            resp = self._ddb.update_item(
                TableName=self._table,
                Key=self._key(job_id),
                UpdateExpression="ADD attemptCount :one SET " + ", ".join(sets)
                + (" REMOVE " + ", ".join(removes) if removes else ""),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise
        old = resp.get("Attributes") or {}
        previous = old.get("checkUntil", {}).get("S")
        return Counted(attempt=int(old.get("attemptCount", {}).get("N", "0")) + 1,
                       previous_check_until=parse_iso(previous) if previous else None)

    def end_check(self, job_id: str, check_until: datetime, restore: datetime | None) -> bool:
        values: dict[str, Any] = {":mine": {"S": iso(check_until)}}
        if restore is not None:
            values[":restore"] = {"S": iso(restore)}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key(job_id),
                UpdateExpression="SET checkUntil = :restore" if restore is not None else "REMOVE checkUntil",
                ConditionExpression="checkUntil = :mine",
                ExpressionAttributeValues=values,
            )
            return True
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise

    def count_failed_check(self, job_id: str, error: str) -> None:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key(job_id),
                UpdateExpression="SET lastCheckError = :error ADD failedChecks :one",
                ConditionExpression="attribute_exists(jobId)",  # a record deleted meanwhile stays deleted
                ExpressionAttributeValues={":error": {"S": error}, ":one": {"N": "1"}},
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise

    def give_back_attempt(self, job_id: str, check_until: datetime, restore: datetime | None, *,
                          error: str | None, not_before: datetime | None = None,
                          next_poll_at: datetime | None = None) -> bool:
        adds = ["attemptCount :minus"]
        sets: list[str] = []
        values: dict[str, Any] = {
            ":minus": {"N": "-1"}, ":mine": {"S": iso(check_until)}, ":polling": {"S": TokenStatus.POLLING.value},
        }
        if error is not None:
            adds.append("transientChecks :one")
            sets.append("lastCheckError = :error")
            values[":one"] = {"N": "1"}
            values[":error"] = {"S": error}
        if not_before is not None:
            sets.append("notBefore = :nb")
            values[":nb"] = {"S": iso(not_before)}
        if next_poll_at is not None:
            sets.append("nextPollAt = :next")
            values[":next"] = {"S": iso(next_poll_at)}
        # First with this check's window closed in the same write; if another poll's check replaced it, the
        # attempt alone (each poll gives back only its own increment, so the order of give-backs plays no part).
        with_check = sets + (["checkUntil = :restore"] if restore is not None else [])
        first = "ADD " + ", ".join(adds) + (" SET " + ", ".join(with_check) if with_check else "")
        if restore is None:
            first += " REMOVE checkUntil"
        else:
            values[":restore"] = {"S": iso(restore)}
        second = "ADD " + ", ".join(adds) + (" SET " + ", ".join(sets) if sets else "")
        for update, condition in ((first, "#s = :polling AND checkUntil = :mine"), (second, "#s = :polling")):
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key=self._key(job_id),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={k: v for k, v in values.items() if k in update or k in condition},
                )
                return True
            except ClientError as exc:
                if not _condition_failed(exc):
                    raise
        return False

    def claim(self, job_id: str, claim: Claim, previous_claim_id: str | None,
              open_checks_before: datetime | None = None) -> bool:
        values: dict[str, Any] = {
            ":pending": {"S": TokenStatus.CALLBACK_PENDING.value},
            ":claim": {"S": claim.claim_id},
            ":at": {"S": iso(claim.claimed_at)},
            ":outcome": {"S": json.dumps(claim.outcome.to_dict(), sort_keys=True)},
            ":one": {"N": "1"},
        }
        if previous_claim_id is None:
            condition = "#s = :polling"
            values[":polling"] = {"S": TokenStatus.POLLING.value}
        else:
            condition = "#s = :pending AND claimId = :previous"
            values[":previous"] = {"S": previous_claim_id}
        if open_checks_before is not None:
            condition += " AND (attribute_not_exists(checkUntil) OR checkUntil < :open)"
            values[":open"] = {"S": iso(open_checks_before)}
        update = "SET #s = :pending, claimId = :claim, claimedAt = :at, outcome = :outcome"
        if claim.holder:
            update += ", claimHolder = :holder"
            values[":holder"] = {"S": claim.holder}
        update += " ADD claimCount :one REMOVE claimReleasedAt" + ("" if claim.holder else ", claimHolder")
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key(job_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
            return True
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise

    def release_claim(self, job_id: str, claim_id: str, at: datetime) -> bool:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key(job_id),
                UpdateExpression="SET claimReleasedAt = :at, nextPollAt = :at",  # due now (the sweep's index)
                ConditionExpression="#s = :pending AND claimId = :claim",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":at": {"S": iso(at)}, ":claim": {"S": claim_id},
                                           ":pending": {"S": TokenStatus.CALLBACK_PENDING.value}},
            )
            return True
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise

    def record_push(self, job_id: str, push_id: str) -> bool:
        """The push endpoint's replay check: ``ADD pushIds`` unless the record already holds ``push_id``."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key(job_id),
                UpdateExpression="ADD pushIds :ids",
                ConditionExpression="attribute_exists(jobId) AND NOT contains(pushIds, :id)",
                ExpressionAttributeValues={":ids": {"SS": [push_id]}, ":id": {"S": push_id}},
            )
            return True
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise

    def finalize(
        self,
        job_id: str,
        claim_id: str,
        status: TokenStatus,
        completed_at: datetime,
        callback_result: str,
        reason: str | None,
    ) -> bool:
        sets = "#s = :status, completedAt = :at, callbackResult = :result"
        values: dict[str, Any] = {
            ":status": {"S": status.value},
            ":at": {"S": iso(completed_at)},
            ":result": {"S": callback_result},
            ":pending": {"S": TokenStatus.CALLBACK_PENDING.value},
            ":claim": {"S": claim_id},
        }
        if reason:
            sets += ", reason = :reason"
            values[":reason"] = {"S": reason}
        if callback_result == "ACCEPTED":
            sets += ", callbackSentAt = :at"
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key(job_id),
                UpdateExpression="SET " + sets + (" ADD callbacksAccepted :one" if callback_result == "ACCEPTED" else ""),
                ConditionExpression="#s = :pending AND claimId = :claim",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values | ({":one": {"N": "1"}} if callback_result == "ACCEPTED" else {}),
            )
            return True
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise

    def list_by_status(self, status: TokenStatus | str, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Records in ``status`` through the GSI, oldest ``nextPollAt`` first (plain dicts)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": getattr(status, "value", status)}},
        }
        seen = 0
        while True:
            resp = self._ddb.query(**kwargs)
            for item in resp.get("Items", []):
                yield _from_ddb(item)
                seen += 1
                if limit is not None and seen >= limit:
                    return
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
