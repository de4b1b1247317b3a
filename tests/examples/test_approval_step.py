"""examples/approval_step on the local cloud: the approval workflow waits, the example's policy decides from
the user's own code (approve within the limit, reject over it), each workflow resumes once with the decision."""

from __future__ import annotations

import json
import uuid

import pytest

from examples.approval_step.policy import ACTOR, decide_pending
from sfn_callback import config
from support import wait_execution, wait_for

pytestmark = pytest.mark.cloud

MACHINE = f"arn:aws:states:us-east-1:{config.LOCAL_ACCOUNT_ID}:stateMachine:{config.APPROVAL_WORKFLOW}"


def test_an_approval_step_decided_by_the_users_code(approval_stack):
    """The session's approval stack (``approval_support``): deploying the component again here would put the
    queue's shortened visibility timeout back to the spec's, which other tests rely on."""
    target = approval_stack.target
    sfn, ddb = approval_stack.sfn, approval_stack.ddb
    runs = {}
    for amount in (40, 400):
        order = f"ex-{amount}-{uuid.uuid4().hex[:8]}"
        runs[order] = sfn.start_execution(stateMachineArn=MACHINE, name=order, input=json.dumps(
            {"orderId": order, "details": {"amount": amount}}))["executionArn"]
    for order in runs:
        wait_for(lambda o=order: ddb.get_item(TableName=config.APPROVALS_TABLE, Key={"orderId": {"S": o}},
                                              ConsistentRead=True).get("Item"), 30, what=f"task {order} stored")
    decided = decide_pending(target, limit=100, orders=set(runs))
    assert sorted(decided.values()) == ["DECIDED", "DECIDED"], decided
    assert decide_pending(target, limit=100, orders=set(runs)) == {}  # nothing left pending: no second decision
    small, large = sorted(runs, key=lambda o: int(o.split("-")[1]))
    approved = wait_execution(sfn, runs[small], timeout=30)
    rejected = wait_execution(sfn, runs[large], timeout=30)
    assert json.loads(approved["output"])["status"] == "APPROVED", approved
    assert json.loads(rejected["output"])["status"] == "REJECTED", rejected
    for order, arn in runs.items():
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        assert len([e for e in events if e["type"] in ("TaskSucceeded", "TaskFailed")]) == 1
        item = ddb.get_item(TableName=config.APPROVALS_TABLE, Key={"orderId": {"S": order}}, ConsistentRead=True)["Item"]
        assert item["decision"]["M"]["actor"]["S"] == ACTOR
