"""The HTTP job adapter: create-job's job-submitter port and the poller's job-status port on a REST job API.

Configured by :class:`~sfn_callback.polling.domain.job_api_config.HttpJobApiConfig` (the deployment's
``JOB_API_CONFIG``, with a job's ``pollingConfig.jobApi`` merged over it). What create-job stores on the token
record (``jobApi``: the per-job override and the fields of the submit answer) is what every status check of that
job uses, from the per-job poller or the sweep.

How a submit answer is read (create-job, which tries again while :class:`SubmitTransient` is raised, see
:mod:`sfn_callback.polling.application.create_job`): every try carries the task's idempotency key in
``submit.idempotencyHeader`` (default ``Idempotency-Key``); a refused or reset connection, a timeout, 408, 429
and 5xx are :class:`SubmitTransient` (with ``Retry-After``); 401 / 403 read the secret again once, as below; any
other non-2xx answer is final (``ExternalApiError`` naming it); a 2xx is read by ``jobIdPath`` and ``fields``.
A job that expects a push gets the same push secret on every try of one submit (kept per key), so that the
bodies of the tries are the same.

How a status answer is read:

* connection refused or reset, a timeout (``timeoutSeconds``), HTTP 5xx, 429 and 408: :class:`Transient`, with
  ``Retry-After`` (seconds or an HTTP date) as ``retry_after``: the attempt is given back;
* 401 / 403: the secret is read again (the key may have been rotated) and the request made once more; a second
  401 / 403 is the job's end as below;
* any other 4xx: :class:`Failed` ``JobStatusRejected`` (the API refuses to tell this job's status: it will not
  get better), sent through the normal claim;
* 2xx: JSON; ``statusPath`` mapped by ``statusValues``: :class:`Completed` with ``resultPath``,
  :class:`Failed` (``failedError``, the ``errorPath`` value as the cause) or :class:`InProgress`. A body that is
  not JSON or a status value no list names raises (a failed check, counted and kept on the record).

The auth header's value is read from Secrets Manager or SSM Parameter Store (never from the workflow input),
cached for ``cacheSeconds``, never logged and sent only to the allowed origins.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from secrets import token_urlsafe
from typing import Any
from urllib.parse import quote

import jmespath
import urllib3

from sfn_callback.polling.application.create_job import ExternalApiError, SubmitTransient
from sfn_callback.polling.domain.job_api_config import (
    HttpJobApiConfig,
    InvalidJobApiConfig,
    merge_override,
    parse_config,
    parse_secret_ref,
)
from sfn_callback.polling.domain.jobs import Completed, Failed, InProgress, JobState, Transient
from sfn_callback.polling.domain.lifecycle import TokenRecord

__all__ = ["ERROR_STATUS_REJECTED", "HttpJobApi", "SecretReader", "retry_after_seconds"]

ERROR_STATUS_REJECTED = "JobStatusRejected"
MAX_BODY_IN_ERRORS = 200
TRANSIENT_STATUSES = frozenset({408, 429})
PUSH_SECRETS_KEPT = 256
"""Push secrets kept per idempotency key: a retried submit (or a re-invocation in the same environment) sends
the same body."""


class SecretReader:
    """Reads ``secretsmanager:<name>`` / ``ssm:<name>`` with a client per service, caching each value briefly."""

    def __init__(self, client: Callable[[str], Any], clock: Callable[[], float] = time.monotonic):
        self._client = client
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.reads = 0

    def read(self, ref: str, max_age: float, refresh: bool = False) -> str:
        with self._lock:
            cached = self._cache.get(ref)
            if cached is not None and not refresh and self._clock() - cached[1] < max_age:
                return cached[0]
        secret = parse_secret_ref(ref)
        self.reads += 1
        if secret.service == "secretsmanager":
            value = self._client("secretsmanager").get_secret_value(SecretId=secret.name)["SecretString"]
        else:
            value = self._client("ssm").get_parameter(Name=secret.name, WithDecryption=True)["Parameter"]["Value"]
        with self._lock:
            self._cache[ref] = (value, self._clock())
        return value


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After``: delay seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


class HttpJobApi:
    """Submit, check and cancel jobs of one deployment's HTTP job API (per-job overrides included)."""

    def __init__(self, deployment: dict[str, Any] | HttpJobApiConfig | None, secrets: SecretReader,
                 http: urllib3.PoolManager | None = None, push_url: str | Callable[[], str | None] | None = None):
        """``deployment``: the configuration (a ``JOB_API_CONFIG`` document or an :class:`HttpJobApiConfig`;
        None: every job brings its own ``pollingConfig.jobApi``); ``secrets``: reads the auth secret
        (``SecretReader(boto3.client)``)."""
        if isinstance(deployment, HttpJobApiConfig):
            deployment = deployment.to_document()
        self.deployment = deployment
        self.push_url = push_url
        """The push endpoint's URL for jobs whose ``push`` names none, or how to find it (read once, when the
        first such job is created)."""
        if deployment is not None:
            parse_config(deployment, "JOB_API_CONFIG")  # refuse a broken deployment at once
        self.secrets = secrets
        self.http = http or urllib3.PoolManager(retries=False)
        self._push_secrets: OrderedDict[str, str] = OrderedDict()
        self._push_lock = threading.Lock()

    # -- configuration
    def config_for(self, override: Any) -> HttpJobApiConfig:
        return merge_override(self.deployment, override)

    @property
    def for_every_job(self) -> bool:
        """The deployment's config applies to jobs without a ``jobApi`` of their own."""
        return self.deployment is not None and not bool(self.deployment.get("perJobOnly"))

    # -- requests
    def _headers(self, config: HttpJobApiConfig, url: str, refresh: bool) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        auth = config.auth
        if auth is not None:
            if not config.may_send_secret_to(url, self._origins(config)):
                raise InvalidJobApiConfig(f"{url} is outside the origins the secret may be sent to")
            headers[auth.header] = auth.prefix + self.secrets.read(auth.secret, auth.cache_seconds, refresh)
        return headers

    def _origins(self, config: HttpJobApiConfig) -> list[str]:
        return parse_config(self.deployment, "JOB_API_CONFIG").origins() if self.deployment else config.origins()

    def _request(self, config: HttpJobApiConfig, method: str, url: str, body: Any = None,
                 extra: dict[str, str] | None = None) -> urllib3.BaseHTTPResponse:
        """One request, and once more with the secret read again after a 401/403. urllib3's errors propagate."""
        data = json.dumps(body).encode() if body is not None else None
        timeout = urllib3.Timeout(total=config.timeout_seconds)
        response = self.http.request(method, url, body=data, headers={**self._headers(config, url, False),
                                                                      **(extra or {})},
                                     timeout=timeout, retries=False, redirect=False)
        if response.status in (401, 403) and config.auth is not None:
            response = self.http.request(method, url, body=data, headers={**self._headers(config, url, True),
                                                                          **(extra or {})},
                                         timeout=timeout, retries=False, redirect=False)
        return response

    def _push_secret(self, key: str | None) -> str:
        """The push secret of the submit with idempotency key ``key`` (a new one without a key)."""
        if not key:
            return token_urlsafe(32)
        with self._push_lock:
            secret = self._push_secrets.get(key)
            if secret is None:
                secret = self._push_secrets[key] = token_urlsafe(32)
                while len(self._push_secrets) > PUSH_SECRETS_KEPT:
                    self._push_secrets.popitem(last=False)
            return secret

    def deployment_push_url(self) -> str | None:
        """The deployment's push URL; a lookup is kept once it found one (a missing URL is looked up again)."""
        if not callable(self.push_url):
            return self.push_url
        found = self.push_url()
        if found:
            self.push_url = found
        return found

    # -- the job-submitter port (create-job)
    def create_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        override = payload.get("jobApi")
        config = self.config_for(override)
        document = {"recordId": payload.get("recordId"), "data": payload.get("data")}
        body = jmespath.search(config.submit.body, document) if config.submit.body else document
        key = payload.get("idempotencyKey")
        key = key if isinstance(key, str) and key else None
        push_secret = None
        if config.push is not None:
            push_url = config.push.url or self.deployment_push_url()
            if not push_url:
                raise InvalidJobApiConfig("push: no push URL (push.url, or the deployment's PUSH_URL)")
            if not isinstance(body, dict):
                raise InvalidJobApiConfig("push: the submit body must be a JSON object to carry the push URL")
            push_secret = self._push_secret(key)
            body = {**body, config.push.url_field: push_url, config.push.secret_field: push_secret}
        what = f"submit {config.submit.method} {config.submit.url}"
        try:
            response = self._request(config, config.submit.method, config.submit.url, body,
                                     {config.submit.idempotency_header: key} if key else None)
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise SubmitTransient(f"{what}: {type(reason).__name__}: {reason}"[:300],
                                  request_seconds=config.timeout_seconds) from None
        code = response.status
        if code >= 500 or code in TRANSIENT_STATUSES:
            raise SubmitTransient(f"{what} answered HTTP {code}: {_text(response)}",
                                  retry_after_seconds(response.headers.get("Retry-After")), config.timeout_seconds)
        if not 200 <= code < 300:
            final = "not retried: only 408, 429 and 5xx are" if 400 <= code < 500 else "not retried"
            raise ExternalApiError(f"{what} answered HTTP {code} ({final}): {_text(response)}")
        answer = _json(response, f"submit {config.submit.url}")
        job_id = jmespath.search(config.job_id_path, answer)
        if isinstance(job_id, (int, float)) and not isinstance(job_id, bool):
            job_id = str(job_id)
        if not isinstance(job_id, str) or not job_id:
            raise ExternalApiError(f"the submit answer has no job id at {config.job_id_path!r}: {_short(answer)}")
        fields: dict[str, str] = {}
        for name, expr in config.fields.items():
            value = jmespath.search(expr, answer)
            if value is None or isinstance(value, (dict, list)):
                raise ExternalApiError(f"the submit answer has no value for field {name!r} at {expr!r}: "
                                       f"{_short(answer)}")
            fields[name] = str(value)
        stored: dict[str, Any] = {"fields": fields}
        if override:
            stored["config"] = override
        job: dict[str, Any] = {"jobId": job_id, "jobApi": stored}
        if config.push is not None:
            stored["push"] = {"secret": push_secret, "failedError": config.failed_error}
            job["expectsPush"] = True
            job["fallbackIntervalSeconds"] = config.push.fallback_interval_seconds
        return job

    def cancel_job(self, job_id: str, job_api: dict[str, Any] | None = None) -> None:
        job_api = job_api or {}
        config = self.config_for(job_api.get("config"))
        if config.cancel is None:
            return
        url = _fill(config.cancel.url, job_id, job_api.get("fields") or {})
        try:
            response = self._request(config, config.cancel.method, url)
        except urllib3.exceptions.HTTPError as exc:
            raise ExternalApiError(f"cancel {url} failed: {type(exc).__name__}: {exc}") from None
        if response.status >= 300 and response.status != 404:
            raise ExternalApiError(f"cancel {url} answered HTTP {response.status}: {_text(response)}")

    # -- the job-status port (poller, sweep)
    def check_status(self, job_id: str) -> JobState:
        return self.check(job_id, None)

    def check_record(self, record: TokenRecord) -> JobState:
        return self.check(record.job_id, record.job_api)

    def check(self, job_id: str, job_api: dict[str, Any] | None) -> JobState:
        job_api = job_api or {}
        config = self.config_for(job_api.get("config"))
        url = _fill(config.status.url, job_id, job_api.get("fields") or {})
        try:
            response = self._request(config, config.status.method, url)
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            return Transient(f"{config.status.method} {url}: {type(reason).__name__}: {reason}"[:200])
        code = response.status
        if code >= 500 or code in TRANSIENT_STATUSES:
            return Transient(f"HTTP {code} from {config.status.method} {url}",
                             retry_after_seconds(response.headers.get("Retry-After")))
        if 400 <= code < 500:
            return Failed(ERROR_STATUS_REJECTED, f"HTTP {code} from {config.status.method} {url}: {_text(response)}")
        if not 200 <= code < 300:
            raise ExternalApiError(f"{config.status.method} {url} answered HTTP {code}")
        answer = _json(response, f"{config.status.method} {url}")
        status = jmespath.search(config.status_path, answer)
        values = config.status_values
        if status in values.completed:
            return Completed(jmespath.search(config.result_path, answer) if config.result_path else answer)
        if status in values.failed:
            error = jmespath.search(config.error_path, answer) if config.error_path else None
            cause = error if isinstance(error, str) else json.dumps(error) if error is not None else f"status {status}"
            return Failed(config.failed_error, cause[:32768])
        if not values.in_progress or status in values.in_progress:
            return InProgress()
        raise ExternalApiError(f"status {status!r} at {config.status_path!r} is in none of statusValues "
                               f"(completed {values.completed}, failed {values.failed}, "
                               f"inProgress {values.in_progress})")


def _fill(template: str, job_id: str, fields: dict[str, str]) -> str:
    return template.format(**{name: quote(str(value), safe="") for name, value in fields.items()},
                           jobId=quote(job_id, safe=""))


def _text(response: urllib3.BaseHTTPResponse) -> str:
    return response.data[:MAX_BODY_IN_ERRORS].decode("utf-8", "replace")


def _short(doc: Any) -> str:
    return json.dumps(doc)[:MAX_BODY_IN_ERRORS]


def _json(response: urllib3.BaseHTTPResponse, what: str) -> Any:
    try:
        return json.loads(response.data)
    except ValueError:
        raise ExternalApiError(f"{what} answered a body that is not JSON: {_text(response)!r}") from None
