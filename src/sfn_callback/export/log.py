"""The export service's structured JSON logger (Powertools Logger).

Every line that concerns a task token carries it masked (``mask_token``), never whole.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "export-service"))
