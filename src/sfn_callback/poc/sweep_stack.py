"""The sweep poller's resources: the function, its schedule group and the one schedule that fires it.

The schedule is ``rate(1 minute)`` on AWS (Scheduler's minimum) and ``rate(1 second)`` on a local target,
where ``SFN_CALLBACK_SWEEP_SECONDS`` may set another number of seconds.

One sweep runs at a time (the lease); it keeps sweeping while it finds work, for up to
:data:`SWEEP_MAX_SECONDS` (within the function's timeout), and looks ahead one sweep period locally (ten seconds
on AWS, where the period is a minute and a longer wait would be billed as Lambda duration).

It adopts per-job records that their own schedule has not polled for ``SWEEP_ADOPT_AFTER_SECONDS`` (see
``service``): :data:`AWS_ADOPT_AFTER_SECONDS` on AWS, longer than create-job's timeout plus a Scheduler
delivery and a queued poller invocation; :data:`LOCAL_ADOPT_AFTER_SECONDS` on a local target (per-job
schedules fire every second there), where ``SFN_CALLBACK_SWEEP_ADOPT_SECONDS`` may set another number of
seconds (0: no adoption), e.g. for a per-job benchmark under overload that should measure per-job polling only.
"""

from __future__ import annotations

import os

from sfn_callback import config
from sfn_callback.deploy.spec import Function, Permission, Role, Schedule, ScheduleGroup, Stack, StackContext
from sfn_callback.poc.job_api import contribute_config

SWEEP_FUNCTION = "poc-sweep-poller"
SWEEP_SCHEDULE_GROUP = "poc-sweep"
SWEEP_SCHEDULE = "poc-sweep"
SWEEP_SCHEDULER_ROLE = f"{SWEEP_SCHEDULE_GROUP}-scheduler-role"
SWEEP_TIMEOUT_SECONDS = 50
SWEEP_MAX_SECONDS = 40
SWEEP_CONCURRENCY = 10
"""The pool: as many polls at once as the simulated API's concurrency (the local Lambda runtime's default 10)."""
AWS_LOOKAHEAD_SECONDS = 10
AWS_ADOPT_AFTER_SECONDS = 300
LOCAL_ADOPT_AFTER_SECONDS = 30  # well past a per-job poll delayed by an overloaded laptop


def _whole_seconds(variable: str, default: int, minimum: int) -> int:
    raw = os.environ.get(variable, str(default))
    try:
        seconds = int(raw)
    except ValueError:
        raise ValueError(f"{variable} must be a whole number of seconds, got {raw!r}") from None
    if seconds < minimum:
        raise ValueError(f"{variable} must be at least {minimum}, got {seconds}")
    return seconds


def sweep_seconds(ctx: StackContext) -> int:
    return _whole_seconds("SFN_CALLBACK_SWEEP_SECONDS", 1, 1) if ctx.local else 60


def adopt_after_seconds(ctx: StackContext) -> int:
    if not ctx.local:
        return AWS_ADOPT_AFTER_SECONDS
    return _whole_seconds("SFN_CALLBACK_SWEEP_ADOPT_SECONDS", LOCAL_ADOPT_AFTER_SECONDS, 0)


def sweep_expression(ctx: StackContext) -> str:
    if not ctx.local:
        return "rate(1 minute)"
    seconds = sweep_seconds(ctx)
    return f"rate({seconds} second{'s' if seconds != 1 else ''})"


def contribute(stack: Stack, ctx: StackContext) -> None:
    tokens_arn = ctx.table_arn(config.TOKENS_TABLE)
    sweep_arn = ctx.function_arn(SWEEP_FUNCTION)
    lookahead = min(sweep_seconds(ctx), AWS_LOOKAHEAD_SECONDS)
    job_api_env, job_api_permissions = contribute_config(stack, ctx)
    stack.add(
        Function(
            SWEEP_FUNCTION,
            "sfn_callback.poc.entrypoints.poc_sweep_poller.handler",
            env=(
                ("TOKENS_TABLE", config.TOKENS_TABLE),
                ("SIMULATED_API_LAMBDA", config.SIMULATED_API_FUNCTION),
                ("SWEEP_CONCURRENCY", str(SWEEP_CONCURRENCY)),
                ("SWEEP_MAX_RECORDS", "500"),
                ("SWEEP_LOOKAHEAD_SECONDS", str(lookahead)),
                ("SWEEP_MAX_SECONDS", str(SWEEP_MAX_SECONDS)),
                ("SWEEP_LEASE", SWEEP_SCHEDULE),
                ("SWEEP_ADOPT_AFTER_SECONDS", str(adopt_after_seconds(ctx))),
                ("POWERTOOLS_SERVICE_NAME", "poc-sweep"),
            ) + job_api_env,
            timeout=SWEEP_TIMEOUT_SECONDS,
            permissions=job_api_permissions + (
                Permission(("lambda:InvokeFunction",), (ctx.function_arn(config.SIMULATED_API_FUNCTION),)),
                Permission(("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem"),
                           (tokens_arn,)),
                Permission(("dynamodb:Query",), (f"{tokens_arn}/index/*",)),
                Permission(("states:SendTaskSuccess", "states:SendTaskFailure"), ("*",)),
            ),
        ),
        Role(SWEEP_SCHEDULER_ROLE, "scheduler.amazonaws.com", (Permission(("lambda:InvokeFunction",), (sweep_arn,)),)),
        ScheduleGroup(SWEEP_SCHEDULE_GROUP),
        Schedule(SWEEP_SCHEDULE, SWEEP_SCHEDULE_GROUP, sweep_expression(ctx), SWEEP_FUNCTION, SWEEP_SCHEDULER_ROLE),
    )
