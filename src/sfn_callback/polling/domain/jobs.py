"""A job's state as the poller sees it: what a user's check function returns (no boto3 here).

``check(job_id)`` answers :class:`InProgress`, :class:`Completed` (with the job's output, which the workflow
receives as ``result``), :class:`Failed` (with the error a state's Catch matches and a cause) or
:class:`Transient` (the API could not answer now: a refused connection, a timeout, a 5xx, a 429; the attempt is
given back and the next poll waits ``retry_after`` seconds when given). A status document
in the simulated API's protocol (``{"status": "IN_PROGRESS" | "COMPLETED" | "FAILED", ...}``) is read the same
way (:func:`job_state`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ERROR_JOB_FAILED = "JobFailed"
DEFAULT_FAILURE_CAUSE = "External job failed"

__all__ = ["CheckJob", "Completed", "Failed", "InProgress", "JobState", "SubmitJob", "Transient", "job_state"]


@dataclass(frozen=True)
class InProgress:
    """Not finished: poll again at the next slot."""


@dataclass(frozen=True)
class Completed:
    """Finished successfully; ``output`` (any JSON value) is the workflow's ``result``."""

    output: Any = None


@dataclass(frozen=True)
class Failed:
    """Finished with a failure: SendTaskFailure with ``error`` and ``cause``."""

    error: str = ERROR_JOB_FAILED
    cause: str = DEFAULT_FAILURE_CAUSE


@dataclass(frozen=True)
class Transient:
    """The job API gave no answer about the job this time (unreachable, timed out, 5xx, throttled with 429).

    Not a job failure and not an attempt: the poll gives its attempt back (see "Transient answers" in
    :mod:`sfn_callback.polling.domain.lifecycle`). ``retry_after`` (seconds, e.g. from ``Retry-After``): polls
    before then skip without counting."""

    reason: str = "the job API did not answer"
    retry_after: float | None = None


JobState = InProgress | Completed | Failed | Transient
CheckJob = Callable[[str], JobState]
"""The job-status port a user implements: the job's id -> its state."""
SubmitJob = Callable[[dict[str, Any]], str]
"""The job-submitter port a user implements: create-job's payload (``recordId``, ``data``, the job options and
``idempotencyKey``, the same on every try for the task: pass it to an API that deduplicates submits) -> the new
job's id. Raising ``SubmitTransient`` has create-job try again (see ``polling.application.create_job``)."""


def job_state(answer: Any) -> JobState:
    """A check's answer as a :data:`JobState`: a state as it is, a status document by its ``status``."""
    if isinstance(answer, (InProgress, Completed, Failed, Transient)):
        return answer
    status = answer.get("status") if isinstance(answer, dict) else None
    if status == "COMPLETED":
        return Completed(answer)
    if status == "FAILED":
        return Failed(ERROR_JOB_FAILED, DEFAULT_FAILURE_CAUSE)
    return InProgress()
