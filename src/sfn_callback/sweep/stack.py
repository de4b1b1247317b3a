"""The sweep poller's resources: the function, its schedule group and the one schedule that fires it.

The schedule is ``rate(1 minute)`` on AWS (Scheduler's minimum) and ``rate(1 second)`` on a local target,
where ``SFN_CALLBACK_SWEEP_SECONDS`` may set another number of seconds.
"""

from __future__ import annotations

import os

from sfn_callback import config
from sfn_callback.deploy.spec import Function, Permission, Role, Schedule, ScheduleGroup, Stack, StackContext

SWEEP_FUNCTION = "poc-sweep-poller"
SWEEP_SCHEDULE_GROUP = "poc-sweep"
SWEEP_SCHEDULE = "poc-sweep"
SWEEP_SCHEDULER_ROLE = f"{SWEEP_SCHEDULE_GROUP}-scheduler-role"


def sweep_expression(ctx: StackContext) -> str:
    if not ctx.local:
        return "rate(1 minute)"
    raw = os.environ.get("SFN_CALLBACK_SWEEP_SECONDS", "1")
    try:
        seconds = int(raw)
    except ValueError:
        raise ValueError(f"SFN_CALLBACK_SWEEP_SECONDS must be a whole number of seconds, got {raw!r}") from None
    if seconds < 1:
        raise ValueError(f"SFN_CALLBACK_SWEEP_SECONDS must be at least 1, got {seconds}")
    return f"rate({seconds} second{'s' if seconds != 1 else ''})"


def contribute(stack: Stack, ctx: StackContext) -> None:
    tokens_arn = ctx.table_arn(config.TOKENS_TABLE)
    sweep_arn = ctx.function_arn(SWEEP_FUNCTION)
    stack.add(
        Function(
            SWEEP_FUNCTION,
            "sfn_callback.sweep.handler.handler",
            env=(
                ("TOKENS_TABLE", config.TOKENS_TABLE),
                ("SIMULATED_API_LAMBDA", config.SIMULATED_API_FUNCTION),
                ("SWEEP_CONCURRENCY", "8"),
                ("SWEEP_MAX_RECORDS", "500"),
                ("POWERTOOLS_SERVICE_NAME", "poc-sweep"),
            ),
            timeout=50,
            permissions=(
                Permission(("lambda:InvokeFunction",), (ctx.function_arn(config.SIMULATED_API_FUNCTION),)),
                Permission(("dynamodb:GetItem", "dynamodb:UpdateItem"), (tokens_arn,)),
                Permission(("dynamodb:Query",), (f"{tokens_arn}/index/*",)),
                Permission(("states:SendTaskSuccess", "states:SendTaskFailure"), ("*",)),
            ),
        ),
        Role(SWEEP_SCHEDULER_ROLE, "scheduler.amazonaws.com", (Permission(("lambda:InvokeFunction",), (sweep_arn,)),)),
        ScheduleGroup(SWEEP_SCHEDULE_GROUP),
        Schedule(SWEEP_SCHEDULE, SWEEP_SCHEDULE_GROUP, sweep_expression(ctx), SWEEP_FUNCTION, SWEEP_SCHEDULER_ROLE),
    )
