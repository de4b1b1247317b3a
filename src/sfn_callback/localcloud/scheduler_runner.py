"""Fires EventBridge Scheduler schedules stored in moto, which stores them but never fires them.

A background thread looks at every schedule of every account and region on each tick, so created,
updated and deleted schedules take effect without a restart. Targets: Lambda (invoked asynchronously,
as Scheduler does), SQS (SendMessage) and Step Functions (StartExecution), each with the target's
``Input``. ``at()`` schedules fire once and delete themselves when ``ActionAfterCompletion`` is DELETE.
Context attributes in the input (``<aws.scheduler.scheduled-time>``...) are replaced, as Scheduler does.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from sfn_callback.localcloud.schedules import ScheduleExpression, ScheduleExpressionError, parse, to_datetime
from sfn_callback.localcloud.schedules import with_context_attributes

log = logging.getLogger("sfn_callback.localcloud.scheduler")


@dataclass
class _Tracked:
    signature: tuple[Any, ...]
    expression: ScheduleExpression | None
    anchor: datetime
    next_fire: datetime | None


class ScheduleRunner:
    """Ticks every ``tick`` seconds; ``fire`` delivers one target (set by the local cloud)."""

    def __init__(self, fire: Callable[[str, str, dict[str, Any], str], None], tick: float = 0.1,
                 duplicate_rate: float = 0.0) -> None:
        self._fire = fire
        self._tick = tick
        self._duplicate_rate = duplicate_rate  # at-least-once delivery, to exercise idempotency
        self._tracked: dict[str, _Tracked] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="schedule-runner", daemon=True)
        self.stats = {"fired": 0, "errors": 0, "duplicates": 0}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.tick(datetime.now(timezone.utc))
            except Exception:  # the runner must survive anything a schedule holds
                log.exception("schedule runner tick failed")

    def tick(self, now: datetime) -> None:
        from moto.scheduler.models import scheduler_backends

        seen: set[str] = set()
        for account_id, regions in list(scheduler_backends.items()):
            for region, backend in list(regions.items()):
                for group in list(backend.schedule_groups.values()):
                    for schedule in list(group.schedules.values()):
                        seen.add(schedule.arn)
                        self._consider(account_id, region, backend, group, schedule, now)
        for arn in set(self._tracked) - seen:
            del self._tracked[arn]

    def _consider(self, account_id: str, region: str, backend: Any, group: Any, schedule: Any,
                  now: datetime) -> None:
        signature = (schedule.schedule_expression, schedule.schedule_expression_timezone, schedule.start_date,
                     schedule.end_date, schedule.last_modified_date)
        tracked = self._tracked.get(schedule.arn)
        if tracked is None or tracked.signature != signature:
            tracked = self._track(schedule, signature, now)
            self._tracked[schedule.arn] = tracked
        if tracked.next_fire is None or tracked.next_fire > now:
            return
        due = tracked.next_fire
        assert tracked.expression is not None
        tracked.next_fire = tracked.expression.next_after(max(due, now), tracked.anchor)
        end = to_datetime(schedule.end_date)
        if end is not None and due > end:
            tracked.next_fire = None
            return
        if schedule.state != "ENABLED":
            return
        target = dict(schedule.target)
        payload = with_context_attributes(target.get("Input") or "{}", schedule_arn=schedule.arn, scheduled_time=due,
                                          execution_id=uuid.uuid4().hex[:16])
        copies = 2 if self._duplicate_rate and random.random() < self._duplicate_rate else 1
        for _ in range(copies):
            try:
                self._fire(account_id, region, target, payload)
                self.stats["fired"] += 1
            except Exception as exc:
                self.stats["errors"] += 1
                log.error("schedule %s/%s: target %s failed: %s", group.name, schedule.name,
                          target.get("Arn"), exc)
        self.stats["duplicates"] += copies - 1
        if tracked.expression.kind == "at" and schedule.action_after_completion == "DELETE":
            try:
                backend.delete_schedule(group.name, schedule.name)
            except Exception:  # already deleted by someone else
                pass

    def _track(self, schedule: Any, signature: tuple[Any, ...], now: datetime) -> _Tracked:
        try:
            expression = parse(schedule.schedule_expression, schedule.schedule_expression_timezone,
                               allow_seconds=True)
        except ScheduleExpressionError as exc:
            log.error("schedule %s cannot fire: %s", schedule.name, exc)
            return _Tracked(signature, None, now, None)
        start = to_datetime(schedule.start_date)
        if expression.kind == "rate":
            created = to_datetime(schedule.last_modified_date) or now
            anchor = max(start, created) if start else created
            # A rate schedule's first invocation comes one interval after it starts.
            assert expression.interval is not None
            anchor = anchor + expression.interval if not start or start <= created else anchor
            next_fire = anchor if anchor > now else expression.next_after(now, anchor)
        else:
            anchor = now
            next_fire = expression.next_after(max(now, start) if start else now, anchor)
            if expression.kind == "at" and next_fire is None:
                # at() in the past: Scheduler fires it right away once.
                next_fire = now
        return _Tracked(signature, expression, anchor, next_fire)


def target_kind(arn: str) -> str:
    """``lambda``, ``sqs``, ``states`` or the service named in the ARN."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise ScheduleExpressionError(f"Invalid target ARN: {arn}")
    return parts[2]


def new_execution_name() -> str:
    return f"scheduler-{uuid.uuid4()}"


def input_text(payload: str) -> str:
    """Scheduler passes the Input verbatim; an empty input is an empty JSON object."""
    if not payload:
        return "{}"
    try:
        json.loads(payload)
    except json.JSONDecodeError:
        return json.dumps(payload)
    return payload
