"""Push over real HTTP in one process: create-job through the HTTP adapter gives the reference job service the
push URL and a per-job secret (stored on the token record, polled at the fallback cadence); the service signs
and sends the push when the job ends, and the push endpoint's service completes the token (a loopback server
hands it the request as a Function URL event)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response

from sfn_callback.approval.entrypoints.server import ServerThread
from sfn_callback.jobapi.adapters.keys import FileOrEnvKeys
from sfn_callback.jobapi.application.service import JobService
from sfn_callback.jobapi.entrypoints.app import create_app
from sfn_callback.polling.adapters.http_job import HttpJobApi, SecretReader
from sfn_callback.polling.application.create_job import CreateJobService
from sfn_callback.polling.application.push import PushReceiver
from sfn_callback.polling.domain.lifecycle import TokenPoller, TokenStatus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "poc"))
from job_api_fakes import KEY, Secrets  # noqa: E402
from poc_fakes import FakeRepository, FakeSchedules, FakeSender, FakeStepFunctions  # noqa: E402

TOKEN = "AAAAKgAAAAIAAAAAAAAAAT" + "p" * 200


@pytest.fixture(scope="module")
def world():
    repo = FakeRepository()
    sfn = FakeStepFunctions()
    sender = FakeSender(sfn)
    schedules = FakeSchedules()
    answers: list[int] = []
    jobs_service = JobService(FileOrEnvKeys(keys=[KEY]))
    with ServerThread(create_app(jobs_service)) as jobs_server:
        cfg = {"submit": {"url": f"{jobs_server.url}/jobs", "body": "data.job"},
               "status": {"url": f"{jobs_server.url}/jobs/{{jobId}}"}, "statusPath": "state",
               "resultPath": "result", "errorPath": "error",
               "statusValues": {"completed": ["succeeded"], "failed": ["failed"]},
               "auth": {"secret": "secretsmanager:job-key"}, "push": {}}
        http = HttpJobApi(cfg, SecretReader(lambda name: Secrets()))
        poller = TokenPoller(repository=repo, sender=sender, schedules=schedules, jobs=http)
        receiver = PushReceiver(repo, poller)
        push_app = FastAPI()

        @push_app.post("/")
        async def push(request: Request) -> Response:
            event = {"version": "2.0", "requestContext": {"http": {"method": "POST"}},
                     "headers": dict(request.headers), "body": (await request.body()).decode(),
                     "isBase64Encoded": False}
            answer = receiver.handle_function_url(event, holder="push-req")
            answers.append(answer["statusCode"])
            return Response(answer["body"], status_code=answer["statusCode"], media_type="application/json")

        with ServerThread(push_app) as push_server:
            http.push_url = push_server.url + "/"
            service = CreateJobService(jobs=http, repository=repo, schedules=schedules, allow_sub_minute=True)
            yield service, repo, sfn, jobs_service, answers


def create(service, job, interval=2):
    sfn_token = TOKEN + str(time.monotonic_ns())
    return sfn_token, service.handle({
        "record": {"id": "r-1", "data": {"job": job}}, "taskToken": sfn_token, "executionId": "arn:exec",
        "pollingConfig": {"intervalSeconds": interval, "maxAttempts": 5, "timeoutSeconds": 120}})


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_the_job_service_pushes_the_end_and_the_token_completes_without_a_poll(world):
    service, repo, sfn, jobs_service, answers = world
    token, created = create(service, {"completeAfterSeconds": 0.3, "result": {"rows": 7}})
    sfn.issue(token)
    job_id = created["jobId"]
    record = repo.items[job_id]
    secret = record.job_api["push"]["secret"]
    assert len(secret) >= 32 and secret not in str(created)  # never in create-job's answer (the workflow's data)
    assert record.interval_seconds == 10  # the fallback cadence: 5 x the job's 2 s
    assert jobs_service.jobs[job_id].behaviour.push_secret == secret
    assert wait_for(lambda: repo.items[job_id].status is TokenStatus.COMPLETED)
    assert [o.output["result"] for t, o in sfn.accepted if t == token] == [{"rows": 7}]
    assert record.attempt_count == repo.items[job_id].attempt_count == 0
    assert wait_for(lambda: jobs_service.jobs[job_id].push is not None)  # kept once the push was answered
    assert jobs_service.served(job_id)["push"]["statusCode"] == 200 and jobs_service.jobs[job_id].served["real"] == 0


def test_a_lost_push_leaves_the_token_to_the_fallback_poll(world):
    service, repo, sfn, jobs_service, answers = world
    token, created = create(service, {"completeAfterSeconds": 0.1, "outcome": "fail", "error": "disk full",
                                      "pushLost": True})
    sfn.issue(token)
    job_id = created["jobId"]
    assert wait_for(lambda: jobs_service.jobs[job_id].push is not None)
    assert jobs_service.jobs[job_id].push["lost"] and repo.items[job_id].status is TokenStatus.POLLING
    done = TokenPoller(repository=repo, sender=FakeSender(sfn), schedules=FakeSchedules(),
                       jobs=service.jobs).poll(job_id)
    assert done.status == "FAILED" and [o.cause for t, o in sfn.accepted if t == token] == ["disk full"]


def test_the_job_service_refuses_a_push_url_off_loopback(world):
    _, _, _, jobs_service, _ = world
    with pytest.raises(ValueError, match="loopback"):
        jobs_service.create({"pushUrl": "http://example.com/x", "pushSecret": "s" * 32})


def test_a_push_job_without_a_push_url_or_an_object_body_is_refused_before_anything_is_submitted(world):
    from sfn_callback.polling.domain.job_api_config import InvalidJobApiConfig

    service, _, _, jobs_service, _ = world
    http = service.jobs
    saved, before = http.push_url, len(jobs_service.jobs)
    lookups = []
    http.push_url = lambda: lookups.append(1)  # the deployment has no push endpoint (yet): looked up each time
    try:
        for _ in range(2):
            with pytest.raises(InvalidJobApiConfig, match="no push URL"):
                http.create_job({"recordId": "r", "data": {"job": {}}})
        assert len(lookups) == 2
    finally:
        http.push_url = saved
    with pytest.raises(InvalidJobApiConfig, match="JSON object"):
        http.create_job({"recordId": "r", "data": {"job": [1, 2]}})
    assert len(jobs_service.jobs) == before
