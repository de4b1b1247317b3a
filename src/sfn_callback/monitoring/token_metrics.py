"""``poc-token-metrics``: what no single invocation sees, published on a schedule (a Scheduler rate schedule).

Each run reads the records still waiting for their callback through the tables' status indexes (projected
attributes only):

* ``poc-task-tokens`` records in ``POLLING`` or ``CALLBACK_PENDING`` (per-job and sweep jobs): waiting since
  ``createdAt``, their polling timeout ends at ``expiresAt``;
* ``poc-approvals`` tasks in ``PENDING``: waiting since ``receivedAt``, the task's timeout ends at ``expiresAt``;

and publishes ``TokensWaiting``, ``OldestTokenAgeSeconds`` (0 when none waits) and ``TokensPastPollingTimeout``
(records whose own timeout has passed: their workflow should have been resumed or failed already), every run,
zeros included, so an alarm on them always has data. A table that cannot be read is logged and left out of
that run (the handler still publishes what it read, and fails the invocation so the error is visible).

Environment: ``TOKENS_TABLE``, ``APPROVALS_TABLE`` (empty: not read).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from sfn_callback import config
from sfn_callback.metrics import names as n
from sfn_callback.metrics.emit import COUNT, SECONDS, emit

logger = Logger(service=n.TOKEN_METRICS)

STATUS_INDEX = "status-index"  # both tables' status index (partition key ``status``)
WAITING = {  # table env var -> (default table, waiting statuses, "since" attribute)
    "TOKENS_TABLE": (config.TOKENS_TABLE, ("POLLING", "CALLBACK_PENDING"), "createdAt"),
    "APPROVALS_TABLE": (config.APPROVALS_TABLE, ("PENDING",), "receivedAt"),
}


@dataclass(frozen=True)
class Waiting:
    since: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class Summary:
    waiting: int
    oldest_age_seconds: float
    past_timeout: int

    def to_dict(self) -> dict[str, Any]:
        return {n.TOKENS_WAITING: self.waiting, n.OLDEST_TOKEN_AGE: round(self.oldest_age_seconds, 3),
                n.TOKENS_PAST_TIMEOUT: self.past_timeout}


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def summarize(records: Iterable[Waiting], now: datetime) -> Summary:
    waiting, oldest, past = 0, 0.0, 0
    for r in records:
        waiting += 1
        oldest = max(oldest, (now - r.since).total_seconds())
        if r.expires_at is not None and now > r.expires_at:
            past += 1
    return Summary(waiting, oldest, past)


def waiting_records(ddb: Any, table: str, statuses: tuple[str, ...], since_attr: str) -> Iterator[Waiting]:
    for status in statuses:
        kwargs: dict[str, Any] = {
            "TableName": table, "IndexName": STATUS_INDEX, "KeyConditionExpression": "#s = :s",
            "ProjectionExpression": "#since, expiresAt",
            "ExpressionAttributeNames": {"#s": "status", "#since": since_attr},
            "ExpressionAttributeValues": {":s": {"S": status}},
        }
        while True:
            page = ddb.query(**kwargs)
            for item in page.get("Items", []):
                since = parse_time(item.get(since_attr, {}).get("S"))
                if since is not None:
                    yield Waiting(since, parse_time(item.get("expiresAt", {}).get("S")))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def collect(ddb: Any, now: datetime, env: dict[str, str] | None = None) -> tuple[Summary, list[str]]:
    env = dict(os.environ) if env is None else env
    records: list[Waiting] = []
    errors: list[str] = []
    for variable, (default, statuses, since_attr) in WAITING.items():
        table = env.get(variable, default)
        if not table:
            continue
        try:
            records.extend(waiting_records(ddb, table, statuses, since_attr))
        except Exception as exc:  # one unreadable table does not hide the other's figures
            errors.append(f"{table}: {type(exc).__name__}: {exc}"[:300])
    return summarize(records, now), errors


def publish(summary: Summary) -> None:
    emit(n.TOKEN_METRICS, {n.TOKENS_WAITING: (COUNT, summary.waiting),
                           n.OLDEST_TOKEN_AGE: (SECONDS, summary.oldest_age_seconds),
                           n.TOKENS_PAST_TIMEOUT: (COUNT, summary.past_timeout)})


def handler(event: Any, context: Any) -> dict[str, Any]:
    from sfn_callback.common.aws import client

    summary, errors = collect(client("dynamodb"), datetime.now(UTC))
    publish(summary)
    doc = summary.to_dict()
    if errors:
        logger.error("waiting tokens not fully counted", extra={"errors": errors, **doc})
        raise RuntimeError("; ".join(errors))
    return doc
