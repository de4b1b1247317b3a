"""Fires EventBridge Scheduler schedules stored in moto, which stores them but never fires them.

A background thread looks at every schedule of every account and region on each tick, so created,
updated and deleted schedules take effect without a restart. Targets: Lambda (invoked asynchronously,
as Scheduler does), SQS (SendMessage) and Step Functions (StartExecution), each with the target's
``Input``. ``at()`` schedules fire once and delete themselves when ``ActionAfterCompletion`` is DELETE.
Context attributes in the input (``<aws.scheduler.scheduled-time>``...) are replaced, as Scheduler does.

Deliveries behave as Scheduler's:

* ``FlexibleTimeWindow`` ``FLEXIBLE`` with ``MaximumWindowInMinutes`` N: each invocation is delivered at a
  random moment within N minutes after its scheduled time (``OFF``: on time);
* a delivery that fails (the target does not exist, the queue refuses the message...) is retried with
  exponential backoff (from ``SFN_CALLBACK_SCHEDULER_RETRY_SECONDS``, 1 s by default, doubling, at most 60 s)
  until the target's ``RetryPolicy`` runs out: ``MaximumRetryAttempts`` (default 185) or
  ``MaximumEventAgeInSeconds`` (default 86400) since the scheduled time;
* an event that cannot be delivered goes to the target's ``DeadLetterConfig`` queue, its body the target's
  input, with the message attributes Scheduler sets (``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXECUTION_ID``,
  ``EXHAUSTED_RETRY_CONDITION``, ``IS_PAYLOAD_TRUNCATED``, ``RETRY_ATTEMPTS``, ``SCHEDULED_TIME``,
  ``SCHEDULE_ARN``, ``TARGET_ARN``); without one it is dropped. Both are counted (``failed_deliveries``).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sfn_callback.localcloud import faults
from sfn_callback.localcloud.schedules import (
    ScheduleExpression,
    ScheduleExpressionError,
    parse,
    to_datetime,
    with_context_attributes,
)

log = logging.getLogger("sfn_callback.localcloud.scheduler")


@dataclass
class _Tracked:
    signature: tuple[Any, ...]
    expression: ScheduleExpression | None
    anchor: datetime
    next_fire: datetime | None


DEFAULT_MAX_RETRIES = 185
DEFAULT_MAX_EVENT_AGE = 86400
MAX_RETRY_DELAY = 60.0


@dataclass
class Delivery:
    """One invocation of a schedule's target, until it is delivered, dead-lettered or dropped."""

    account_id: str
    region: str
    schedule_arn: str
    schedule_name: str
    target: dict[str, Any]
    payload: str
    scheduled_time: datetime
    attempts: int = 0  # failed attempts so far
    execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def flexible_offset(window: dict[str, Any] | None, rng: random.Random) -> float:
    """Seconds after the scheduled time at which to deliver: within the flexible window, 0 when it is OFF."""
    if not window or window.get("Mode") != "FLEXIBLE":
        return 0.0
    minutes = float(window.get("MaximumWindowInMinutes") or 0)
    return rng.uniform(0.0, minutes * 60.0) if minutes > 0 else 0.0


def retry_plan(target: dict[str, Any], attempts: int, scheduled_time: datetime, now: datetime,
               base_delay: float, rng: random.Random) -> tuple[float | None, str | None]:
    """After ``attempts`` failed attempts: (seconds until the next attempt, None) or (None, the condition that
    ran out: ``MaximumRetryAttempts`` or ``MaximumEventAgeInSeconds``)."""
    policy = target.get("RetryPolicy") or {}
    max_retries = int(policy.get("MaximumRetryAttempts", DEFAULT_MAX_RETRIES))
    max_age = float(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE))
    if attempts - 1 >= max_retries:
        return None, "MaximumRetryAttempts"
    delay = min(MAX_RETRY_DELAY, base_delay * (2 ** (attempts - 1))) * rng.uniform(0.8, 1.2)
    if (now + timedelta(seconds=delay) - scheduled_time).total_seconds() > max_age:
        return None, "MaximumEventAgeInSeconds"
    return delay, None


def dead_letter_attributes(delivery: Delivery, error: Exception, condition: str) -> dict[str, str]:
    code = getattr(error, "response", {}).get("Error", {}).get("Code") if hasattr(error, "response") else None
    return {
        "ERROR_CODE": code or type(error).__name__,
        "ERROR_MESSAGE": str(error)[:1000],
        "EXECUTION_ID": delivery.execution_id,
        "EXHAUSTED_RETRY_CONDITION": condition,
        "IS_PAYLOAD_TRUNCATED": "false",
        "RETRY_ATTEMPTS": str(max(0, delivery.attempts - 1)),
        "SCHEDULED_TIME": delivery.scheduled_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "SCHEDULE_ARN": delivery.schedule_arn,
        "TARGET_ARN": str(delivery.target.get("Arn", "")),
    }


class ScheduleRunner:
    """Ticks every ``tick`` seconds; ``fire`` delivers one target (set by the local cloud), ``dead_letter``
    sends an undeliverable event to its queue: ``dead_letter(region, queue_arn, body, attributes)``."""

    def __init__(self, fire: Callable[[str, str, dict[str, Any], str], None], tick: float = 0.1,
                 duplicate_rate: float = 0.0,
                 dead_letter: Callable[[str, str, str, dict[str, str]], None] | None = None,
                 retry_delay: float | None = None, rng: random.Random | None = None) -> None:
        self._fire = fire
        self._dead_letter = dead_letter
        self._tick = tick
        self._duplicate_rate = duplicate_rate  # at-least-once delivery, to exercise idempotency
        self._retry_delay = retry_delay if retry_delay is not None else float(
            os.environ.get("SFN_CALLBACK_SCHEDULER_RETRY_SECONDS", "1.0"))
        self._rng = rng or random.Random()
        self._tracked: dict[str, _Tracked] = {}
        self._pending: list[tuple[datetime, int, Delivery]] = []  # deliveries waiting for their moment
        self._sequence = itertools.count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="schedule-runner", daemon=True)
        # errors: failed attempts; failed_deliveries: events given up (dead-lettered or dropped)
        self.stats = {"fired": 0, "errors": 0, "duplicates": 0, "retries": 0, "failed_deliveries": 0,
                      "dead_lettered": 0, "dead_letter_errors": 0, "pending_deliveries": 0}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.tick(datetime.now(UTC))
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
        while self._pending and self._pending[0][0] <= now:
            _, _, delivery = heapq.heappop(self._pending)
            self._attempt(delivery, now)
        self.stats["pending_deliveries"] = len(self._pending)

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
        execution_id = str(uuid.uuid4())  # one event: its duplicates and retries keep it, as Scheduler's do
        payload = with_context_attributes(target.get("Input") or "{}", schedule_arn=schedule.arn, scheduled_time=due,
                                          execution_id=execution_id)
        copies = 2 if self._duplicate_rate and random.random() < self._duplicate_rate else 1
        if faults.duplicate_delivery(f"{group.name}/{schedule.name}", payload):  # an armed duplicate fault
            copies += 1
        for _ in range(copies):
            delivery = Delivery(account_id, region, schedule.arn, f"{group.name}/{schedule.name}", target, payload,
                                due, execution_id=execution_id)
            offset = flexible_offset(getattr(schedule, "flexible_time_window", None), self._rng)
            if offset > 0:
                self._defer(delivery, now + timedelta(seconds=offset))
            else:
                self._attempt(delivery, now)
        self.stats["duplicates"] += copies - 1
        if tracked.expression.kind == "at" and schedule.action_after_completion == "DELETE":
            try:
                backend.delete_schedule(group.name, schedule.name)
            except Exception:  # already deleted by someone else
                pass

    def _defer(self, delivery: Delivery, when: datetime) -> None:
        heapq.heappush(self._pending, (when, next(self._sequence), delivery))
        self.stats["pending_deliveries"] = len(self._pending)

    def _attempt(self, delivery: Delivery, now: datetime) -> None:
        try:
            self._fire(delivery.account_id, delivery.region, delivery.target, delivery.payload)
            self.stats["fired"] += 1
            return
        except Exception as exc:
            error = exc
        delivery.attempts += 1
        self.stats["errors"] += 1
        delay, exhausted = retry_plan(delivery.target, delivery.attempts, delivery.scheduled_time, now,
                                      self._retry_delay, self._rng)
        if delay is not None:
            self.stats["retries"] += 1
            log.warning("schedule %s: target %s failed (attempt %d), retrying in %.1f s: %s", delivery.schedule_name,
                        delivery.target.get("Arn"), delivery.attempts, delay, error)
            self._defer(delivery, now + timedelta(seconds=delay))
            return
        self.stats["failed_deliveries"] += 1
        queue_arn = (delivery.target.get("DeadLetterConfig") or {}).get("Arn")
        log.error("schedule %s: target %s failed: %s; giving up after %d attempt(s) (%s)%s", delivery.schedule_name,
                  delivery.target.get("Arn"), error, delivery.attempts, exhausted,
                  f", the event goes to the dead-letter queue {queue_arn}" if queue_arn else ", the event is dropped")
        if not queue_arn or self._dead_letter is None:
            return
        try:
            self._dead_letter(delivery.region, queue_arn, delivery.payload,
                              dead_letter_attributes(delivery, error, exhausted or "MaximumRetryAttempts"))
            self.stats["dead_lettered"] += 1
        except Exception as dlq_error:
            self.stats["dead_letter_errors"] += 1
            log.error("schedule %s: could not send the undeliverable event to %s: %s", delivery.schedule_name,
                      queue_arn, dlq_error)

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
