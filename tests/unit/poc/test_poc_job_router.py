"""The PoC's choice of job API per job (pure routing over fakes of both adapters)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sfn_callback.common.clock import utcnow
from sfn_callback.poc.adapters.job_router import RECENT_JOBS, JobApiRouter
from sfn_callback.polling.domain.events import InvalidEvent
from sfn_callback.polling.domain.job_api_config import InvalidJobApiConfig
from sfn_callback.polling.domain.lifecycle import new_record


class Simulated:
    def __init__(self):
        self.calls = []

    def create_job(self, payload):
        self.calls.append(("create", payload))
        return {"jobId": "sim-1"}

    def check_status(self, job_id):
        self.calls.append(("check", job_id))
        return {"status": "IN_PROGRESS"}

    def cancel_job(self, job_id):
        self.calls.append(("cancel", job_id))


class Http:
    def __init__(self, for_every_job=False):
        self.for_every_job = for_every_job
        self.calls = []
        self.n = 0

    def create_job(self, payload):
        if payload.get("jobApi") == "bad":
            raise InvalidJobApiConfig("pollingConfig.jobApi: expected an object")
        self.n += 1
        return {"jobId": f"h-{self.n}", "jobApi": {"fields": {"n": str(self.n)}}}

    def check_record(self, record):
        self.calls.append(("check", record.job_id, record.job_api))
        return "http-answer"

    def cancel_job(self, job_id, job_api):
        self.calls.append(("cancel", job_id, job_api))


def record(job_id, job_api=None):
    r = new_record(job_id=job_id, task_token="t" * 40, execution_id="arn:e", now=utcnow(), interval_seconds=1,
                   timeout_seconds=10, max_attempts=2)
    return replace(r, job_api=job_api)


def test_jobs_without_a_job_api_keep_the_simulated_api_unless_the_deployment_is_for_every_job():
    sim, http = Simulated(), Http()
    router = JobApiRouter(sim, http)
    assert router.create_job({"recordId": "r", "data": {}}) == {"jobId": "sim-1"}
    assert router.check_record(record("sim-1")) == {"status": "IN_PROGRESS"}
    router.cancel_job("sim-1")
    assert [c[0] for c in sim.calls] == ["create", "check", "cancel"] and not http.calls
    every = JobApiRouter(Simulated(), Http(for_every_job=True))
    assert every.create_job({"recordId": "r", "data": {}})["jobId"] == "h-1"


def test_a_job_with_a_job_api_is_submitted_checked_and_undone_over_http():
    sim, http = Simulated(), Http()
    router = JobApiRouter(sim, http)
    created = router.create_job({"recordId": "r", "data": {}, "jobApi": {}})
    assert created == {"jobId": "h-1", "jobApi": {"fields": {"n": "1"}}}
    assert router.check_record(record("h-1", created["jobApi"])) == "http-answer"
    router.cancel_job("h-1")
    assert http.calls[-1] == ("cancel", "h-1", {"fields": {"n": "1"}}) and not sim.calls
    with pytest.raises(InvalidEvent, match="expected an object"):
        router.create_job({"recordId": "r", "data": {}, "jobApi": "bad"})


def test_a_warm_create_job_remembers_only_the_latest_jobs_for_their_undo():
    router = JobApiRouter(Simulated(), Http())
    for _ in range(RECENT_JOBS + 10):
        router.create_job({"recordId": "r", "data": {}, "jobApi": {}})
    assert len(router._http_jobs) == RECENT_JOBS and f"h-{RECENT_JOBS + 10}" in router._http_jobs
