"""The callback core's port with callback metrics: a wrapper any sender (poller, sweep, approval service) is
given instead of the plain one; same calls, same results (the core never raises for AWS's answers)."""

from __future__ import annotations

from typing import Any

from sfn_callback.callbacks import CallbackResult, TaskCallbacks
from sfn_callback.metrics import components
from sfn_callback.metrics import names as n


def outcome_of(kind: str, result: CallbackResult) -> str | None:
    """The ``Outcome`` a result counts as; None for a callback that could not be sent (transient or refused).

    A token found finished after an attempt that may have been delivered was most likely closed by that
    attempt (unless it timed out), so it counts as this sender's callback."""
    ours = result.delivered or (result.token_finished and result.maybe_delivered and result.code != "TaskTimedOut")
    if ours:
        return n.OUTCOME_SUCCEEDED if kind == "success" else n.OUTCOME_FAILED
    if result.token_finished:
        return n.OUTCOME_FINISHED
    return None


class MeteredTaskCallbacks:
    """``TaskCallbacks`` with ``CallbackSuccess``/``CallbackFailure``/``Callbacks``/``CallbackLatencyMs`` per
    component. Heartbeats are not callbacks and pass through unmeasured."""

    def __init__(self, inner: TaskCallbacks, component: str, publisher: Any = None) -> None:
        self.inner = inner
        self.component = component
        self.publisher = publisher  # None: the process's (stdout in Lambda)

    def succeed(self, token: str, output: Any) -> CallbackResult:
        return self._measured("success", self.inner.succeed(token, output))

    def fail(self, token: str, error: str, cause: str | None = None) -> CallbackResult:
        return self._measured("failure", self.inner.fail(token, error, cause))

    def heartbeat(self, token: str) -> CallbackResult:
        return self.inner.heartbeat(token)

    def _measured(self, kind: str, result: CallbackResult) -> CallbackResult:
        outcome = outcome_of(kind, result)
        if outcome is None:
            components.callback_failed(self.component, result.code or "Unknown", result.latency_ms, self.publisher)
        else:
            components.callback_sent(self.component, outcome, result.latency_ms, self.publisher)
        return result
