"""Create-job's submit under transient answers, over real HTTP in one process: the reference job service's
idempotency keys and scripted submit faults, the HTTP adapter's reading of submit answers, and create-job's
bounded retries (tries, backoff, ``Retry-After``, the invocation's remaining time)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import urllib3

from sfn_callback.approval.entrypoints.server import ServerThread
from sfn_callback.jobapi.adapters.keys import FileOrEnvKeys
from sfn_callback.jobapi.application.service import JobService
from sfn_callback.jobapi.entrypoints.app import create_app
from sfn_callback.polling.adapters.http_job import HttpJobApi, SecretReader
from sfn_callback.polling.application.create_job import (
    CreateJobService,
    ExternalApiError,
    SubmitFailed,
    SubmitRetry,
    SubmitTransient,
    submit_key,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "poc"))
from job_api_fakes import KEY, Secrets  # noqa: E402
from poc_fakes import FakeRepository, FakeSchedules  # noqa: E402

TOKEN = "AAAAKgAAAAIAAAAAAAAAAT" + "s" * 200


@pytest.fixture(scope="module")
def server():
    jobs = JobService(FileOrEnvKeys(keys=[KEY]))
    with ServerThread(create_app(jobs)) as running:
        yield jobs, running.url


def http_config(url, **extra):
    return {"submit": {"url": f"{url}/jobs", "body": "data.job"}, "status": {"url": f"{url}/jobs/{{jobId}}"},
            "statusPath": "state", "statusValues": {"completed": ["succeeded"], "failed": ["failed"]},
            "timeoutSeconds": 1, "auth": {"secret": "secretsmanager:job-key"}, **extra}


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)
        time.sleep(min(seconds, 0.05))  # the waits are recorded; the test need not sit through them


@pytest.fixture()
def world(server):
    jobs, url = server
    repo, schedules, sleeps = FakeRepository(), FakeSchedules(), Sleeps()
    http = HttpJobApi(http_config(url), SecretReader(lambda name: Secrets()))
    service = CreateJobService(jobs=http, repository=repo, schedules=schedules, allow_sub_minute=True,
                               sleep=sleeps)
    return service, repo, schedules, sleeps, jobs


def event(job, token=None):
    return {"record": {"id": "r-1", "data": {"job": job}}, "taskToken": token or TOKEN + str(time.monotonic_ns()),
            "executionId": "arn:exec", "pollingConfig": {"intervalSeconds": 2, "maxAttempts": 5, "timeoutSeconds": 60}}


def post(url, body, key=None):
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    response = urllib3.request("POST", f"{url}/jobs", body=json.dumps(body), headers=headers, retries=False)
    return response.status, json.loads(response.data), response.headers


def test_the_job_service_answers_a_key_again_with_its_job_and_refuses_it_with_another_body(server):
    jobs, url = server
    before = jobs.submitted()
    status, first, _ = post(url, {"completeAfterChecks": 3}, key="k-same-body")
    assert status == 201
    status, again, headers = post(url, {"completeAfterChecks": 3}, key="k-same-body")
    assert status == 200 and again["id"] == first["id"] and headers["Idempotent-Replayed"] == "true"
    status, refused, _ = post(url, {"completeAfterChecks": 4}, key="k-same-body")
    assert status == 422 and refused["error"] == "IdempotencyKeyReused" and "another body" in refused["message"]
    status, other, _ = post(url, {"completeAfterChecks": 3}, key="k-other")
    assert status == 201 and other["id"] != first["id"]
    after = jobs.submitted()
    assert after["jobs"] - before["jobs"] == 2 and after["keys"] - before["keys"] == 2
    delta = {k: after["submits"][k] - before["submits"][k] for k in after["submits"]}
    assert delta == {"created": 2, "replayed": 1, "throttled": 0, "errors": 0, "slow": 0, "conflicts": 1}


def test_scripted_submit_faults_create_nothing_until_the_script_is_played(server):
    jobs, url = server
    body = {"submitAnswers": ["429", "503"], "retryAfter": 3}
    before = jobs.submitted()
    status, answer, headers = post(url, body, key="k-scripted")
    assert (status, headers["Retry-After"]) == (429, "3")
    assert post(url, body, key="k-scripted")[0] == 503
    status, created, _ = post(url, body, key="k-scripted")
    assert status == 201 and created["state"] == "queued"
    assert jobs.submitted()["jobs"] - before["jobs"] == 1


def test_create_job_retries_429_and_5xx_with_the_same_key_and_creates_one_job(world):
    service, repo, schedules, sleeps, jobs = world
    before = jobs.submitted()
    request = event({"submitAnswers": ["429", "503", "500"], "retryAfter": 1})
    result = service.handle(request, time_left=lambda: 50.0)
    after = jobs.submitted()
    assert after["jobs"] - before["jobs"] == 1 and after["keys"] - before["keys"] == 1
    assert after["submits"]["throttled"] - before["submits"]["throttled"] == 1
    assert after["submits"]["errors"] - before["submits"]["errors"] == 2
    assert sleeps == [1.0, 1.0, 2.0]  # max(backoff 0.5, Retry-After 1), then the backoff 1 s, 2 s
    record = repo.items[result["jobId"]]
    assert record.status.value == "POLLING" and schedules.created[-1][0] == record.schedule_name
    assert f"key:{submit_key(request['taskToken'])}" in jobs.submit_slots


def test_a_timed_out_submit_that_reached_the_service_gets_the_same_job_on_the_retry(world):
    service, repo, _, sleeps, jobs = world
    before = jobs.submitted()
    result = service.handle(event({"submitAnswers": ["slow"], "slowSeconds": 1.5}), time_left=lambda: 50.0)
    after = jobs.submitted()
    assert after["jobs"] - before["jobs"] == 1, "the retry created a second job"
    assert after["submits"]["slow"] - before["submits"]["slow"] == 1
    assert after["submits"]["replayed"] - before["submits"]["replayed"] == 1
    assert sleeps == [0.5] and result["jobId"] in repo.items


def test_submits_that_never_succeed_fail_create_job_naming_the_last_answer_and_store_nothing(world):
    service, repo, schedules, sleeps, jobs = world
    records, created, before = len(repo.items), len(schedules.created), jobs.submitted()
    with pytest.raises(SubmitFailed) as failed:
        service.handle(event({"submitAnswers": ["503", "502", "500", "503", "503"]}), time_left=lambda: 50.0)
    text = str(failed.value)
    assert "after 4 tries (no tries left)" in text and "answered HTTP 503" in text, text
    assert sleeps == [0.5, 1.0, 2.0]
    assert (len(repo.items), len(schedules.created)) == (records, created)
    assert jobs.submitted()["jobs"] == before["jobs"]


def test_a_final_4xx_is_not_retried_and_says_so(world):
    service, repo, _, sleeps, _ = world
    with pytest.raises(ExternalApiError) as refused:
        service.handle(event({"outcome": "explode"}), time_left=lambda: 50.0)
    assert not isinstance(refused.value, SubmitFailed) and sleeps == []
    assert "HTTP 422 (not retried: only 408, 429 and 5xx are)" in str(refused.value)


def test_retries_stop_before_the_invocations_remaining_time(world):
    service, repo, _, sleeps, jobs = world
    records = len(repo.items)
    with pytest.raises(SubmitFailed) as failed:  # Retry-After 20 s with 15 s left: no wait at all
        service.handle(event({"submitAnswers": ["429"], "retryAfter": 20}), time_left=lambda: 15.0)
    assert "after 1 try (waiting 20 s and trying again" in str(failed.value) and sleeps == []
    assert "remaining 15.0 s" in str(failed.value) and len(repo.items) == records


def test_a_refused_connection_is_transient(server):
    http = HttpJobApi(http_config("http://127.0.0.1:9"), SecretReader(lambda name: Secrets()))
    with pytest.raises(SubmitTransient) as transient:
        http.create_job({"recordId": "r", "data": {"job": {}}, "idempotencyKey": "k"})
    assert transient.value.request_seconds == 1 and "127.0.0.1" in str(transient.value)


def test_a_push_job_sends_the_same_secret_on_every_try_of_its_key(server):
    jobs, url = server
    http = HttpJobApi(http_config(url, push={"url": "http://127.0.0.1:9/push"}), SecretReader(lambda n: Secrets()))
    service = CreateJobService(jobs=http, repository=FakeRepository(), schedules=FakeSchedules(),
                               allow_sub_minute=True, sleep=Sleeps())
    before = jobs.submitted()
    result = service.handle(event({"submitAnswers": ["503", "slow"], "slowSeconds": 1.5}), time_left=lambda: 50.0)
    after = jobs.submitted()
    assert after["jobs"] - before["jobs"] == 1 and after["submits"]["conflicts"] == before["submits"]["conflicts"]
    assert after["submits"]["replayed"] - before["submits"]["replayed"] == 1
    assert jobs.jobs[result["jobId"]].behaviour.push_secret is not None


def test_the_submit_key_is_a_stable_hash_of_the_token_never_the_token():
    key = submit_key(TOKEN)
    assert key == submit_key(TOKEN) and key != submit_key(TOKEN + "x")
    assert TOKEN not in key and TOKEN[:40] not in key and key.startswith("sfncb-") and len(key) == 70


def test_the_retry_policy_without_a_lambda_context_bounds_each_wait():
    class Throttled:
        def __init__(self):
            self.calls = 0

        def create_job(self, payload):
            self.calls += 1
            raise SubmitTransient("HTTP 429", retry_after=120)

        def cancel_job(self, job_id):
            raise AssertionError("nothing was created")

    jobs = Throttled()
    service = CreateJobService(jobs=jobs, repository=FakeRepository(), schedules=FakeSchedules(),
                               allow_sub_minute=True, sleep=Sleeps(), retry=SubmitRetry(max_wait_seconds=30))
    with pytest.raises(SubmitFailed, match=r"after 1 try \(a wait of 120 s is longer than 30 s\)"):
        service.handle(event({}))
    assert jobs.calls == 1


def test_a_repeated_invocation_for_the_same_task_answers_its_job_again_and_cancels_nothing(world):
    service, repo, schedules, _, jobs = world
    request = event({"completeAfterChecks": 3})
    first = service.handle(request, time_left=lambda: 50.0)
    records, created, before = len(repo.items), len(schedules.created), jobs.submitted()
    again = service.handle(request, time_left=lambda: 50.0)  # e.g. the workflow retried a timed-out invocation
    assert again == first
    after = jobs.submitted()
    assert after["submits"]["replayed"] - before["submits"]["replayed"] == 1 and after["jobs"] == before["jobs"]
    assert (len(repo.items), len(schedules.created)) == (records, created)
    assert not jobs.jobs[first["jobId"]].cancelled
