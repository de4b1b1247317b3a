"""Deploy the example with the project's deploy spec: ``python -m examples.own_job_poller.deploy [--endpoint URL]``.

Resources (names prefixed ``own-``): the token table (with the status index the sweep uses), the job table, the
create-job and poller functions, the schedule group and its role, the workflow.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from examples.bundle import apply
from sfn_callback.config import Target
from sfn_callback.deploy.deployer import ApplyResult
from sfn_callback.deploy.spec import (
    Function,
    Gsi,
    Key,
    Permission,
    Role,
    ScheduleGroup,
    Stack,
    StackContext,
    StateMachine,
    Table,
)
from sfn_callback.polling.adapters.dynamodb import STATUS_INDEX, STATUS_INDEX_SORT_KEY

TOKENS, JOBS, GROUP = "own-task-tokens", "own-jobs", "own-polling"
CREATE_JOB, POLLER, WORKFLOW = "own-create-job", "own-poller", "own-render-workflow"
SCHEDULER_ROLE, WORKFLOW_ROLE = "own-polling-scheduler-role", "own-render-workflow-role"
HERE = Path(__file__).resolve().parent


def stack(ctx: StackContext) -> Stack:
    poller_arn = ctx.function_arn(POLLER)
    schedules = ctx.schedule_group_arn(GROUP)
    env = (("TOKENS_TABLE", TOKENS), ("OWN_JOBS_TABLE", JOBS), ("SCHEDULER_GROUP", GROUP),
           ("POLLER_LAMBDA_ARN", poller_arn), ("SCHEDULER_ROLE_ARN", ctx.role_arn(SCHEDULER_ROLE)))
    tokens, jobs = ctx.table_arn(TOKENS), ctx.table_arn(JOBS)
    built = Stack(ctx)
    built.add(
        Table(TOKENS, Key("jobId"), gsis=(Gsi(STATUS_INDEX, Key("status"), Key(STATUS_INDEX_SORT_KEY)),),
              ttl_attribute="ttl"),
        Table(JOBS, Key("jobId")),
        Function(CREATE_JOB, "own_job_poller.handlers.create_job", env=env, permissions=(
            Permission(("dynamodb:PutItem",), (jobs,)),
            Permission(("dynamodb:PutItem", "dynamodb:DeleteItem"), (tokens,)),
            Permission(("scheduler:CreateSchedule",), (schedules,)),
            Permission(("iam:PassRole",), (ctx.role_arn(SCHEDULER_ROLE),)))),
        Function(POLLER, "own_job_poller.handlers.poll", env=env, permissions=(
            Permission(("dynamodb:UpdateItem",), (jobs,)),
            Permission(("dynamodb:GetItem", "dynamodb:UpdateItem"), (tokens,)),
            Permission(("states:SendTaskSuccess", "states:SendTaskFailure"), ("*",)),
            Permission(("scheduler:DeleteSchedule",), (schedules,)))),
        Role(SCHEDULER_ROLE, "scheduler.amazonaws.com", (Permission(("lambda:InvokeFunction",), (poller_arn,)),)),
        ScheduleGroup(GROUP),
        Role(WORKFLOW_ROLE, "states.amazonaws.com",
             (Permission(("lambda:InvokeFunction",), (ctx.function_arn(CREATE_JOB),)),)),
        StateMachine(WORKFLOW, "examples.own_job_poller", "workflow.asl.json", role=WORKFLOW_ROLE,
                     substitutions=(("CreateJobFunctionArn", ctx.function_arn(CREATE_JOB)),)),
    )
    return built


def deploy(target: Target) -> ApplyResult:
    return apply(target, "own-job-poller", stack, HERE)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566", help="a local cloud, or 'aws'")
    args = parser.parse_args()
    result = deploy(Target(endpoint_url=None if args.endpoint == "aws" else args.endpoint))
    print(f"applied {len(result.applied)} changes")
