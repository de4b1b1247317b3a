"""Names and defaults shared by every component.

Resource names are the seeds' (``poc-*``) so the seed scripts work unchanged against the local cloud.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

LOCAL_ACCOUNT_ID = "000000000000"
DEFAULT_REGION = "us-east-1"
DEFAULT_LOCAL_PORT = 4566
LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}

# Callback PoC (seeds 000-002)
TOKENS_TABLE = "poc-task-tokens"
JOBS_TABLE = "poc-jobs"
SIMULATED_API_FUNCTION = "poc-simulated-api"
CREATE_JOB_FUNCTION = "poc-create-job"
POLLER_FUNCTION = "poc-poller"
PUSH_FUNCTION = "poc-job-push"
"""The push endpoint (served by its Function URL): a job API's signed notification that a job ended."""
CALLBACK_WORKFLOW = "poc-callback-workflow"
BATCH_WORKFLOW = "poc-batch-workflow"
"""One callback job per record of a list, in a Distributed Map (issue 14, part 4)."""
POLLING_SCHEDULE_GROUP = "poc-polling"
SWEEP_MODE_SCHEDULE_NAME = "sweep-mode"
"""What a sweep-mode token record stores as its ``scheduleName``: it has no schedule of its own, and the
sweep finds its records by this value."""

# SQS variant and approval service (seed 003)
APPROVAL_WORKFLOW = "poc-approval-workflow"
APPROVAL_QUEUE = "poc-approval-requests"
APPROVAL_DLQ = "poc-approval-requests-dlq"
APPROVAL_CONSUMER_FUNCTION = "poc-approval-consumer"
APPROVALS_TABLE = "poc-approvals"

# Export service (seed 004)
EXPORT_WORKFLOW = "poc-export-workflow"
EXPORT_QUEUE = "poc-export-jobs"
EXPORT_DLQ = "poc-export-jobs-dlq"
EXPORT_CONSUMER_FUNCTION = "poc-export-consumer"
EXPORT_JOBS_TABLE = "poc-export-job-state"

# Baseline for the cost comparison
POLLING_WORKFLOW = "poc-polling-workflow"


@dataclass(frozen=True)
class Target:
    """Where a command points: an endpoint (local cloud, LocalStack) or real AWS (endpoint None)."""

    endpoint_url: str | None
    region: str = DEFAULT_REGION
    profile: str | None = None

    @property
    def is_local(self) -> bool:
        return self.endpoint_url is not None


def default_endpoint() -> str:
    return os.environ.get("AWS_ENDPOINT_URL", f"http://127.0.0.1:{DEFAULT_LOCAL_PORT}")


def state_dir() -> str:
    """Per-user state directory (PID files, latest measurements), the local cloud's own
    (``sfn_callback.localcloud.defaults.state_dir``): ``SFN_CALLBACK_STATE_DIR``, else
    ``$XDG_STATE_HOME/sfn-callback``."""
    base = os.environ.get("SFN_CALLBACK_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "sfn-callback"
    )
    os.makedirs(base, exist_ok=True)
    return base
