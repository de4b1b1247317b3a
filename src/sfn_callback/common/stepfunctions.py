"""Reading Step Functions: one execution's whole history, every page of it."""

from __future__ import annotations

from typing import Any


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of ``execution_arn``'s history, oldest first (``GetExecutionHistory`` page by page)."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]
