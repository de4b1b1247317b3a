"""The SQS message of seed 004, validated with pydantic.

``{"jobId", "exportId", "userId", "metadata", "taskToken"?, "files": [{"url", "name"}], "options"?}``.
Unknown fields are refused, so a typo fails loudly instead of being ignored. ``files`` may be omitted
(the seed's message has none): such a job has no tasks and completes at once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from sfn_callback.export.application import FileSpec, RunOptions, StartExportJobCommand

MAX_FILES = 1000
MAX_SIMULATED_SECONDS = 900.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class FileItem(_Strict):
    url: str = Field(min_length=1, max_length=2048)
    name: str = Field(min_length=1, max_length=255)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if "/" in value or "\\" in value or value in (".", "..") or "\x00" in value:
            raise ValueError("must be a plain file name (no path separators, not '.' or '..')")
        return value


class ExportOptions(_Strict):
    """Options for demonstrations and tests (see ``RunOptions``)."""

    file_delay_seconds: float = Field(default=0.0, ge=0, le=MAX_SIMULATED_SECONDS)
    stall_seconds: float = Field(default=0.0, ge=0, le=MAX_SIMULATED_SECONDS)
    stall_on_task: int | None = Field(default=None, ge=1)

    def to_run_options(self) -> RunOptions:
        return RunOptions(
            file_delay_seconds=self.file_delay_seconds,
            stall_seconds=self.stall_seconds,
            stall_on_task=self.stall_on_task,
        )


class ExportJobMessage(_Strict):
    job_id: str = Field(min_length=1, max_length=256)
    export_id: str = Field(min_length=1, max_length=256)
    user_id: str = Field(min_length=1, max_length=256)
    metadata: dict[str, Any] = Field(default_factory=dict)
    task_token: str | None = Field(default=None, min_length=1, max_length=2048)
    files: list[FileItem] = Field(default_factory=list, max_length=MAX_FILES)
    options: ExportOptions = Field(default_factory=ExportOptions)

    @model_validator(mode="after")
    def _unique_names(self) -> ExportJobMessage:
        names = [f.name for f in self.files]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"file names must be unique within a job; repeated: {', '.join(duplicates)}")
        if self.options.stall_on_task is not None and self.options.stall_on_task > len(self.files):
            raise ValueError(f"options.stallOnTask={self.options.stall_on_task} but the job has {len(self.files)} file(s)")
        return self

    def to_command(self) -> StartExportJobCommand:
        return StartExportJobCommand(
            job_id=self.job_id,
            export_id=self.export_id,
            user_id=self.user_id,
            metadata=self.metadata,
            files=[FileSpec(url=f.url, name=f.name) for f in self.files],
            task_token=self.task_token,
        )


class InvalidExportMessage(ValueError):
    """The message body is not a valid export job message; ``str()`` says which fields and why."""


def parse_message(body: str) -> ExportJobMessage:
    """Parse and validate an SQS message body, with an error that names each bad field."""
    try:
        return ExportJobMessage.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<body>'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidExportMessage(f"invalid export job message: {problems}") from None
