"""Counters over Step Functions execution history, as ``get_execution_history`` returns it.

The input is the list of event dicts of one execution (the ``events`` of every page of
``get_execution_history``, concatenated), with the keys and event type names of the Step Functions API
(``type``, ``id``, ``previousEventId``, ``timestamp``, ``<kind>EventDetails``).

Billing rule for Standard workflows (https://aws.amazon.com/step-functions/pricing/): "Step Functions
counts a state transition each time a step of your workflow is executed", and "each retry will be
charged as an additional state transition". Hence:

- one billed transition per ``*StateEntered`` event (Task, Pass, Choice, Wait, Succeed, Fail, Parallel,
  Map; states inside Parallel branches and Map iterations have their own ``*StateEntered`` events);
- plus one per retry. A retry does not enter the state again: it schedules the work again inside the
  same state visit. Every attempt of a Task state emits exactly one scheduling event
  (``TaskScheduled``, ``LambdaFunctionScheduled`` or ``ActivityScheduled``), so
  retries = scheduling events - ``TaskStateEntered`` events. This is exact whenever each Task visit
  schedules its work at least once; a visit that fails before scheduling anything (for example on a
  bad parameter path) would hide one retry elsewhere.

Execution start and end events (``ExecutionStarted``, ``ExecutionSucceeded``, ...) and ``*StateExited``
events are not steps and are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

STATE_ENTERED_SUFFIX = "StateEntered"
SCHEDULING_EVENTS = frozenset({"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"})
CALLBACK_RESOURCE_SUFFIX = ".waitForTaskToken"
CALLBACK_OUTCOMES = {"TaskSucceeded": "taskSucceededEventDetails", "TaskFailed": "taskFailedEventDetails"}

Event = Mapping[str, Any]


def _ordered(events: Iterable[Event]) -> list[Event]:
    """The events as a list in execution order (by ``id`` when every event has one)."""
    items = list(events)
    for index, event in enumerate(items):
        if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
            raise ValueError(f"history event #{index} is not an event dict with a string 'type': {event!r}")
    if all(isinstance(e.get("id"), int) for e in items):
        items.sort(key=lambda e: e["id"])
    return items


def _details(event: Event, key: str) -> Mapping[str, Any]:
    details = event.get(key)
    return details if isinstance(details, Mapping) else {}


def count_state_entries(events: Iterable[Event]) -> int:
    """Number of ``*StateEntered`` events: one per step executed."""
    return sum(1 for e in _ordered(events) if e["type"].endswith(STATE_ENTERED_SUFFIX))


def count_retries(events: Iterable[Event]) -> int:
    """Number of Task retries: scheduling events beyond the first of each Task state visit."""
    items = _ordered(events)
    scheduled = sum(1 for e in items if e["type"] in SCHEDULING_EVENTS)
    task_visits = sum(1 for e in items if e["type"] == "TaskStateEntered")
    return max(0, scheduled - task_visits)


def count_state_transitions(events: Iterable[Event]) -> int:
    """Billed state transitions of the execution: steps executed plus retries (see the module docstring)."""
    items = _ordered(events)
    return count_state_entries(items) + count_retries(items)


def count_lambda_invocations(events: Iterable[Event]) -> int:
    """Lambda invocations the workflow itself started.

    Counts ``LambdaFunctionScheduled`` (a Task whose resource is a function ARN) and ``TaskScheduled``
    with resource type ``lambda`` (``arn:aws:states:::lambda:invoke`` and its ``.waitForTaskToken``
    form), minus the ones that failed to start (``LambdaFunctionStartFailed``, ``TaskStartFailed`` of a
    ``lambda`` resource), which Lambda never ran. Invocations from other triggers (schedules, queues) are
    not in the history and must be counted where they happen.
    """
    total = 0
    for e in _ordered(events):
        kind = e["type"]
        if kind == "LambdaFunctionScheduled":
            total += 1
        elif kind == "LambdaFunctionStartFailed":
            total -= 1
        elif kind == "TaskScheduled" and _details(e, "taskScheduledEventDetails").get("resourceType") == "lambda":
            total += 1
        elif kind == "TaskStartFailed" and _details(e, "taskStartFailedEventDetails").get("resourceType") == "lambda":
            total -= 1
    return total


@dataclass(frozen=True)
class HistoryCounts:
    """What one execution's history says about its bill."""

    state_entries: int
    retries: int
    lambda_invocations: int

    @property
    def state_transitions(self) -> int:
        """Billed state transitions: steps executed plus retries."""
        return self.state_entries + self.retries


def history_counts(events: Iterable[Event]) -> HistoryCounts:
    """All counters of this module over one execution's history."""
    items = _ordered(events)
    return HistoryCounts(
        state_entries=count_state_entries(items),
        retries=count_retries(items),
        lambda_invocations=count_lambda_invocations(items),
    )


def event_time(event: Event) -> datetime:
    """The event's timestamp as an aware datetime.

    boto3 returns aware datetimes; ISO 8601 strings and epoch seconds (saved histories) are accepted too.
    A naive datetime is taken as UTC.
    """
    value = event.get("timestamp")
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"history event {event.get('id')!r} has an unreadable timestamp {value!r}") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        moment = datetime.fromtimestamp(value, tz=UTC)
    else:
        raise ValueError(f"history event {event.get('id')!r} has no usable timestamp: {value!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Reconnect:
    """A callback task's outcome and the moment the workflow moved on to its next state."""

    state_name: str | None
    outcome: str
    outcome_at: datetime
    next_state_name: str | None
    next_state_entered_at: datetime

    @property
    def latency_seconds(self) -> float:
        """Time from the callback's outcome (``SendTask*`` accepted) to the next state entered."""
        return (self.next_state_entered_at - self.outcome_at).total_seconds()


def callback_reconnects(events: Iterable[Event]) -> list[Reconnect]:
    """Every callback task outcome followed by the next state being entered, in execution order.

    A callback task is a Task whose resource ends with ``.waitForTaskToken``; its outcome is the
    ``TaskSucceeded`` or ``TaskFailed`` written when ``SendTaskSuccess``/``SendTaskFailure`` arrives.
    The reconnect ends at the next ``*StateEntered`` event (the following state, or a Catch handler).
    An outcome followed by a new scheduling event (a retry) or by the end of the execution has no
    next state and is left out. The walk is sequential, which fits callback tasks outside Parallel and
    Map states (as in this project's workflows).
    """
    found: list[Reconnect] = []
    current_task: str | None = None
    pending: tuple[str | None, str, datetime] | None = None
    for e in _ordered(events):
        kind = e["type"]
        if kind.endswith(STATE_ENTERED_SUFFIX):
            entered_name = _details(e, "stateEnteredEventDetails").get("name")
            if pending is not None:
                state_name, outcome, outcome_at = pending
                found.append(Reconnect(state_name, outcome, outcome_at, entered_name, event_time(e)))
                pending = None
            if kind == "TaskStateEntered":
                current_task = entered_name
        elif kind in SCHEDULING_EVENTS:
            pending = None
        elif kind in CALLBACK_OUTCOMES:
            resource = _details(e, CALLBACK_OUTCOMES[kind]).get("resource", "")
            if isinstance(resource, str) and resource.endswith(CALLBACK_RESOURCE_SUFFIX):
                pending = (current_task, kind, event_time(e))
    return found


def reconnect_latencies(events: Iterable[Event]) -> list[float]:
    """Latencies in seconds of :func:`callback_reconnects`, in execution order."""
    return [r.latency_seconds for r in callback_reconnects(events)]
