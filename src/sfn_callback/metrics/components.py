"""What each component measures, kept out of the components' own code: each one adds a call or two (a
metered sender in its composition root, a wrapper around its handler's work) and the rules live here.

Every function publishes through :func:`sfn_callback.metrics.emit.emit`, which never raises: a metric
that cannot be published is logged and the callback, poll or decision goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sfn_callback.callbacks.retry import error_code
from sfn_callback.metrics import names as n
from sfn_callback.metrics.emit import COUNT, MILLISECONDS, SECONDS, Publisher, emit

T = TypeVar("T")


# -- callbacks ---------------------------------------------------------------------------------------------
def callback_sent(component: str, outcome: str, latency_ms: float, publisher: Publisher | None = None) -> None:
    """A SendTask* callback answered: ``outcome`` is one of :data:`names.OUTCOMES` other than ``Error``."""
    values: dict[str, tuple[str, float]] = {n.CALLBACK_LATENCY: (MILLISECONDS, latency_ms)}
    if outcome in (n.OUTCOME_SUCCEEDED, n.OUTCOME_FAILED):
        values[n.CALLBACK_SUCCESS] = (COUNT, 1)
    emit(component, values, publisher=publisher)
    emit(component, {n.CALLBACKS: (COUNT, 1)}, {n.OUTCOME_DIMENSION: outcome}, publisher)


def callback_failed(component: str, error_type: str, latency_ms: float, publisher: Publisher | None = None) -> None:
    """A callback that could not be sent (after the sender's retries): it counts in ``CallbackFailureRate``."""
    emit(component, {n.CALLBACK_FAILURE: (COUNT, 1), n.CALLBACK_LATENCY: (MILLISECONDS, latency_ms)},
         publisher=publisher)
    emit(component, {n.CALLBACK_ERRORS: (COUNT, 1)}, {n.ERROR_TYPE_DIMENSION: error_type or "Unknown"}, publisher)
    emit(component, {n.CALLBACKS: (COUNT, 1)}, {n.OUTCOME_DIMENSION: n.OUTCOME_ERROR}, publisher)


def error_type(exc: BaseException) -> str:
    return error_code(exc) or type(exc).__name__


def metered_send(component: str, send: Callable[[], T], classify: Callable[[T], str],
                 error_of: Callable[[BaseException], str] = error_type, publisher: Publisher | None = None) -> T:
    """``send()`` with its outcome (``classify(result)``) or its error measured; the result or error unchanged."""
    started = time.monotonic()
    try:
        result = send()
    except Exception as exc:
        callback_failed(component, error_of(exc), (time.monotonic() - started) * 1000, publisher)
        raise
    callback_sent(component, classify(result), (time.monotonic() - started) * 1000, publisher)
    return result


# -- polls -------------------------------------------------------------------------------------------------
def metered_poll(component: str, poll: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One per-job poll (the poller's answer as a dict): polls, attempts or skips, errors, reconnect latency."""
    started = time.monotonic()
    try:
        result = poll()
    except Exception:
        emit(component, {n.POLLS: (COUNT, 1), n.POLLER_ERRORS: (COUNT, 1)})
        raise
    values: dict[str, tuple[str, float]] = {n.POLLS: (COUNT, 1)}
    values[n.POLLS_SKIPPED if result.get("skipped") else n.POLL_ATTEMPTS] = (COUNT, 1)
    if result.get("reconnected"):
        values[n.RECONNECT_LATENCY] = (MILLISECONDS, (time.monotonic() - started) * 1000)
    emit(component, values)
    return result


def metered_sweep(component: str, sweep: Callable[[], T]) -> T:
    """One sweep (a result with ``polled``, ``skipped`` and ``errors`` counts): every poll it made, skipped or
    failed; a sweep that fails as a whole is one ``PollerErrors``."""
    try:
        result = sweep()
    except Exception:
        emit(component, {n.POLLER_ERRORS: (COUNT, 1)})
        raise
    polled, skipped, errors = (int(getattr(result, k, 0) or 0) for k in ("polled", "skipped", "errors"))
    if polled or skipped or errors:
        emit(component, {n.POLLS: (COUNT, polled + skipped + errors), n.POLL_ATTEMPTS: (COUNT, polled),
                         n.POLLS_SKIPPED: (COUNT, skipped), n.POLLER_ERRORS: (COUNT, errors)})
    return result


# -- create-job --------------------------------------------------------------------------------------------
def metered_create_job(component: str, create: Callable[[], T]) -> T:
    """Jobs created; bad events (``InvalidEvent``) and failures (``StoringFailed``...) by error type."""
    try:
        result = create()
    except Exception as exc:
        kind = error_type(exc)
        name = n.JOBS_REJECTED if kind == "InvalidEvent" else n.JOB_CREATE_FAILURES
        emit(component, {name: (COUNT, 1)}, {n.ERROR_TYPE_DIMENSION: kind})
        raise
    emit(component, {n.JOBS_CREATED: (COUNT, 1)})
    return result


# -- approval ----------------------------------------------------------------------------------------------
def approval_requests(component: str, stored: int, publisher: Publisher | None = None) -> None:
    if stored:
        emit(component, {n.APPROVAL_REQUESTS: (COUNT, stored)}, publisher=publisher)


def decision(component: str, outcome: str, action: str | None, received_at: datetime | None,
             decided_at: datetime | None, publisher: Publisher | None = None) -> None:
    """A decision's outcome as the approval service reports it (``DECIDED``, ``DELIVERY_PENDING``,
    ``ALREADY_DECIDED``, ``CLOSED``, ``NOT_FOUND``)."""
    if outcome in ("DECIDED", "DELIVERY_PENDING"):
        emit(component, {n.DECISIONS: (COUNT, 1)}, {n.DECISION_DIMENSION: (action or "unknown").lower()}, publisher)
        if received_at is not None and decided_at is not None:
            emit(component, {n.TIME_TO_DECISION: (SECONDS, max(0.0, (decided_at - received_at).total_seconds()))},
                 publisher=publisher)
    elif outcome == "ALREADY_DECIDED":
        emit(component, {n.DECISION_CONFLICTS: (COUNT, 1)}, publisher=publisher)
    elif outcome == "CLOSED":
        emit(component, {n.LATE_DECISIONS: (COUNT, 1)}, publisher=publisher)
