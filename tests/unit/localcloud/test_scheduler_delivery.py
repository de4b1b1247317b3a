"""Scheduler delivery rules: flexible windows, retry policies, dead-letter attributes, and the runner applying
them to schedules stored in moto (in-process), on a clock the test controls."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from sfn_callback.localcloud.scheduler_runner import (
    Delivery,
    ScheduleRunner,
    dead_letter_attributes,
    flexible_offset,
    retry_plan,
)

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def wall_clock_now() -> datetime:
    """The runner anchors rate() schedules at their creation, which moto stamps with the wall clock: a simulated
    clock for schedules starts at the moment the test creates them."""
    return datetime.now(UTC).replace(microsecond=0)


def test_flexible_offset_stays_within_the_window_and_spreads():
    rng = random.Random(7)
    window = {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 5}
    offsets = [flexible_offset(window, rng) for _ in range(500)]
    assert all(0 <= o <= 300 for o in offsets)
    assert min(offsets) < 30 and max(offsets) > 270, "spread over the whole window"
    assert flexible_offset({"Mode": "OFF"}, rng) == 0 and flexible_offset(None, rng) == 0


def test_retry_plan_backs_off_and_stops_at_the_policy():
    rng = random.Random(1)
    target = {"RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}}
    delays = [retry_plan(target, attempts, T0, T0, 1.0, rng)[0] for attempts in (1, 2, 3)]
    assert 0.8 <= delays[0] <= 1.2 and 1.6 <= delays[1] <= 2.4 and 3.2 <= delays[2] <= 4.8
    assert retry_plan(target, 4, T0, T0, 1.0, rng) == (None, "MaximumRetryAttempts")
    assert retry_plan({"RetryPolicy": {"MaximumRetryAttempts": 0}}, 1, T0, T0, 1.0, rng) == (None, "MaximumRetryAttempts")
    aged = {"RetryPolicy": {"MaximumRetryAttempts": 100, "MaximumEventAgeInSeconds": 60}}
    assert retry_plan(aged, 1, T0, T0 + timedelta(seconds=59.5), 1.0, rng) == (None, "MaximumEventAgeInSeconds")
    delay, _ = retry_plan({}, 50, T0, T0, 1.0, rng)  # defaults: 185 retries, 24 h; the delay is capped
    assert delay is not None and delay <= 72


def test_dead_letter_attributes_name_the_schedule_target_and_why():
    delivery = Delivery("000000000000", "us-east-1", "arn:aws:scheduler:us-east-1:000000000000:schedule/default/s",
                        "default/s", {"Arn": "arn:aws:sqs:us-east-1:000000000000:q"}, "{}", T0, attempts=3)
    attributes = dead_letter_attributes(delivery, RuntimeError("boom"), "MaximumRetryAttempts")
    assert attributes == {
        "ERROR_CODE": "RuntimeError", "ERROR_MESSAGE": "boom", "EXECUTION_ID": delivery.execution_id,
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts", "IS_PAYLOAD_TRUNCATED": "false", "RETRY_ATTEMPTS": "2",
        "SCHEDULED_TIME": "2026-12-01T12:00:00Z",
        "SCHEDULE_ARN": "arn:aws:scheduler:us-east-1:000000000000:schedule/default/s",
        "TARGET_ARN": "arn:aws:sqs:us-east-1:000000000000:q"}


@pytest.fixture
def scheduler():
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("scheduler", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")


def _create(scheduler, name, window, start, target_extra=None, expression="rate(1 minute)"):
    scheduler.create_schedule(Name=name, ScheduleExpression=expression, FlexibleTimeWindow=window,
                              StartDate=start - timedelta(minutes=1),
                              Target={"Arn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                                      "RoleArn": "arn:aws:iam::123456789012:role/r", "Input": json.dumps({"s": name}),
                                      **(target_extra or {})})


def test_runner_spreads_flexible_deliveries_within_the_window_and_keeps_off_on_time(scheduler):
    fired: list[tuple[str, datetime]] = []
    start = wall_clock_now()
    now = [start]
    runner = ScheduleRunner(lambda a, r, target, payload: fired.append((json.loads(payload)["s"], now[0])),
                            rng=random.Random(3))
    _create(scheduler, "flex", {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}, start)
    _create(scheduler, "exact", {"Mode": "OFF"}, start)
    step = timedelta(seconds=1)
    while now[0] < start + timedelta(minutes=30):
        runner.tick(now[0])
        now[0] += step
    exact = [t for name, t in fired if name == "exact"]
    flex = [t for name, t in fired if name == "flex"]
    assert exact and all(t.second == exact[0].second for t in exact), "OFF: every minute, on time"
    scheduled = sorted({t.replace(second=exact[0].second) for t in exact})
    offsets = [(t - max(s for s in scheduled if s <= t)).total_seconds() for t in flex]
    assert len(flex) >= len(exact) - 10, "flexible deliveries still happen, within ten minutes of their time"
    assert len({round(o) for o in offsets}) > 5, f"spread, not on the minute: {offsets}"
    assert runner.stats["pending_deliveries"] > 0, "deliveries wait in the window"


def test_runner_retries_then_dead_letters_with_the_target_policy(scheduler):
    dead: list[tuple[str, str, dict[str, str]]] = []
    attempts: list[datetime] = []
    start = wall_clock_now()
    now = [start]

    def fire(account, region, target, payload):
        attempts.append(now[0])
        raise RuntimeError("target unavailable")

    runner = ScheduleRunner(fire, dead_letter=lambda region, arn, body, attrs: dead.append((arn, body, attrs)),
                            retry_delay=2.0, rng=random.Random(5))
    scheduler.create_schedule(Name="once", ScheduleExpression=f"at({(start + timedelta(seconds=5)):%Y-%m-%dT%H:%M:%S})", FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": "arn:aws:sqs:us-east-1:123456789012:gone", "RoleArn": "arn:aws:iam::123456789012:role/r",
                                      "Input": '{"x": 1}', "RetryPolicy": {"MaximumRetryAttempts": 3},
                                      "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:123456789012:dlq"}})
    while now[0] < start + timedelta(minutes=2):
        runner.tick(now[0])
        now[0] += timedelta(seconds=0.5)
    assert len(attempts) == 4, "the first attempt and three retries"
    gaps = [(b - a).total_seconds() for a, b in zip(attempts, attempts[1:])]
    assert gaps[0] < gaps[1] < gaps[2], f"exponential backoff: {gaps}"
    assert len(dead) == 1 and dead[0][0] == "arn:aws:sqs:us-east-1:123456789012:dlq" and dead[0][1] == '{"x": 1}'
    assert dead[0][2]["RETRY_ATTEMPTS"] == "3" and dead[0][2]["ERROR_MESSAGE"] == "target unavailable"
    assert runner.stats["failed_deliveries"] == 1 and runner.stats["dead_lettered"] == 1 and runner.stats["retries"] == 3
