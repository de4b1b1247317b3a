"""The export service's resources (seed 004 names), for ``sfn-callback deploy``.

* queue ``poc-export-jobs`` with its dead-letter queue ``poc-export-jobs-dlq`` (redrive after
  ``max_receive_count`` receives); its visibility timeout exceeds the consumer's timeout, which exceeds the
  longest job including a stall, so a message is never delivered again while its job still runs;
* table ``poc-export-job-state`` (key ``jobId``, TTL on ``ttl``);
* bucket ``poc-exports`` (on AWS ``poc-exports-<account>-<region>``, bucket names being global): the export
  destination, on every target, so the same code and the same ``EXPORT_SINK`` shape run locally and on AWS;
* function ``poc-export-consumer`` with exactly the permissions its handler uses, and its SQS event source
  mapping (``ReportBatchItemFailures``; batch size 1 by default, see :class:`ExportStackSettings`);
* state machine ``poc-export-workflow`` (``workflow.asl.json`` with its placeholders filled in) and its role.

Timings differ by target: short on local targets (the scenarios and tests finish in seconds), long on AWS.
Each can be overridden with an environment variable of the deploying process (table in
:class:`ExportStackSettings`) or by passing ``settings`` to :func:`contribute`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from sfn_callback import config
from sfn_callback.deploy.spec import (
    Bucket,
    EventSourceMapping,
    Function,
    Key,
    Permission,
    Queue,
    Role,
    Stack,
    StackContext,
    StateMachine,
    Table,
)
from sfn_callback.export import workflow

CONSUMER_HANDLER = "sfn_callback.export.entrypoints.poc_export_consumer.handler"
WORKFLOW_ROLE = f"{config.EXPORT_WORKFLOW}-role"
LOCAL_BUCKET = "poc-exports"
METRICS_NAMESPACE = "SfnCallback/Export"


def exports_bucket(ctx: StackContext) -> str:
    """``poc-exports`` on local targets; on AWS the account and region make the global name unique."""
    return LOCAL_BUCKET if ctx.local else f"{LOCAL_BUCKET}-{ctx.account_id}-{ctx.region}"


def export_sink(ctx: StackContext) -> str:
    """The consumer's ``EXPORT_SINK``: files land at ``s3://<bucket>/<exportId>/<jobId>/<name>``."""
    return f"s3://{exports_bucket(ctx)}"


def queue_url(ctx: StackContext, name: str = config.EXPORT_QUEUE) -> str:
    """The queue URL the workflow sends to (the local cloud, LocalStack and AWS resolve it by name)."""
    return f"https://sqs.{ctx.region}.amazonaws.com/{ctx.account_id}/{name}"


@dataclass(frozen=True)
class ExportStackSettings:
    """Timings of the deployed export service.

    ======================================  =================================================  =======  =====
    environment variable (deploy time)      meaning                                            local    AWS
    ======================================  =================================================  =======  =====
    ``EXPORT_STACK_HEARTBEAT_SECONDS``      ``HeartbeatSeconds`` of ``StartExportJob``          10       120
    ``EXPORT_STACK_TIMEOUT_SECONDS``        ``TimeoutSeconds`` of ``StartExportJob``            120      3600
    ``EXPORT_STACK_BEAT_INTERVAL_SECONDS``  the consumer's SendTaskHeartbeat interval           1        30
    ``EXPORT_STACK_STALL_AFTER_SECONDS``    no progress for this long: heartbeats stop          2        60
    ``EXPORT_STACK_FUNCTION_TIMEOUT``       the consumer's timeout (longest job incl. stalls)   60       900
    ``EXPORT_STACK_VISIBILITY_TIMEOUT``     the queue's visibility timeout (> function's)       90       1080
    ``EXPORT_STACK_MAX_RECEIVE_COUNT``      receives before the DLQ takes a message             3        3
    ``EXPORT_STACK_BATCH_SIZE``             records per consumer invocation                    1        1
    ======================================  =================================================  =======  =====

    Locally ``HeartbeatSeconds`` is 10 s: short enough for quick scenarios (a stalled job times out in about
    12 s), long enough for a cold start of the consumer (about 2 s on a quiet machine, 5 s and more on a loaded
    one) plus the queue's polling before the first heartbeat.

    Batch size 1: the records of one batch run one after another, and a record waiting behind another job
    would get no heartbeats; one job per invocation lets Lambda run jobs in parallel instead. The
    ``HeartbeatSeconds`` must also cover the time a message waits in the queue before a consumer takes it.
    """

    heartbeat_seconds: int
    timeout_seconds: int
    beat_interval_seconds: float
    stall_after_seconds: float
    function_timeout: int
    visibility_timeout: int
    max_receive_count: int = 3
    batch_size: int = 1

    @classmethod
    def defaults(cls, ctx: StackContext) -> ExportStackSettings:
        if ctx.local:
            return cls(heartbeat_seconds=10, timeout_seconds=120, beat_interval_seconds=1, stall_after_seconds=2,
                       function_timeout=60, visibility_timeout=90)
        return cls(heartbeat_seconds=120, timeout_seconds=3600, beat_interval_seconds=30, stall_after_seconds=60,
                   function_timeout=900, visibility_timeout=1080)

    @classmethod
    def for_context(cls, ctx: StackContext, env: Mapping[str, str] | None = None) -> ExportStackSettings:
        """The target's defaults, with ``EXPORT_STACK_*`` overrides from ``env`` (the process environment)."""
        env = os.environ if env is None else env
        base = cls.defaults(ctx)
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = _ENV_NAMES[f.name]
            raw = env.get(name, "").strip()
            if not raw:
                continue
            kind = float if f.name in ("beat_interval_seconds", "stall_after_seconds") else int
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
        settings = cls(**{**base.__dict__, **values})
        settings.validate()
        return settings

    def validate(self) -> None:
        problems = []
        if not 0 < self.heartbeat_seconds < self.timeout_seconds:
            problems.append("need 0 < heartbeat_seconds < timeout_seconds")
        if not 0 < self.beat_interval_seconds <= self.heartbeat_seconds / 2:
            problems.append("beat_interval_seconds must be positive and at most half of heartbeat_seconds")
        if not self.beat_interval_seconds <= self.stall_after_seconds:
            problems.append("stall_after_seconds must be at least beat_interval_seconds")
        if not 1 <= self.function_timeout <= 900:
            problems.append("function_timeout must be 1..900 seconds (the Lambda limit)")
        if self.visibility_timeout <= self.function_timeout:
            problems.append("visibility_timeout must exceed function_timeout (or a running job is delivered again)")
        if not 1 <= self.max_receive_count <= 1000:
            problems.append("max_receive_count must be 1..1000")
        if not 1 <= self.batch_size <= 10:
            problems.append("batch_size must be 1..10")
        if problems:
            raise ValueError("export stack settings: " + "; ".join(problems))


_ENV_NAMES = {
    "heartbeat_seconds": "EXPORT_STACK_HEARTBEAT_SECONDS",
    "timeout_seconds": "EXPORT_STACK_TIMEOUT_SECONDS",
    "beat_interval_seconds": "EXPORT_STACK_BEAT_INTERVAL_SECONDS",
    "stall_after_seconds": "EXPORT_STACK_STALL_AFTER_SECONDS",
    "function_timeout": "EXPORT_STACK_FUNCTION_TIMEOUT",
    "visibility_timeout": "EXPORT_STACK_VISIBILITY_TIMEOUT",
    "max_receive_count": "EXPORT_STACK_MAX_RECEIVE_COUNT",
    "batch_size": "EXPORT_STACK_BATCH_SIZE",
}


@dataclass(frozen=True)
class ExportWorkflow(StateMachine):
    """``poc-export-workflow``: the definition comes from :func:`sfn_callback.export.workflow.definition`,
    which keeps ``TimeoutSeconds`` and ``HeartbeatSeconds`` numbers."""

    queue_url: str = ""
    timeout_seconds: int = 3600
    heartbeat_seconds: int = 60

    def definition(self) -> dict[str, Any]:
        return workflow.definition(
            self.queue_url, timeout_seconds=self.timeout_seconds, heartbeat_seconds=self.heartbeat_seconds
        )


def consumer_environment(ctx: StackContext, settings: ExportStackSettings) -> tuple[tuple[str, str], ...]:
    return (
        ("EXPORT_JOBS_TABLE", config.EXPORT_JOBS_TABLE),
        ("EXPORT_SINK", export_sink(ctx)),
        ("EXPORT_HEARTBEAT_INTERVAL_SECONDS", f"{settings.beat_interval_seconds:g}"),
        ("EXPORT_STALL_AFTER_SECONDS", f"{settings.stall_after_seconds:g}"),
        ("POWERTOOLS_SERVICE_NAME", "poc-export"),
        ("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE),
    )


def consumer_permissions(ctx: StackContext) -> tuple[Permission, ...]:
    """Exactly what the handler calls: the repository's item calls, the mapping's queue calls, the three
    SendTask* calls (task tokens are not resources IAM can name) and PutObject of the S3 sink."""
    return (
        Permission(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
                   (ctx.table_arn(config.EXPORT_JOBS_TABLE),)),
        Permission(("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"),
                   (ctx.queue_arn(config.EXPORT_QUEUE),)),
        Permission(("states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"), ("*",)),
        Permission(("s3:PutObject",), (f"arn:aws:s3:::{exports_bucket(ctx)}/*",)),
    )


def contribute(stack: Stack, ctx: StackContext, settings: ExportStackSettings | None = None) -> None:
    settings = settings or ExportStackSettings.for_context(ctx)
    stack.add(
        Queue(config.EXPORT_DLQ, visibility_timeout=settings.visibility_timeout),
        Queue(config.EXPORT_QUEUE, visibility_timeout=settings.visibility_timeout, dlq=config.EXPORT_DLQ,
              max_receive_count=settings.max_receive_count),
        Table(config.EXPORT_JOBS_TABLE, Key("jobId"), ttl_attribute="ttl"),
        Bucket(exports_bucket(ctx)),
        Function(
            config.EXPORT_CONSUMER_FUNCTION,
            CONSUMER_HANDLER,
            env=consumer_environment(ctx, settings),
            timeout=settings.function_timeout,
            permissions=consumer_permissions(ctx),
        ),
        EventSourceMapping(config.EXPORT_CONSUMER_FUNCTION, config.EXPORT_QUEUE, batch_size=settings.batch_size,
                           report_batch_item_failures=True),
        Role(WORKFLOW_ROLE, "states.amazonaws.com",
             (Permission(("sqs:SendMessage",), (ctx.queue_arn(config.EXPORT_QUEUE),)),)),
        ExportWorkflow(
            config.EXPORT_WORKFLOW,
            "sfn_callback.export",
            workflow.ASL_FILE,
            role=WORKFLOW_ROLE,
            queue_url=queue_url(ctx),
            timeout_seconds=settings.timeout_seconds,
            heartbeat_seconds=settings.heartbeat_seconds,
        ),
    )
