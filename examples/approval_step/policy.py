"""Your code decides the waiting approvals of ``poc-approval-workflow``: orders up to a limit are approved, the
rest rejected with a reason. Run it as ``python -m examples.approval_step.policy [--endpoint URL] [--limit N]``
(once; a scheduler or a loop can run it again).

It goes through the approval service (``sfn_callback.approval``), so its guarantees hold: one decision per task
(a claim with a conditional write), the callback sent once through the callback core and redelivered if Step
Functions could not be reached, an audit entry naming the decider.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import Any

from sfn_callback.approval.bootstrap import bootstrap
from sfn_callback.approval.domain.model import Action, Status
from sfn_callback.config import Target

ACTOR = "order-policy"


def decide_pending(target: Target | None, limit: float = 100.0,
                   orders: Collection[str] | None = None) -> dict[str, str]:
    """Decide every PENDING task (only those of ``orders`` when given); ``{orderId: outcome}``."""
    service = bootstrap(target)
    decided: dict[str, str] = {}
    cursor: str | None = None
    while True:
        tasks, cursor = service.list(Status.PENDING, 50, cursor)
        for task in tasks:
            if orders is not None and task.order_id not in orders:
                continue
            amount = _amount(task.details)
            if amount is not None and amount <= limit:
                result = service.decide(task.order_id, Action.APPROVE, ACTOR, output={"amount": amount})
            else:
                result = service.decide(task.order_id, Action.REJECT, ACTOR,
                                        reason=f"amount {amount} is over the limit {limit}")
            decided[task.order_id] = result.outcome.value
        if cursor is None:
            return decided


def _amount(details: Any) -> float | None:
    value = details.get("amount") if isinstance(details, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566", help="a local cloud, or 'aws'")
    parser.add_argument("--limit", type=float, default=100.0)
    args = parser.parse_args()
    print(decide_pending(Target(endpoint_url=None if args.endpoint == "aws" else args.endpoint), args.limit))
