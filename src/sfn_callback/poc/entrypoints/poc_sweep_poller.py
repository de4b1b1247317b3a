"""``poc-sweep-poller``: fired by the one sweep schedule; polls every sweep-mode job that is due.

Environment: ``TOKENS_TABLE``, ``SIMULATED_API_LAMBDA``, ``CLAIM_LEASE_SECONDS`` (as the per-job poller),
``SWEEP_CONCURRENCY`` (bounded pool, default 8), ``SWEEP_MAX_RECORDS`` (per pass, default 500),
``SWEEP_LOOKAHEAD_SECONDS`` (default 0), ``SWEEP_MAX_SECONDS`` (keep sweeping while there is work, default 0:
one pass), ``SWEEP_LEASE`` (the lease's name; empty: no lease, sweeps may overlap),
``SWEEP_ADOPT_AFTER_SECONDS`` (adopt per-job records overdue by more than this, default 300; 0: never). See
``service``.
"""

from __future__ import annotations

import functools
import os
from typing import Any


from sfn_callback.common.logging import lambda_logger
from sfn_callback import config
from sfn_callback.poc import bootstrap
from sfn_callback.callbacks import StepFunctionsCallbacks
from sfn_callback.polling.domain.lifecycle import DEFAULT_CLAIM_LEASE_SECONDS, TaskCallbacksSender
from sfn_callback.polling.adapters.sweep import DynamoDueSource, DynamoSweepLease
from sfn_callback.polling.application.sweep import (
    DEFAULT_ADOPT_AFTER_SECONDS,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_RECORDS,
    SweepPoller,
)
from sfn_callback.common.aws import callback_client, client

logger = lambda_logger("poc-sweep-poller")


@functools.lru_cache(maxsize=1)
def sweep_poller() -> SweepPoller:
    table = bootstrap.env("TOKENS_TABLE", config.TOKENS_TABLE)
    lease_name = os.environ.get("SWEEP_LEASE", "")
    return SweepPoller(
        source=DynamoDueSource(client("dynamodb"), table),
        repository=bootstrap.token_repository(),
        sender=TaskCallbacksSender(StepFunctionsCallbacks(callback_client())),
        jobs=bootstrap.job_api(),
        lease_seconds=float(os.environ.get("CLAIM_LEASE_SECONDS") or DEFAULT_CLAIM_LEASE_SECONDS),
        concurrency=int(os.environ.get("SWEEP_CONCURRENCY") or DEFAULT_CONCURRENCY),
        max_records=int(os.environ.get("SWEEP_MAX_RECORDS") or DEFAULT_MAX_RECORDS),
        lookahead_seconds=float(os.environ.get("SWEEP_LOOKAHEAD_SECONDS") or 0),
        max_seconds=float(os.environ.get("SWEEP_MAX_SECONDS") or 0),
        lease=DynamoSweepLease(client("dynamodb"), table, lease_name) if lease_name else None,
        adopt_after_seconds=float(os.environ.get("SWEEP_ADOPT_AFTER_SECONDS") or DEFAULT_ADOPT_AFTER_SECONDS),
    )


def handler(event: Any, context: Any) -> dict[str, Any]:
    poller = sweep_poller()
    poller.log = lambda message, **fields: logger.info(message, extra=fields)
    time_left = (lambda: context.get_remaining_time_in_millis() / 1000) if context is not None else None
    result = poller.sweep(time_left=time_left, holder=getattr(context, "aws_request_id", None))
    doc = result.to_dict()
    if result.due or result.adopted:
        logger.info("sweep finished", extra=doc)
    return doc
