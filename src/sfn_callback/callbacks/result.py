"""What became of one task callback: the result type of the callback core (no boto3 here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class CallbackStatus(StrEnum):
    DELIVERED = "DELIVERED"
    """Step Functions took the callback (for a heartbeat: the task's heartbeat clock restarted)."""
    TOKEN_FINISHED = "TOKEN_FINISHED"
    """The token is closed: used, timed out, its execution ended, or never a token. ``code`` is AWS's reason
    (``TaskTimedOut``, ``TaskDoesNotExist``, ``InvalidToken``). Final: a retry cannot succeed."""
    TRANSIENT = "TRANSIENT"
    """Not delivered now, worth sending later: throttling, a 5xx, a network error, after the bounded retries.
    ``maybe_delivered`` says whether an attempt may have reached Step Functions anyway (a 5xx, a lost
    connection, a read timeout) or certainly did not (a throttle, a connection that could not be made)."""
    REFUSED = "REFUSED"
    """The callback itself is wrong and sending it again will not help: an output that is not JSON (or holds
    NaN or Infinity) or is over 256 KB, or AWS's own refusal (``ValidationException``, ``AccessDenied...``), or a
    client that cannot send (missing credentials)."""


@dataclass(frozen=True)
class CallbackResult:
    """One SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat, with its retries.

    ``kind`` is ``success``, ``failure`` or ``heartbeat``; ``code`` the AWS error code of the last answer (or
    ``OutputNotJson`` / ``OutputTooLarge`` for an output refused before sending); ``attempts`` the calls made;
    ``latency_ms`` the time spent, pauses included; ``error`` the last exception, if any (not compared)."""

    kind: str
    status: CallbackStatus
    code: str | None = None
    message: str | None = None
    maybe_delivered: bool = False
    attempts: int = 1
    latency_ms: float = 0.0
    error: BaseException | None = field(default=None, compare=False, repr=False)

    @property
    def delivered(self) -> bool:
        return self.status is CallbackStatus.DELIVERED

    @property
    def ok(self) -> bool:
        return self.status is CallbackStatus.DELIVERED

    @property
    def token_finished(self) -> bool:
        return self.status is CallbackStatus.TOKEN_FINISHED

    @property
    def transient(self) -> bool:
        return self.status is CallbackStatus.TRANSIENT

    @property
    def refused(self) -> bool:
        return self.status is CallbackStatus.REFUSED

    def describe(self) -> str:
        """``DELIVERED`` or ``<status> <code>: <message>`` for a log line or a record."""
        if self.delivered:
            return self.status.value
        detail = f"{self.code}: {self.message}" if self.message else (self.code or "")
        return f"{self.status.value} {detail}".strip()
