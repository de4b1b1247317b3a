"""The polling baseline's resources: the status-check function and ``poc-polling-workflow``."""

from __future__ import annotations

from sfn_callback import config
from sfn_callback.deploy.spec import Function, Permission, Role, Stack, StackContext, StateMachine

POLLING_JOB_FUNCTION = "poc-polling-job"
POLLING_WORKFLOW_ROLE = f"{config.POLLING_WORKFLOW}-role"


def contribute(stack: Stack, ctx: StackContext) -> None:
    job_fn_arn = ctx.function_arn(POLLING_JOB_FUNCTION)
    stack.add(
        Function(
            POLLING_JOB_FUNCTION,
            "sfn_callback.cost.entrypoints.poc_polling_job.handler",
            env=(
                ("SIMULATED_API_LAMBDA", config.SIMULATED_API_FUNCTION),
                ("POWERTOOLS_SERVICE_NAME", "poc-polling"),
            ),
            timeout=30,
            permissions=(Permission(("lambda:InvokeFunction",), (ctx.function_arn(config.SIMULATED_API_FUNCTION),)),),
        ),
        Role(POLLING_WORKFLOW_ROLE, "states.amazonaws.com", (Permission(("lambda:InvokeFunction",), (job_fn_arn,)),)),
        StateMachine(
            config.POLLING_WORKFLOW,
            "sfn_callback.cost",
            "polling_workflow.asl.json",
            role=POLLING_WORKFLOW_ROLE,
            substitutions=(("PollingJobFunctionArn", job_fn_arn),),
        ),
    )
