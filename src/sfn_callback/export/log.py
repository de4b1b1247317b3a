"""The export service's structured JSON logger (Powertools Logger).

Task tokens are masked by the logger's formatter (``sfn_callback.common.logging``): a line may carry the token
in ``taskToken`` and never shows it whole.
"""

from __future__ import annotations

import os

from sfn_callback.common.logging import lambda_logger

logger = lambda_logger(os.environ.get("POWERTOOLS_SERVICE_NAME", "export-service"))
