"""``poc-create-job``: create the external job, store the task token, schedule its polling (seed 000/001).

Built with the public factory (``sfn_callback.create_job_handler``) on the PoC's job-submitter port, the
simulated API's Lambda protocol (``poc.bootstrap.job_api``).
"""

from __future__ import annotations

from sfn_callback.common.logging import lambda_logger
from sfn_callback.poc import bootstrap
from sfn_callback.polling.entrypoints.handlers import create_job_handler

logger = lambda_logger("poc-create-job")

handler = create_job_handler(logger=logger, service=lambda: bootstrap.create_job_service())
