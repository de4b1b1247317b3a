"""Step Functions callback pattern (task tokens): toolkit, reference system and embedded local cloud.

The public API is the names in ``__all__`` (see the README's "Public API"): from 1.0 they follow semantic
versioning; before 1.0 a minor release may change them and says so in the changelog. Everything else is
internal. ``import sfn_callback`` stays light: each name is imported when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # the token record, its status and outcome, its DynamoDB store
    "TokenRecord": "sfn_callback.polling.domain.lifecycle",
    "TokenStatus": "sfn_callback.polling.domain.lifecycle",
    "Outcome": "sfn_callback.polling.domain.lifecycle",
    "PollResult": "sfn_callback.polling.domain.lifecycle",
    "DynamoTokenRepository": "sfn_callback.polling.adapters.dynamodb",
    # the job-status and job-submitter ports
    "InProgress": "sfn_callback.polling.domain.jobs",
    "Completed": "sfn_callback.polling.domain.jobs",
    "Failed": "sfn_callback.polling.domain.jobs",
    "Transient": "sfn_callback.polling.domain.jobs",
    "JobState": "sfn_callback.polling.domain.jobs",
    "CheckJob": "sfn_callback.polling.domain.jobs",
    "SubmitJob": "sfn_callback.polling.domain.jobs",
    # the HTTP job adapter: create-job's, the poller's and the sweep's ports on a REST job API
    "HttpJobApi": "sfn_callback.polling.adapters.http_job",
    "SecretReader": "sfn_callback.polling.adapters.http_job",
    "HttpJobApiConfig": "sfn_callback.polling.domain.job_api_config",
    "InvalidJobApiConfig": "sfn_callback.polling.domain.job_api_config",
    "SubmitTransient": "sfn_callback.polling.application.create_job",
    "SubmitFailed": "sfn_callback.polling.application.create_job",
    # the poller, sweep mode, create-job
    "TokenPoller": "sfn_callback.polling.domain.lifecycle",
    "SweepPoller": "sfn_callback.polling.application.sweep",
    "CreateJobService": "sfn_callback.polling.application.create_job",
    # the callback sender
    "TaskCallbacks": "sfn_callback.callbacks.port",
    "StepFunctionsCallbacks": "sfn_callback.callbacks.stepfunctions",
    "CallbackResult": "sfn_callback.callbacks.result",
    "CallbackStatus": "sfn_callback.callbacks.result",
    # the Lambda handler factories
    "poller_handler": "sfn_callback.polling.entrypoints.handlers",
    "sweep_handler": "sfn_callback.polling.entrypoints.handlers",
    "create_job_handler": "sfn_callback.polling.entrypoints.handlers",
    # logging with task tokens masked
    "lambda_logger": "sfn_callback.common.logging",
    "mask_token": "sfn_callback.common.tokens",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sfn_callback' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # what type checkers and editors see
    from sfn_callback.callbacks.port import TaskCallbacks
    from sfn_callback.callbacks.result import CallbackResult, CallbackStatus
    from sfn_callback.callbacks.stepfunctions import StepFunctionsCallbacks
    from sfn_callback.common.logging import lambda_logger
    from sfn_callback.common.tokens import mask_token
    from sfn_callback.polling.adapters.dynamodb import DynamoTokenRepository
    from sfn_callback.polling.adapters.http_job import HttpJobApi, SecretReader
    from sfn_callback.polling.application.create_job import CreateJobService, SubmitFailed, SubmitTransient
    from sfn_callback.polling.application.sweep import SweepPoller
    from sfn_callback.polling.domain.job_api_config import HttpJobApiConfig, InvalidJobApiConfig
    from sfn_callback.polling.domain.jobs import CheckJob, Completed, Failed, InProgress, JobState, SubmitJob, Transient
    from sfn_callback.polling.domain.lifecycle import Outcome, PollResult, TokenPoller, TokenRecord, TokenStatus
    from sfn_callback.polling.entrypoints.handlers import create_job_handler, poller_handler, sweep_handler
