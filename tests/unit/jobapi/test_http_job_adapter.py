"""The HTTP job adapter against the reference job service over real HTTP (uvicorn on loopback, in this process):
submit, status mapping, transient answers, a 4xx ending the job, key rotation; and its configuration checks."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from datetime import UTC

import pytest

from sfn_callback.approval.entrypoints.server import ServerThread
from sfn_callback.common.clock import utcnow
from sfn_callback.jobapi.adapters.keys import FileOrEnvKeys
from sfn_callback.jobapi.application.service import JobService
from sfn_callback.jobapi.entrypoints.app import create_app
from sfn_callback.polling.adapters.http_job import ERROR_STATUS_REJECTED, HttpJobApi, SecretReader, retry_after_seconds
from sfn_callback.polling.application.create_job import ExternalApiError
from sfn_callback.polling.domain.job_api_config import InvalidJobApiConfig, merge_override, parse_config
from sfn_callback.polling.domain.jobs import Completed, Failed, InProgress, Transient
from sfn_callback.polling.domain.lifecycle import new_record

KEY_1 = "key-1-0123456789abcdef"
KEY_2 = "key-2-0123456789abcdef"


class Secrets:
    """A Secrets Manager client double: the current value, and how often it was read."""

    def __init__(self, value):
        self.value = value
        self.reads = 0

    def get_secret_value(self, SecretId):  # noqa: N803 - boto3's name
        self.reads += 1
        assert SecretId == "job-key"
        return {"SecretString": self.value}


def config(url):
    return {
        "submit": {"url": f"{url}/jobs", "body": "data.job"},
        "status": {"url": f"{url}/jobs/{{jobId}}"},
        "cancel": {"method": "DELETE", "url": f"{url}/jobs/{{jobId}}"},
        "jobIdPath": "id", "statusPath": "state", "resultPath": "result", "errorPath": "error",
        "statusValues": {"inProgress": ["queued", "running"], "completed": ["succeeded"], "failed": ["failed"]},
        "timeoutSeconds": 1,
        "auth": {"secret": "secretsmanager:job-key"},
    }


@pytest.fixture(scope="module")
def service():
    jobs = JobService(FileOrEnvKeys(keys=[KEY_1]))
    with ServerThread(create_app(jobs)) as server:
        yield jobs, server.url


@pytest.fixture()
def api(service):
    jobs, url = service
    jobs.keys.replace([KEY_1])
    secrets = Secrets(KEY_1)
    return HttpJobApi(config(url), SecretReader(lambda name: secrets)), secrets, jobs


def record_for(created):
    r = new_record(job_id=created["jobId"], task_token="t" * 100, execution_id="arn:e", now=utcnow(),
                   interval_seconds=1, timeout_seconds=60, max_attempts=5)
    return replace(r, job_api=created["jobApi"])


def submit(api, **behaviour):
    return api.create_job({"recordId": "r-1", "data": {"job": behaviour}})


def test_a_job_is_submitted_checked_and_completes_with_its_result(api):
    http, secrets, jobs = api
    created = submit(http, completeAfterChecks=2, result={"rows": 7})
    assert created["jobId"].startswith("j-") and created["jobApi"] == {"fields": {}}
    record = record_for(created)
    assert http.check_record(record) == InProgress()
    assert http.check_record(record) == Completed({"rows": 7})
    assert jobs.served(created["jobId"])["served"]["real"] == 2
    assert secrets.reads == 1  # cached


def test_a_failed_job_is_failed_with_its_error_as_the_cause(api):
    http, _, _ = api
    record = record_for(submit(http, completeAfterChecks=1, outcome="fail", error="disk full"))
    assert http.check_record(record) == Failed("JobFailed", "disk full")


def test_429_5xx_slow_answers_and_refused_connections_are_transient(api):
    http, _, jobs = api
    record = record_for(submit(http, completeAfterChecks=1, answers=["429", "503", "slow"], retryAfter=2,
                               slowSeconds=1.5))
    throttled = http.check_record(record)
    assert isinstance(throttled, Transient) and throttled.retry_after == 2 and "HTTP 429" in throttled.reason
    failed = http.check_record(record)
    assert isinstance(failed, Transient) and "HTTP 503" in failed.reason and failed.retry_after is None
    started = time.monotonic()
    slow = http.check_record(record)
    assert isinstance(slow, Transient) and "Timeout" in slow.reason and time.monotonic() - started < 1.4
    assert http.check_record(record) == Completed({"records": 1})
    assert jobs.served(record.job_id)["served"] == {"real": 1, "throttled": 1, "errors": 1, "slow": 1,
                                                    "unauthorized": 0}
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    gone = HttpJobApi(config(f"http://127.0.0.1:{closed}"), http.secrets)
    refused = gone.check("j-1", None)
    assert isinstance(refused, Transient) and "127.0.0.1" in refused.reason


def test_a_4xx_on_the_status_call_ends_the_job_with_a_named_error(api):
    http, _, _ = api
    answer = http.check("j-does-not-exist", {"fields": {}})
    assert isinstance(answer, Failed) and answer.error == ERROR_STATUS_REJECTED and "HTTP 404" in answer.cause


def test_a_rotated_key_is_read_again_once_on_401(api):
    http, secrets, jobs = api
    record = record_for(submit(http, completeAfterChecks=2))
    assert http.check_record(record) == InProgress()
    jobs.keys.replace([KEY_2])  # the service rotates, then the secret holds the new key
    secrets.value = KEY_2
    assert http.check_record(record) == Completed({"records": 2})
    assert secrets.reads == 2 and jobs.served(record.job_id)["served"]["unauthorized"] == 1
    secrets.value = "key-wrong-0123456789"  # the secret and the service disagree: a named end, not a loop
    jobs.keys.replace([KEY_1])
    rejected = http.check_record(record)
    assert isinstance(rejected, Failed) and "HTTP 401" in rejected.cause and secrets.reads == 3


def test_submit_errors_are_create_job_errors(api, service):
    http, _, _ = api
    with pytest.raises(ExternalApiError, match="HTTP 422"):
        http.create_job({"recordId": "r", "data": {"job": {"outcome": "explode"}}})
    with pytest.raises(ExternalApiError, match="no job id"):
        HttpJobApi({**config(service[1]), "jobIdPath": "nothing.here"}, http.secrets).create_job(
            {"recordId": "r", "data": {"job": {}}})


def test_an_unmapped_status_value_is_a_failed_check(api, service):
    http, _, _ = api
    strict = HttpJobApi({**config(service[1]), "statusValues": {"completed": ["succeeded"],
                                                                 "inProgress": ["queued"]}}, http.secrets)
    record = record_for(submit(http, completeAfterChecks=3))
    with pytest.raises(ExternalApiError, match="'running' at 'state' is in none of statusValues"):
        strict.check_record(record)


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    from datetime import datetime
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30.0


def test_configuration_checks_name_every_problem():
    base = config("http://127.0.0.1:9")
    with pytest.raises(InvalidJobApiConfig) as bad:
        parse_config({**base, "statusPath": "state[", "status": {"url": "http://127.0.0.1:9/jobs/{jobId}/{run}"}})
    text = str(bad.value)
    assert "statusPath: 'state[' is not a JMESPath expression" in text
    assert "names {run}, which the submit answer does not map" in text
    assert parse_config({**base, "fields": {"run": "run.id"},
                         "status": {"url": "http://127.0.0.1:9/jobs/{jobId}/{run}"}}).fields == {"run": "run.id"}
    with pytest.raises(InvalidJobApiConfig, match="is not secretsmanager:<name> or ssm:<name>"):
        parse_config({**base, "auth": {"secret": "env:KEY"}})
    with pytest.raises(InvalidJobApiConfig, match="timeoutSeconds"):
        parse_config({**base, "timeoutSeconds": 60})
    with pytest.raises(InvalidJobApiConfig, match="submit.idempotencyHeader: 'authorization' is a header"):
        parse_config({**base, "submit": {**base["submit"], "idempotencyHeader": "authorization"}})
    with pytest.raises(InvalidJobApiConfig, match="submit.idempotencyHeader"):
        parse_config({**base, "submit": {**base["submit"], "idempotencyHeader": "Idem Key"}})
    assert parse_config({**base, "submit": {**base["submit"], "idempotencyHeader": "X-Request-Id"}}
                        ).submit.idempotency_header == "X-Request-Id"


def test_a_per_job_override_cannot_touch_the_secret_nor_send_it_elsewhere():
    base = config("http://127.0.0.1:9")
    with pytest.raises(InvalidJobApiConfig, match="auth cannot come from the workflow input"):
        merge_override(base, {"auth": {"secret": "secretsmanager:other"}})
    with pytest.raises(InvalidJobApiConfig, match="outside the origins the secret may be sent to"):
        merge_override(base, {"status": {"url": "http://example.com/jobs/{jobId}"}})
    merged = merge_override({**base, "allowedOrigins": ["http://127.0.0.1"]},
                            {"status": {"url": "http://127.0.0.1:8181/jobs/{jobId}"}, "timeoutSeconds": 2})
    assert merged.status.url.endswith(":8181/jobs/{jobId}") and merged.submit.url == "http://127.0.0.1:9/jobs"
    assert merged.timeout_seconds == 2 and merged.auth is not None


def test_concurrent_checks_read_the_secret_once():
    secrets = Secrets(KEY_1)
    reader = SecretReader(lambda name: secrets)
    threads = [threading.Thread(target=reader.read, args=("secretsmanager:job-key", 300)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reader.read("secretsmanager:job-key", 300) == KEY_1 and secrets.reads <= 3
    assert reader.read("secretsmanager:job-key", 300, refresh=True) == KEY_1
