"""Schedule expressions: parsing and stepping (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sfn_callback.localcloud.schedules import ScheduleExpressionError, parse, to_datetime

UTC = UTC


def test_rate_steps_from_its_anchor():
    expr = parse("rate(5 minutes)")
    anchor = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert expr.next_after(anchor - timedelta(seconds=1), anchor) == anchor
    assert expr.next_after(anchor, anchor) == anchor + timedelta(minutes=5)
    assert expr.next_after(anchor + timedelta(minutes=7), anchor) == anchor + timedelta(minutes=10)


def test_seconds_only_when_allowed():
    with pytest.raises(ScheduleExpressionError):
        parse("rate(10 seconds)")
    assert parse("rate(1 second)", allow_seconds=True).interval == timedelta(seconds=1)


def test_at_in_a_time_zone_fires_once():
    expr = parse("at(2026-06-01T09:30:00)", "Europe/Lisbon")
    assert expr.at == datetime(2026, 6, 1, 8, 30, tzinfo=UTC)  # Lisbon is UTC+1 in summer
    before = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    assert expr.next_after(before, before) == expr.at
    assert expr.next_after(expr.at, before) is None


def test_cron_uses_aws_day_of_week_numbering():
    # AWS: 2 = Monday. 2026-11-23 is a Monday.
    expr = parse("cron(0 10 ? * 2 *)")
    after = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # a Saturday
    assert expr.next_after(after, after) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_cron_year_field_limits_fires():
    expr = parse("cron(0 0 1 1 ? 2030)")
    after = datetime(2026, 1, 1, tzinfo=UTC)
    assert expr.next_after(after, after) == datetime(2030, 1, 1, tzinfo=UTC)
    assert parse("cron(0 0 1 1 ? 2020)").next_after(after, after) is None


@pytest.mark.parametrize("text", ["", "rate()", "rate(-1 minutes)", "rate(0 minutes)", "rate(1 week)",
                                  "cron(0 0 * * *)", "cron(0 0 1 * 2 *)", "cron(99 0 ? * * *)",
                                  "at(2026-02-30T00:00:00)", "at(tomorrow)"])
def test_invalid_expressions_say_why(text):
    with pytest.raises(ScheduleExpressionError, match="Invalid Schedule Expression"):
        parse(text)


def test_unknown_time_zone():
    with pytest.raises(ScheduleExpressionError, match="Timezone"):
        parse("rate(1 minute)", "Mars/Olympus")


def test_dates_as_moto_stores_them():
    assert to_datetime(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert to_datetime("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert to_datetime(None) is None


def test_context_attributes_are_replaced_as_scheduler_does():
    from sfn_callback.localcloud.schedules import with_context_attributes

    text = ('{"jobId": "j", "scheduledTime": "<aws.scheduler.scheduled-time>", "arn": "<aws.scheduler.schedule-arn>",'
            ' "id": "<aws.scheduler.execution-id>", "n": "<aws.scheduler.attempt-number>"}')
    done = with_context_attributes(text, schedule_arn="arn:s", execution_id="e1",
                                   scheduled_time=datetime(2025, 3, 22, 18, 59, 43, 512000, tzinfo=UTC))
    assert json.loads(done) == {"jobId": "j", "scheduledTime": "2025-03-22T18:59:43Z", "arn": "arn:s", "id": "e1",
                                "n": "1"}
    assert with_context_attributes('{"jobId": "j"}', schedule_arn="a", execution_id="e",
                                   scheduled_time=datetime.now(UTC)) == '{"jobId": "j"}'
