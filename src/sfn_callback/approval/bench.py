"""``bench approval``: decisions through the HTTP API, end to end on a target (the local cloud by default).

1. The SQS variant is deployed (``deploy_component``) and the API started on a free loopback port with a fresh key.
2. ``tasks`` executions of ``poc-approval-workflow`` start; the benchmark waits until each is a PENDING task.
3. For every task an approve and a reject race (two concurrent HTTP requests); exactly one must win (200)
   and the other must answer 409.
4. Every execution must end in the state of the winning decision, with exactly one callback in its history.

Printed: winning decisions per second through the API (and requests per second), HTTP latency p50/p99 of a
decision, decision → execution resumed latency p50/p99 (the claim's ``decidedAt`` to the first state entered
after the callback, from the execution history), and the lost / double decisions (both must be 0).
"""

from __future__ import annotations

import json
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx

from sfn_callback import config
from sfn_callback.approval.bootstrap import bootstrap
from sfn_callback.approval.entrypoints.auth import KeyRing
from sfn_callback.approval.entrypoints.rest_app import create_app
from sfn_callback.approval.entrypoints.server import ServerThread
from sfn_callback.approval.stack import deploy_component
from sfn_callback.common.aws import client
from sfn_callback.common.clock import parse_iso
from sfn_callback.config import Target


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def run(target: Target, tasks: int = 200, concurrency: int = 8, progress: Callable[[str], None] = lambda _: None,
        timeout: float = 180.0) -> dict[str, Any]:
    if tasks < 1:
        raise ValueError("--tasks must be at least 1")
    progress("applying the SQS variant's resources")
    ctx = deploy_component(target)
    machine = ctx.state_machine_arn(config.APPROVAL_WORKFLOW)
    sfn = client("stepfunctions", target)
    ddb = client("dynamodb", target)
    run_id = uuid.uuid4().hex[:8]
    orders = [f"bench-{run_id}-{i:05d}" for i in range(tasks)]
    key = secrets.token_urlsafe(24)
    app = create_app(bootstrap(target), KeyRing.from_mapping({"bench": key}), table_name=config.APPROVALS_TABLE)
    deadline = time.monotonic() + timeout

    with ServerThread(app) as server, ThreadPoolExecutor(max_workers=concurrency) as pool, \
            httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30,
                         limits=httpx.Limits(max_connections=concurrency * 2)) as http:
        progress(f"API on {server.url}; starting {tasks} executions")
        started = time.monotonic()
        arns = list(pool.map(lambda order: sfn.start_execution(
            stateMachineArn=machine, name=order,
            input=json.dumps({"orderId": order, "timeoutSeconds": 3600, "details": {"bench": run_id}}))["executionArn"],
            orders))
        start_rate = tasks / (time.monotonic() - started)
        progress(f"started ({start_rate:.1f}/s); waiting for {tasks} PENDING tasks")
        _wait_pending(ddb, orders, deadline)

        def race(order: str) -> list[tuple[str, int, float]]:
            def call(action: str) -> tuple[str, int, float]:
                body = {"output": {"order": order}} if action == "approve" else {"reason": f"bench {order}"}
                t0 = time.perf_counter()
                response = http.post(f"/tasks/{order}/{action}", json=body)
                return action, response.status_code, time.perf_counter() - t0
            with ThreadPoolExecutor(max_workers=2) as pair:
                return list(pair.map(call, ("approve", "reject")))

        progress(f"deciding: approve and reject race on each task ({concurrency} tasks at a time)")
        t0 = time.perf_counter()
        answers = list(pool.map(race, orders))
        decide_seconds = time.perf_counter() - t0

    winners: dict[str, str] = {}
    anomalies: list[dict[str, Any]] = []
    double = lost = unexpected = 0
    http_latencies = []
    for order, pair in zip(orders, answers):
        won = [action for action, status, _ in pair if status in (200, 202)]
        http_latencies += [seconds for _, _, seconds in pair]
        if len(won) > 1:
            double += 1
        elif not won:
            lost += 1
        else:
            winners[order] = won[0]
        odd = sum(1 for _, status, _ in pair if status not in (200, 202, 409))
        unexpected += odd
        if len(won) != 1 or odd:
            anomalies.append({"orderId": order, "answers": {a: s for a, s, _ in pair}})

    progress("checking every execution and its history")
    resumed = []
    for order, arn in zip(orders, arns):
        description = _wait_done(sfn, arn, deadline)
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        callbacks = [e for e in events if e["type"] in ("TaskSucceeded", "TaskFailed")]
        if len(callbacks) > 1:
            double += 1
            anomalies.append({"orderId": order, "callbacks": [e["type"] for e in callbacks]})
            continue
        expected = {"approve": "APPROVED", "reject": "REJECTED"}.get(winners.get(order, ""))
        output = json.loads(description.get("output") or "{}")
        if expected is None or description["status"] != "SUCCEEDED" or output.get("status") != expected:
            lost += 1
            anomalies.append({"orderId": order, "execution": description["status"], "output": output.get("status"),
                              "expected": expected})
            continue
        item = ddb.get_item(TableName=config.APPROVALS_TABLE, Key={"orderId": {"S": order}}, ConsistentRead=True)["Item"]
        if item["status"]["S"] != expected or item.get("callbackState", {}).get("S") != "SENT":
            lost += 1
            anomalies.append({"orderId": order, "item": item["status"]["S"],
                              "callbackState": item.get("callbackState", {}).get("S"), "expected": expected})
            continue
        decided_at = parse_iso(item["decision"]["M"]["at"]["S"])
        after = [e for e in events if e["id"] > callbacks[0]["id"] and e["type"].endswith("StateEntered")]
        if after:
            resumed_at: datetime = after[0]["timestamp"]
            resumed.append((resumed_at - decided_at).total_seconds())

    result = {
        "tasks": tasks,
        "concurrency": concurrency,
        "executionsStartedPerSecond": round(start_rate, 1),
        "decisionsPerSecond": round(len(winners) / decide_seconds, 1) if decide_seconds else None,
        "requestsPerSecond": round(2 * tasks / decide_seconds, 1) if decide_seconds else None,
        "httpDecisionLatencyMs": {"p50": _ms(percentile(http_latencies, 50)), "p99": _ms(percentile(http_latencies, 99))},
        "decisionToResumedMs": {"p50": _ms(percentile(resumed, 50)), "p99": _ms(percentile(resumed, 99)),
                                "mean": _ms(statistics.fmean(resumed)) if resumed else None, "samples": len(resumed)},
        "approved": sum(1 for w in winners.values() if w == "approve"),
        "rejected": sum(1 for w in winners.values() if w == "reject"),
        "lostDecisions": lost,
        "doubleDecisions": double,
        "unexpectedStatuses": unexpected,
        "endpoint": target.endpoint_url or "aws",
        "anomalies": anomalies[:20],
    }
    result["ok"] = lost == 0 and double == 0 and unexpected == 0
    return result


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _wait_pending(ddb: Any, orders: list[str], deadline: float) -> None:
    waiting = set(orders)
    while waiting:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(waiting)} tasks never became PENDING (is the consumer mapping running?)")
        batch = sorted(waiting)[:100]
        found = ddb.batch_get_item(RequestItems={config.APPROVALS_TABLE: {
            "Keys": [{"orderId": {"S": o}} for o in batch], "ConsistentRead": True,
            "ProjectionExpression": "orderId"}})["Responses"].get(config.APPROVALS_TABLE, [])
        waiting -= {item["orderId"]["S"] for item in found}
        if waiting and len(found) < len(batch):
            time.sleep(0.2)


def _wait_done(sfn: Any, arn: str, deadline: float) -> dict[str, Any]:
    while True:
        description = sfn.describe_execution(executionArn=arn)
        if description["status"] != "RUNNING" or time.monotonic() > deadline:
            return description
        time.sleep(0.05)


def render(result: dict[str, Any]) -> str:
    lines = [
        f"approval benchmark: {result['tasks']} tasks, {result['concurrency']} at a time ({result['endpoint']})",
        f"  decisions/s through the API  {result['decisionsPerSecond']}  (requests/s {result['requestsPerSecond']}, "
        f"each task got an approve and a reject at once)",
        f"  HTTP decision latency        p50 {result['httpDecisionLatencyMs']['p50']} ms  p99 {result['httpDecisionLatencyMs']['p99']} ms",
        f"  decision -> resumed latency  p50 {result['decisionToResumedMs']['p50']} ms  p99 {result['decisionToResumedMs']['p99']} ms",
        f"  approved {result['approved']}  rejected {result['rejected']}",
        f"  lost decisions {result['lostDecisions']}  double decisions {result['doubleDecisions']}  "
        f"unexpected statuses {result['unexpectedStatuses']}  -> {'OK' if result['ok'] else 'FAILED'}",
    ]
    return "\n".join(lines)
