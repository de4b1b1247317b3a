"""The events each PoC Lambda accepts, validated with pydantic (strict types: ``"3"`` is not a number).

A bad event raises ``InvalidEvent`` before anything is written. Its message names the fields and the
problem but never echoes input values (an event can carry a task token).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

NonEmpty = Annotated[str, Field(min_length=1)]
Positive = Annotated[int, Field(gt=0)]


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


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


# ------------------------------------------------------------------------------------- simulated API
class JobOptions(_Strict):
    """How the simulated job behaves (at most one of the three)."""

    complete_after_checks: Positive | None = Field(default=None, alias="completeAfterChecks")
    fail_after_checks: Positive | None = Field(default=None, alias="failAfterChecks")
    never_complete: bool = Field(default=False, alias="neverComplete")

    @model_validator(mode="after")
    def _one_behaviour(self) -> "JobOptions":
        chosen = [
            name
            for name, on in (
                ("completeAfterChecks", self.complete_after_checks is not None),
                ("failAfterChecks", self.fail_after_checks is not None),
                ("neverComplete", self.never_complete),
            )
            if on
        ]
        if len(chosen) > 1:
            raise ValueError(f"choose at most one of completeAfterChecks, failAfterChecks, neverComplete (got {chosen})")
        return self

    def as_payload(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)


class CreateJobAction(_Strict):
    action: Literal["CREATE_JOB"]
    payload: dict[str, Any] = Field(default_factory=dict)


class CheckStatusAction(_Strict):
    action: Literal["CHECK_STATUS"]
    job_id: NonEmpty = Field(alias="jobId")


class SimulatedApiEvent(BaseModel):
    request: Annotated[Union[CreateJobAction, CheckStatusAction], Field(discriminator="action")]


# ------------------------------------------------------------------------------------------ create-job
class Record(_Strict):
    model_config = ConfigDict(strict=True, extra="allow")
    id: NonEmpty
    data: dict[str, Any] | None = None


class PollingConfig(_Strict):
    interval_minutes: Positive | None = Field(default=None, alias="intervalMinutes")
    interval_seconds: Positive | None = Field(default=None, alias="intervalSeconds")
    max_attempts: Positive = Field(alias="maxAttempts")
    timeout_minutes: Positive | None = Field(default=None, alias="timeoutMinutes")
    timeout_seconds: Positive | None = Field(default=None, alias="timeoutSeconds")
    job_options: JobOptions | None = Field(default=None, alias="jobOptions")
    mode: Literal["per-job", "sweep"] = "per-job"
    """per-job: one polling schedule per job; sweep: no schedule of its own, the sweep poller polls it."""

    @model_validator(mode="after")
    def _exactly_one_of_each(self) -> "PollingConfig":
        if (self.interval_minutes is None) == (self.interval_seconds is None):
            raise ValueError("give exactly one of intervalMinutes, intervalSeconds")
        if (self.timeout_minutes is None) == (self.timeout_seconds is None):
            raise ValueError("give exactly one of timeoutMinutes, timeoutSeconds")
        return self

    @property
    def interval(self) -> int:
        """Polling interval in seconds."""
        return self.interval_seconds if self.interval_seconds is not None else 60 * (self.interval_minutes or 0)

    @property
    def timeout(self) -> int:
        """Polling timeout in seconds."""
        return self.timeout_seconds if self.timeout_seconds is not None else 60 * (self.timeout_minutes or 0)


class CreateJobEvent(_Strict):
    record: Record
    task_token: NonEmpty = Field(alias="taskToken")
    execution_id: NonEmpty = Field(alias="executionId")
    polling_config: PollingConfig = Field(alias="pollingConfig")


# ---------------------------------------------------------------------------------------------- poller
class PollerEvent(_Strict):
    job_id: NonEmpty = Field(alias="jobId")


def parse_simulated_api_event(event: Any) -> CreateJobAction | CheckStatusAction:
    if isinstance(event, dict) and "action" in event and event["action"] not in ("CREATE_JOB", "CHECK_STATUS"):
        raise UnknownAction(
            f"simulated API: unknown action {str(event['action'])[:40]!r} (expected CREATE_JOB or CHECK_STATUS)"
        )
    if not isinstance(event, dict):
        raise InvalidEvent(f"simulated API: the event must be a JSON object, got {type(event).__name__}")
    return parse(SimulatedApiEvent, {"request": event}, "simulated API").request
