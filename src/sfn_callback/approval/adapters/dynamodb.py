"""``poc-approvals`` on DynamoDB: every state change is a conditional write.

Item (key ``orderId``): ``transactionId``, ``taskToken``, ``startTime`` (fixed-width ISO, the ``status-index``
sort key), ``timeoutSeconds``, ``expiresAt``, ``details`` (JSON text), ``receivedAt``, ``status``, ``ttl``
(epoch seconds, the table's TTL attribute), and once decided ``decision`` (a map: action, actor, at, claimId,
reason, output as JSON text), ``callbackState``, ``callbackAttempts``, ``callbackError``,
``callbackMaybeDelivered``, ``callbackSentAt``, ``leaseUntil``, ``closedReason``, and ``audit`` (a list of
{at, actor, event, detail} maps, appended with ``list_append``).

Listing a status is a Query on ``status-index`` (``status``, ``startTime``), never a Scan. A task whose callback
is outstanding also carries ``callbackPending`` (sparse), the key of ``callback-pending-index`` (sorted by
``leaseUntil``), which is how redelivery finds the tasks it owes a callback without scanning.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from sfn_callback.approval.domain.model import (
    Action,
    ApprovalTask,
    AuditEntry,
    CallbackState,
    Decision,
    Status,
    iso,
)
from sfn_callback.common.clock import parse_iso
from sfn_callback.common.dynamo import from_item, to_value

STATUS_INDEX = "status-index"
STATUS_INDEX_SORT_KEY = "startTime"
CALLBACK_INDEX = "callback-pending-index"
CALLBACK_INDEX_KEY = "callbackPending"
CALLBACK_INDEX_SORT_KEY = "leaseUntil"
PENDING_MARK = "SENDING"



class InvalidCursor(ValueError):
    """A listing cursor that this service did not hand out (or for another status)."""


class ClaimConflict(Exception):
    """The conditional write lost: the task is no longer what the caller saw."""


_av = to_value


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _audit_av(entry: AuditEntry) -> dict[str, Any]:
    doc = {"at": iso(entry.at), "actor": entry.actor, "event": entry.event}
    if entry.detail is not None:
        doc["detail"] = entry.detail
    return {"L": [_av(doc)]}


def _decision_doc(decision: Decision) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "action": decision.action.value,
        "actor": decision.actor,
        "at": iso(decision.at),
        "claimId": decision.claim_id,
        "output": json.dumps(decision.output, separators=(",", ":")),
    }
    if decision.reason is not None:
        doc["reason"] = decision.reason
    return doc


def task_to_item(task: ApprovalTask) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "orderId": task.order_id,
        "transactionId": task.transaction_id,
        "taskToken": task.task_token,
        "startTime": iso(task.start_time),
        "timeoutSeconds": task.timeout_seconds,
        "expiresAt": iso(task.expires_at),
        "details": json.dumps(task.details, separators=(",", ":"), sort_keys=True),
        "receivedAt": iso(task.received_at),
        "status": task.status.value,
        "ttl": task.ttl,
        "callbackAttempts": task.callback_attempts,
        "audit": [{k: v for k, v in e.to_dict().items() if v is not None} for e in task.audit],
    }
    if task.decision is not None:
        doc["decision"] = _decision_doc(task.decision)
    if task.callback_state is not None:
        doc["callbackState"] = task.callback_state.value
    if task.callback_pending:
        doc[CALLBACK_INDEX_KEY] = PENDING_MARK
    if task.lease_until is not None:
        doc["leaseUntil"] = iso(task.lease_until)
    return {k: _av(v) for k, v in doc.items()}


def item_to_task(item: dict[str, Any]) -> ApprovalTask:
    doc = from_item(item)
    decision = None
    if "decision" in doc:
        d = doc["decision"]
        decision = Decision(
            action=Action(d["action"]),
            actor=d["actor"],
            at=parse_iso(d["at"]),
            claim_id=d["claimId"],
            reason=d.get("reason"),
            output=json.loads(d.get("output") or "null"),
        )
    return ApprovalTask(
        order_id=doc["orderId"],
        transaction_id=doc["transactionId"],
        task_token=doc["taskToken"],
        start_time=parse_iso(doc["startTime"]),
        timeout_seconds=int(doc["timeoutSeconds"]),
        received_at=parse_iso(doc["receivedAt"]),
        status=Status(doc["status"]),
        details=json.loads(doc.get("details") or "{}"),
        decision=decision,
        callback_state=CallbackState(doc["callbackState"]) if doc.get("callbackState") else None,
        callback_attempts=int(doc.get("callbackAttempts", 0)),
        callback_error=doc.get("callbackError"),
        callback_maybe_delivered=bool(doc.get("callbackMaybeDelivered", False)),
        callback_sent_at=parse_iso(doc["callbackSentAt"]) if doc.get("callbackSentAt") else None,
        lease_until=parse_iso(doc["leaseUntil"]) if doc.get("leaseUntil") else None,
        closed_reason=doc.get("closedReason"),
        audit=tuple(
            AuditEntry(parse_iso(e["at"]), e["actor"], e["event"], e.get("detail")) for e in doc.get("audit", [])
        ),
    )


def encode_cursor(last_key: dict[str, Any]) -> str:
    doc = {"o": last_key["orderId"]["S"], "s": last_key["status"]["S"], "t": last_key["startTime"]["S"]}
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, status: Status) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("cursor is not one this service returned") from exc
    if not isinstance(doc, dict) or set(doc) != {"o", "s", "t"} or not all(isinstance(v, str) and v for v in doc.values()):
        raise InvalidCursor("cursor is not one this service returned")
    if doc["s"] != status.value:
        raise InvalidCursor(f"cursor belongs to a listing of {doc['s']}, not {status.value}")
    return {"orderId": {"S": doc["o"]}, "status": {"S": doc["s"]}, "startTime": {"S": doc["t"]}}


class DynamoApprovalRepository:
    def __init__(self, client: Any, table: str):
        self._ddb = client
        self._table = table

    def ping(self) -> bool:
        try:
            self._ddb.describe_table(TableName=self._table)
            return True
        except Exception:  # any failure means "not reachable" for a health check
            return False

    # -- reads ---------------------------------------------------------------------------------------------
    def get(self, order_id: str) -> ApprovalTask | None:
        item = self._ddb.get_item(TableName=self._table, Key={"orderId": {"S": order_id}}, ConsistentRead=True).get("Item")
        return item_to_task(item) if item else None

    def list_by_status(self, status: Status, limit: int, cursor: str | None = None) -> tuple[list[ApprovalTask], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": status.value}},
            "Limit": limit,
            "ScanIndexForward": True,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, status)
        page = self._ddb.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        return [item_to_task(i) for i in page.get("Items", [])], (encode_cursor(last) if last else None)

    def pending_callbacks(self, now: datetime, limit: int = 25) -> list[ApprovalTask]:
        """Tasks whose decision is claimed but whose callback is not confirmed, lease expired, oldest first."""
        page = self._ddb.query(
            TableName=self._table,
            IndexName=CALLBACK_INDEX,
            KeyConditionExpression="#p = :p AND #l <= :now",
            ExpressionAttributeNames={"#p": CALLBACK_INDEX_KEY, "#l": CALLBACK_INDEX_SORT_KEY},
            ExpressionAttributeValues={":p": {"S": PENDING_MARK}, ":now": {"S": iso(now)}},
            Limit=limit,
        )
        return [item_to_task(i) for i in page.get("Items", [])]

    # -- writes --------------------------------------------------------------------------------------------
    def create(self, task: ApprovalTask) -> bool:
        """Store a new PENDING task; False if an item with this orderId exists (nothing is changed then)."""
        try:
            self._ddb.put_item(TableName=self._table, Item=task_to_item(task),
                               ConditionExpression="attribute_not_exists(orderId)")
            return True
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise

    def claim(self, order_id: str, decision: Decision, lease_until: datetime) -> ApprovalTask:
        """PENDING → APPROVED/REJECTED with the decision and an outstanding callback; ClaimConflict if not PENDING
        (or absent)."""
        names = {"#s": "status", "#d": "decision", "#cs": "callbackState", "#cp": CALLBACK_INDEX_KEY,
                 "#l": "leaseUntil", "#a": "audit"}
        values = {
            ":pending": {"S": Status.PENDING.value},
            ":new": {"S": decision.action.status.value},
            ":d": _av(_decision_doc(decision)),
            ":sending": {"S": CallbackState.SENDING.value},
            ":mark": {"S": PENDING_MARK},
            ":lease": {"S": iso(lease_until)},
            ":entry": _audit_av(AuditEntry(decision.at, decision.actor, decision.action.status.value, decision.reason)),
            ":empty": {"L": []},
        }
        return self._update(
            order_id,
            "SET #s = :new, #d = :d, #cs = :sending, #cp = :mark, #l = :lease, "
            "#a = list_append(if_not_exists(#a, :empty), :entry)",
            "#s = :pending",
            names,
            values,
        )

    def take_lease(self, task: ApprovalTask, now: datetime, lease_until: datetime) -> ApprovalTask:
        """Own a pending callback for a while (one redeliverer at a time); ClaimConflict if someone else does."""
        return self._update(
            task.order_id,
            "SET #l = :lease",
            "#cs = :sending AND #d.claimId = :claim AND #l <= :now",
            {"#l": "leaseUntil", "#cs": "callbackState", "#d": "decision"},
            {":lease": {"S": iso(lease_until)}, ":sending": {"S": CallbackState.SENDING.value},
             ":claim": {"S": task.decision.claim_id if task.decision else ""}, ":now": {"S": iso(now)}},
        )

    def mark_sent(self, task: ApprovalTask, at: datetime, detail: str | None = None) -> ApprovalTask:
        return self._finish(task, "SET #cs = :sent, #sa = :at, #a = list_append(#a, :entry) REMOVE #cp, #l",
                            {"#sa": "callbackSentAt"},
                            {":sent": {"S": CallbackState.SENT.value}, ":at": {"S": iso(at)},
                             ":entry": _audit_av(AuditEntry(at, "step-functions", "CALLBACK_SENT", detail))})

    def mark_closed(self, task: ApprovalTask, at: datetime, code: str,
                    status: Status = Status.TIMED_OUT) -> ApprovalTask:
        """The token was already closed: TIMED_OUT (or CLOSED when its execution ended otherwise); the refused
        decision stays in the audit trail only."""
        refused = task.decision
        detail = f"{code}; refused {refused.action.value} by {refused.actor}" if refused else code
        return self._finish(
            task,
            "SET #s = :timedout, #cs = :closed, #cr = :code, #a = list_append(#a, :entry) REMOVE #cp, #l, #d",
            {"#s": "status", "#cr": "closedReason", "#d": "decision"},
            {":timedout": {"S": status.value}, ":closed": {"S": CallbackState.CLOSED.value},
             ":code": {"S": code}, ":entry": _audit_av(AuditEntry(at, "step-functions", "TOKEN_CLOSED", detail))},
        )

    def mark_ended(self, task: ApprovalTask, at: datetime, status: Status, reason: str) -> ApprovalTask:
        """An undecided task whose execution ended (or whose TimeoutSeconds lapsed): PENDING → ``status``
        (TIMED_OUT / CLOSED) with why; ClaimConflict if it is no longer PENDING (a decision came first)."""
        return self._update(
            task.order_id,
            "SET #s = :status, #cr = :reason, #a = list_append(if_not_exists(#a, :empty), :entry)",
            "#s = :pending",
            {"#s": "status", "#cr": "closedReason", "#a": "audit"},
            {":status": {"S": status.value}, ":reason": {"S": reason[:500]}, ":pending": {"S": Status.PENDING.value},
             ":empty": {"L": []},
             ":entry": _audit_av(AuditEntry(at, "step-functions", "EXECUTION_ENDED", reason[:500]))},
        )

    def record_callback_failure(self, task: ApprovalTask, at: datetime, error: str, maybe_delivered: bool,
                                retry_at: datetime) -> ApprovalTask:
        """The callback call failed: keep the claim (SENDING), count the attempt, let redelivery retry at ``retry_at``."""
        values = {":one": {"N": "1"}, ":err": {"S": error[:500]}, ":retry": {"S": iso(retry_at)},
                  ":entry": _audit_av(AuditEntry(at, "step-functions", "CALLBACK_FAILED", error[:500]))}
        expression = "SET #ce = :err, #l = :retry, #a = list_append(#a, :entry) ADD #n :one"
        names = {"#ce": "callbackError", "#n": "callbackAttempts", "#l": "leaseUntil"}
        if maybe_delivered:
            expression = expression.replace("SET ", "SET #md = :true, ")
            names["#md"] = "callbackMaybeDelivered"
            values[":true"] = {"BOOL": True}
        return self._finish(task, expression, names, values)

    def _finish(self, task: ApprovalTask, expression: str, names: dict[str, str], values: dict[str, Any]) -> ApprovalTask:
        names = {**names, "#cs": "callbackState", "#dd": "decision", "#a": "audit", "#cp": CALLBACK_INDEX_KEY,
                 "#l": "leaseUntil"}
        values = {**values, ":sending": {"S": CallbackState.SENDING.value},
                  ":claim": {"S": task.decision.claim_id if task.decision else ""}}
        return self._update(task.order_id, expression, "#cs = :sending AND #dd.claimId = :claim", names, values)

    def _update(self, order_id: str, update: str, condition: str, names: dict[str, str],
                values: dict[str, Any]) -> ApprovalTask:
        condition = f"attribute_exists(orderId) AND {condition}"
        tokens = set(re.findall(r"[#:]\w+", f"{update} {condition}"))
        names = {k: v for k, v in names.items() if k in tokens}
        values = {k: v for k, v in values.items() if k in tokens}
        try:
            out = self._ddb.update_item(
                TableName=self._table,
                Key={"orderId": {"S": order_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                raise ClaimConflict(order_id) from exc
            raise
        return item_to_task(out["Attributes"])
