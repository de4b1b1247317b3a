"""A declarative stack: what resources exist, described as data.

Component modules (``sfn_callback.<component>.stack``) expose ``contribute(stack, ctx)`` and add resources;
the deployer turns each resource into a comparable ``properties()`` document, reads the target's current
state in the same shape, and plans create / update / unchanged / delete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

MANAGED_TAG = "sfn-callback:stack"
DEFAULT_STACK = "sfn-callback"
# Kinds whose resources carry the stack's tags (the others, event source mappings and schedules, take none
# from either deploy route).
TAGGED_KINDS = ("log-group", "table", "bucket", "queue", "role", "function", "schedule-group", "state-machine", "topic",
                "alarm")


@dataclass(frozen=True)
class StackContext:
    """Where the stack goes: ARNs are computed from the account and region; ``local`` targets differ."""

    account_id: str
    region: str
    local: bool
    stack_name: str = DEFAULT_STACK

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"

    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{name}"

    def table_arn(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{name}"

    def queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"

    def state_machine_arn(self, name: str) -> str:
        return f"arn:aws:states:{self.region}:{self.account_id}:stateMachine:{name}"

    def schedule_group_arn(self, name: str) -> str:
        return f"arn:aws:scheduler:{self.region}:{self.account_id}:schedule/{name}/*"

    def topic_arn(self, name: str) -> str:
        return f"arn:aws:sns:{self.region}:{self.account_id}:{name}"

    def alarm_arn(self, name: str) -> str:
        return f"arn:aws:cloudwatch:{self.region}:{self.account_id}:alarm:{name}"


def managed_tags(ctx: StackContext) -> dict[str, str]:
    """The tags both deploy routes put on every resource of a tagged kind (Terraform may add its own)."""
    return {MANAGED_TAG: ctx.stack_name}


@dataclass(frozen=True)
class Permission:
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)

    def statement(self) -> dict[str, Any]:
        return {"Effect": "Allow", "Action": sorted(self.actions), "Resource": sorted(self.resources)}


@dataclass(frozen=True)
class SecretRequirement:
    """A secret (``secretsmanager:<name>`` or ``ssm:<name>``) the stack reads but does not create: the user puts
    it there (the value never passes through the deployer). ``optional_locally``: on a local target the stack's
    own scenarios create it."""

    ref: str
    purpose: str
    optional_locally: bool = False


def secret_arn(ctx: StackContext, ref: str) -> str:
    """The IAM resource of ``secretsmanager:<name>`` (any of its version suffixes) or ``ssm:<name>``."""
    service, _, name = ref.partition(":")
    if service == "secretsmanager":
        return f"arn:aws:secretsmanager:{ctx.region}:{ctx.account_id}:secret:{name}-*"
    return f"arn:aws:ssm:{ctx.region}:{ctx.account_id}:parameter/{name.lstrip('/')}"


def policy_document(permissions: tuple[Permission, ...]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [p.statement() for p in permissions]}


@dataclass(frozen=True)
class Key:
    name: str
    type: str = "S"


@dataclass(frozen=True)
class Gsi:
    name: str
    partition_key: Key
    sort_key: Key | None = None


@dataclass(frozen=True)
class Table:
    name: str
    partition_key: Key
    sort_key: Key | None = None
    gsis: tuple[Gsi, ...] = ()
    ttl_attribute: str | None = None
    kind = "table"

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        return {
            "partitionKey": [self.partition_key.name, self.partition_key.type],
            "sortKey": [self.sort_key.name, self.sort_key.type] if self.sort_key else None,
            "gsis": sorted(
                [g.name, [g.partition_key.name, g.partition_key.type], [g.sort_key.name, g.sort_key.type] if g.sort_key else None]
                for g in self.gsis
            ),
            "ttlAttribute": self.ttl_attribute,
        }


@dataclass(frozen=True)
class Queue:
    name: str
    visibility_timeout: int = 30
    dlq: str | None = None
    max_receive_count: int = 3
    kind = "queue"

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        return {
            "visibilityTimeout": self.visibility_timeout,
            "dlqArn": ctx.queue_arn(self.dlq) if self.dlq else None,
            "maxReceiveCount": self.max_receive_count if self.dlq else None,
        }


@dataclass(frozen=True)
class Bucket:
    """An S3 bucket, private (public access blocked). ``destroy`` empties it before deleting it."""

    name: str
    kind = "bucket"

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        return {"publicAccessBlocked": True}


@dataclass(frozen=True)
class Role:
    name: str
    assumed_by: str  # service principal, e.g. lambda.amazonaws.com
    permissions: tuple[Permission, ...] = ()
    kind = "role"

    def trust_policy(self) -> dict[str, Any]:
        return {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": self.assumed_by}, "Action": "sts:AssumeRole"}],
        }

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        return {"trust": self.trust_policy(), "policy": policy_document(self.permissions)}


@dataclass(frozen=True)
class Function:
    name: str
    handler: str
    env: tuple[tuple[str, str], ...] = ()
    timeout: int = 60
    memory: int = 256
    permissions: tuple[Permission, ...] = ()
    runtime: str = "python3.11"
    kind = "function"

    @property
    def role_name(self) -> str:
        return f"{self.name}-role"

    def role(self) -> Role:
        logs = Permission(("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"))
        return Role(self.role_name, "lambda.amazonaws.com", (logs, *self.permissions))

    def environment(self, ctx: StackContext) -> dict[str, str]:
        env = dict(self.env)
        if ctx.local:
            env["SFN_CALLBACK_LOCAL"] = "1"
        return dict(sorted(env.items()))

    def properties(self, ctx: StackContext, code_sha256: str | None = None) -> dict[str, Any]:
        return {
            "handler": self.handler,
            "runtime": self.runtime,
            "timeout": self.timeout,
            "memory": self.memory,
            "environment": self.environment(ctx),
            "role": ctx.role_arn(self.role_name),
            "codeSha256": code_sha256,
        }


@dataclass(frozen=True)
class FunctionUrl:
    """A Lambda Function URL for ``function`` (its name is the function's). ``AuthType NONE``: the function
    authenticates the request itself (the push endpoint checks an HMAC signature); both routes add the
    resource policy that lets anyone invoke it through the URL (``lambda:InvokeFunctionUrl`` with
    ``FunctionUrlAuthType NONE``, and ``lambda:InvokeFunction`` only via the Function URL)."""

    function: str
    auth_type: str = "NONE"
    kind = "function-url"

    @property
    def name(self) -> str:
        return self.function

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        return {"functionArn": ctx.function_arn(self.function), "authType": self.auth_type}


@dataclass(frozen=True)
class EventSourceMapping:
    function: str
    queue: str
    batch_size: int = 10
    report_batch_item_failures: bool = True
    kind = "event-source-mapping"

    @property
    def name(self) -> str:
        return f"{self.queue}->{self.function}"

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        return {
            "functionArn": ctx.function_arn(self.function),
            "queueArn": ctx.queue_arn(self.queue),
            "batchSize": self.batch_size,
            "reportBatchItemFailures": self.report_batch_item_failures,
        }


@dataclass(frozen=True)
class ScheduleGroup:
    name: str
    kind = "schedule-group"

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Schedule:
    """An EventBridge Scheduler schedule invoking a function (``name`` is ``group/schedule``)."""

    schedule: str
    group: str
    expression: str
    function: str
    role: str
    input: str = "{}"
    kind = "schedule"

    @property
    def name(self) -> str:
        return f"{self.group}/{self.schedule}"

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "targetArn": ctx.function_arn(self.function),
            "roleArn": ctx.role_arn(self.role),
            "input": self.input,
            "state": "ENABLED",
        }


@dataclass(frozen=True)
class LogGroup:
    name: str
    retention_days: int | None = 14
    kind = "log-group"

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        return {"retentionDays": self.retention_days}


@dataclass(frozen=True)
class StateMachine:
    name: str
    definition_package: str  # e.g. "sfn_callback.poc"
    definition_file: str  # e.g. "workflow.asl.json"
    role: str
    substitutions: tuple[tuple[str, str], ...] = ()
    kind = "state-machine"

    def definition(self) -> dict[str, Any]:
        text = resources.files(self.definition_package).joinpath(self.definition_file).read_text()
        return substitute(json.loads(text), dict(self.substitutions))

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        return {"definition": self.definition(), "role": ctx.role_arn(self.role)}


def substitute(doc: Any, values: dict[str, str]) -> Any:
    """Replace ``${Name}`` placeholders in every string of a parsed JSON document."""
    if isinstance(doc, dict):
        return {k: substitute(v, values) for k, v in doc.items()}
    if isinstance(doc, list):
        return [substitute(v, values) for v in doc]
    if isinstance(doc, str):
        for name, value in values.items():
            doc = doc.replace("${" + name + "}", value)
        return doc
    return doc


@dataclass(frozen=True)
class Topic:
    """An SNS topic (alarm notifications)."""

    name: str
    kind = "topic"

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class MetricQuery:
    """One query of a metric-math alarm: a metric (``namespace`` and ``metric_name``) or an ``expression``."""

    id: str
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    stat: str | None = None
    period: int | None = None
    expression: str | None = None
    label: str | None = None
    return_data: bool = False

    def properties(self) -> dict[str, Any]:
        if self.expression is not None:
            return {"id": self.id, "expression": self.expression, "label": self.label,
                    "returnData": self.return_data}
        return {"id": self.id, "namespace": self.namespace, "metricName": self.metric_name,
                "dimensions": dict(sorted(self.dimensions)), "stat": self.stat, "period": self.period,
                "returnData": self.return_data}


@dataclass(frozen=True)
class Alarm:
    """A CloudWatch metric alarm on one metric (``namespace``, ``metric_name``, ``statistic``, ``period``) or on
    metric math (``queries``, one of them ``return_data``); its actions on ALARM and on OK: the SNS ``topic``."""

    name: str
    description: str
    comparison: str
    threshold: float
    evaluation_periods: int
    topic: str
    datapoints_to_alarm: int | None = None
    treat_missing_data: str = "notBreaching"
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    statistic: str | None = None
    period: int | None = None
    queries: tuple[MetricQuery, ...] = ()
    kind = "alarm"

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        single = not self.queries
        return {
            "description": self.description,
            "comparison": self.comparison,
            "threshold": float(self.threshold),
            "evaluationPeriods": self.evaluation_periods,
            "datapointsToAlarm": self.datapoints_to_alarm or self.evaluation_periods,
            "treatMissingData": self.treat_missing_data,
            "alarmActions": [ctx.topic_arn(self.topic)],
            "okActions": [ctx.topic_arn(self.topic)],
            "metric": {"namespace": self.namespace, "metricName": self.metric_name,
                       "dimensions": dict(sorted(self.dimensions)), "statistic": self.statistic,
                       "period": self.period} if single else None,
            # Queries refer to each other by id; their order means nothing (Terraform and AWS reorder them).
            "queries": sorted((q.properties() for q in self.queries), key=lambda q: q["id"]) if not single else None,
        }


@dataclass(frozen=True)
class Dashboard:
    """A CloudWatch dashboard; ``body`` is its JSON text (the ``DashboardBody``)."""

    name: str
    body: str
    kind = "dashboard"

    def properties(self, ctx: StackContext) -> dict[str, Any]:
        return {"body": json.loads(self.body)}


Resource = (Table | Bucket | Queue | Role | Function | FunctionUrl | EventSourceMapping | ScheduleGroup | Schedule | LogGroup
            | StateMachine | Topic | Alarm | Dashboard)

# Creation order; deletion runs in reverse.
KIND_ORDER = ("log-group", "table", "bucket", "queue", "role", "function", "function-url", "event-source-mapping", "schedule-group", "schedule",
              "state-machine", "topic", "alarm", "dashboard")


@dataclass
class Stack:
    ctx: StackContext
    resources: list[Resource] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What a component found wrong in its configuration while contributing: ``plan`` and ``deploy`` refuse
    the stack, naming each."""
    secrets: list[SecretRequirement] = field(default_factory=list)
    """Secrets the stack's functions read at run time, which must exist on the target (checked at plan)."""

    def require_secret(self, ref: str, purpose: str, optional_locally: bool = False) -> None:
        self.secrets.append(SecretRequirement(ref, purpose, optional_locally))

    def add(self, *items: Resource) -> None:
        for item in items:
            if any(r.kind == item.kind and r.name == item.name for r in self.resources):
                raise ValueError(f"duplicate {item.kind} {item.name!r} in the stack")
            self.resources.append(item)
            if isinstance(item, Function):
                self.resources.append(item.role())
                self.resources.append(LogGroup(f"/aws/lambda/{item.name}"))

    def ordered(self) -> list[Resource]:
        return sorted(self.resources, key=lambda r: (KIND_ORDER.index(r.kind), self._queue_rank(r), r.name))

    def _queue_rank(self, r: Resource) -> int:
        # A queue's DLQ is created before the queue that redrives to it.
        return 1 if isinstance(r, Queue) and r.dlq else 0

    def find(self, kind: str) -> list[Resource]:
        return [r for r in self.ordered() if r.kind == kind]
