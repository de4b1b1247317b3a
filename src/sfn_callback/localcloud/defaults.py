"""The local cloud's own defaults: its account, region and credentials, and where it keeps its state.

The local cloud imports nothing of ``sfn_callback`` outside itself; ``sfn_callback.config`` names the same
values for the rest of the project (a test keeps the two equal).
"""

from __future__ import annotations

import os

LOCAL_ACCOUNT_ID = "000000000000"
DEFAULT_REGION = "us-east-1"
LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def state_dir() -> str:
    """Per-user state directory (PID files, latest measurements): ``SFN_CALLBACK_STATE_DIR``, else
    ``$XDG_STATE_HOME/sfn-callback`` (``~/.local/state/sfn-callback``)."""
    base = os.environ.get("SFN_CALLBACK_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "sfn-callback"
    )
    os.makedirs(base, exist_ok=True)
    return base
