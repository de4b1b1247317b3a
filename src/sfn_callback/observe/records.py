"""Reading what a target recorded: execution histories, the PoC's token records, latency figures.

Shared by the cost measurement, the scale benchmark and the report (none of them imports another for it).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from sfn_callback import config
from sfn_callback.common.stepfunctions import execution_history

__all__ = ["execution_history", "latency_summary", "token_records"]


def token_records(ddb: Any, run_id: str) -> dict[str, dict[str, Any]]:
    """Token records of a run's executions, by execution ARN (one scan; the run id is in the ARN)."""
    found: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {
        "TableName": config.TOKENS_TABLE,
        "FilterExpression": "contains(executionId, :run)",
        "ExpressionAttributeValues": {":run": {"S": run_id}},
    }
    while True:
        page = ddb.scan(**kwargs)
        for item in page.get("Items", []):
            found[item["executionId"]["S"]] = item
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def latency_summary(values: list[float]) -> dict[str, float | int | None]:
    """Count, p50, p99, max and mean of ``values`` (None figures when there are none)."""
    if not values:
        return {"count": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {"count": len(ordered), "p50": pct(0.5), "p99": pct(0.99), "max": ordered[-1],
            "mean": statistics.fmean(ordered)}
