"""Use cases of the export service: start a job, complete its tasks, send its callback, run it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sfn_callback.common.clock import utcnow
from sfn_callback.export.application.heartbeat import Heartbeat, HeartbeatSettings
from sfn_callback.export.application.ports import (
    CallbackErrorKind,
    CallbackOutcome,
    CallbackState,
    Clock,
    ConcurrentUpdate,
    ExportError,
    ExportMetrics,
    ExportSink,
    FileSource,
    JobAlreadyExists,
    JobRepository,
    NullMetrics,
    StepFunctionsPort,
)
from sfn_callback.export.domain import (
    ExportJob,
    ExportTask,
    FailureCallback,
    JobNotComplete,
    SuccessCallback,
)
from sfn_callback.export.log import logger


# --- start ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileSpec:
    url: str
    name: str


@dataclass(frozen=True)
class StartExportJobCommand:
    job_id: str
    export_id: str
    user_id: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    files: Sequence[FileSpec] = ()
    task_token: str | None = None


class StartExportJob:
    """Create the job (one task per file) and store it with its task token.

    A redelivered message (same ``jobId``, same token) resumes the stored job. The same ``jobId`` with a
    different token is refused: each workflow execution needs its own ``jobId``.
    """

    def __init__(self, repository: JobRepository, *, metrics: ExportMetrics | None = None, clock: Clock = utcnow):
        self._repo = repository
        self._metrics = metrics or NullMetrics()
        self._clock = clock

    def execute(self, command: StartExportJobCommand) -> ExportJob:
        job = ExportJob.create(
            job_id=command.job_id,
            export_id=command.export_id,
            user_id=command.user_id,
            metadata=dict(command.metadata),
            files=[(f.url, f.name) for f in command.files],
            started_at=self._clock(),
            task_token=command.task_token,
        )
        try:
            self._repo.add(job)
        except JobAlreadyExists:
            existing = self._repo.get(command.job_id)
            if (existing.task_token or None) != (command.task_token or None):
                raise JobAlreadyExists(
                    command.job_id, "with a different task token (use one jobId per workflow execution)"
                ) from None
            logger.info(
                "Resuming export job (message delivered again)",
                extra={"jobId": existing.job_id, "pendingTasks": len(existing.pending_tasks)},
            )
            return existing
        self._metrics.job_started(has_token=job.has_task_token())
        logger.info(
            "Processing export job",
            extra={
                "jobId": job.job_id,
                "exportId": job.export_id,
                "hasTaskToken": job.has_task_token(),
                "taskToken": job.task_token,
                "totalTasks": job.total_tasks,
            },
        )
        return job


# --- complete job: the callback -------------------------------------------------------------------------
class CallbackResult(StrEnum):
    SENT = "SENT"
    FAILED = "FAILED"
    NO_TOKEN = "NO_TOKEN"
    ALREADY_CLAIMED = "ALREADY_CLAIMED"


@dataclass(frozen=True)
class CompleteJobResult:
    job_id: str
    result: CallbackResult
    outcome: CallbackOutcome | None = None


class CompleteJob:
    """Send the complete job's callback, at most once, without ever failing the job.

    Order (the token lifecycle): claim the callback with a conditional write, send it, record how it ended.
    A callback error is logged with the token masked, counted, and recorded on the job; it is not raised.
    """

    def __init__(
        self,
        repository: JobRepository,
        step_functions: StepFunctionsPort,
        *,
        metrics: ExportMetrics | None = None,
        clock: Clock = utcnow,
        claim_stale_after_seconds: float = 300.0,
    ) -> None:
        self._repo = repository
        self._sfn = step_functions
        self._metrics = metrics or NullMetrics()
        self._clock = clock
        self._stale_after = claim_stale_after_seconds

    def execute(self, job: ExportJob, *, holder_deadline: datetime | None = None) -> CompleteJobResult:
        """``holder_deadline``: when this invocation stops running (the consumer's Lambda deadline). The claim
        ends then: the message's redelivery, which SQS makes only after the visibility timeout (longer than
        the consumer's timeout), finds it ended and sends the callback if this invocation died after claiming
        it. Without a deadline the claim lasts ``claim_stale_after_seconds``."""
        if not job.is_complete:
            raise JobNotComplete(job.job_id, len(job.pending_tasks))
        if not job.has_task_token():
            logger.info("Export job complete; no task token, no callback", extra={"jobId": job.job_id})
            return CompleteJobResult(job.job_id, CallbackResult.NO_TOKEN)
        token = job.task_token
        assert token is not None
        if not self._repo.claim_callback(job.job_id, now=self._clock(), stale_after_seconds=self._stale_after,
                                         until=holder_deadline):
            logger.info(
                "Callback already claimed or sent for job; not sending another",
                extra={"jobId": job.job_id, "taskToken": token},
            )
            return CompleteJobResult(job.job_id, CallbackResult.ALREADY_CLAIMED)

        callback = job.callback()
        outcome = self._send(token, callback)
        self._metrics.callback_result(outcome)
        kind = "success" if isinstance(callback, SuccessCallback) else "failure"
        if outcome.ok:
            state = CallbackState.SENT
            logger.info(
                f"Sent Step Functions {kind} callback for job {job.job_id}",
                extra={"jobId": job.job_id, "taskToken": token, "attempts": outcome.attempts},
            )
        else:
            state = CallbackState.RETRYABLE if outcome.retryable_later else CallbackState.FAILED
            logger.error(
                f"Failed to send Step Functions callback for job {job.job_id}: {outcome.error_code}",
                extra={
                    "jobId": job.job_id,
                    "error": outcome.error_code,
                    "errorKind": outcome.error_kind,
                    "detail": outcome.message,
                    "attempts": outcome.attempts,
                    "taskToken": token,
                },
            )
        try:
            self._repo.record_callback(
                job.job_id,
                state=state,
                at=self._clock(),
                error=None if outcome.ok else f"{outcome.error_code}: {outcome.message or ''}".strip(": "),
                attempts=outcome.attempts,
            )
        except Exception:  # bookkeeping only: a stale claim is re-sent later, and a re-send answers "finished"
            logger.exception("Could not record the callback result", extra={"jobId": job.job_id})
        return CompleteJobResult(job.job_id, CallbackResult.SENT if outcome.ok else CallbackResult.FAILED, outcome)

    def _send(self, token: str, callback: SuccessCallback | FailureCallback) -> CallbackOutcome:
        kind = "success" if isinstance(callback, SuccessCallback) else "failure"
        try:
            if isinstance(callback, SuccessCallback):
                return self._sfn.send_task_success(token, callback.output)
            return self._sfn.send_task_failure(token, callback.error, callback.cause)
        except Exception as exc:  # adapters return outcomes; guard against one that raises
            return CallbackOutcome(
                kind=kind,
                ok=False,
                error_code=type(exc).__name__,
                error_kind=CallbackErrorKind.UNEXPECTED,
                message=str(exc),
            )


# --- complete task ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompleteTaskCommand:
    job_id: str
    task_id: str
    success: bool
    error: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class CompleteTaskResult:
    job: ExportJob
    recorded: bool  # False: the task already had an outcome (a duplicate completion)
    callback: CompleteJobResult | None  # set when the job is complete

    @property
    def job_complete(self) -> bool:
        return self.job.is_complete


class CompleteTask:
    """Record one task's outcome; when it is the last one, send the job's callback (via :class:`CompleteJob`)."""

    def __init__(
        self,
        repository: JobRepository,
        step_functions: StepFunctionsPort,
        *,
        metrics: ExportMetrics | None = None,
        clock: Clock = utcnow,
        complete_job: CompleteJob | None = None,
        max_conflict_retries: int = 5,
    ) -> None:
        self._repo = repository
        self._clock = clock
        self.complete_job = complete_job or CompleteJob(repository, step_functions, metrics=metrics, clock=clock)
        self._max_retries = max_conflict_retries

    def execute(self, command: CompleteTaskCommand, *, holder_deadline: datetime | None = None) -> CompleteTaskResult:
        for _ in range(self._max_retries):
            job = self._repo.get(command.job_id)
            recorded = job.record_outcome(
                command.task_id,
                success=command.success,
                at=self._clock(),
                error=command.error,
                location=command.location,
            )
            if recorded:
                try:
                    self._repo.save(job)
                except ConcurrentUpdate:
                    continue
            break
        else:
            raise ConcurrentUpdate(command.job_id)
        if not recorded:
            logger.info(
                "Task already has an outcome; ignoring the duplicate",
                extra={"jobId": job.job_id, "taskId": command.task_id},
            )
        callback = self.complete_job.execute(job, holder_deadline=holder_deadline) if job.is_complete else None
        return CompleteTaskResult(job=job, recorded=recorded, callback=callback)


# --- run a job ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunOptions:
    """Knobs for demonstrations and tests.

    ``file_delay_seconds``: each file takes this much longer, reporting progress meanwhile (a slow, live
    job: heartbeats continue). ``stall_seconds`` on task number ``stall_on_task`` (1-based): the task hangs
    without progress (a stalled job: heartbeats lapse).
    """

    file_delay_seconds: float = 0.0
    stall_seconds: float = 0.0
    stall_on_task: int | None = None


@dataclass(frozen=True)
class RunExportJobResult:
    job: ExportJob
    callback: CompleteJobResult | None
    heartbeats_sent: int = 0
    heartbeat_lapses: int = 0


class RunExportJob:
    """Export every pending task's file (source → sink), record outcomes, heartbeat while alive, call back.

    A file that cannot be fetched or written fails its task, not the job. Heartbeats stop before the last
    outcome is recorded, so none follows the callback.
    """

    def __init__(
        self,
        repository: JobRepository,
        source: FileSource,
        sink: ExportSink,
        step_functions: StepFunctionsPort,
        *,
        complete_task: CompleteTask | None = None,
        heartbeat: HeartbeatSettings | None = None,
        metrics: ExportMetrics | None = None,
        clock: Clock = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._repo = repository
        self._source = source
        self._sink = sink
        self._sfn = step_functions
        self._metrics = metrics or NullMetrics()
        self._complete_task = complete_task or CompleteTask(repository, step_functions, metrics=metrics, clock=clock)
        self._heartbeat = heartbeat or HeartbeatSettings()
        self._sleep = sleep

    def execute(self, job_id: str, options: RunOptions | None = None, *,
                holder_deadline: datetime | None = None) -> RunExportJobResult:
        """``holder_deadline``: see :meth:`CompleteJob.execute`."""
        options = options or RunOptions()
        job = self._repo.get(job_id)
        pending = job.pending_tasks
        if not pending:  # nothing left (no files, or a redelivery after the work was done): owe only the callback
            return RunExportJobResult(job, self._complete_task.complete_job.execute(job, holder_deadline=holder_deadline))

        beat: Heartbeat | None = None
        if job.has_task_token() and self._heartbeat.enabled:
            assert job.task_token is not None
            beat = Heartbeat(self._sfn, job.task_token, self._heartbeat, job_id=job.job_id, metrics=self._metrics)
            beat.start()
        touch = beat.touch if beat else (lambda _n=0: None)
        result: CompleteTaskResult | None = None
        try:
            for index, task in enumerate(pending):
                number = job.tasks.index(task) + 1
                success, error, location = self._export(job, task, number, options, touch)
                if index == len(pending) - 1 and beat is not None:
                    beat.stop()
                result = self._complete_task.execute(
                    CompleteTaskCommand(job.job_id, task.task_id, success=success, error=error, location=location),
                    holder_deadline=holder_deadline,
                )
                touch()
        finally:
            if beat is not None:
                beat.stop()
        assert result is not None
        return RunExportJobResult(
            job=result.job,
            callback=result.callback,
            heartbeats_sent=beat.sent if beat else 0,
            heartbeat_lapses=beat.lapses if beat else 0,
        )

    def _export(
        self,
        job: ExportJob,
        task: ExportTask,
        number: int,
        options: RunOptions,
        touch: Callable[..., None],
    ) -> tuple[bool, str | None, str | None]:
        touch()
        try:
            if options.file_delay_seconds > 0:
                step = min(0.1, self._heartbeat.stall_after / 4) if self._heartbeat.enabled else 0.1
                self._progressing_wait(options.file_delay_seconds, touch, step)
            if options.stall_seconds > 0 and options.stall_on_task == number:
                logger.warning(
                    "Task stalls (requested by the message options)",
                    extra={"jobId": job.job_id, "taskId": task.task_id, "stallSeconds": options.stall_seconds},
                )
                self._sleep(options.stall_seconds)  # no progress reported: the heartbeat lapses
            data = self._source.fetch(task.url, on_progress=touch)
            touch()
            location = self._sink.write(job, task, data)
        except ExportError as exc:
            logger.warning(
                "Export task failed", extra={"jobId": job.job_id, "taskId": task.task_id, "error": str(exc)}
            )
            return False, str(exc), None
        logger.info(
            "Export task completed",
            extra={"jobId": job.job_id, "taskId": task.task_id, "bytes": len(data), "location": location},
        )
        return True, None, location

    def _progressing_wait(self, seconds: float, touch: Callable[..., None], step: float) -> None:
        remaining = seconds
        while remaining > 0:
            pause = min(step, remaining)
            self._sleep(pause)
            remaining -= pause
            touch()
