"""poc-approval-consumer on its SQS mapping (real Lambda runtime, real queue and DLQ) and the repository."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sfn_callback import config
from sfn_callback.approval.adapters.dynamodb import ClaimConflict, DynamoApprovalRepository
from sfn_callback.approval.domain.model import Action, Decision, Status
from support import wait_for

pytestmark = pytest.mark.cloud


def message(order: str, token: str | None = None) -> dict:
    return {"orderId": order, "transactionId": f"arn:aws:states:us-east-1:000000000000:execution:x:{order}",
            "taskToken": token or ("tok-" + uuid.uuid4().hex * 2), "startTime": "2030-01-01T00:00:00.000Z",
            "timeoutSeconds": 3600, "details": {"n": 1}}


def test_duplicate_delivery_stores_one_unchanged_item(approval_stack):
    order = f"dup-{uuid.uuid4().hex[:10]}"
    body = json.dumps(message(order))
    approval_stack.sqs.send_message(QueueUrl=approval_stack.queue_url, MessageBody=body)
    first = approval_stack.wait_item(order)
    approval_stack.sqs.send_message(QueueUrl=approval_stack.queue_url, MessageBody=body)
    # Wait until the queue is drained (the duplicate was consumed and deleted), then compare.
    wait_for(lambda: approval_stack.sqs.get_queue_attributes(
        QueueUrl=approval_stack.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"] == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}, 15,
        what="queue drained")
    assert approval_stack.item(order) == first
    assert first["status"]["S"] == "PENDING" and len(first["audit"]["L"]) == 1


def test_malformed_message_goes_to_the_dlq_and_the_rest_of_the_batch_is_stored(approval_stack, local_cloud):
    good = [f"batch-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    malformed = json.dumps({"orderId": "", "taskToken": "tok-secret-" + "s" * 30, "note": uuid.uuid4().hex})
    approval_stack.sqs.send_message_batch(QueueUrl=approval_stack.queue_url, Entries=[
        {"Id": "a", "MessageBody": json.dumps(message(good[0]))},
        {"Id": "bad", "MessageBody": malformed},
        {"Id": "junk", "MessageBody": "not json at all"},
        {"Id": "b", "MessageBody": json.dumps(message(good[1]))},
    ])
    for order in good:
        assert approval_stack.wait_item(order)["status"]["S"] == "PENDING"
    dead: list[str] = []

    def drained() -> bool:
        for m in approval_stack.sqs.receive_message(QueueUrl=approval_stack.dlq_url, MaxNumberOfMessages=10,
                                                    WaitTimeSeconds=1).get("Messages", []):
            dead.append(m["Body"])
            approval_stack.sqs.delete_message(QueueUrl=approval_stack.dlq_url, ReceiptHandle=m["ReceiptHandle"])
        return malformed in dead and "not json at all" in dead

    wait_for(drained, 25, interval=0.2, what="both refused messages in the DLQ")
    log = local_cloud.log_text()
    assert "tok-secret-" not in log, "a refused message's token is never logged"


def test_repository_conditional_writes_and_listing(approval_stack):
    repo = DynamoApprovalRepository(approval_stack.ddb, config.APPROVALS_TABLE)
    orders = [f"repo-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    for order in orders:
        approval_stack.sqs.send_message(QueueUrl=approval_stack.queue_url, MessageBody=json.dumps(message(order)))
    for order in orders:
        approval_stack.wait_item(order)
    now = datetime.now(UTC)
    # A lease well ahead, so that a running approval service's redelivery leaves this claim alone.
    lease = now + timedelta(seconds=120)
    claimed = repo.claim(orders[0], Decision(Action.APPROVE, "alice", now, "c-1", "ok", {"x": 1}), lease)
    assert claimed.status is Status.APPROVED and claimed.callback_pending
    with pytest.raises(ClaimConflict):
        repo.claim(orders[0], Decision(Action.REJECT, "bob", now, "c-2", "no"), now)
    with pytest.raises(ClaimConflict):
        repo.claim("absent-" + orders[0], Decision(Action.REJECT, "bob", now, "c-3", "no"), now)
    # Other tests in the session may leave outstanding callbacks behind: look past the service's round size.
    assert all(t.order_id != orders[0] for t in repo.pending_callbacks(now, limit=1000))  # leased
    assert any(t.order_id == orders[0] for t in repo.pending_callbacks(lease, limit=1000))
    sent = repo.mark_sent(claimed, now)
    assert not sent.callback_pending and all(t.order_id != orders[0] for t in repo.pending_callbacks(lease, limit=1000))
    seen, cursor = [], None
    while True:
        page, cursor = repo.list_by_status(Status.PENDING, 1, cursor)
        seen += [t.order_id for t in page]
        if not cursor:
            break
    assert set(orders[1:]) <= set(seen) and orders[0] not in seen and len(seen) == len(set(seen))


def test_concurrent_claims_on_the_local_cloud_have_exactly_one_winner(approval_stack):
    """DynamoDB applies a conditional write atomically; so must the local cloud, or two decisions could win."""
    import threading

    repo = DynamoApprovalRepository(approval_stack.ddb, config.APPROVALS_TABLE)
    orders = [f"race-{uuid.uuid4().hex[:10]}" for _ in range(30)]
    for start in range(0, len(orders), 10):
        approval_stack.sqs.send_message_batch(QueueUrl=approval_stack.queue_url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps(message(o))} for i, o in enumerate(orders[start:start + 10])])
    for order in orders:
        approval_stack.wait_item(order)
    for order in orders:
        wins: list[str] = []
        barrier = threading.Barrier(8)

        def claim(n: int) -> None:
            barrier.wait()  # noqa: B023
            now = datetime.now(UTC)
            try:
                repo.claim(order, Decision(Action.APPROVE, f"actor-{n}", now, f"claim-{n}"), now)  # noqa: B023
                wins.append(f"claim-{n}")  # noqa: B023
            except ClaimConflict:
                pass

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert len(wins) == 1, wins
        assert repo.get(order).decision.claim_id == wins[0]
