"""The callback core's port: what sends task callbacks (no boto3 here)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from sfn_callback.callbacks.result import CallbackResult


@runtime_checkable
class TaskCallbacks(Protocol):
    """Sends the callbacks of ``.waitForTaskToken`` tasks. Every method answers a :class:`CallbackResult` and never
    raises for an AWS answer (throttling, a finished token, a refusal, a network error are results)."""

    def succeed(self, token: str, output: Any) -> CallbackResult:
        """SendTaskSuccess with ``output``: a JSON-serialisable value, or a JSON document as a string."""
        ...

    def fail(self, token: str, error: str, cause: str | None = None) -> CallbackResult:
        """SendTaskFailure with ``error`` (what a state's Catch matches) and ``cause``."""
        ...

    def heartbeat(self, token: str) -> CallbackResult:
        """SendTaskHeartbeat: the task is alive (restarts its ``HeartbeatSeconds`` clock)."""
        ...
