"""Composition root of the PoC: the toolkit's services (``sfn_callback.polling.bootstrap``) around the PoC's
implementation of the two ports, the simulated API's Lambda protocol (``CREATE_JOB`` / ``CHECK_STATUS``
through ``poc-simulated-api``).

Environment (the seed's names; defaults are the shared resource names): the toolkit's (``TOKENS_TABLE``,
``SCHEDULER_GROUP``, ``POLLER_LAMBDA_ARN``, ``SCHEDULER_ROLE_ARN``, ``SFN_CALLBACK_LOCAL``,
``CLAIM_LEASE_SECONDS``, the sweep's), plus ``JOBS_TABLE``, ``SIMULATED_API_LAMBDA``, ``PUSH_FUNCTION`` (the push
endpoint, whose Function URL jobs whose ``push`` names no URL are given; ``PUSH_URL`` overrides it) and
``JOB_API_CONFIG``
(the HTTP job adapter's configuration, JSON; absent: jobs use the simulated API unless their input carries
``pollingConfig.jobApi``; see :mod:`sfn_callback.poc.adapters.job_router`).
"""

from __future__ import annotations

import functools
import json
import os

from botocore.exceptions import ClientError

from sfn_callback import config
from sfn_callback.common.aws import client
from sfn_callback.metrics import names as metric_names
from sfn_callback.metrics.callbacks import MeteredTaskCallbacks
from sfn_callback.poc.adapters.external_api import LambdaJobApi
from sfn_callback.poc.adapters.job_router import JobApiRouter
from sfn_callback.poc.adapters.jobs_dynamodb import DynamoJobStore
from sfn_callback.poc.domain.simulated_api import SimulatedJobApi
from sfn_callback.polling import bootstrap as toolkit
from sfn_callback.polling.adapters.http_job import HttpJobApi, SecretReader
from sfn_callback.polling.application.create_job import CreateJobService
from sfn_callback.polling.application.push import PushReceiver
from sfn_callback.polling.application.sweep import SweepPoller
from sfn_callback.polling.bootstrap import env, is_local, scheduler_adapter, token_repository
from sfn_callback.polling.domain.lifecycle import TokenPoller

__all__ = ["create_job_service", "env", "is_local", "job_api", "push_receiver", "scheduler_adapter", "simulated_api",
           "sweep_poller", "token_poller", "token_repository"]


def job_api() -> JobApiRouter:
    """The PoC's job-status and job-submitter ports: the simulated API's Lambda protocol, and the HTTP job
    adapter for the jobs that use it."""
    simulated = LambdaJobApi(client("lambda"), env("SIMULATED_API_LAMBDA", config.SIMULATED_API_FUNCTION))
    return JobApiRouter(simulated, http_job_api())


@functools.lru_cache(maxsize=1)
def http_job_api() -> HttpJobApi:
    raw = os.environ.get("JOB_API_CONFIG", "")
    deployment = json.loads(raw) if raw.strip() else None
    return HttpJobApi(deployment, SecretReader(client), push_url=os.environ.get("PUSH_URL") or push_function_url)


def push_function_url() -> str | None:
    """The push endpoint's Function URL (``PUSH_FUNCTION``'s), or None when it has none."""
    try:
        found = client("lambda").get_function_url_config(FunctionName=env("PUSH_FUNCTION", config.PUSH_FUNCTION))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None  # create-job refuses the job: no push URL (nothing is submitted)
        raise
    return str(found["FunctionUrl"])


@functools.lru_cache(maxsize=1)
def simulated_api() -> SimulatedJobApi:
    return SimulatedJobApi(DynamoJobStore(client("dynamodb"), env("JOBS_TABLE", config.JOBS_TABLE)))


@functools.lru_cache(maxsize=1)
def create_job_service() -> CreateJobService:
    return toolkit.create_job_service(job_api())


@functools.lru_cache(maxsize=1)
def token_poller() -> TokenPoller:
    return toolkit.token_poller(job_api(), MeteredTaskCallbacks(toolkit.task_callbacks(), metric_names.POLLER))


@functools.lru_cache(maxsize=1)
def sweep_poller() -> SweepPoller:
    return toolkit.sweep_poller(job_api(), MeteredTaskCallbacks(toolkit.task_callbacks(), metric_names.SWEEP))


@functools.lru_cache(maxsize=1)
def push_receiver() -> PushReceiver:
    """The push endpoint's service (``poc-job-push``): pushes complete tokens through the poller's own claim."""
    return PushReceiver(token_repository(), toolkit.token_poller(
        job_api(), MeteredTaskCallbacks(toolkit.task_callbacks(), metric_names.POLLER)))
