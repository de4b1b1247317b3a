"""The events each PoC Lambda accepts, validated with pydantic (strict types: ``"3"`` is not a number).

A bad event raises ``InvalidEvent`` before anything is written. Its message names the fields and the
problem but never echoes input values (an event can carry a task token).

create-job's event is checked against the limits AWS and the design impose, so that no later step can fail on
it (a failure after the external job exists would leave it behind): a task token of at most 2,048 characters
(Step Functions' ``TaskToken``), a polling timeout of at most a year (a task token lives at most a year; at
least the interval), ``maxAttempts`` that fit in a year at the interval, a record of at most 256 KB as JSON
(Step Functions' payload limit; the external job and the token record are DynamoDB items of at most 400 KB)
nested at most 32 levels deep (DynamoDB's limit for a document), job options of at most a million checks.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

NonEmpty = Annotated[str, Field(min_length=1)]
Positive = Annotated[int, Field(gt=0)]

TASK_TOKEN_MAX_LENGTH = 2048
"""Step Functions' limit on a task token (the ``TaskToken`` shape of its API)."""
EXECUTION_ID_MAX_LENGTH = 2048
MAX_TOKEN_LIFETIME_SECONDS = 365 * 24 * 3600
"""A Standard execution, and so a task token, lives at most a year."""
MAX_RECORD_BYTES = 256 * 1024
"""Step Functions' input/output limit: the most a workflow can hand create-job."""
MAX_NESTING_DEPTH = 32
"""DynamoDB's limit on nested attributes."""
MAX_RECORD_ID_LENGTH = 1024
MAX_JOB_CHECKS = 1_000_000

ChecksOption = Annotated[int, Field(gt=0, le=MAX_JOB_CHECKS)]


class InvalidEvent(ValueError):
    """The Lambda event is malformed; nothing was written."""


class UnknownAction(InvalidEvent):
    """The simulated API got an action it does not implement."""


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err.get("loc", ())) or "<event>"
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)


def parse(model: type[BaseModel], event: Any, what: str) -> Any:
    if not isinstance(event, dict):
        raise InvalidEvent(f"{what}: the event must be a JSON object, got {type(event).__name__}")
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent(f"{what}: {_describe(exc)}") from None


class StrictModel(BaseModel):
    """Strict pydantic model of an event: no type coercion, unknown fields ignored, names or aliases."""

    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


# ------------------------------------------------------------------------------------- simulated API
class JobOptions(StrictModel):
    """How the simulated job behaves (at most one of the four)."""

    complete_after_checks: ChecksOption | None = Field(default=None, alias="completeAfterChecks")
    fail_after_checks: ChecksOption | None = Field(default=None, alias="failAfterChecks")
    never_complete: bool = Field(default=False, alias="neverComplete")
    complete_at: str | None = Field(default=None, alias="completeAt", max_length=40)
    """ISO 8601 with a zone: the job completes at its first status check at or after this moment (the checks
    before it answer IN_PROGRESS), whatever the number of checks: a completion placed in time."""

    @model_validator(mode="after")
    def _complete_at_is_a_moment(self) -> JobOptions:
        if self.complete_at is not None:
            try:
                moment = datetime.fromisoformat(self.complete_at.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"completeAt must be an ISO 8601 time, got {self.complete_at!r}") from None
            if moment.tzinfo is None:
                raise ValueError("completeAt needs a time zone (e.g. ...Z)")
        return self

    @model_validator(mode="after")
    def _one_behaviour(self) -> JobOptions:
        chosen = [
            name
            for name, on in (
                ("completeAfterChecks", self.complete_after_checks is not None),
                ("failAfterChecks", self.fail_after_checks is not None),
                ("neverComplete", self.never_complete),
                ("completeAt", self.complete_at is not None),
            )
            if on
        ]
        if len(chosen) > 1:
            raise ValueError("choose at most one of completeAfterChecks, failAfterChecks, neverComplete, completeAt "
                             f"(got {chosen})")
        return self

    def as_payload(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)


class CreateJobAction(StrictModel):
    action: Literal["CREATE_JOB"]
    payload: dict[str, Any] = Field(default_factory=dict)


class CheckStatusAction(StrictModel):
    action: Literal["CHECK_STATUS"]
    job_id: NonEmpty = Field(alias="jobId")


class CancelJobAction(StrictModel):
    """Cancel a job and forget it (create-job's undo when a later step fails)."""

    action: Literal["CANCEL_JOB"]
    job_id: NonEmpty = Field(alias="jobId")


SIMULATED_API_ACTIONS = ("CREATE_JOB", "CHECK_STATUS", "CANCEL_JOB")


class SimulatedApiEvent(BaseModel):
    request: Annotated[CreateJobAction | CheckStatusAction | CancelJobAction, Field(discriminator="action")]


# ------------------------------------------------------------------------------------------ create-job
def nesting_depth(value: Any) -> int:
    """How deep maps and lists nest in ``value`` (a scalar is 0, ``{}`` is 1), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_NESTING_DEPTH:  # deep enough to refuse; do not walk a 100,000-level document
            return depth
        stack.extend((child, depth + 1) for child in children)
    return deepest


class Record(StrictModel):
    model_config = ConfigDict(strict=True, extra="allow")
    id: Annotated[str, Field(min_length=1, max_length=MAX_RECORD_ID_LENGTH)]
    data: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _fits_a_dynamodb_item(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if nesting_depth(value) > MAX_NESTING_DEPTH:
                raise ValueError(f"nested more than {MAX_NESTING_DEPTH} levels deep (DynamoDB's limit)")
            try:
                size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8"))
            except (TypeError, ValueError):
                raise ValueError("must be JSON (no NaN or Infinity)") from None
            if size > MAX_RECORD_BYTES:
                raise ValueError(f"larger than {MAX_RECORD_BYTES // 1024} KB as JSON (Step Functions' payload "
                                 "limit; the job is stored as a DynamoDB item of at most 400 KB)")
        return value


class PollingConfig(StrictModel):
    interval_minutes: Positive | None = Field(default=None, alias="intervalMinutes")
    interval_seconds: Positive | None = Field(default=None, alias="intervalSeconds")
    max_attempts: Positive = Field(alias="maxAttempts")
    timeout_minutes: Positive | None = Field(default=None, alias="timeoutMinutes")
    timeout_seconds: Positive | None = Field(default=None, alias="timeoutSeconds")
    job_options: JobOptions | None = Field(default=None, alias="jobOptions")
    mode: Literal["per-job", "sweep"] = "per-job"
    """per-job: one polling schedule per job; sweep: no schedule of its own, the sweep poller polls it."""
    job_api: dict[str, Any] | None = Field(default=None, alias="jobApi")
    """This job's HTTP job API configuration, merged over the deployment's (``JOB_API_CONFIG``); checked by the
    job-submitter port (:mod:`sfn_callback.polling.domain.job_api_config`)."""

    @model_validator(mode="after")
    def _exactly_one_of_each_within_the_limits(self) -> PollingConfig:
        if (self.interval_minutes is None) == (self.interval_seconds is None):
            raise ValueError("give exactly one of intervalMinutes, intervalSeconds")
        if (self.timeout_minutes is None) == (self.timeout_seconds is None):
            raise ValueError("give exactly one of timeoutMinutes, timeoutSeconds")
        year = MAX_TOKEN_LIFETIME_SECONDS
        if self.timeout > year:
            raise ValueError(f"the polling timeout must be at most {year} s ({year // 60} minutes): a task token "
                             "lives at most a year")
        if self.interval > self.timeout:
            raise ValueError("the polling interval must not be longer than the polling timeout (the first poll "
                             "would come after it)")
        if self.max_attempts > year // self.interval + 1:
            raise ValueError(f"maxAttempts must be at most {year // self.interval + 1} at this interval: more polls "
                             "than fit in a year, longer than a task token lives")
        return self

    @property
    def interval(self) -> int:
        """Polling interval in seconds."""
        return self.interval_seconds if self.interval_seconds is not None else 60 * (self.interval_minutes or 0)

    @property
    def timeout(self) -> int:
        """Polling timeout in seconds."""
        return self.timeout_seconds if self.timeout_seconds is not None else 60 * (self.timeout_minutes or 0)


class CreateJobEvent(StrictModel):
    record: Record
    task_token: Annotated[str, Field(min_length=1, max_length=TASK_TOKEN_MAX_LENGTH)] = Field(alias="taskToken")
    execution_id: Annotated[str, Field(min_length=1, max_length=EXECUTION_ID_MAX_LENGTH)] = Field(alias="executionId")
    polling_config: PollingConfig = Field(alias="pollingConfig")


# ---------------------------------------------------------------------------------------------- poller
SCHEDULED_TIME_PLACEHOLDER = "<aws.scheduler.scheduled-time>"
"""What a per-job schedule's input carries as ``scheduledTime``; EventBridge Scheduler replaces it with the
time of each invocation (a scheduler that does not, e.g. LocalStack's, leaves it as is)."""


class PollerEvent(StrictModel):
    """``{"jobId"}`` (seed 001's manual poll) or ``{"jobId", "scheduledTime"}`` (a per-job schedule's delivery)."""

    job_id: NonEmpty = Field(alias="jobId")
    scheduled_time: NonEmpty | None = Field(default=None, alias="scheduledTime")

    @property
    def slot(self) -> datetime | None:
        """The poll slot of a scheduled delivery (its scheduled time), None for a manual poll (or a scheduler
        that left the placeholder unreplaced)."""
        if self.scheduled_time is None or self.scheduled_time == SCHEDULED_TIME_PLACEHOLDER:
            return None
        return datetime.fromisoformat(self.scheduled_time.replace("Z", "+00:00")).astimezone(UTC)

    @model_validator(mode="after")
    def _scheduled_time_is_a_time(self) -> PollerEvent:
        if self.scheduled_time is not None and self.scheduled_time != SCHEDULED_TIME_PLACEHOLDER:
            try:
                value = datetime.fromisoformat(self.scheduled_time.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("scheduledTime must be an ISO-8601 time such as 2025-01-01T12:00:00Z") from None
            if value.tzinfo is None:
                raise ValueError("scheduledTime must name its time zone (e.g. a trailing Z)")
        return self


def parse_simulated_api_event(event: Any) -> CreateJobAction | CheckStatusAction | CancelJobAction:
    if isinstance(event, dict) and "action" in event and event["action"] not in SIMULATED_API_ACTIONS:
        raise UnknownAction(
            f"simulated API: unknown action {str(event['action'])[:40]!r} (expected {', '.join(SIMULATED_API_ACTIONS)})"
        )
    if not isinstance(event, dict):
        raise InvalidEvent(f"simulated API: the event must be a JSON object, got {type(event).__name__}")
    return parse(SimulatedApiEvent, {"request": event}, "simulated API").request
