"""Composition root: builds the PoC's services from the Lambda environment.

Environment (the seed's names; defaults are the shared resource names):

* ``TOKENS_TABLE``, ``JOBS_TABLE`` - the DynamoDB tables;
* ``SIMULATED_API_LAMBDA`` - the simulated external API's function name;
* ``SCHEDULER_GROUP``, ``POLLER_LAMBDA_ARN``, ``SCHEDULER_ROLE_ARN`` - the per-job polling schedules;
* ``SFN_CALLBACK_LOCAL=1`` - set by the deployer on local targets: second-granularity intervals allowed;
* ``CLAIM_LEASE_SECONDS`` - how old a claim must be before another poll takes it over (default 60).
"""

from __future__ import annotations

import functools
import os

from sfn_callback import config
from sfn_callback.poc.adapters.jobs_dynamodb import DynamoJobStore
from sfn_callback.polling.adapters.dynamodb import DynamoTokenRepository
from sfn_callback.poc.adapters.external_api import LambdaJobApi
from sfn_callback.polling.adapters.scheduler import SchedulerAdapter
from sfn_callback.callbacks import StepFunctionsCallbacks
from sfn_callback.polling.application.create_job import CreateJobService
from sfn_callback.polling.domain.lifecycle import DEFAULT_CLAIM_LEASE_SECONDS, TaskCallbacksSender, TokenPoller
from sfn_callback.poc.domain.simulated_api import SimulatedJobApi
from sfn_callback.common.aws import callback_client, client


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise RuntimeError(f"environment variable {name} is not set")
    return value


def is_local() -> bool:
    return os.environ.get("SFN_CALLBACK_LOCAL", "") in {"1", "true", "yes"}


def _account_region() -> tuple[str, str]:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or config.DEFAULT_REGION
    account = os.environ.get("AWS_ACCOUNT_ID") or config.LOCAL_ACCOUNT_ID
    return account, region


def _default_poller_arn() -> str:
    account, region = _account_region()
    return f"arn:aws:lambda:{region}:{account}:function:{config.POLLER_FUNCTION}"


def _default_scheduler_role_arn() -> str:
    account, _ = _account_region()
    return f"arn:aws:iam::{account}:role/{config.POLLING_SCHEDULE_GROUP}-scheduler-role"


def token_repository() -> DynamoTokenRepository:
    return DynamoTokenRepository(client("dynamodb"), env("TOKENS_TABLE", config.TOKENS_TABLE))


def scheduler_adapter() -> SchedulerAdapter:
    return SchedulerAdapter(
        client("scheduler"),
        group=env("SCHEDULER_GROUP", config.POLLING_SCHEDULE_GROUP),
        target_arn=env("POLLER_LAMBDA_ARN", _default_poller_arn()),
        role_arn=env("SCHEDULER_ROLE_ARN", _default_scheduler_role_arn()),
        allow_seconds=is_local(),
    )


def job_api() -> LambdaJobApi:
    return LambdaJobApi(client("lambda"), env("SIMULATED_API_LAMBDA", config.SIMULATED_API_FUNCTION))


@functools.lru_cache(maxsize=1)
def simulated_api() -> SimulatedJobApi:
    return SimulatedJobApi(DynamoJobStore(client("dynamodb"), env("JOBS_TABLE", config.JOBS_TABLE)))


@functools.lru_cache(maxsize=1)
def create_job_service() -> CreateJobService:
    return CreateJobService(
        jobs=job_api(), repository=token_repository(), schedules=scheduler_adapter(), allow_sub_minute=is_local()
    )


@functools.lru_cache(maxsize=1)
def token_poller() -> TokenPoller:
    return TokenPoller(
        repository=token_repository(),
        sender=TaskCallbacksSender(StepFunctionsCallbacks(callback_client())),
        schedules=scheduler_adapter(),
        jobs=job_api(),
        lease_seconds=float(os.environ.get("CLAIM_LEASE_SECONDS") or DEFAULT_CLAIM_LEASE_SECONDS),
    )
