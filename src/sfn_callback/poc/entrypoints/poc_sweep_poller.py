"""``poc-sweep-poller``: fired by the one sweep schedule; polls every sweep-mode job that is due.

Environment: ``TOKENS_TABLE``, ``SIMULATED_API_LAMBDA``, ``CLAIM_LEASE_SECONDS`` (as the per-job poller),
``SWEEP_CONCURRENCY`` (bounded pool, default 8), ``SWEEP_MAX_RECORDS`` (per pass, default 500),
``SWEEP_LOOKAHEAD_SECONDS`` (default 0), ``SWEEP_MAX_SECONDS`` (keep sweeping while there is work, default 0:
one pass), ``SWEEP_LEASE`` (the lease's name; empty: no lease, sweeps may overlap),
``SWEEP_ADOPT_AFTER_SECONDS`` (adopt per-job records overdue by more than this, default 300; 0: never). See
``sfn_callback.polling.application.sweep``. Built with the public factory
(``sfn_callback.sweep_handler``) on the PoC's job-status port (``poc.bootstrap.job_api``).
"""

from __future__ import annotations

from sfn_callback.common.logging import lambda_logger
from sfn_callback.poc import bootstrap
from sfn_callback.polling.entrypoints.handlers import sweep_handler

logger = lambda_logger("poc-sweep-poller")

sweep_poller = bootstrap.sweep_poller

handler = sweep_handler(logger=logger, sweeper=lambda: bootstrap.sweep_poller())
