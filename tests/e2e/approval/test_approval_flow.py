"""Executions of poc-approval-workflow decided through the approval API over real HTTP on the local cloud."""

from __future__ import annotations

import json
import threading

import pytest
from botocore.config import Config

from approval_support import KEYS
from sfn_callback.approval.adapters.dynamodb import DynamoApprovalRepository
from sfn_callback.approval.adapters.stepfunctions import ApprovalStepFunctions
from sfn_callback.approval.application.service import ApprovalService
from sfn_callback.approval.domain.model import Action
from sfn_callback.common.aws import client as aws_client
from sfn_callback.config import Target
from support import wait_for

pytestmark = pytest.mark.cloud


def pending(stack, api, **extra):
    order, arn = stack.start(**extra)
    stack.wait_item(order)
    return order, arn


def test_pending_task_is_listed_without_its_token(approval_stack, approval_api):
    order, arn = pending(approval_stack, approval_api, details={"amount": 42, "customer": "c-7"}, timeoutSeconds=60)
    token = approval_stack.item(order)["taskToken"]["S"]
    with approval_api.client() as http:
        one = http.get(f"/tasks/{order}")
        assert one.status_code == 200
        task = one.json()
        assert (task["status"], task["details"], task["transactionId"], task["timeoutSeconds"]) == \
               ("PENDING", {"amount": 42, "customer": "c-7"}, arn, 60)
        assert 0 < task["timeLeftSeconds"] <= 60 and task["ageSeconds"] >= 0
        listed = []
        cursor = None
        while True:  # every page, following the opaque cursor
            page = http.get("/tasks", params={"status": "PENDING", "limit": 2, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200
            listed += [t["orderId"] for t in page.json()["items"]]
            cursor = page.json()["nextCursor"]
            if not cursor:
                break
        assert order in listed and len(listed) == len(set(listed))
        for response in (one, page):
            assert token not in response.text and "taskToken" not in response.text


def test_approve_resumes_the_execution_with_the_output(approval_stack, approval_api):
    order, arn = pending(approval_stack, approval_api)
    with approval_api.client("alice") as http:
        response = http.post(f"/tasks/{order}/approve", json={"output": {"limit": 500, "tier": "gold"}, "reason": "ok"})
    assert response.status_code == 200, response.text
    assert response.json()["task"]["status"] == "APPROVED"
    done = approval_stack.wait_done(arn)
    output = json.loads(done["output"])
    assert done["status"] == "SUCCEEDED" and output["status"] == "APPROVED"
    assert output["decision"]["output"] == {"limit": 500, "tier": "gold"} and output["decision"]["decidedBy"] == "alice"
    with approval_api.client("bob") as http:
        task = http.get(f"/tasks/{order}").json()
    assert task["decision"]["decidedBy"] == "alice" and task["decision"]["reason"] == "ok"
    assert task["callback"]["state"] == "SENT"
    assert [e["event"] for e in task["audit"]] == ["RECEIVED", "APPROVED", "CALLBACK_SENT"]


def test_reject_goes_to_the_rejected_state_with_the_reason_recorded(approval_stack, approval_api):
    order, arn = pending(approval_stack, approval_api)
    with approval_api.client("bob") as http:
        response = http.post(f"/tasks/{order}/reject", json={"reason": "  over budget  "})
        assert response.status_code == 200, response.text
        task = http.get(f"/tasks/{order}").json()
    done = approval_stack.wait_done(arn)
    output = json.loads(done["output"])
    assert output["status"] == "REJECTED" and output["error"]["Error"] == "Rejected"
    history = approval_stack.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered[-1] == "Rejected"
    assert (task["status"], task["decision"]["reason"], task["decision"]["decidedBy"]) == ("REJECTED", "over budget", "bob")


def test_timeout_then_a_late_approve_answers_410(approval_stack, approval_api):
    order, arn = pending(approval_stack, approval_api, timeoutSeconds=1)
    done = approval_stack.wait_done(arn, timeout=15)
    assert json.loads(done["output"])["status"] == "TIMED_OUT"
    with approval_api.client() as http:
        late = http.post(f"/tasks/{order}/approve", json={})
        assert late.status_code == 410, late.text
        assert late.json()["error"]["code"] == "token_closed" and late.json()["task"]["status"] == "TIMED_OUT"
        again = http.post(f"/tasks/{order}/reject", json={"reason": "too late anyway"})
        assert again.status_code == 410
        task = http.get(f"/tasks/{order}").json()
    assert task["status"] == "TIMED_OUT" and task["decision"] is None
    # Whichever recorded the end first: the service's reconciliation of the lapsed task, or the late decision
    # that Step Functions refused (then the refused decision is in the trail).
    last = task["audit"][-1]
    assert (last["event"] == "EXECUTION_ENDED" and last["detail"].startswith("TaskTimedOut")) or \
           (last["event"] == "TOKEN_CLOSED" and "refused APPROVE by alice" in last["detail"]), last


def test_double_approve_answers_409_with_the_existing_decision(approval_stack, approval_api):
    order, arn = pending(approval_stack, approval_api)
    with approval_api.client("alice") as a, approval_api.client("bob") as b:
        assert a.post(f"/tasks/{order}/approve", json={"output": 1}).status_code == 200
        second = b.post(f"/tasks/{order}/approve", json={"output": 2})
    assert second.status_code == 409
    body = second.json()
    assert body["error"]["code"] == "already_decided" and "alice" in body["error"]["message"]
    assert body["task"]["decision"]["decidedBy"] == "alice" and body["task"]["decision"]["output"] == 1
    approval_stack.wait_done(arn)
    assert approval_stack.callbacks_in_history(arn) == ["TaskSucceeded"]


def test_concurrent_approve_and_reject_one_wins_one_callback(approval_stack, approval_api):
    runs = [pending(approval_stack, approval_api) for _ in range(4)]
    for order, arn in runs:
        barrier = threading.Barrier(2)
        answers: dict[str, int] = {}

        def go(action, body, key):
            with approval_api.client(key) as http:
                barrier.wait()  # noqa: B023
                answers[action] = http.post(f"/tasks/{order}/{action}", json=body).status_code  # noqa: B023

        threads = [threading.Thread(target=go, args=("approve", {}, "alice")),
                   threading.Thread(target=go, args=("reject", {"reason": "race"}, "bob"))]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sorted(answers.values()) == [200, 409], answers
        winner = "APPROVED" if answers["approve"] == 200 else "REJECTED"
        done = approval_stack.wait_done(arn)
        assert json.loads(done["output"])["status"] == winner
        assert len(approval_stack.callbacks_in_history(arn)) == 1
        assert approval_stack.item(order)["status"]["S"] == winner


def test_failed_callback_is_kept_and_redelivered_once(approval_stack, approval_api):
    """The callback call fails after the claim (Step Functions unreachable): 202, the decision stays recorded,
    and the running service's redelivery sends that same decision; the workflow resumes once."""
    order, arn = pending(approval_stack, approval_api)
    unreachable = aws_client("stepfunctions", Target("http://127.0.0.1:9"),
                             config=Config(retries={"max_attempts": 1}, connect_timeout=1))
    broken = ApprovalService(DynamoApprovalRepository(approval_stack.ddb, "poc-approvals"),
                             ApprovalStepFunctions(unreachable), lease_seconds=2, retry_seconds=0.5)
    result = broken.decide(order, Action.REJECT, "bob", reason="network trouble")
    assert result.outcome.value == "DELIVERY_PENDING"
    item = approval_stack.item(order)
    assert item["status"]["S"] == "REJECTED" and item["callbackState"]["S"] == "SENDING"
    with approval_api.client("alice") as http:  # nobody can overturn it meanwhile
        assert http.post(f"/tasks/{order}/approve", json={}).status_code == 409
    done = approval_stack.wait_done(arn, timeout=15)  # the API's redelivery loop delivers it
    assert json.loads(done["output"])["status"] == "REJECTED"
    assert approval_stack.callbacks_in_history(arn) == ["TaskFailed"]
    wait_for(lambda: approval_stack.item(order)["callbackState"]["S"] == "SENT", 10, what="finalized")
    events = [e["event"]["S"] for e in (x["M"] for x in approval_stack.item(order)["audit"]["L"])]
    assert events == ["RECEIVED", "REJECTED", "CALLBACK_FAILED", "CALLBACK_SENT"]


def test_keys_and_errors(approval_stack, approval_api):
    with approval_api.client(None) as anonymous:
        missing = anonymous.get("/tasks")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"]["code"] == "unauthenticated"
        wrong = anonymous.get("/tasks", headers={"Authorization": "Bearer " + KEYS["alice"][:-1] + "X"})
        assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
        assert anonymous.post("/tasks/x/approve", json={}).status_code == 401
        assert anonymous.get("/health").json()["status"] == "ok"
        spec = anonymous.get("/openapi.json").json()
        assert {"/tasks", "/tasks/{orderId}", "/tasks/{orderId}/approve", "/tasks/{orderId}/reject"} <= set(spec["paths"])
        page = anonymous.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    with approval_api.client() as http:
        assert http.get("/tasks/no-such-order").json()["error"]["code"] == "not_found"
        huge = http.post("/tasks/x/approve", content=b'{"output": "' + b"x" * 70000 + b'"}',
                         headers={"Content-Type": "application/json"})
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "body_too_large"
        bad = http.post("/tasks/x/reject", content=b"{not json", headers={"Content-Type": "application/json"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
        blank = http.post("/tasks/x/reject", json={"reason": "   "})
        assert blank.status_code == 422 and "reason" in blank.json()["error"]["message"]
        cursor = http.get("/tasks", params={"cursor": "garbage"})
        assert cursor.status_code == 400 and cursor.json()["error"]["code"] == "invalid_cursor"
