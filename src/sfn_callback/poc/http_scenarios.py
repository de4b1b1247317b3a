"""The HTTP job adapter's scenarios: the callback workflow against the reference job service
(``sfn-callback job-api``), which each run starts for itself on a free loopback port and stops after.

Each run writes a fresh bearer key to the service's key file and to the Secrets Manager secret
``poc-job-api-key`` on the target (the reference configuration's auth secret, :mod:`sfn_callback.poc.job_api`),
then starts executions whose input points the job at that service (``pollingConfig.jobApi``: the submit and
status URLs; the secret and where it may go stay the deployment's) and carries the job's behaviour in
``record.data.job``. The checks are the PoC's (history, token record, schedule) plus what the service itself
counted for each job (``GET /jobs/{id}/served``):

* ``http-complete``: completes after 2 status answers; half of the jobs in sweep mode (the sweep uses the
  configuration the record holds, as the per-job poller does);
* ``http-fail``: the job fails after 2 answers: ``JobFailed`` with the service's error;
* ``http-flaky``: 429 (``Retry-After: 2``), 503, a slow answer (past the 1 s request timeout) and a 500 along
  the way, with ``maxAttempts`` 2: the job completes, attempts = real answers, every fault a transient check,
  and the request after the 429 came no sooner than ``Retry-After``;
* ``http-auth``: the key is rotated (the secret first, then the service) after the first real answer; the
  poller's cached key is refused once, read again, and the job completes;
* ``http-push``: three jobs that push their end to the push endpoint (``poc-job-push``'s Function URL), polled
  at the fallback cadence: the push arrives (resumed within 1 s of it, compared with the time the service
  records), is lost (a fallback poll completes the job), races the first fallback poll (one callback).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from botocore.exceptions import ClientError

from sfn_callback.common.aws import client
from sfn_callback.config import PUSH_FUNCTION, Target
from sfn_callback.poc.job_api import REFERENCE_SECRET
from sfn_callback.poc.scenarios import (
    CALLBACK_EVENTS,
    Expectation,
    JobObservation,
    PocObserver,
    _check,
    _fmt,
    check_jobs,
    count_events,
)
from sfn_callback.polling.application.push import PUSH_HOLDER_PREFIX
from sfn_callback.polling.domain.job_api_config import FALLBACK_FACTOR
from sfn_callback.scenarios import Check, ProgressRows, RunOptions, ScenarioResult, register

START_TIMEOUT_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 1


class JobApiProcess:
    """``python -m sfn_callback.jobapi.entrypoints.server --port 0`` with a key file of its own."""

    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="sfn-callback-job-api-")
        self.keys_file = Path(self.dir.name) / "keys"
        self.key = new_key()
        self.keys_file.write_text(self.key + "\n")
        os.chmod(self.keys_file, 0o600)
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=10))

    def start(self, target: Target | None = None) -> JobApiProcess:
        """Start the service; with ``target``, also put its key in the reference secret there (what the HTTP
        job adapter reads), stopping the service again if that fails."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sfn_callback.jobapi.entrypoints.server", "--port", "0",
             "--keys-file", str(self.keys_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline() if self.proc and
                                                             self.proc.stdout else ""), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_SECONDS)
        if not line or not line[0].strip():
            err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
            self.stop()
            raise RuntimeError(f"the reference job API did not start: {err.strip()[-500:] or 'no answer'}")
        self.url = json.loads(line[0])["url"]
        if target is not None:
            try:
                put_secret(target, self.key)
            except Exception:
                self.stop()
                raise
        return self

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, self.url + path, body=json.dumps(body) if body is not None else None,
                                     headers={"Authorization": f"Bearer {self.key}",
                                              "Content-Type": "application/json"})
        if response.status >= 300:
            raise RuntimeError(f"{method} {path} answered HTTP {response.status}: {response.data[:200]!r}")
        return json.loads(response.data) if response.data else None

    def served(self, job_id: str) -> dict[str, Any] | None:
        try:
            return self.call("GET", f"/jobs/{job_id}/served")
        except RuntimeError:
            return None

    def rotate(self, key: str) -> None:
        self.call("PUT", "/keys", {"keys": [key]})
        self.key = key

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.dir.cleanup()


def new_key() -> str:
    return "sk-" + secrets.token_urlsafe(24)


def put_secret(target: Target, value: str) -> None:
    """The reference configuration's auth secret on the target: created, or given a new value."""
    sm = client("secretsmanager", target)
    try:
        sm.put_secret_value(SecretId=REFERENCE_SECRET, SecretString=value)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        sm.create_secret(Name=REFERENCE_SECRET, SecretString=value,
                         Description="sfn-callback: the reference job API's bearer key (the HTTP scenarios)")


def reference_job_api(url: str, *, timeout_seconds: float | None = None, push: bool = False) -> dict[str, Any]:
    """A job's ``pollingConfig.jobApi`` for the reference job service at ``url``: submit ``POST /jobs``, status
    and cancel at ``/jobs/{jobId}``; ``timeout_seconds`` per request, ``push``: the job pushes its end."""
    doc: dict[str, Any] = {"submit": {"url": f"{url}/jobs"}, "status": {"url": f"{url}/jobs/{{jobId}}"},
                           "cancel": {"url": f"{url}/jobs/{{jobId}}"}}
    if timeout_seconds is not None:
        doc["timeoutSeconds"] = timeout_seconds
    if push:
        doc["push"] = {}
    return doc


@dataclass(frozen=True)
class HttpScenario:
    name: str
    description: str
    behaviour: dict[str, Any]
    expect: Expectation
    max_attempts: int = 10
    sweep_share: bool = False  # every other job in sweep mode
    rotate_key: bool = False
    faults: int = 0  # scripted 429/5xx/slow answers per job

    def execution_input(self, interval: int, record_id: str, url: str, sweep: bool = False) -> dict[str, Any]:
        polling: dict[str, Any] = {
            "intervalSeconds": interval,
            "maxAttempts": self.max_attempts,
            "timeoutSeconds": 120 * interval,
            "jobApi": reference_job_api(url, timeout_seconds=REQUEST_TIMEOUT_SECONDS),
        }
        if sweep:
            polling["mode"] = "sweep"
        return {"record": {"id": record_id, "data": {"scenario": self.name, "job": self.behaviour}},
                "pollingConfig": polling, "taskTimeoutSeconds": 240 * interval}

    def run(self, target: Target, options: RunOptions,
            progress: Callable[[ProgressRows], None] | None = None) -> ScenarioResult:
        started = time.monotonic()
        service = JobApiProcess()
        observer = PocObserver(target)
        served: dict[str, dict[str, Any] | None] = {}
        rotated = False
        refused_before: dict[str, int] = {}  # per job: requests refused before the rotation
        try:
            service.start(target)
            inputs = [self.execution_input(options.interval_seconds, f"{self.name}-{i + 1}", service.url,
                                           sweep=self.sweep_share and i % 2 == 1) for i in range(options.jobs)]
            jobs = observer.start(self.name, inputs)

            def watch(rows: ProgressRows) -> None:
                nonlocal rotated
                if self.rotate_key and not rotated:
                    ids = [j.job_id for j in jobs]
                    counts = [service.served(i) if i else None for i in ids]
                    if all(c and c["served"]["real"] >= 1 for c in counts):
                        refused_before.update({c["id"]: c["served"]["unauthorized"] for c in counts if c})
                        key = new_key()
                        put_secret(target, key)  # the secret first: a refused key is read again
                        service.rotate(key)
                        rotated = True
                if progress:
                    progress(rows)

            settled = observer.wait_settled(jobs, options.timeout_seconds, watch, every=0.5)
            for job in jobs:
                served[job.job_id or job.execution_name] = service.served(job.job_id) if job.job_id else None
        finally:
            observer.close()
            service.stop()
        checks = [c for c in check_jobs(self.expect, jobs) if c.name != "polled by the schedule"]
        checks.insert(2, self.attempts_check(jobs, served))
        if self.faults:
            checks.append(self.retry_after_check(jobs, served))
        if self.rotate_key:
            checks.append(self.rotation_check(jobs, served, refused_before if rotated else None))
        if not settled:
            unsettled = [j.execution_name for j in jobs if not j.settled]
            checks.append(Check("finished in time", False, f"{len(unsettled)} not settled after "
                                f"{options.timeout_seconds:.0f} s: {_fmt(unsettled, 3)}"))
        return ScenarioResult(
            scenario=self.name, expected=self.expect.describe() + "; attempts = the service's real answers",
            checks=checks, jobs=[j.row() for j in jobs], duration_s=round(time.monotonic() - started, 3),
            data={"executions": [j.execution_arn for j in jobs], "jobIds": [j.job_id for j in jobs],
                  "served": served, "jobApiUrl": service.url, "intervalSeconds": options.interval_seconds,
                  "input": self.execution_input(options.interval_seconds, f"{self.name}-N", service.url)},
        )

    def attempts_check(self, jobs: list[JobObservation], served: dict[str, Any]) -> Check:
        def bad(job: JobObservation) -> str | None:
            record, doc = job.record or {}, served.get(job.job_id or "")
            if not doc:
                return "the job service does not know the job"
            counts = doc["served"]
            attempts, failed = int(record.get("attemptCount", 0)), int(record.get("failedChecks", 0))
            transient = int(record.get("transientChecks", 0))
            faults = counts["throttled"] + counts["errors"] + counts["slow"]
            if faults != self.faults:
                return f"the service answered {faults} faults, expected {self.faults}"
            # A real answer that came after the request timeout is a transient check too (under load).
            late = transient - faults
            if late < 0:
                return f"{faults} faults served but only {transient} transient checks on the record"
            if not counts["real"] - late <= attempts <= counts["real"] - late + failed:
                return (f"attemptCount {attempts}, the service's real answers {counts['real']} (transient checks "
                        f"{transient}, faults {faults}, failed checks {failed})")
            if attempts < self.expect.min_attempts:
                return f"attemptCount {attempts} < {self.expect.min_attempts}"
            return None

        summary = ", ".join(f"{(served.get(j.job_id or '') or {}).get('served', {}).get('real', '?')} real/"
                            f"{(j.record or {}).get('attemptCount', '?')} attempts" for j in jobs[:4])
        return _check("attempts counted for real answers only", jobs, bad,
                      f"{summary}; {self.faults} fault(s) per job, each a transient check")

    def retry_after_check(self, jobs: list[JobObservation], served: dict[str, Any]) -> Check:
        wait = float(self.behaviour.get("retryAfter", 1))

        def bad(job: JobObservation) -> str | None:
            requests = (served.get(job.job_id or "") or {}).get("requests", [])
            for i, request in enumerate(requests[:-1]):
                if request["kind"] == "throttled":
                    gap = requests[i + 1]["at"] - request["at"]
                    if gap < wait - 0.05:
                        return f"the request after a 429 came {gap:.2f} s later, Retry-After {wait:.0f} s"
            return None if any(r["kind"] == "throttled" for r in requests) else "no 429 served"

        return _check("Retry-After honoured", jobs, bad, f"the request after each 429 came ≥ {wait:.0f} s later")

    def rotation_check(self, jobs: list[JobObservation], served: dict[str, Any],
                       refused_before: dict[str, int] | None) -> Check:
        def bad(job: JobObservation) -> str | None:
            if refused_before is None:
                return "the key was never rotated"
            counts = (served.get(job.job_id or "") or {}).get("served", {})
            if counts.get("unauthorized", 0) <= refused_before.get(job.job_id or "", 0):
                return "no request with the old key after the rotation (nothing tested the re-read)"
            return None

        return _check("key rotated between polls, read again", jobs, bad,
                      "the old key was refused once per job, the new one read from the secret, no failed job")


SCENARIOS: tuple[HttpScenario, ...] = (
    HttpScenario(
        "http-complete", "an HTTP job completes after 2 status answers (half of the jobs polled by the sweep)",
        {"completeAfterChecks": 2, "result": {"rows": 42}},
        Expectation("SUCCESS", None, "COMPLETED", min_attempts=2), sweep_share=True),
    HttpScenario(
        "http-fail", "an HTTP job fails after 2 status answers: SendTaskFailure(JobFailed) with its error",
        {"completeAfterChecks": 2, "outcome": "fail", "error": "render failed: disk full"},
        Expectation("FAILED", "JobFailed", "FAILED", min_attempts=2)),
    HttpScenario(
        "http-flaky", "429 (Retry-After 2), 503, a slow answer and a 500 along the way, maxAttempts 2: completes",
        {"completeAfterChecks": 2, "answers": ["429", "503", "ok", "slow", "500"], "retryAfter": 2,
         "slowSeconds": 2.5},
        Expectation("SUCCESS", None, "COMPLETED", min_attempts=2), max_attempts=2, faults=4),
    HttpScenario(
        "http-auth", "the bearer key is rotated in the secret and the service between polls: no failed job",
        {"completeAfterChecks": 4},
        Expectation("SUCCESS", None, "COMPLETED", min_attempts=4), rotate_key=True),
)

for _scenario in SCENARIOS:
    register(_scenario)


# ------------------------------------------------------------------------------------------------- push
PUSH_RESUME_SECONDS = 1.0
"""The workflow resumes within this long of the push leaving the job service (the callback's history event)."""


@dataclass(frozen=True)
class PushCase:
    name: str
    behaviour: dict[str, Any]  # in units of the fallback interval: *AfterFallbacks keys are scaled per run


PUSH_CASES = (
    PushCase("arrives", {"completeAfterFallbacks": 0.4}),
    PushCase("lost", {"completeAfterFallbacks": 0.2, "pushLost": True}),
    # The job ends just before the first fallback poll; its push leaves when that poll is measured to come
    # (about 5.2 s after the job is created with a 1 s interval, the schedule's first delivery), so either
    # may claim first.
    PushCase("race", {"completeAfterFallbacks": 0.9, "pushDelayFallbacks": 0.14}),
)


@dataclass(frozen=True)
class PushScenario:
    """``http-push``: three jobs of the reference job service that push their end to the push endpoint
    (``poc-job-push``'s Function URL), polled at the fallback cadence (5 x the interval): the push arrives
    (the workflow resumes within 1 s of it, no poll needed), the push is lost (a fallback poll completes the
    job), push and first fallback poll race (one callback, whichever claims first). The push endpoint is
    warmed with one refused request first."""

    name: str = "http-push"
    description: str = ("push with polling as the fallback: the push arrives (resumed within 1 s), is lost (a "
                        "fallback poll completes it), races a poll (one callback)")
    expect: Expectation = Expectation("SUCCESS", None, "COMPLETED", min_attempts=0)

    def behaviour(self, case: PushCase, fallback: float) -> dict[str, Any]:
        doc: dict[str, Any] = {"result": {"case": case.name}}
        for key, value in case.behaviour.items():
            if key == "completeAfterFallbacks":
                doc["completeAfterSeconds"] = round(value * fallback, 3)
            elif key == "pushDelayFallbacks":
                doc["pushDelaySeconds"] = round(value * fallback, 3)
            else:
                doc[key] = value
        return doc

    def execution_input(self, interval: int, case: PushCase, url: str, record_id: str) -> dict[str, Any]:
        fallback = FALLBACK_FACTOR * interval
        polling = {"intervalSeconds": interval, "maxAttempts": 10, "timeoutSeconds": 24 * fallback,
                   "jobApi": reference_job_api(url, timeout_seconds=REQUEST_TIMEOUT_SECONDS, push=True)}
        return {"record": {"id": record_id, "data": {"scenario": self.name, "job": self.behaviour(case, fallback)}},
                "pollingConfig": polling, "taskTimeoutSeconds": 48 * fallback}

    def run(self, target: Target, options: RunOptions,
            progress: Callable[[ProgressRows], None] | None = None) -> ScenarioResult:
        started = time.monotonic()
        service = JobApiProcess()
        observer = PocObserver(target)
        served: dict[str, dict[str, Any] | None] = {}
        interval = options.interval_seconds
        try:
            service.start(target)
            warmed = warm_push_endpoint(target, service.http)
            inputs = [self.execution_input(interval, case, service.url, f"{self.name}-{case.name}")
                      for case in PUSH_CASES]
            jobs = observer.start(self.name, inputs)
            settled = observer.wait_settled(jobs, options.timeout_seconds, progress, every=0.25)
            observer.refresh(jobs, full=True)
            for job in jobs:
                served[job.job_id or job.execution_name] = service.served(job.job_id) if job.job_id else None
        finally:
            observer.close()
            service.stop()
        by_case = dict(zip((c.name for c in PUSH_CASES), jobs, strict=True))
        checks = [c for c in check_jobs(self.expect, jobs) if c.name != "polled by the schedule"]
        checks += [self.cadence_check(jobs, interval), self.secret_check(jobs),
                   self.arrives_check(by_case["arrives"], served),
                   self.lost_check(by_case["lost"], served),
                   self.race_check(by_case["race"], served)]
        if not settled:
            unsettled = [j.execution_name for j in jobs if not j.settled]
            checks.append(Check("finished in time", False, f"{len(unsettled)} not settled after "
                                f"{options.timeout_seconds:.0f} s: {_fmt(unsettled, 3)}"))
        return ScenarioResult(
            scenario=self.name, expected=self.expect.describe() + "; arrives: resumed by the push within "
            f"{PUSH_RESUME_SECONDS:.0f} s; lost: by a fallback poll; race: one callback",
            checks=checks, jobs=[dict(j.row(), case=c) for c, j in by_case.items()],
            duration_s=round(time.monotonic() - started, 3),
            data={"executions": [j.execution_arn for j in jobs], "jobIds": [j.job_id for j in jobs],
                  "cases": {c: {"jobId": j.job_id, "claimHolder": (j.record or {}).get("claimHolder"),
                                "attempts": (j.record or {}).get("attemptCount"),
                                "push": (served.get(j.job_id or "") or {}).get("push"),
                                "resumedAfterPushSeconds": resumed_after_push(j, served)}
                            for c, j in by_case.items()},
                  "served": served, "jobApiUrl": service.url, "intervalSeconds": interval,
                  "fallbackIntervalSeconds": FALLBACK_FACTOR * interval, "warmUpAnswer": warmed},
        )

    @staticmethod
    def cadence_check(jobs: list[JobObservation], interval: int) -> Check:
        want = FALLBACK_FACTOR * interval

        def bad(job: JobObservation) -> str | None:
            got = (job.record or {}).get("intervalSeconds")
            return None if got == want else f"intervalSeconds {got}, expected the fallback cadence {want}"

        return _check("polled at the fallback cadence", jobs, bad, f"every job polled every {want} s "
                      f"({FALLBACK_FACTOR} x {interval} s)")

    @staticmethod
    def secret_check(jobs: list[JobObservation]) -> Check:
        def bad(job: JobObservation) -> str | None:
            job_api = json.loads((job.record or {}).get("jobApi") or "{}")
            secret = (job_api.get("push") or {}).get("secret")
            if not secret:
                return "no push secret on the token record"
            if secret in json.dumps(job.events, default=str) or secret in json.dumps(job.output):
                return "the push secret is in the workflow's history or output"
            return None

        return _check("a per-job push secret, not in the workflow", jobs, bad,
                      "each record holds its own secret; none in the history (input, create-job's answer) or output")

    @staticmethod
    def arrives_check(job: JobObservation, served: dict[str, Any]) -> Check:
        push = (served.get(job.job_id or "") or {}).get("push") or {}
        holder = str((job.record or {}).get("claimHolder") or "")
        after = resumed_after_push(job, served)
        problems = []
        if push.get("statusCode") != 200:
            problems.append(f"the push was answered {push.get('statusCode') or push.get('error')}")
        if not holder.startswith(PUSH_HOLDER_PREFIX):
            problems.append(f"the callback was claimed by {holder or 'nobody'}, not by the push")
        if after is None or not -0.05 <= after < PUSH_RESUME_SECONDS:
            problems.append(f"resumed {after} s after the push (at most {PUSH_RESUME_SECONDS:.0f} s)")
        attempts = int((job.record or {}).get("attemptCount", 0))
        detail = "; ".join(problems) or (f"resumed {after:.3f} s after the push left the job service, "
                                         f"{attempts} fallback poll(s)")
        return Check("push arrives: the workflow resumes within 1 s", not problems, detail)

    @staticmethod
    def lost_check(job: JobObservation, served: dict[str, Any]) -> Check:
        push = (served.get(job.job_id or "") or {}).get("push") or {}
        record = job.record or {}
        holder = str(record.get("claimHolder") or "")
        problems = []
        if not push.get("lost"):
            problems.append("the job service did not lose the push")
        if holder.startswith(PUSH_HOLDER_PREFIX) or int(record.get("attemptCount", 0)) < 1:
            problems.append(f"claimed by {holder or 'nobody'} after {record.get('attemptCount')} attempts")
        return Check("push lost: a fallback poll completes the job", not problems,
                     "; ".join(problems) or f"completed by a poll at attempt {record.get('attemptCount')}")

    @staticmethod
    def race_check(job: JobObservation, served: dict[str, Any]) -> Check:
        push = (served.get(job.job_id or "") or {}).get("push") or {}
        record = job.record or {}
        holder = str(record.get("claimHolder") or "")
        callbacks = count_events(job.events, CALLBACK_EVENTS)
        winner = "the push" if holder.startswith(PUSH_HOLDER_PREFIX) else "a poll"
        problems = []
        if push.get("statusCode") != 200:
            problems.append(f"the push was answered {push.get('statusCode') or push.get('error')}")
        if callbacks != 1 or int(record.get("claimCount", 0)) != 1:
            problems.append(f"{callbacks} callbacks in history, {record.get('claimCount')} claims")
        answer = str(push.get("answer") or "")
        return Check("push and poll race: one callback", not problems,
                     "; ".join(problems) or f"{winner} claimed first; the push was answered {answer[:120]}")


def warm_push_endpoint(target: Target, http: urllib3.PoolManager) -> int | None:
    """One unsigned request to the push endpoint before the jobs start (refused with 400, nothing changed), so
    that the resume time measures the push path rather than the function's cold start."""
    try:
        url = client("lambda", target).get_function_url_config(FunctionName=PUSH_FUNCTION)["FunctionUrl"]
        return int(http.request("POST", url, body=b"{}", headers={"Content-Type": "application/json"},
                                timeout=urllib3.Timeout(total=30)).status)
    except (ClientError, urllib3.exceptions.HTTPError):
        return None


def resumed_after_push(job: JobObservation, served: dict[str, Any]) -> float | None:
    """Seconds from the push leaving the job service to the callback's history event (None: no push or no
    callback)."""
    push = (served.get(job.job_id or "") or {}).get("push") or {}
    sent = push.get("sentAt")
    event = next((e for e in job.events if e.get("type") in CALLBACK_EVENTS), None)
    if sent is None or event is None:
        return None
    at = event["timestamp"]
    return round((at.timestamp() if hasattr(at, "timestamp") else float(at)) - float(sent), 3)


register(PushScenario())
