"""JobRepository on DynamoDB (table key ``jobId``, a string).

One item per job: the job's fields, its tasks (a list of maps), the task token, the counts
(``totalTasks``/``completedTasks``/``failedTasks``; for a job with failures also ``failureError`` and
``failureCause``, the details the SendTaskFailure callback cannot carry), ``version`` for optimistic
concurrency, the callback bookkeeping (``callbackState``, ``callbackClaimedAt``, ``callbackClaimExpiresAt``,
``callbackError``, ``callbackAttempts``) and ``ttl`` (epoch seconds) for the table's TTL.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from sfn_callback.common.dynamo import from_item
from sfn_callback.export.application.ports import (
    CallbackState,
    ConcurrentUpdate,
    JobAlreadyExists,
    JobNotFound,
)
from sfn_callback.export.domain import (
    ExportJob,
    ExportTask,
    TaskStatus,
    iso_millis,
    parse_iso,
)

_ser = TypeSerializer()


def _to_dynamo(value: Any) -> dict[str, Any]:
    """Serialize plain JSON-like data (floats become Decimals)."""
    return _ser.serialize(json.loads(json.dumps(value, default=str), parse_float=Decimal))


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoDbJobRepository:
    """Implements ``JobRepository`` with a boto3 ``dynamodb`` client (low-level API)."""

    def __init__(self, client: Any, table_name: str, *, ttl_days: int = 30) -> None:
        self._client = client
        self._table = table_name
        self._ttl = timedelta(days=ttl_days)

    # --- job state -------------------------------------------------------------------------------------
    def add(self, job: ExportJob) -> None:
        item = {k: _to_dynamo(v) for k, v in self._job_attributes(job).items()}
        item["jobId"] = {"S": job.job_id}
        item["version"] = {"N": "1"}
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(jobId)"
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise JobAlreadyExists(job.job_id) from None
            raise
        job.version = 1

    def get(self, job_id: str) -> ExportJob:
        response = self._client.get_item(TableName=self._table, Key={"jobId": {"S": job_id}}, ConsistentRead=True)
        if "Item" not in response:
            raise JobNotFound(job_id)
        item = from_item(response["Item"])
        return self._to_job(item)

    def save(self, job: ExportJob) -> None:
        attributes = self._job_attributes(job)
        # these never change after add(); keep the update small
        for key in ("exportId", "userId", "metadata", "taskToken", "startedAt"):
            attributes.pop(key, None)
        names = {f"#{k}": k for k in attributes} | {"#version": "version"}
        values = {f":{k}": _to_dynamo(v) for k, v in attributes.items()}
        values[":expected"] = {"N": str(job.version)}
        values[":next"] = {"N": str(job.version + 1)}
        sets = ", ".join(f"#{k} = :{k}" for k in attributes)
        remove = "" if job.completed_at is not None else " REMOVE completedAt"
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job.job_id}},
                UpdateExpression=f"SET {sets}, #version = :next{remove}",
                ConditionExpression="attribute_exists(jobId) AND #version = :expected",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise ConcurrentUpdate(job.job_id) from None
            raise
        job.version += 1

    # --- callback bookkeeping --------------------------------------------------------------------------
    def claim_callback(self, job_id: str, *, now: datetime, stale_after_seconds: float,
                       until: datetime | None = None) -> bool:
        expires = until if until is not None else now + timedelta(seconds=stale_after_seconds)
        stale_before = iso_millis(now - timedelta(seconds=stale_after_seconds))
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}},
                UpdateExpression=(
                    "SET callbackState = :claimed, callbackClaimedAt = :now, callbackClaimExpiresAt = :expires"
                ),
                # A claim ends when its holder's invocation can no longer run (callbackClaimExpiresAt); a claim
                # written without one (an item from before) ends stale_after_seconds after it was taken.
                ConditionExpression=(
                    "attribute_exists(jobId) AND (attribute_not_exists(callbackState)"
                    " OR callbackState = :retryable"
                    " OR (callbackState = :claimed AND (callbackClaimExpiresAt < :now"
                    " OR (attribute_not_exists(callbackClaimExpiresAt) AND callbackClaimedAt < :stale))))"
                ),
                ExpressionAttributeValues={
                    ":claimed": {"S": CallbackState.CLAIMED.value},
                    ":retryable": {"S": CallbackState.RETRYABLE.value},
                    ":now": {"S": iso_millis(now)},
                    ":expires": {"S": iso_millis(expires)},
                    ":stale": {"S": stale_before},
                },
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def record_callback(
        self, job_id: str, *, state: CallbackState, at: datetime, error: str | None = None, attempts: int = 0
    ) -> None:
        values: dict[str, Any] = {
            ":state": {"S": state.value},
            ":at": {"S": iso_millis(at)},
            ":attempts": {"N": str(attempts)},
        }
        expression = "SET callbackState = :state, callbackUpdatedAt = :at, callbackAttempts = :attempts"
        if error:
            values[":error"] = {"S": error[:1000]}
            expression += ", callbackError = :error"
        else:
            expression += " REMOVE callbackError"
        self._client.update_item(
            TableName=self._table,
            Key={"jobId": {"S": job_id}},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
        )

    # --- mapping ---------------------------------------------------------------------------------------
    def _job_attributes(self, job: ExportJob) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "exportId": job.export_id,
            "userId": job.user_id,
            "metadata": job.metadata,
            "startedAt": iso_millis(job.started_at),
            "status": job.status.value,
            "tasks": [self._task_attributes(t) for t in job.tasks],
            **job.counts(),
            "ttl": int((job.completed_at or job.started_at).timestamp() + self._ttl.total_seconds()),
        }
        if job.task_token:
            attributes["taskToken"] = job.task_token
        if job.completed_at is not None:
            attributes["completedAt"] = iso_millis(job.completed_at)
            attributes["durationMs"] = job.duration_ms
            if job.failed_tasks:
                failure = job.failure_callback()
                attributes["failureError"] = failure.error
                attributes["failureCause"] = failure.cause
        return attributes

    @staticmethod
    def _task_attributes(task: ExportTask) -> dict[str, Any]:
        item: dict[str, Any] = {"taskId": task.task_id, "url": task.url, "name": task.name, "status": task.status.value}
        if task.error:
            item["error"] = task.error
        if task.location:
            item["location"] = task.location
        if task.finished_at:
            item["finishedAt"] = iso_millis(task.finished_at)
        return item

    @staticmethod
    def _to_job(item: dict[str, Any]) -> ExportJob:
        tasks = [
            ExportTask(
                task_id=t["taskId"],
                url=t["url"],
                name=t["name"],
                status=TaskStatus(t["status"]),
                error=t.get("error"),
                location=t.get("location"),
                finished_at=parse_iso(t["finishedAt"]) if t.get("finishedAt") else None,
            )
            for t in item.get("tasks", [])
        ]
        return ExportJob(
            job_id=item["jobId"],
            export_id=item["exportId"],
            user_id=item["userId"],
            metadata=item.get("metadata") or {},
            tasks=tasks,
            started_at=parse_iso(item["startedAt"]),
            task_token=item.get("taskToken"),
            completed_at=parse_iso(item["completedAt"]) if item.get("completedAt") else None,
            version=int(item.get("version", 0)),
            callback_state=item.get("callbackState"),
            callback_error=item.get("callbackError"),
        )
