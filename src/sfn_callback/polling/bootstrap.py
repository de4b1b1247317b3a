"""The toolkit's composition root: its services built from the Lambda environment, around a user's ports.

Environment (the PoC's names; the defaults are the PoC's resources):

* ``TOKENS_TABLE`` - the token table (``poc-task-tokens``);
* ``SCHEDULER_GROUP``, ``POLLER_LAMBDA_ARN``, ``SCHEDULER_ROLE_ARN`` - the per-job polling schedules (the group
  ``poc-polling``, the ``poc-poller`` function and ``poc-polling-scheduler-role`` of this account and region);
* ``SFN_CALLBACK_LOCAL=1`` - set by the deployer on local targets: second-granularity intervals allowed;
* ``CLAIM_LEASE_SECONDS`` - how old a claim must be before another poll takes it over (default 60);
* the sweep: ``SWEEP_LEASE``, ``SWEEP_CONCURRENCY``, ``SWEEP_MAX_RECORDS``, ``SWEEP_LOOKAHEAD_SECONDS``,
  ``SWEEP_MAX_SECONDS``, ``SWEEP_ADOPT_AFTER_SECONDS``.
"""

from __future__ import annotations

import os
from typing import Any

from sfn_callback import config
from sfn_callback.callbacks import StepFunctionsCallbacks, TaskCallbacks
from sfn_callback.common.aws import callback_client, client
from sfn_callback.polling.adapters.dynamodb import DynamoTokenRepository
from sfn_callback.polling.adapters.scheduler import SchedulerAdapter
from sfn_callback.polling.adapters.sweep import DynamoDueSource, DynamoSweepLease
from sfn_callback.polling.application.create_job import CreateJobService, JobCreator
from sfn_callback.polling.application.sweep import (
    DEFAULT_ADOPT_AFTER_SECONDS,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_RECORDS,
    SweepPoller,
)
from sfn_callback.polling.domain.lifecycle import DEFAULT_CLAIM_LEASE_SECONDS, JobApi, TaskCallbacksSender, TokenPoller


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


def lease_seconds() -> float:
    return float(os.environ.get("CLAIM_LEASE_SECONDS") or DEFAULT_CLAIM_LEASE_SECONDS)


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


def task_callbacks() -> TaskCallbacks:
    return StepFunctionsCallbacks(callback_client())


def token_poller(jobs: JobApi, callbacks: TaskCallbacks | None = None) -> TokenPoller:
    return TokenPoller(
        repository=token_repository(),
        sender=TaskCallbacksSender(callbacks or task_callbacks()),
        schedules=scheduler_adapter(),
        jobs=jobs,
        lease_seconds=lease_seconds(),
    )


def create_job_service(jobs: JobCreator) -> CreateJobService:
    return CreateJobService(jobs=jobs, repository=token_repository(), schedules=scheduler_adapter(),
                            allow_sub_minute=is_local())


def sweep_poller(jobs: JobApi, callbacks: TaskCallbacks | None = None) -> SweepPoller:
    table = env("TOKENS_TABLE", config.TOKENS_TABLE)
    lease_name = os.environ.get("SWEEP_LEASE", "")
    ddb: Any = client("dynamodb")
    return SweepPoller(
        source=DynamoDueSource(ddb, table),
        repository=token_repository(),
        sender=TaskCallbacksSender(callbacks or task_callbacks()),
        jobs=jobs,
        lease_seconds=lease_seconds(),
        concurrency=int(os.environ.get("SWEEP_CONCURRENCY") or DEFAULT_CONCURRENCY),
        max_records=int(os.environ.get("SWEEP_MAX_RECORDS") or DEFAULT_MAX_RECORDS),
        lookahead_seconds=float(os.environ.get("SWEEP_LOOKAHEAD_SECONDS") or 0),
        max_seconds=float(os.environ.get("SWEEP_MAX_SECONDS") or 0),
        lease=DynamoSweepLease(ddb, table, lease_name) if lease_name else None,
        adopt_after_seconds=float(os.environ.get("SWEEP_ADOPT_AFTER_SECONDS") or DEFAULT_ADOPT_AFTER_SECONDS),
    )
