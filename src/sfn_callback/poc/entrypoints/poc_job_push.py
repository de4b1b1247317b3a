"""``poc-job-push``: the push endpoint, a Lambda served by a Function URL (AuthType NONE: the request is
authenticated by its HMAC-SHA256 signature with the job's own push secret).

A job API that was given the push URL and secret in the submit request POSTs the job's end here; the token
completes through the poller's own claim, so exactly one callback is sent whether the push or a fallback poll
gets there first. Answers ``200 {"jobId", "status", "reconnected"}``, or a JSON error (400, 401, 404, 405, 409,
413) that changes nothing; see :mod:`sfn_callback.polling.application.push`.
"""

from __future__ import annotations

from sfn_callback.common.logging import lambda_logger
from sfn_callback.poc import bootstrap
from sfn_callback.polling.entrypoints.handlers import push_handler

logger = lambda_logger("poc-job-push")

handler = push_handler(lambda: bootstrap.push_receiver(), logger=logger)
