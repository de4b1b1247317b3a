"""SendTaskHeartbeat from a background thread while the export job is alive.

Liveness rule: the job is *alive* while it has reported progress within ``stall_after_seconds``. Progress is
reported with :meth:`Heartbeat.touch`: when a task starts or ends, and for every chunk a file source reads.
Every ``interval_seconds`` the thread sends one heartbeat if the job is alive and skips it otherwise. A task
that hangs (a server that stops sending, a stuck write) therefore stops the heartbeats, and a workflow with
``HeartbeatSeconds`` sees ``States.HeartbeatTimeout`` instead of waiting until ``TimeoutSeconds``. Heartbeats
resume if progress does; they stop for good when the job ends (:meth:`Heartbeat.stop`) or when Step Functions
answers that the token is finished.

Choose ``interval_seconds`` well below the state's ``HeartbeatSeconds`` (at most half of it) and
``stall_after_seconds`` below ``HeartbeatSeconds`` as well, so a live job never misses a beat and a stalled
one is noticed within about ``stall_after_seconds + HeartbeatSeconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sfn_callback.export.application.ports import (
    CallbackErrorKind,
    CallbackOutcome,
    ExportMetrics,
    NullMetrics,
    StepFunctionsPort,
)
from sfn_callback.export.log import logger


@dataclass(frozen=True)
class HeartbeatSettings:
    """``interval_seconds <= 0`` disables heartbeats; ``stall_after_seconds`` defaults to 3 intervals."""

    interval_seconds: float = 30.0
    stall_after_seconds: float | None = None

    @property
    def enabled(self) -> bool:
        return self.interval_seconds > 0

    @property
    def stall_after(self) -> float:
        if self.stall_after_seconds is not None:
            return self.stall_after_seconds
        return 3 * self.interval_seconds


class Heartbeat:
    """A heartbeat thread for one task token. Use as a context manager or with start()/stop()."""

    def __init__(
        self,
        step_functions: StepFunctionsPort,
        task_token: str,
        settings: HeartbeatSettings,
        *,
        job_id: str = "",
        metrics: ExportMetrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not settings.enabled:
            raise ValueError("heartbeat interval must be positive")
        self._sfn = step_functions
        self._token = task_token
        self._settings = settings
        self._job_id = job_id
        self._metrics = metrics or NullMetrics()
        self._monotonic = monotonic
        self._last_progress = monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lapsed = False
        self.outcomes: list[CallbackOutcome] = []
        self.lapses = 0
        self.stopped_reason: str | None = None

    # --- control ---------------------------------------------------------------------------------------
    def start(self) -> Heartbeat:
        if self._thread is None:
            self._last_progress = self._monotonic()
            self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self._job_id}", daemon=True)
            self._thread.start()
        return self

    def touch(self, _amount: int = 0) -> None:
        """Report progress (usable as a file source's ``on_progress`` callback)."""
        self._last_progress = self._monotonic()

    def stop(self, reason: str = "job ended", timeout: float = 30.0) -> None:
        """Stop the thread and wait for an in-flight heartbeat, so none is sent after the callback."""
        if self.stopped_reason is None:
            self.stopped_reason = reason
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- state -----------------------------------------------------------------------------------------
    @property
    def sent(self) -> int:
        return sum(1 for o in self.outcomes if o.ok)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def lapsed(self) -> bool:
        return self._lapsed

    # --- the loop --------------------------------------------------------------------------------------
    def _run(self) -> None:
        interval = self._settings.interval_seconds
        stall_after = self._settings.stall_after
        while not self._stop.wait(interval):
            idle = self._monotonic() - self._last_progress
            if idle > stall_after:
                if not self._lapsed:
                    self._lapsed = True
                    self.lapses += 1
                    logger.warning(
                        "No progress on export job: heartbeat lapses",
                        extra={"jobId": self._job_id, "idleSeconds": round(idle, 3), "taskToken": self._token},
                    )
                continue
            if self._lapsed:
                self._lapsed = False
                logger.info("Export job progressing again: heartbeat resumes", extra={"jobId": self._job_id})
            outcome = self._beat()
            self.outcomes.append(outcome)
            self._metrics.callback_result(outcome)
            if outcome.token_finished:
                self.stopped_reason = f"token finished ({outcome.error_code})"
                logger.warning(
                    "Heartbeat answered that the task token is finished: heartbeat stops",
                    extra={"jobId": self._job_id, "error": outcome.error_code, "taskToken": self._token},
                )
                return
            if not outcome.ok:
                logger.warning(
                    "Heartbeat failed",
                    extra={"jobId": self._job_id, "error": outcome.error_code, "taskToken": self._token},
                )

    def _beat(self) -> CallbackOutcome:
        try:
            return self._sfn.send_task_heartbeat(self._token)
        except Exception as exc:  # adapters return outcomes; a raising one must not kill the thread silently
            return CallbackOutcome(
                kind="heartbeat",
                ok=False,
                error_code=type(exc).__name__,
                error_kind=CallbackErrorKind.UNEXPECTED,
                message=str(exc),
            )
