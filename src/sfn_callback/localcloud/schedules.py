"""EventBridge Scheduler expressions: ``rate()``, ``at()`` and ``cron()``, parsed and stepped.

The AWS forms (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html):
``rate(value unit)`` with minute(s), hour(s), day(s); ``at(yyyy-mm-ddThh:mm:ss)`` in the schedule's time zone;
``cron(minutes hours day-of-month month day-of-week year)`` with AWS's day-of-week numbering (1 = SUN).
Locally ``rate(N second|seconds)`` is accepted too (``allow_seconds``), so tests run in seconds; on AWS the
minimum is one minute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(second|seconds|minute|minutes|hour|hours|day|days)\s*\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
MAX_RATE_SECONDS = 100 * 365 * 86400  # a rate longer than a century cannot be stepped within datetime's range
CRON_YEARS = (1970, 2199)  # the year field's range on AWS


class ScheduleExpressionError(ValueError):
    """The expression is not one EventBridge Scheduler accepts."""


@dataclass(frozen=True)
class ScheduleExpression:
    kind: str  # "rate" | "at" | "cron"
    text: str
    tz: ZoneInfo
    interval: timedelta | None = None
    at: datetime | None = None
    cron: str | None = None
    years: frozenset[int] | None = None

    def next_after(self, after: datetime, anchor: datetime) -> datetime | None:
        """The first fire time strictly after ``after`` (UTC); ``anchor`` is when a rate schedule started."""
        if self.kind == "rate":
            assert self.interval is not None
            if after < anchor:
                return anchor
            periods = int((after - anchor) / self.interval) + 1
            return anchor + periods * self.interval
        if self.kind == "at":
            assert self.at is not None
            return self.at if self.at > after else None
        assert self.cron is not None
        local = after.astimezone(self.tz)
        iterator = croniter(self.cron, local)
        for _ in range(10_000):
            candidate: datetime = iterator.get_next(datetime)
            if self.years is None or candidate.year in self.years:
                return candidate.astimezone(UTC)
            if self.years and candidate.year > max(self.years):
                return None
        return None


def parse(expression: str, tz_name: str | None = "UTC", allow_seconds: bool = False) -> ScheduleExpression:
    """Parse an expression, raising :class:`ScheduleExpressionError` with the reason."""
    try:
        return _parse(expression, tz_name, allow_seconds)
    except ScheduleExpressionError:
        raise
    except (ValueError, OverflowError, KeyError, RecursionError) as exc:  # whatever else a hostile text provokes
        raise ScheduleExpressionError(f"Invalid Schedule Expression {str(expression)[:80]}.") from exc


def _parse(expression: str, tz_name: str | None, allow_seconds: bool) -> ScheduleExpression:
    try:
        tz = ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleExpressionError(f"Invalid ScheduleExpressionTimezone: {tz_name}") from exc
    text = (expression or "").strip()
    if match := _RATE.match(text):
        digits, unit = match.group(1), match.group(2).rstrip("s")
        value = int(digits) if len(digits) <= 15 else MAX_RATE_SECONDS + 1
        if value <= 0:
            raise ScheduleExpressionError(f"Invalid Schedule Expression {text}: the value must be positive.")
        if value * _UNIT_SECONDS[unit] > MAX_RATE_SECONDS:
            raise ScheduleExpressionError(
                f"Invalid Schedule Expression {text[:80]}: the interval must be at most 100 years.")
        if unit == "second" and not allow_seconds:
            raise ScheduleExpressionError(
                f"Invalid Schedule Expression {text}: the unit must be minute(s), hour(s) or day(s)."
            )
        return ScheduleExpression("rate", text, tz, interval=timedelta(seconds=value * _UNIT_SECONDS[unit]))
    if match := _AT.match(text):
        try:
            local = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=tz)
        except ValueError as exc:
            raise ScheduleExpressionError(f"Invalid Schedule Expression {text}: {exc}.") from exc
        return ScheduleExpression("at", text, tz, at=local.astimezone(UTC))
    if match := _CRON.match(text):
        return _parse_cron(text, match.group(1), tz)
    raise ScheduleExpressionError(
        f"Invalid Schedule Expression {text}. Use at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(fields)."
    )


def _parse_cron(text: str, body: str, tz: ZoneInfo) -> ScheduleExpression:
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleExpressionError(
            f"Invalid Schedule Expression {text}: cron needs 6 fields (minutes hours day-of-month month "
            f"day-of-week year), got {len(fields)}."
        )
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleExpressionError(
            f"Invalid Schedule Expression {text}: exactly one of day-of-month and day-of-week must be '?'."
        )
    # AWS numbers days of the week 1-7 from Sunday; croniter numbers them 0-6.
    dow = re.sub(r"(?<![#\d])(\d)", lambda m: str(int(m.group(1)) - 1), dow)
    expr = " ".join("*" if f == "?" else f for f in (minute, hour, dom, month, dow))
    if not croniter.is_valid(expr):
        raise ScheduleExpressionError(f"Invalid Schedule Expression {text}.")
    years = None if year == "*" else frozenset(_expand_years(year, text))
    return ScheduleExpression("cron", text, tz, cron=expr, years=years)


def _expand_years(field: str, text: str) -> list[int]:
    years: list[int] = []
    first, last = CRON_YEARS
    bad = ScheduleExpressionError(
        f"Invalid Schedule Expression {text[:80]}: bad year field {field[:40]} (years {first}-{last}).")
    for part in field.split(","):
        step, stepped = 1, "/" in part
        if stepped:
            part, step_text = part.split("/", 1)
            if not (step_text.isdigit() and len(step_text) <= 4 and int(step_text) > 0):
                raise bad
            step = int(step_text)
        if part == "*":
            bounds = [str(first), str(last)]
        elif "-" in part:
            bounds = part.split("-", 1)
        else:  # one year, or with a step the years from it on
            bounds = [part, str(last) if stepped else part]
        if not all(b.isdigit() and len(b) == 4 for b in bounds):
            raise bad
        low, high = (int(b) for b in bounds)
        if not first <= low <= high <= last:
            raise bad
        years.extend(range(low, high + 1, step))
    return years


def to_datetime(value: object) -> datetime | None:
    """Scheduler dates as moto stores them (epoch seconds or ISO text) to aware UTC datetimes."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), tz=UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def with_context_attributes(text: str, *, schedule_arn: str, scheduled_time: datetime, execution_id: str,
                            attempt: int = 1) -> str:
    """A target's input with EventBridge Scheduler's context attributes replaced, as Scheduler does on each
    invocation (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html):
    ``<aws.scheduler.schedule-arn>``, ``<aws.scheduler.scheduled-time>`` (UTC, whole seconds, e.g.
    ``2022-03-22T18:59:43Z``), ``<aws.scheduler.execution-id>`` and ``<aws.scheduler.attempt-number>``."""
    if "<aws.scheduler." not in text:
        return text
    values = {
        "schedule-arn": schedule_arn,
        "scheduled-time": scheduled_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "execution-id": execution_id,
        "attempt-number": str(attempt),
    }
    for name, value in values.items():
        text = text.replace(f"<aws.scheduler.{name}>", value)
    return text
