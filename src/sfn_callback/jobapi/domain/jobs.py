"""A job of the reference job service and how it answers each status request (pure: no I/O, no clock of its own).

A job is created with a ``behaviour`` (the body of ``POST /jobs``, all optional)::

    {"completeAfterChecks": 2}          # ends at the 2nd real status answer (default 2), or
    {"completeAfterSeconds": 3}         # ends 3 s after it was created
    "outcome": "succeed" | "fail"       # how it ends (default succeed); "error": the failure's message
    "answers": ["429", "503", "slow"]   # the first status requests answer these instead, in order; "ok" is a
                                        # real answer; "429" carries Retry-After: retryAfter (default 1 s);
                                        # "500" / "502" / "503" that error; "slow" answers after slowSeconds
                                        # (default 3 s), without counting as a real answer
    "submitAnswers": ["429", "503"]     # the first submits of this body (by Idempotency-Key, else by the
                                        # body) answer these instead of creating the job, in order; "429"
                                        # carries Retry-After: retryAfter, "500" / "502" / "503" that error;
                                        # "slow": the job is created but the answer comes after slowSeconds
    "result": {...}                     # the result of a job that succeeds (default {"records": n})
    "pushUrl": "http://127.0.0.1:...",  # with "pushSecret": notify this URL when the job ends (a signed POST,
    "pushSecret": "...",                # see sfn_callback.jobapi.application.push); loopback URLs only
    "pushLost": true                    # the push is "sent" but never arrives (the fallback poll must finish it)
    "pushDelaySeconds": 0.5             # the push leaves this long after the job ended

Every status request the job receives is counted by kind (``served``: real, throttled, errors, slow,
unauthorized), so a scenario can compare the poller's attempts with what the service really answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

ANSWERS = ("ok", "429", "500", "502", "503", "slow")
MAX_ANSWERS = 1000


class Behaviour(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    complete_after_checks: int | None = Field(default=None, ge=1, le=1_000_000, alias="completeAfterChecks")
    complete_after_seconds: float | None = Field(default=None, ge=0, le=86400, alias="completeAfterSeconds")
    outcome: Literal["succeed", "fail"] = "succeed"
    error: str = Field(default="the job failed", max_length=1000)
    answers: list[Literal["ok", "429", "500", "502", "503", "slow"]] = Field(default_factory=list,
                                                                             max_length=MAX_ANSWERS)
    submit_answers: list[Literal["ok", "429", "500", "502", "503", "slow"]] = Field(
        default_factory=list, max_length=MAX_ANSWERS, alias="submitAnswers")
    retry_after: int = Field(default=1, ge=0, le=3600, alias="retryAfter")
    slow_seconds: float = Field(default=3.0, ge=0, le=60, alias="slowSeconds")
    result: Any = None
    push_url: str | None = Field(default=None, max_length=2048, alias="pushUrl")
    push_secret: str | None = Field(default=None, min_length=16, max_length=256, alias="pushSecret")
    push_lost: bool = Field(default=False, alias="pushLost")
    push_delay_seconds: float = Field(default=0.0, ge=0, le=3600, alias="pushDelaySeconds")

    @model_validator(mode="after")
    def _push_pair(self) -> Behaviour:
        if (self.push_url is None) != (self.push_secret is None):
            raise ValueError("pushUrl and pushSecret go together")
        if self.push_url is not None:
            host = urlsplit(self.push_url).hostname or ""
            if urlsplit(self.push_url).scheme not in ("http", "https") or host not in ("127.0.0.1", "localhost"):
                raise ValueError("pushUrl must be an http(s) URL on loopback (127.0.0.1)")
        return self


@dataclass(frozen=True)
class Answer:
    """What one status request gets: HTTP status, JSON body, headers, and a delay before answering."""

    kind: str  # real | throttled | errors | slow
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Job:
    job_id: str
    behaviour: Behaviour
    created_at: float
    real_checks: int = 0
    scripted: int = 0
    cancelled: bool = False
    served: dict[str, int] = field(default_factory=lambda: {"real": 0, "throttled": 0, "errors": 0, "slow": 0,
                                                            "unauthorized": 0})
    push: dict[str, Any] | None = None
    """The push sent when the job ended: ``sentAt`` (epoch seconds), ``lost``, ``statusCode`` / ``error``."""
    requests: list[tuple[str, float]] = field(default_factory=list)
    """Each status request's kind and when it came (seconds after the job was created): the latest 1000."""

    def count(self, kind: str, now: float) -> None:
        self.served[kind] += 1
        self.requests.append((kind, round(now - self.created_at, 3)))
        del self.requests[:-1000]

    def ends_at(self) -> float | None:
        """When a job that ends by time ends (None: it ends at a status answer)."""
        b = self.behaviour
        return None if b.complete_after_seconds is None else self.created_at + b.complete_after_seconds

    def state(self, now: float) -> str:
        b = self.behaviour
        if self.cancelled:
            return "cancelled"
        if b.complete_after_seconds is not None:
            done = now - self.created_at >= b.complete_after_seconds
        else:
            done = self.real_checks >= (b.complete_after_checks or 2)
        if not done:
            return "running" if self.real_checks else "queued"
        return "succeeded" if b.outcome == "succeed" else "failed"

    def document(self, now: float) -> dict[str, Any]:
        state = self.state(now)
        doc: dict[str, Any] = {"id": self.job_id, "state": state, "checks": self.real_checks}
        if state == "succeeded":
            doc["result"] = self.behaviour.result if self.behaviour.result is not None else {
                "records": self.real_checks}
        if state == "failed":
            doc["error"] = self.behaviour.error
        return doc

    def answer(self, now: float) -> Answer:
        """The next status request's answer; counts it."""
        b = self.behaviour
        scripted = b.answers[self.scripted] if self.scripted < len(b.answers) else "ok"
        if self.scripted < len(b.answers):
            self.scripted += 1
        if scripted == "429":
            self.count("throttled", now)
            return Answer("throttled", 429, {"error": "throttled"}, {"Retry-After": str(b.retry_after)})
        if scripted in ("500", "502", "503"):
            self.count("errors", now)
            return Answer("errors", int(scripted), {"error": "the service failed"})
        if scripted == "slow":
            self.count("slow", now)
            return Answer("slow", 200, self.document(now), delay=b.slow_seconds)
        self.real_checks += 1
        self.count("real", now)
        return Answer("real", 200, self.document(now))
