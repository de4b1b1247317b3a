"""The export consumer's configuration, from environment variables.

=====================================  =========================================  ==========================
variable                               meaning                                    default
=====================================  =========================================  ==========================
``EXPORT_JOBS_TABLE``                  DynamoDB table of job state (key jobId)    ``poc-export-job-state``
``EXPORT_SINK``                        ``local:/path`` or ``s3://bucket/prefix``  ``local:/tmp/sfn-callback-exports``
``EXPORT_HEARTBEAT_INTERVAL_SECONDS``  SendTaskHeartbeat interval (0: none)       ``30``
``EXPORT_STALL_AFTER_SECONDS``         no progress for this long: beats lapse     3 x interval
``EXPORT_HTTP_CONNECT_TIMEOUT_SECONDS`` download connect timeout                  ``5``
``EXPORT_HTTP_READ_TIMEOUT_SECONDS``   download read timeout (per chunk)          ``30``
``EXPORT_MAX_FILE_BYTES``              largest file downloaded                    ``104857600``
``EXPORT_JOB_TTL_DAYS``                ``ttl`` written on job items               ``30``
``EXPORT_CALLBACK_MAX_ATTEMPTS``       attempts per callback (throttling etc.)    ``5``
``EXPORT_CALLBACK_CLAIM_STALE_SECONDS`` a claim without a deadline ends this late    ``300``
``POWERTOOLS_METRICS_NAMESPACE``       EMF namespace                              ``SfnCallback/Export``
=====================================  =========================================  ==========================
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from sfn_callback.config import EXPORT_JOBS_TABLE

T = TypeVar("T")


class SettingsError(ValueError):
    """An environment variable has an unusable value."""


@dataclass(frozen=True)
class ExportSettings:
    table_name: str = EXPORT_JOBS_TABLE
    sink: str = "local:/tmp/sfn-callback-exports"
    heartbeat_interval_seconds: float = 30.0
    stall_after_seconds: float | None = None
    http_connect_timeout_seconds: float = 5.0
    http_read_timeout_seconds: float = 30.0
    max_file_bytes: int = 100 * 1024 * 1024
    job_ttl_days: int = 30
    callback_max_attempts: int = 5
    callback_claim_stale_seconds: float = 300.0
    metrics_namespace: str = "SfnCallback/Export"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ExportSettings:
        env = os.environ if env is None else env

        def read(name: str, convert: Callable[[str], T], default: T, minimum: float | None = 0) -> T:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = convert(raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not a valid {convert.__name__}") from None
            if minimum is not None and isinstance(value, int | float) and value < minimum:
                raise SettingsError(f"{name}={raw!r} must be at least {minimum}")
            return value

        stall_raw = env.get("EXPORT_STALL_AFTER_SECONDS", "").strip()
        return cls(
            table_name=env.get("EXPORT_JOBS_TABLE", "").strip() or EXPORT_JOBS_TABLE,
            sink=env.get("EXPORT_SINK", "").strip() or cls.sink,
            heartbeat_interval_seconds=read("EXPORT_HEARTBEAT_INTERVAL_SECONDS", float, 30.0),
            stall_after_seconds=read("EXPORT_STALL_AFTER_SECONDS", float, 0.0) if stall_raw else None,
            http_connect_timeout_seconds=read("EXPORT_HTTP_CONNECT_TIMEOUT_SECONDS", float, 5.0, 0.001),
            http_read_timeout_seconds=read("EXPORT_HTTP_READ_TIMEOUT_SECONDS", float, 30.0, 0.001),
            max_file_bytes=read("EXPORT_MAX_FILE_BYTES", int, 100 * 1024 * 1024, 1),
            job_ttl_days=read("EXPORT_JOB_TTL_DAYS", int, 30, 1),
            callback_max_attempts=read("EXPORT_CALLBACK_MAX_ATTEMPTS", int, 5, 1),
            callback_claim_stale_seconds=read("EXPORT_CALLBACK_CLAIM_STALE_SECONDS", float, 300.0),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "").strip() or cls.metrics_namespace,
        )
