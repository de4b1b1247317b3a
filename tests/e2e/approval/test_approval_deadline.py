"""Decisions racing the approval task's deadline, through the approval API over real HTTP on the local cloud.

A decision that arrives just after the task's ``TimeoutSeconds`` lapsed is refused (410, recorded TIMED_OUT)
and the workflow takes its TimedOut path: never a 200 with the workflow on TimedOut.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

pytestmark = pytest.mark.cloud

TIMEOUT = 8  # the task's TimeoutSeconds: time for the request to be stored first, even by cold consumers
AFTER_DEADLINE_MS = [2, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100]


def _task_started(stack, arn: str) -> float:
    """When the SendMessageToSQS task started (its TimeoutSeconds counts from here), epoch seconds."""
    events = stack.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return next(e["timestamp"] for e in events if e["type"] == "TaskScheduled").timestamp()


def test_a_decision_just_after_the_deadline_is_refused_and_recorded_timed_out(approval_stack, approval_api):
    # Warm the consumer's workers first, so that the requests below are stored well before their deadlines.
    warm = [approval_stack.start(timeoutSeconds=60) for _ in range(3)]
    for order, _ in warm:
        approval_stack.wait_item(order, timeout=60)
    runs = [approval_stack.start(timeoutSeconds=TIMEOUT) for _ in AFTER_DEADLINE_MS]
    answers: dict[str, tuple[int, dict]] = {}
    sent: dict[str, float] = {}

    def decide(order: str, arn: str, after_ms: int, action: str) -> None:
        approval_stack.wait_item(order, timeout=30)  # if it comes late, the decision is late too (still 410)
        deadline = _task_started(approval_stack, arn) + TIMEOUT
        time.sleep(max(0.0, deadline + after_ms / 1000 - time.time()))
        sent[order] = time.time() - deadline
        body = {"reason": "late"} if action == "reject" else {"output": {"late": True}}
        with approval_api.client() as http:
            response = http.post(f"/tasks/{order}/{action}", json=body)
        answers[order] = (response.status_code, response.json())

    threads = [threading.Thread(target=decide, args=(order, arn, after, "approve" if i % 3 else "reject"))
               for i, ((order, arn), after) in enumerate(zip(runs, AFTER_DEADLINE_MS))]
    [t.start() for t in threads]
    [t.join(timeout=60) for t in threads]

    wrong = []
    for (order, arn), after in zip(runs, AFTER_DEADLINE_MS):
        status, doc = answers[order]
        done = approval_stack.wait_done(arn, timeout=20)
        workflow = json.loads(done["output"])["status"]
        history = approval_stack.callbacks_in_history(arn)
        item = approval_stack.item(order)["status"]["S"]
        task = doc.get("task") or {}
        if (status, task.get("status"), workflow, history, item) != (410, "TIMED_OUT", "TIMED_OUT", ["TaskTimedOut"],
                                                                     "TIMED_OUT"):
            wrong.append(f"{order} +{after} ms: HTTP {status} {task.get('status')}, workflow {workflow}, "
                         f"history {history}, item {item}")
    assert not wrong, f"{len(wrong)} of {len(runs)} late decisions were not refused:\n" + "\n".join(wrong)
    # It raced: most decisions were sent just after the deadline (aimed at 2-100 ms; a loaded machine wakes the
    # sending threads late), not seconds later behind a slow consumer.
    assert sum(1 for s in sent.values() if 0 < s <= 0.25) >= len(runs) // 2, sorted(sent.values())
    with approval_api.client() as http:
        for order, _ in warm:
            assert http.post(f"/tasks/{order}/approve", json={}).status_code == 200
