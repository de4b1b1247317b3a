"""An undecided approval task whose execution ended never shows as waiting, over real HTTP on the local cloud.

The task's TimeoutSeconds lapses with nobody deciding, or its execution is stopped while the task waits: the
service records the end (TIMED_OUT, or CLOSED with how and when the execution ended), by its background loop
without anyone asking, and at the latest when the task is listed or read.
"""

from __future__ import annotations

import json

import httpx
import pytest

from approval_support import KEYS
from sfn_callback import config
from sfn_callback.approval.bootstrap import bootstrap
from sfn_callback.approval.entrypoints.auth import KeyRing
from sfn_callback.approval.entrypoints.rest_app import create_app
from sfn_callback.approval.entrypoints.server import ServerThread
from support import wait_for

pytestmark = pytest.mark.cloud


def _listed(http, status: str) -> list[str]:
    """Every orderId GET /tasks lists in ``status``, page after page."""
    listed, cursor = [], None
    while True:
        page = http.get("/tasks", params={"status": status, "limit": 100, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        listed += [t["orderId"] for t in page.json()["items"]]
        if not (cursor := page.json()["nextCursor"]):
            return listed


def test_a_lapsed_task_is_listed_timed_out_not_pending(approval_stack, approval_api):
    order, arn = approval_stack.start(timeoutSeconds=1)
    approval_stack.wait_item(order)
    assert json.loads(approval_stack.wait_done(arn, timeout=15)["output"])["status"] == "TIMED_OUT"
    with approval_api.client() as http:
        assert order not in _listed(http, "PENDING")
        task = http.get(f"/tasks/{order}").json()
        assert (task["status"], task["decision"], task["timeLeftSeconds"]) == ("TIMED_OUT", None, 0.0)
        assert task["callback"]["closedReason"].startswith("TaskTimedOut")
        assert task["audit"][-1]["event"] == "EXECUTION_ENDED"
        assert order in _listed(http, "TIMED_OUT")
        late = http.post(f"/tasks/{order}/approve", json={})
        assert late.status_code == 410 and late.json()["task"]["status"] == "TIMED_OUT"
    assert approval_stack.callbacks_in_history(arn) == ["TaskTimedOut"]


def test_the_loop_closes_the_task_of_a_stopped_execution(approval_stack):
    # A service of its own that checks each waiting task every second, in rounds every 0.5 s (30 s and 5 s
    # by default).
    service = bootstrap(approval_stack.target, check_every_seconds=1)
    app = create_app(service, KeyRing.from_mapping(KEYS), redeliver_interval=0.5, reconcile_interval=0.5,
                     table_name=config.APPROVALS_TABLE)
    with ServerThread(app) as server:
        order, arn = approval_stack.start(timeoutSeconds=120)
        approval_stack.wait_item(order)
        approval_stack.sfn.stop_execution(executionArn=arn, error="Cancelled", cause="order withdrawn")
        assert approval_stack.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
        # Nobody reads the task: the background loop records how it ended.
        item = wait_for(lambda: (i := approval_stack.item(order))["status"]["S"] != "PENDING" and i, 15,
                        what="the stopped execution's task reconciled")
        assert item["status"]["S"] == "CLOSED" and item["closedReason"]["S"].startswith("execution ABORTED at ")
        headers = {"Authorization": f"Bearer {KEYS['bob']}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            assert order not in _listed(http, "PENDING")
            task = http.get(f"/tasks/{order}").json()
            assert task["status"] == "CLOSED" and task["audit"][-1]["event"] == "EXECUTION_ENDED"
            late = http.post(f"/tasks/{order}/approve", json={})
            assert late.status_code == 410, late.text
            assert late.json()["task"]["status"] == "CLOSED" and "recorded CLOSED" in late.json()["error"]["message"]
            assert _listed(http, "CLOSED").count(order) == 1
    assert approval_stack.callbacks_in_history(arn) == []


def test_a_decision_on_a_stopped_execution_is_refused_by_the_local_cloud(approval_stack, approval_api):
    """Before any reconciliation: the decision reaches Step Functions, which refuses a token of a stopped
    execution (TaskDoesNotExist), and the task is recorded CLOSED with the execution's end."""
    order, arn = approval_stack.start(timeoutSeconds=120)
    approval_stack.wait_item(order)
    approval_stack.sfn.stop_execution(executionArn=arn)
    with approval_api.client() as http:
        late = http.post(f"/tasks/{order}/reject", json={"reason": "withdrawn"})
    assert late.status_code == 410, late.text
    task = late.json()["task"]
    assert task["status"] == "CLOSED" and "execution ABORTED" in task["callback"]["closedReason"]
    assert approval_stack.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert approval_stack.callbacks_in_history(arn) == []
