"""``poc-poller``: one poll of one job, fired by the job's schedule (or by hand, as seed 001's script does).

A schedule's delivery carries ``scheduledTime`` (its poll slot: duplicates of one slot count one attempt); a
manual poll, ``{"jobId"}``, is an extra poll (see ``sfn_callback.polling.domain.lifecycle``, "Slots"). The
invocation's request id is recorded with a claim, so Lambda's retry of an invocation whose runtime died resumes
it at once.

Returns ``{"status", "attempt", "maxAttempts"}`` plus ``"reconnected": true`` when this poll's callback resumed
the workflow, ``"skipped": true`` when it did nothing (its slot was polled already, or a verdict waits for an
open status check) and ``"recovered": true`` when it finished a callback whose sender had died.

Built with the public factory (``sfn_callback.poller_handler``) on the PoC's job-status port, the simulated
API's Lambda protocol (``poc.bootstrap.job_api``).
"""

from __future__ import annotations

from sfn_callback.common.logging import lambda_logger
from sfn_callback.poc import bootstrap
from sfn_callback.polling.entrypoints.handlers import poller_handler

logger = lambda_logger("poc-poller")

handler = poller_handler(logger=logger, poller=lambda: bootstrap.token_poller())
