"""The PoC's job ports when an HTTP job API is configured: each job goes to the HTTP adapter or to the simulated
API, and every later step of that job goes to the same one.

A job uses the HTTP adapter when its workflow input carries ``pollingConfig.jobApi``, or when the deployment's
``JOB_API_CONFIG`` is for every job (``perJobOnly`` false); otherwise the simulated API's Lambda protocol, as
before. A status check follows the token record: a record with ``jobApi`` (stored by create-job) is checked over
HTTP, any other by the simulated API.
"""

from __future__ import annotations

from typing import Any

from sfn_callback.poc.adapters.external_api import LambdaJobApi
from sfn_callback.polling.adapters.http_job import HttpJobApi
from sfn_callback.polling.domain.events import InvalidEvent
from sfn_callback.polling.domain.job_api_config import InvalidJobApiConfig
from sfn_callback.polling.domain.lifecycle import TokenRecord

RECENT_JOBS = 64


class JobApiRouter:
    def __init__(self, simulated: LambdaJobApi, http: HttpJobApi):
        self.simulated = simulated
        self.http = http
        self._http_jobs: dict[str, dict[str, Any]] = {}  # created here over HTTP: what cancel_job needs

    def create_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        if "jobApi" not in payload and not self.http.for_every_job:
            return self.simulated.create_job(payload)
        try:
            job = self.http.create_job(payload)
        except InvalidJobApiConfig as exc:
            raise InvalidEvent(str(exc)) from None
        # create-job's undo (cancel_job) comes within the same invocation: the latest few are enough.
        self._http_jobs[job["jobId"]] = job["jobApi"]
        while len(self._http_jobs) > RECENT_JOBS:
            self._http_jobs.pop(next(iter(self._http_jobs)))
        return job

    def cancel_job(self, job_id: str) -> None:
        if job_id in self._http_jobs:
            self.http.cancel_job(job_id, self._http_jobs.pop(job_id))
        else:
            self.simulated.cancel_job(job_id)

    def check_status(self, job_id: str) -> Any:
        return self.simulated.check_status(job_id)

    def check_record(self, record: TokenRecord) -> Any:
        if record.job_api is not None:
            return self.http.check_record(record)
        return self.simulated.check_status(record.job_id)
