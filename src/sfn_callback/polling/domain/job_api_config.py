"""How the HTTP job adapter talks to a job API: the configuration model, its checks and the per-job override.

A deployment configures the adapter once (``JOB_API_CONFIG``, JSON); a workflow input may override parts of it
per job (``pollingConfig.jobApi``), except what decides where the secret goes (``auth``, ``allowedOrigins``,
``perJobOnly``). Every check that can be made before the first request is made here (pure: no I/O), so that
``deploy --plan``, ``deploy`` and create-job refuse a configuration that cannot work:

* every JMESPath expression compiles;
* every URL is ``http(s)://host...`` and every ``{name}`` of a URL template is ``jobId`` or a field the submit
  answer maps (``fields``);
* the secret is ``secretsmanager:<name>`` or ``ssm:<name>`` (whether it exists is the deployer's check);
* a URL the auth header would be sent to is one of the allowed origins.
"""

from __future__ import annotations

import copy
import string
from typing import Any, Literal
from urllib.parse import urlsplit

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["FALLBACK_FACTOR", "PushConfig", "AuthConfig", "HttpJobApiConfig", "InvalidJobApiConfig", "OVERRIDE_FORBIDDEN", "SecretRef",
           "merge_override", "parse_config", "parse_secret_ref", "template_fields"]

MAX_TIMEOUT_SECONDS = 10.0
"""A status request (and its one retry after a 401/403) must fit in a status check's window (15 s)."""
OVERRIDE_FORBIDDEN = ("auth", "allowedOrigins", "perJobOnly")
"""What a workflow input may not set: the secret and where it may be sent are the deployment's alone."""
SECRET_PREFIXES = ("secretsmanager", "ssm")


class InvalidJobApiConfig(ValueError):
    """The job API configuration cannot work; the message names every problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Request(_Model):
    method: Literal["GET", "POST", "PUT", "DELETE"] = "GET"
    url: str = Field(min_length=1)


class SubmitRequest(Request):
    method: Literal["GET", "POST", "PUT", "DELETE"] = "POST"
    body: str | None = None
    """JMESPath over ``{"recordId", "data"}`` (the workflow's record); None sends that document whole."""
    idempotency_header: str = Field(default="Idempotency-Key", min_length=1, max_length=128,
                                    pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", alias="idempotencyHeader")
    """The header that carries the submit's idempotency key (a hash of the task token, the same on every try
    and re-invocation for that task): an API that honours it creates one job however many tries reach it."""


class AuthConfig(_Model):
    secret: str
    """``secretsmanager:<name>`` or ``ssm:<name>`` (a SecureString): the header's value, read at run time."""
    header: str = Field(default="Authorization", min_length=1)
    prefix: str = "Bearer "
    cache_seconds: float = Field(default=300.0, ge=0, alias="cacheSeconds")


class StatusValues(_Model):
    completed: list[str] = Field(min_length=1)
    failed: list[str] = Field(default_factory=list)
    in_progress: list[str] = Field(default_factory=list, alias="inProgress")
    """Empty: every value that is neither completed nor failed is in progress. Otherwise a value in none of
    the three lists is a failed status check (counted, kept on the record as ``lastCheckError``)."""


class PushConfig(_Model):
    """The job API calls the push endpoint when the job ends (see :mod:`sfn_callback.polling.application.push`);
    polls continue at the slower fallback cadence."""

    url: str | None = None
    """The push endpoint's URL; None: the deployment's (``PUSH_URL``)."""
    url_field: str = Field(default="pushUrl", min_length=1, alias="urlField")
    """The submit body's field that carries the push URL."""
    secret_field: str = Field(default="pushSecret", min_length=1, alias="secretField")
    """The submit body's field that carries the job's push secret (generated per job by create-job)."""
    fallback_interval_seconds: int | None = Field(default=None, gt=0, alias="fallbackIntervalSeconds")
    """The polling interval of a job that expects a push; None: ``FALLBACK_FACTOR`` times the job's interval."""


FALLBACK_FACTOR = 5
"""A job that expects a push is polled this many times more slowly (unless ``fallbackIntervalSeconds``)."""


class HttpJobApiConfig(_Model):
    submit: SubmitRequest
    status: Request
    cancel: Request | None = None
    job_id_path: str = Field(default="id", alias="jobIdPath")
    fields: dict[str, str] = Field(default_factory=dict)
    """Name -> JMESPath over the submit answer: values the URL templates may use beside ``{jobId}``."""
    status_path: str = Field(default="status", alias="statusPath")
    result_path: str | None = Field(default=None, alias="resultPath")
    error_path: str | None = Field(default=None, alias="errorPath")
    status_values: StatusValues = Field(alias="statusValues")
    failed_error: str = Field(default="JobFailed", min_length=1, max_length=256, alias="failedError")
    timeout_seconds: float = Field(default=5.0, gt=0, le=MAX_TIMEOUT_SECONDS, alias="timeoutSeconds")
    auth: AuthConfig | None = None
    allowed_origins: list[str] | None = Field(default=None, alias="allowedOrigins")
    """Where the auth header may be sent (``scheme://host`` or ``scheme://host:port``); default: the origins of
    the deployment's own URLs."""
    push: PushConfig | None = None
    """The job API notifies the push endpoint when the job ends; None: the job is only polled."""
    per_job_only: bool = Field(default=False, alias="perJobOnly")
    """True: only jobs whose input carries ``pollingConfig.jobApi`` use this API (the others keep the
    deployment's default job API)."""

    @classmethod
    def checked(cls, doc: Any, what: str = "job API configuration") -> HttpJobApiConfig:
        """A configuration with every check made (see :func:`parse_config`), or :class:`InvalidJobApiConfig`."""
        return parse_config(doc, what)

    def to_document(self) -> dict[str, Any]:
        """The JSON document (the keys as written in ``JOB_API_CONFIG``) that parses back to this configuration."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def expressions(self) -> dict[str, str]:
        found = {"jobIdPath": self.job_id_path, "statusPath": self.status_path}
        if self.submit.body is not None:
            found["submit.body"] = self.submit.body
        if self.result_path is not None:
            found["resultPath"] = self.result_path
        if self.error_path is not None:
            found["errorPath"] = self.error_path
        found.update({f"fields.{name}": expr for name, expr in self.fields.items()})
        return found

    def urls(self) -> dict[str, str]:
        found = {"submit.url": self.submit.url, "status.url": self.status.url}
        if self.cancel is not None:
            found["cancel.url"] = self.cancel.url
        return found

    def push_urls(self) -> dict[str, str]:
        return {"push.url": self.push.url} if self.push is not None and self.push.url else {}

    def origins(self) -> list[str]:
        """Where the secret may go: ``allowedOrigins``, or the origins of this configuration's URLs."""
        if self.allowed_origins is not None:
            return list(self.allowed_origins)
        return sorted({origin_of(url) for url in self.urls().values()})

    def may_send_secret_to(self, url: str, origins: list[str]) -> bool:
        parts = urlsplit(url)
        for allowed in origins:
            a = urlsplit(allowed)
            if a.scheme == parts.scheme and a.hostname == parts.hostname and (a.port is None or a.port == parts.port):
                return True
        return False

    def problems(self) -> list[str]:
        found: list[str] = []
        for where, expr in self.expressions().items():
            try:
                jmespath.compile(expr)
            except JMESPathError as exc:
                found.append(f"{where}: {expr!r} is not a JMESPath expression ({str(exc).splitlines()[0]})")
        known = {"jobId", *self.fields}
        for where, url in self.urls().items():
            if urlsplit(url).scheme not in {"http", "https"} or not urlsplit(url).hostname:
                found.append(f"{where}: {url!r} is not an http(s)://host URL")
            try:
                names = template_fields(url)
            except ValueError as exc:
                found.append(f"{where}: {url!r} is not a URL template ({exc})")
                continue
            if where == "submit.url" and names:
                found.append(f"{where}: {url!r} names {', '.join(sorted(names))}, but the submit URL is used "
                             "before there is a submit answer")
                continue
            missing = sorted(names - known)
            if missing:
                found.append(f"{where}: {url!r} names {', '.join('{' + m + '}' for m in missing)}, which the "
                             f"submit answer does not map (known: {', '.join(sorted(known))}; add them to fields)")
        for where, url in self.push_urls().items():
            if urlsplit(url).scheme not in {"http", "https"} or not urlsplit(url).hostname:
                found.append(f"{where}: {url!r} is not an http(s)://host URL")
        taken = {"accept", "content-type", "content-length", "host"}
        if self.auth is not None:
            taken.add(self.auth.header.lower())
        if self.submit.idempotency_header.lower() in taken:
            found.append(f"submit.idempotencyHeader: {self.submit.idempotency_header!r} is a header the adapter "
                         "sets itself (auth.header, Accept, Content-Type)")
        if self.auth is not None:
            try:
                parse_secret_ref(self.auth.secret)
            except InvalidJobApiConfig as exc:
                found.append(f"auth.secret: {exc}")
        for origin in self.allowed_origins or ():
            parts = urlsplit(origin)
            if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path not in {"", "/"}:
                found.append(f"allowedOrigins: {origin!r} is not scheme://host[:port]")
        return found


class SecretRef(BaseModel):
    service: Literal["secretsmanager", "ssm"]
    name: str

    def __str__(self) -> str:
        return f"{self.service}:{self.name}"


def parse_secret_ref(ref: str) -> SecretRef:
    service, sep, name = ref.partition(":")
    if not sep or service not in SECRET_PREFIXES or not name:
        raise InvalidJobApiConfig(f"{ref!r} is not secretsmanager:<name> or ssm:<name>")
    return SecretRef(service=service, name=name)  # type: ignore[arg-type]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def template_fields(url: str) -> set[str]:
    """The ``{name}`` fields of a URL template (``{{`` and ``}}`` are literal braces)."""
    names = set()
    for _, name, spec, conversion in string.Formatter().parse(url):
        if name is None:
            continue
        if not name or spec or conversion or not name.isidentifier():
            raise ValueError(f"field {{{name}}} must be a plain name")
        names.add(name)
    return names


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_config(doc: Any, what: str = "job API configuration") -> HttpJobApiConfig:
    """A checked configuration, or :class:`InvalidJobApiConfig` naming every problem."""
    if not isinstance(doc, dict):
        raise InvalidJobApiConfig(f"{what}: expected a JSON object, got {type(doc).__name__}")
    try:
        config = HttpJobApiConfig.model_validate(doc)
    except ValidationError as exc:
        raise InvalidJobApiConfig(f"{what}: {_describe(exc)}") from None
    problems = config.problems()
    if problems:
        raise InvalidJobApiConfig(f"{what}: " + "; ".join(problems))
    return config


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def merge_override(deployment: dict[str, Any] | None, override: Any) -> HttpJobApiConfig:
    """The configuration one job uses: the deployment's with the workflow input's ``jobApi`` merged over it (a
    nested object merges key by key). The override may not touch the secret or where it may be sent; a merged
    URL outside the allowed origins gets no secret, so such a configuration is refused."""
    if override is None:
        override = {}
    if not isinstance(override, dict):
        raise InvalidJobApiConfig(f"pollingConfig.jobApi: expected an object, got {type(override).__name__}")
    forbidden = sorted(set(override) & set(OVERRIDE_FORBIDDEN))
    if forbidden:
        raise InvalidJobApiConfig(f"pollingConfig.jobApi: {', '.join(forbidden)} cannot come from the workflow "
                                  "input (the secret and where it may be sent are the deployment's)")
    base = deployment or {}
    config = parse_config(_merge(base, override), "pollingConfig.jobApi" if override else "JOB_API_CONFIG")
    if config.auth is not None and override:
        origins = parse_config(base, "JOB_API_CONFIG").origins()
        outside = [f"{where} {url}" for where, url in config.urls().items()
                   if not config.may_send_secret_to(url, origins)]
        if outside:
            raise InvalidJobApiConfig(f"pollingConfig.jobApi: {', '.join(outside)} is outside the origins the "
                                      f"secret may be sent to ({', '.join(origins)})")
    return config
