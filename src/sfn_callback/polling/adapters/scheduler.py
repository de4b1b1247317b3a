"""EventBridge Scheduler adapter: one ``poll-<jobId>`` schedule per job, deleted idempotently.

The schedule's input is ``{"jobId", "scheduledTime": "<aws.scheduler.scheduled-time>"}``: each delivery names
the slot it polls (``sfn_callback.polling.domain.lifecycle``, "Slots").
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from sfn_callback.polling.domain.events import SCHEDULED_TIME_PLACEHOLDER


class IntervalNotSupported(ValueError):
    """A polling interval the target's Scheduler cannot express."""


def rate_expression(interval_seconds: int, allow_seconds: bool) -> str:
    """``rate(N minutes)`` for whole minutes; ``rate(N seconds)`` only on a local target."""
    if interval_seconds <= 0:
        raise IntervalNotSupported(f"the polling interval must be positive, got {interval_seconds}")
    if interval_seconds % 60 == 0:
        minutes = interval_seconds // 60
        return f"rate({minutes} minute{'s' if minutes != 1 else ''})"
    if not allow_seconds:
        raise IntervalNotSupported(
            f"an interval of {interval_seconds} s is not possible on AWS: EventBridge Scheduler rate() takes "
            "whole minutes (at least 1)"
        )
    return f"rate({interval_seconds} second{'s' if interval_seconds != 1 else ''})"


class SchedulerAdapter:
    def __init__(self, client: Any, *, group: str, target_arn: str, role_arn: str, allow_seconds: bool):
        self._scheduler = client
        self._group = group
        self._target_arn = target_arn
        self._role_arn = role_arn
        self._allow_seconds = allow_seconds

    def create(self, schedule_name: str, job_id: str, interval_seconds: int) -> None:
        self._scheduler.create_schedule(
            Name=schedule_name,
            GroupName=self._group,
            ScheduleExpression=rate_expression(interval_seconds, self._allow_seconds),
            FlexibleTimeWindow={"Mode": "OFF"},
            # Scheduler replaces the placeholder with each invocation's time: the poll's slot.
            Target={"Arn": self._target_arn, "RoleArn": self._role_arn,
                    "Input": json.dumps({"jobId": job_id, "scheduledTime": SCHEDULED_TIME_PLACEHOLDER})},
            State="ENABLED",
            Description=f"Polling schedule for job {job_id}",
        )

    def delete(self, schedule_name: str) -> None:
        try:
            self._scheduler.delete_schedule(Name=schedule_name, GroupName=self._group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise

    def exists(self, schedule_name: str) -> bool:
        try:
            self._scheduler.get_schedule(Name=schedule_name, GroupName=self._group)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise
