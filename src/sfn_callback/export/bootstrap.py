"""Composition root: wire adapters to use cases.

``bootstrap()`` with no arguments builds the production service from the environment
(:class:`~sfn_callback.export.settings.ExportSettings`); tests pass fakes for any port.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sfn_callback.export.application import (
    Clock,
    CompleteJob,
    CompleteTask,
    ExportMetrics,
    ExportSink,
    FileSource,
    HeartbeatSettings,
    JobRepository,
    RunExportJob,
    RunExportJobResult,
    StartExportJob,
    StepFunctionsPort,
    utcnow,
)
from sfn_callback.export.entrypoints.messages import ExportJobMessage
from sfn_callback.export.settings import ExportSettings, SettingsError


@dataclass
class ExportService:
    """The use cases, wired. ``handle`` runs one message: start (or resume) the job, then run it."""

    start: StartExportJob
    complete_task: CompleteTask
    complete_job: CompleteJob
    run: RunExportJob
    metrics: ExportMetrics

    def handle(self, message: ExportJobMessage, *, holder_deadline: datetime | None = None) -> RunExportJobResult:
        """``holder_deadline``: when the invocation handling the message stops (its callback claim ends then)."""
        job = self.start.execute(message.to_command())
        return self.run.execute(job.job_id, message.options.to_run_options(), holder_deadline=holder_deadline)


def parse_sink(spec: str, s3_client: Callable[[], Any] | None = None) -> ExportSink:
    """``local:/path`` (or a bare absolute path) → LocalFolderSink; ``s3://bucket/prefix`` → S3Sink."""
    from sfn_callback.export.adapters.sinks import LocalFolderSink, S3Sink

    if spec.startswith("s3://"):
        bucket, _, prefix = spec[len("s3://") :].partition("/")
        if not bucket:
            raise SettingsError(f"EXPORT_SINK={spec!r}: no bucket (expected s3://bucket/prefix)")
        if s3_client is None:
            from sfn_callback.common.aws import client

            return S3Sink(client("s3"), bucket, prefix)
        return S3Sink(s3_client(), bucket, prefix)
    path = spec[len("local:") :] if spec.startswith("local:") else spec
    if not path.startswith("/"):
        raise SettingsError(f"EXPORT_SINK={spec!r}: expected local:/absolute/path or s3://bucket/prefix")
    return LocalFolderSink(path)


def bootstrap(
    settings: ExportSettings | None = None,
    *,
    repository: JobRepository | None = None,
    step_functions: StepFunctionsPort | None = None,
    source: FileSource | None = None,
    sink: ExportSink | None = None,
    metrics: ExportMetrics | None = None,
    clock: Clock = utcnow,
    sleep: Callable[[float], None] = time.sleep,
) -> ExportService:
    """Build the export service; every port not given gets its production adapter."""
    settings = settings or ExportSettings.from_env()
    if repository is None:
        from sfn_callback.common.aws import client
        from sfn_callback.export.adapters.dynamodb_repository import DynamoDbJobRepository

        repository = DynamoDbJobRepository(client("dynamodb"), settings.table_name, ttl_days=settings.job_ttl_days)
    if step_functions is None:
        from sfn_callback.callbacks import StepFunctionsCallbacks
        from sfn_callback.common.aws import callback_client
        from sfn_callback.export.application.callbacks import ExportCallbacks

        step_functions = ExportCallbacks(StepFunctionsCallbacks(callback_client(), base_delay=0.1,
                                                                max_attempts=settings.callback_max_attempts))
    if source is None:
        from sfn_callback.export.adapters.http_source import HttpFileSource

        source = HttpFileSource(
            connect_timeout=settings.http_connect_timeout_seconds,
            read_timeout=settings.http_read_timeout_seconds,
            max_bytes=settings.max_file_bytes,
        )
    if sink is None:
        sink = parse_sink(settings.sink)
    if metrics is None:
        from sfn_callback.export.adapters.metrics import EmfExportMetrics

        metrics = EmfExportMetrics(namespace=settings.metrics_namespace)

    complete_job = CompleteJob(
        repository,
        step_functions,
        metrics=metrics,
        clock=clock,
        claim_stale_after_seconds=settings.callback_claim_stale_seconds,
    )
    complete_task = CompleteTask(repository, step_functions, metrics=metrics, clock=clock, complete_job=complete_job)
    run = RunExportJob(
        repository,
        source,
        sink,
        step_functions,
        complete_task=complete_task,
        heartbeat=HeartbeatSettings(settings.heartbeat_interval_seconds, settings.stall_after_seconds),
        metrics=metrics,
        clock=clock,
        sleep=sleep,
    )
    return ExportService(
        start=StartExportJob(repository, metrics=metrics, clock=clock),
        complete_task=complete_task,
        complete_job=complete_job,
        run=run,
        metrics=metrics,
    )
