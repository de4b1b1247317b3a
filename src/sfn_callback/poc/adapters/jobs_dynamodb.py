"""The simulated API's job store: the ``poc-jobs`` table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from sfn_callback.common.clock import iso
from sfn_callback.common.dynamo import from_item, to_item


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoJobStore:
    """The simulated API's ``poc-jobs`` table."""

    def __init__(self, client: Any, table_name: str):
        self._ddb = client
        self._table = table_name

    def create(self, item: dict[str, Any]) -> None:
        self._ddb.put_item(TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(jobId)")

    def record_check(self, job_id: str) -> dict[str, Any] | None:
        try:
            resp = self._ddb.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}},
                UpdateExpression="ADD pollCount :one SET lastCheckedAt = :now",
                ConditionExpression="attribute_exists(jobId)",
                ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"S": iso(datetime.now().astimezone())}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return None
            raise
        return from_item(resp["Attributes"])

    def delete(self, job_id: str) -> bool:
        resp = self._ddb.delete_item(TableName=self._table, Key={"jobId": {"S": job_id}}, ReturnValues="ALL_OLD")
        return bool(resp.get("Attributes"))

    def finish(self, job_id: str, status: str, completed_at: str) -> None:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}},
                UpdateExpression="SET #s = :status, completedAt = :at",
                ConditionExpression="#s = :running",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":status": {"S": status},
                    ":at": {"S": completed_at},
                    ":running": {"S": "IN_PROGRESS"},
                },
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
