"""Export domain: the job entity, task outcomes, the completion rule and the callback payloads."""

from sfn_callback.export.domain.model import (
    FAILURE_ERROR,
    Callback,
    ExportDomainError,
    ExportJob,
    ExportTask,
    FailureCallback,
    JobNotComplete,
    JobStatus,
    SuccessCallback,
    TaskStatus,
    UnknownTask,
    iso_millis,
    parse_iso,
)

__all__ = [
    "FAILURE_ERROR",
    "Callback",
    "ExportDomainError",
    "ExportJob",
    "ExportTask",
    "FailureCallback",
    "JobNotComplete",
    "JobStatus",
    "SuccessCallback",
    "TaskStatus",
    "UnknownTask",
    "iso_millis",
    "parse_iso",
]
