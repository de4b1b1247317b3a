"""The PoC's resources (seed names): two tables, four functions (the push endpoint with its Function URL), the
schedule group, the workflow, and the
batch workflow (one callback job per record in a Distributed Map, each record a child execution)."""

from __future__ import annotations

from sfn_callback import config
from sfn_callback.deploy.spec import (
    Function,
    FunctionUrl,
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
from sfn_callback.poc.job_api import contribute_config
from sfn_callback.polling.adapters.dynamodb import STATUS_INDEX, STATUS_INDEX_SORT_KEY

SCHEDULER_ROLE = f"{config.POLLING_SCHEDULE_GROUP}-scheduler-role"
WORKFLOW_ROLE = f"{config.CALLBACK_WORKFLOW}-role"
BATCH_WORKFLOW_ROLE = f"{config.BATCH_WORKFLOW}-role"
HANDLERS = "sfn_callback.poc.entrypoints"


def contribute(stack: Stack, ctx: StackContext) -> None:
    tokens_arn = ctx.table_arn(config.TOKENS_TABLE)
    jobs_arn = ctx.table_arn(config.JOBS_TABLE)
    api_arn = ctx.function_arn(config.SIMULATED_API_FUNCTION)
    poller_arn = ctx.function_arn(config.POLLER_FUNCTION)
    schedules_arn = ctx.schedule_group_arn(config.POLLING_SCHEDULE_GROUP)
    common_env = (
        ("TOKENS_TABLE", config.TOKENS_TABLE),
        ("JOBS_TABLE", config.JOBS_TABLE),
        ("SIMULATED_API_LAMBDA", config.SIMULATED_API_FUNCTION),
        ("SCHEDULER_GROUP", config.POLLING_SCHEDULE_GROUP),
        ("POLLER_LAMBDA_ARN", poller_arn),
        ("SCHEDULER_ROLE_ARN", ctx.role_arn(SCHEDULER_ROLE)),
        ("POWERTOOLS_SERVICE_NAME", "poc-callback"),
        ("PUSH_FUNCTION", config.PUSH_FUNCTION),
    )
    # The HTTP job adapter's configuration (sfn_callback.poc.job_api) for the functions that talk to the job API.
    job_api_env, job_api_permissions = contribute_config(stack, ctx)
    job_env = tuple(sorted(common_env + job_api_env))
    stack.add(
        Table(
            config.TOKENS_TABLE,
            Key("jobId"),
            gsis=(Gsi(STATUS_INDEX, Key("status"), Key(STATUS_INDEX_SORT_KEY)),),
            ttl_attribute="ttl",
        ),
        Table(config.JOBS_TABLE, Key("jobId")),
        Function(
            config.SIMULATED_API_FUNCTION,
            f"{HANDLERS}.poc_simulated_api.handler",
            env=common_env,
            timeout=30,
            # DeleteItem: CANCEL_JOB, create-job's undo when a later step fails.
            permissions=(Permission(("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"), (jobs_arn,)),),
        ),
        Function(
            config.CREATE_JOB_FUNCTION,
            f"{HANDLERS}.poc_create_job.handler",
            env=job_env,
            permissions=job_api_permissions + (
                Permission(("lambda:InvokeFunction",), (api_arn,)),
                Permission(("dynamodb:PutItem", "dynamodb:DeleteItem"), (tokens_arn,)),
                Permission(("scheduler:CreateSchedule",), (schedules_arn,)),
                Permission(("iam:PassRole",), (ctx.role_arn(SCHEDULER_ROLE),)),
                # The push URL given to job APIs for jobs that expect a push (read at the first such job).
                Permission(("lambda:GetFunctionUrlConfig",), (ctx.function_arn(config.PUSH_FUNCTION),)),
            ),
        ),
        Function(
            config.POLLER_FUNCTION,
            f"{HANDLERS}.poc_poller.handler",
            env=job_env,
            permissions=job_api_permissions + (
                Permission(("lambda:InvokeFunction",), (api_arn,)),
                Permission(("dynamodb:GetItem", "dynamodb:UpdateItem"), (tokens_arn,)),
                Permission(("states:SendTaskSuccess", "states:SendTaskFailure"), ("*",)),
                Permission(("scheduler:DeleteSchedule",), (schedules_arn,)),
            ),
        ),
        Function(
            config.PUSH_FUNCTION,
            f"{HANDLERS}.poc_job_push.handler",
            env=job_env,
            timeout=30,
            permissions=(
                # Read the record, ADD pushIds (the replay check), claim and finalize.
                Permission(("dynamodb:GetItem", "dynamodb:UpdateItem"), (tokens_arn,)),
                Permission(("states:SendTaskSuccess", "states:SendTaskFailure"), ("*",)),
                Permission(("scheduler:DeleteSchedule",), (schedules_arn,)),
            ),
        ),
        FunctionUrl(config.PUSH_FUNCTION),
        Role(SCHEDULER_ROLE, "scheduler.amazonaws.com", (Permission(("lambda:InvokeFunction",), (poller_arn,)),)),
        ScheduleGroup(config.POLLING_SCHEDULE_GROUP),
        Role(
            WORKFLOW_ROLE,
            "states.amazonaws.com",
            (Permission(("lambda:InvokeFunction",), (ctx.function_arn(config.CREATE_JOB_FUNCTION),)),),
        ),
        StateMachine(
            config.CALLBACK_WORKFLOW,
            "sfn_callback.poc",
            "workflow.asl.json",
            role=WORKFLOW_ROLE,
            substitutions=(("CreateJobFunctionArn", ctx.function_arn(config.CREATE_JOB_FUNCTION)),),
        ),
        Role(BATCH_WORKFLOW_ROLE, "states.amazonaws.com", batch_workflow_permissions(ctx)),
        StateMachine(
            config.BATCH_WORKFLOW,
            "sfn_callback.poc",
            "batch_workflow.asl.json",
            role=BATCH_WORKFLOW_ROLE,
            substitutions=(("CreateJobFunctionArn", ctx.function_arn(config.CREATE_JOB_FUNCTION)),),
        ),
    )


def batch_workflow_permissions(ctx: StackContext) -> tuple[Permission, ...]:
    """The batch workflow's role: create-job for each record's task, and what a Distributed Map needs to run its
    child executions (start them as the machine itself, read and stop them)."""
    machine_arn = ctx.state_machine_arn(config.BATCH_WORKFLOW)
    executions_arn = machine_arn.replace(":stateMachine:", ":execution:", 1) + "/*"
    return (
        Permission(("lambda:InvokeFunction",), (ctx.function_arn(config.CREATE_JOB_FUNCTION),)),
        Permission(("states:StartExecution",), (machine_arn,)),
        Permission(("states:DescribeExecution", "states:StopExecution"), (executions_arn,)),
    )
