"""The stack's monitoring (issue "production monitoring"): the scheduled token-metrics function, the SNS topic
``poc-alerts``, the alarms and the dashboard ``poc-callbacks``. Names in :mod:`sfn_callback.metrics.names`.

It runs last (``sfn_callback.deploy.stack.COMPONENT_MODULES``): it alarms on what the other components
contributed (every dead-letter queue, every state machine).

Periods: on AWS seed 004's (``CallbackFailureRate`` 300 s, ``StepFunctionTimeouts`` 3600 s) and a minute for
the others; on a local target every alarm has :data:`LOCAL_PERIOD` (10 s, which the local cloud evaluates every
10 s) so a scenario sees an alarm fire and clear within a minute. Every alarm treats missing data as not
breaching (no callbacks in a period is not a failure) and notifies ``poc-alerts`` on ALARM and on OK.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sfn_callback import config
from sfn_callback.deploy.spec import (
    Alarm,
    Dashboard,
    Function,
    MetricQuery,
    Permission,
    Queue,
    Role,
    Schedule,
    ScheduleGroup,
    Stack,
    StackContext,
    StateMachine,
    Topic,
)
from sfn_callback.metrics import names as n

TOKEN_METRICS_HANDLER = "sfn_callback.monitoring.token_metrics.handler"
SCHEDULE_GROUP = "poc-monitoring"
SCHEDULER_ROLE = f"{SCHEDULE_GROUP}-scheduler-role"
LOCAL_PERIOD = 10
LOCAL_TOKEN_METRICS_RATE = "rate(5 seconds)"  # two samples per 10-second period
AWS_TOKEN_METRICS_RATE = "rate(1 minute)"  # Scheduler's minimum
FAILURE_RATE_PERCENT = 5


@dataclass(frozen=True)
class Periods:
    callback_failure_rate: int
    step_function_timeouts: int
    other: int

    @classmethod
    def for_context(cls, ctx: StackContext) -> Periods:
        if ctx.local:
            return cls(LOCAL_PERIOD, LOCAL_PERIOD, LOCAL_PERIOD)
        return cls(300, 3600, 60)


def _component(name: str) -> tuple[tuple[str, str], ...]:
    return ((n.COMPONENT_DIMENSION, name),)


def callback_failure_rate(ctx: StackContext, period: int) -> Alarm:
    """100 × failures / (successes + failures) over every callback sender, in one metric-math alarm."""
    senders = [(n.NAMESPACE, c) for c in n.CALLBACK_SENDERS] + [(n.EXPORT_NAMESPACE, n.EXPORT)]
    queries: list[MetricQuery] = []
    for i, (namespace, component) in enumerate(senders, start=1):
        for prefix, metric in (("s", n.CALLBACK_SUCCESS), ("f", n.CALLBACK_FAILURE)):
            queries.append(MetricQuery(f"{prefix}{i}", namespace=namespace, metric_name=metric,
                                       dimensions=_component(component), stat="Sum", period=period))
    ok = ", ".join(f"s{i}" for i in range(1, len(senders) + 1))
    failed = ", ".join(f"f{i}" for i in range(1, len(senders) + 1))
    queries.append(MetricQuery("rate", expression=f"100 * SUM([{failed}]) / (SUM([{ok}]) + SUM([{failed}]))",
                               label="Callback failure rate (%)", return_data=True))
    return Alarm(n.ALARM_CALLBACK_FAILURE_RATE,
                 f"More than {FAILURE_RATE_PERCENT}% of task callbacks (poller, sweep, approval service, export) "
                 f"could not be sent over {period} s.",
                 "GreaterThanThreshold", FAILURE_RATE_PERCENT, 1, n.ALERTS_TOPIC, queries=tuple(queries))


def step_function_timeouts(ctx: StackContext, machines: list[str], period: int) -> Alarm:
    queries = [MetricQuery(f"t{i}", namespace="AWS/States", metric_name="ExecutionsTimedOut",
                           dimensions=(("StateMachineArn", ctx.state_machine_arn(name)),), stat="Sum", period=period)
               for i, name in enumerate(machines, start=1)]
    ids = ", ".join(q.id for q in queries)
    queries.append(MetricQuery("timedOut", expression=f"SUM([{ids}])", label="Executions timed out",
                               return_data=True))
    return Alarm(n.ALARM_STEP_FUNCTION_TIMEOUTS,
                 f"At least one execution of the stack's state machines timed out over {period} s.",
                 "GreaterThanOrEqualToThreshold", 1, 1, n.ALERTS_TOPIC, queries=tuple(queries))


def poller_errors(period: int) -> Alarm:
    queries = (
        MetricQuery("poller", namespace=n.NAMESPACE, metric_name=n.POLLER_ERRORS, dimensions=_component(n.POLLER),
                    stat="Sum", period=period),
        MetricQuery("sweep", namespace=n.NAMESPACE, metric_name=n.POLLER_ERRORS, dimensions=_component(n.SWEEP),
                    stat="Sum", period=period),
        MetricQuery("errors", expression="poller + sweep", label="Poll errors", return_data=True),
    )
    return Alarm(n.ALARM_POLLER_ERRORS, f"A poll (per-job poller or sweep) failed within {period} s.",
                 "GreaterThanOrEqualToThreshold", 1, 1, n.ALERTS_TOPIC, queries=queries)


def dlq_not_empty(queue: str, period: int) -> Alarm:
    return Alarm(n.dlq_alarm(queue), f"Messages wait in the dead-letter queue {queue}.",
                 "GreaterThanThreshold", 0, 1, n.ALERTS_TOPIC, namespace="AWS/SQS",
                 metric_name="ApproximateNumberOfMessagesVisible", dimensions=(("QueueName", queue),),
                 statistic="Maximum", period=period)


def token_past_timeout(period: int) -> Alarm:
    return Alarm(n.ALARM_TOKEN_PAST_TIMEOUT, "A task token waits beyond its polling timeout.",
                 "GreaterThanOrEqualToThreshold", 1, 1, n.ALERTS_TOPIC, namespace=n.NAMESPACE,
                 metric_name=n.TOKENS_PAST_TIMEOUT, dimensions=_component(n.TOKEN_METRICS), statistic="Maximum",
                 period=period)


def dashboard_body(ctx: StackContext, alarms: list[Alarm], machines: list[str], dlqs: list[str],
                   periods: Periods) -> str:
    region, p = ctx.region, periods.other

    def metric(namespace: str, name: str, *dims: str, stat: str = "Sum", label: str | None = None) -> list[Any]:
        options: dict[str, Any] = {"stat": stat}
        if label:
            options["label"] = label
        return [namespace, name, *dims, options]

    def graph(title: str, metrics: list[list[Any]], x: int, y: int, width: int = 12) -> dict[str, Any]:
        return {"type": "metric", "x": x, "y": y, "width": width, "height": 6,
                "properties": {"title": title, "region": region, "view": "timeSeries", "stacked": False,
                               "period": p, "metrics": metrics}}

    senders = [(n.NAMESPACE, c) for c in n.CALLBACK_SENDERS] + [(n.EXPORT_NAMESPACE, n.EXPORT)]
    callbacks = [metric(ns, m, n.COMPONENT_DIMENSION, c, label=f"{c} {m}")
                 for ns, c in senders for m in (n.CALLBACK_SUCCESS, n.CALLBACK_FAILURE)]
    latency = [metric(ns, n.CALLBACK_LATENCY, n.COMPONENT_DIMENSION, c, stat="p99", label=f"{c} p99")
               for ns, c in senders]
    polls = [metric(n.NAMESPACE, m, n.COMPONENT_DIMENSION, c, label=f"{c} {m}")
             for c in (n.POLLER, n.SWEEP) for m in (n.POLL_ATTEMPTS, n.POLLER_ERRORS)]
    tokens = [metric(n.NAMESPACE, m, n.COMPONENT_DIMENSION, n.TOKEN_METRICS, stat="Maximum")
              for m in (n.TOKENS_WAITING, n.OLDEST_TOKEN_AGE, n.TOKENS_PAST_TIMEOUT)]
    approvals = [metric(n.NAMESPACE, m, n.COMPONENT_DIMENSION, n.APPROVAL_SERVICE)
                 for m in (n.DECISION_CONFLICTS, n.LATE_DECISIONS)] + [
        metric(n.NAMESPACE, n.TIME_TO_DECISION, n.COMPONENT_DIMENSION, n.APPROVAL_SERVICE, stat="Average")]
    executions = [metric("AWS/States", m, "StateMachineArn", arn)
                for arn in map(ctx.state_machine_arn, machines) for m in ("ExecutionsTimedOut", "ExecutionsFailed")]
    queues = [metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q, stat="Maximum") for q in dlqs]
    widgets = [
        {"type": "alarm", "x": 0, "y": 0, "width": 24, "height": 3,
         "properties": {"title": "Alarms", "alarms": [_alarm_arn(ctx, a.name) for a in alarms]}},
        graph("Callbacks sent and failed", callbacks, 0, 3),
        graph("Callback latency (ms)", latency, 12, 3),
        graph("Polls and poll errors", polls, 0, 9),
        graph("Waiting tokens", tokens, 12, 9),
        graph("Approval decisions", approvals, 0, 15),
        graph("Executions timed out or failed", executions, 12, 15),
        graph("Dead-letter queues", queues, 0, 21, width=24),
    ]
    return json.dumps({"widgets": widgets}, sort_keys=True)


def _alarm_arn(ctx: StackContext, name: str) -> str:
    return f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}"


def dead_letter_queues(stack: Stack) -> list[str]:
    return sorted({r.dlq for r in stack.resources if isinstance(r, Queue) and r.dlq})


def contribute(stack: Stack, ctx: StackContext) -> None:
    periods = Periods.for_context(ctx)
    machines = sorted(r.name for r in stack.resources if isinstance(r, StateMachine))
    dlqs = dead_letter_queues(stack)
    function_arn = ctx.function_arn(n.TOKEN_METRICS_FUNCTION)
    stack.add(
        Function(
            n.TOKEN_METRICS_FUNCTION,
            TOKEN_METRICS_HANDLER,
            env=(("TOKENS_TABLE", config.TOKENS_TABLE), ("APPROVALS_TABLE", config.APPROVALS_TABLE),
                 ("POWERTOOLS_SERVICE_NAME", n.TOKEN_METRICS_FUNCTION)),
            timeout=30,
            permissions=(Permission(("dynamodb:Query",), (f"{ctx.table_arn(config.TOKENS_TABLE)}/index/*",
                                                          f"{ctx.table_arn(config.APPROVALS_TABLE)}/index/*")),),
        ),
        Role(SCHEDULER_ROLE, "scheduler.amazonaws.com", (Permission(("lambda:InvokeFunction",), (function_arn,)),)),
        ScheduleGroup(SCHEDULE_GROUP),
        Schedule(n.TOKEN_METRICS_FUNCTION, SCHEDULE_GROUP,
                 LOCAL_TOKEN_METRICS_RATE if ctx.local else AWS_TOKEN_METRICS_RATE, n.TOKEN_METRICS_FUNCTION,
                 SCHEDULER_ROLE),
        Topic(n.ALERTS_TOPIC),
    )
    alarms = [
        callback_failure_rate(ctx, periods.callback_failure_rate),
        step_function_timeouts(ctx, machines, periods.step_function_timeouts),
        poller_errors(periods.other),
        token_past_timeout(periods.other),
        *(dlq_not_empty(q, periods.other) for q in dlqs),
    ]
    stack.add(*alarms)
    stack.add(Dashboard(n.DASHBOARD, dashboard_body(ctx, alarms, machines, dlqs, periods)))
