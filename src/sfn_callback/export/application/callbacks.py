"""The export service's ``StepFunctionsPort`` on the callback core: each core result becomes a
:class:`CallbackOutcome` in the export's terms (token finished, transient, rejected; an adapter that raised is
unexpected). Never raises."""

from __future__ import annotations

from typing import Any

from sfn_callback.callbacks.port import TaskCallbacks
from sfn_callback.callbacks.result import CallbackResult, CallbackStatus
from sfn_callback.export.application.ports import CallbackErrorKind, CallbackOutcome

_KINDS = {
    CallbackStatus.TOKEN_FINISHED: CallbackErrorKind.TOKEN_FINISHED,
    CallbackStatus.TRANSIENT: CallbackErrorKind.TRANSIENT,
    CallbackStatus.REFUSED: CallbackErrorKind.REJECTED,
}


def outcome_of(result: CallbackResult) -> CallbackOutcome:
    if result.delivered:
        return CallbackOutcome(result.kind, ok=True, attempts=result.attempts, latency_ms=result.latency_ms)
    return CallbackOutcome(result.kind, ok=False, error_code=result.code, error_kind=_KINDS[result.status],
                           message=result.message, attempts=result.attempts, latency_ms=result.latency_ms)


class ExportCallbacks:
    """Implements ``StepFunctionsPort`` with a :class:`~sfn_callback.callbacks.TaskCallbacks`."""

    def __init__(self, callbacks: TaskCallbacks) -> None:
        self.callbacks = callbacks

    def send_task_success(self, task_token: str, output: dict[str, Any]) -> CallbackOutcome:
        return self._guard("success", lambda: self.callbacks.succeed(task_token, output))

    def send_task_failure(self, task_token: str, error: str, cause: str) -> CallbackOutcome:
        return self._guard("failure", lambda: self.callbacks.fail(task_token, error, cause))

    def send_task_heartbeat(self, task_token: str) -> CallbackOutcome:
        return self._guard("heartbeat", lambda: self.callbacks.heartbeat(task_token))

    @staticmethod
    def _guard(kind: str, send: Any) -> CallbackOutcome:
        try:
            return outcome_of(send())
        except Exception as exc:  # noqa: BLE001 - not an AWS answer (a bug, a broken client): still an outcome
            return CallbackOutcome(kind=kind, ok=False, error_code=type(exc).__name__,
                                   error_kind=CallbackErrorKind.UNEXPECTED, message=str(exc))
