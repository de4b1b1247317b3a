"""End-to-end scenarios of the export service, for ``sfn-callback run --scenario NAME``.

Each scenario serves generated files from a real HTTP server on 127.0.0.1 (started here, in a thread),
starts ``jobs`` executions of ``poc-export-workflow`` on a deployed target, reports one progress row per job,
and decides every check from what the target holds: the execution's final state and output, its history
(the one callback event and its payload), the job record in ``poc-export-job-state`` (counts and callback
bookkeeping) and the files in the export destination (the consumer's ``EXPORT_SINK``).

* ``export-success``: every file downloads; the workflow receives seed 004's success payload.
* ``export-partial-failure``: one file per job answers HTTP 404; the workflow catches
  ``JobCompletedWithFailures`` (cause "Job completed with 1 failed tasks out of N total") in
  ``HandlePartialFailure``.
* ``export-stalled``: the first task hangs without progress (message option ``stallSeconds``), the consumer's
  heartbeats lapse and the workflow sees ``States.HeartbeatTimeout`` in ``HandleTimeout``; when the task
  resumes, the job finishes and its late callback is answered "token finished", recorded and not retried.

The consumer runs in Lambda and downloads from 127.0.0.1, so these scenarios need a target whose Lambda
runs on this machine: the embedded local cloud.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from sfn_callback import config
from sfn_callback.common.dynamo import from_item
from sfn_callback.common.stepfunctions import execution_history
from sfn_callback.config import Target
from sfn_callback.scenarios import (
    Check,
    ProgressRows,
    RunOptions,
    ScenarioResult,
    register,
)

FAILURE_ERROR = "JobCompletedWithFailures"
SUCCESS_FIELDS = ("jobId", "exportId", "userId", "status", "totalTasks", "completedTasks", "failedTasks",
                  "completedAt", "durationMs")
CALLBACK_EVENTS = ("TaskSucceeded", "TaskFailed", "TaskTimedOut")


# --- the file server --------------------------------------------------------------------------------------
def file_content(job_id: str, name: str, rows: int = 200) -> bytes:
    """Deterministic CSV content for one file of one job (so the sink can be checked byte for byte)."""
    seed = hashlib.sha256(f"{job_id}/{name}".encode()).hexdigest()
    lines = ["row,job,file,value"] + [f"{i},{job_id},{name},{seed[i % 64]}{i * 7919 % 10007}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


class FileServer:
    """A threaded HTTP server on 127.0.0.1 serving registered paths; anything else answers 404."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, int]] = []
        files, requests, lock = self.files, self.requests, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = unquote(urlsplit(self.path).path)
                body = files.get(path)
                status = HTTPStatus.OK if body is not None else HTTPStatus.NOT_FOUND
                with lock:
                    requests.append((path, int(status)))
                if body is None:
                    body = b"not found\n"
                self.send_response(status)
                self.send_header("Content-Type", "text/csv" if status == HTTPStatus.OK else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self._host = host
        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="export-file-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}"

    def add(self, path: str, body: bytes) -> str:
        self.files[path] = body
        return self.base_url + path

    def url(self, path: str) -> str:
        return self.base_url + path

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


# --- reading the target -----------------------------------------------------------------------------------
@dataclass
class Deployed:
    """What the scenarios read from the deployed export service."""

    state_machine_arn: str
    heartbeat_seconds: int
    timeout_seconds: int
    stall_after_seconds: float
    sink: str
    function_timeout: int


def read_deployment(clients: Callable[[str], Any], state_machine_arn: str) -> Deployed:
    sfn, lam = clients("stepfunctions"), clients("lambda")
    try:
        described = sfn.describe_state_machine(stateMachineArn=state_machine_arn)
        fn = lam.get_function_configuration(FunctionName=config.EXPORT_CONSUMER_FUNCTION)
    except Exception as exc:
        raise ScenarioSetupError(
            f"the export service is not deployed on this target ({type(exc).__name__}); run `sfn-callback deploy`"
        ) from exc
    task = json.loads(described["definition"])["States"]["StartExportJob"]
    env = (fn.get("Environment") or {}).get("Variables", {})
    interval = float(env.get("EXPORT_HEARTBEAT_INTERVAL_SECONDS") or 30)
    stall_after = float(env.get("EXPORT_STALL_AFTER_SECONDS") or 3 * interval)
    return Deployed(
        state_machine_arn=state_machine_arn,
        heartbeat_seconds=int(task["HeartbeatSeconds"]),
        timeout_seconds=int(task["TimeoutSeconds"]),
        stall_after_seconds=stall_after,
        sink=env.get("EXPORT_SINK", ""),
        function_timeout=int(fn.get("Timeout") or 3),
    )


class ScenarioSetupError(RuntimeError):
    """The target cannot run the scenario (not deployed, not local); the message says what to do."""


def job_record(ddb: Any, job_id: str) -> dict[str, Any] | None:
    item = ddb.get_item(TableName=config.EXPORT_JOBS_TABLE, Key={"jobId": {"S": job_id}}, ConsistentRead=True)
    if "Item" not in item:
        return None
    return from_item(item["Item"])


def read_sink_object(clients: Callable[[str], Any], location: str) -> bytes | None:
    """The bytes at a task's ``location`` (``s3://bucket/key`` or a local path); ``None`` if absent."""
    if location.startswith("s3://"):
        bucket, _, key = location[len("s3://") :].partition("/")
        s3 = clients("s3")
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
    try:
        with open(location, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def expected_location(sink: str, export_id: str, job_id: str, name: str) -> str:
    from sfn_callback.export.adapters.sinks import safe_component

    relative = "/".join(safe_component(p) for p in (export_id, job_id, name))
    if sink.startswith("s3://"):
        return sink.rstrip("/") + "/" + relative
    root = sink[len("local:") :] if sink.startswith("local:") else sink
    return root.rstrip("/") + "/" + relative


# --- one job's plan and observation ---------------------------------------------------------------------
@dataclass
class JobPlan:
    job_id: str
    export_id: str
    user_id: str
    files: list[dict[str, str]]
    missing: set[str]  # file names the server answers 404 for
    options: dict[str, Any] = field(default_factory=dict)

    def execution_input(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "jobId": self.job_id,
            "exportId": self.export_id,
            "userId": self.user_id,
            "metadata": {"requestedBy": "scenario", "format": "csv"},
            "files": self.files,
        }
        if self.options:
            doc["options"] = self.options
        return doc


@dataclass
class JobRun:
    plan: JobPlan
    execution_arn: str
    description: dict[str, Any] | None = None
    record: dict[str, Any] | None = None

    @property
    def execution_status(self) -> str:
        return self.description["status"] if self.description else "STARTING"

    def row(self) -> dict[str, Any]:
        record = self.record or {}
        tasks = record.get("tasks") or []
        done = sum(1 for t in tasks if t.get("status") != "PENDING")
        return {
            "jobId": self.plan.job_id,
            "execution": self.execution_status,
            "job": record.get("status", "-"),
            "tasks": f"{done}/{len(self.plan.files)}",
            "failed": record.get("failedTasks", 0),
            "callback": record.get("callbackState", "-"),
        }


# --- the scenario ----------------------------------------------------------------------------------------
@dataclass
class ExportScenario:
    name: str
    description: str
    expected: str
    outcome: str  # "success" | "partial" | "stalled"
    files_per_job: int = 3

    def run(self, target: Target, options: RunOptions, progress: Callable[[ProgressRows], None]) -> ScenarioResult:
        started = time.monotonic()
        try:
            return self._run(target, options, progress, started)
        except ScenarioSetupError as exc:
            return ScenarioResult(self.name, self.expected, [Check("target ready", False, str(exc))],
                                  duration_s=round(time.monotonic() - started, 3))

    # -- setup and execution --------------------------------------------------------------------------
    def _run(self, target: Target, options: RunOptions, progress: Callable[[ProgressRows], None],
             started: float) -> ScenarioResult:
        from sfn_callback.common.aws import client
        from sfn_callback.deploy.deployer import context_for

        if not target.is_local:
            raise ScenarioSetupError(
                "export scenarios serve their files from 127.0.0.1, which only a Lambda running on this machine "
                "reaches: run them on the embedded local cloud"
            )
        cache: dict[str, Any] = {}

        def clients(service: str) -> Any:
            if service not in cache:
                cache[service] = client(service, target)
            return cache[service]

        ctx = context_for(target)
        deployed = read_deployment(clients, ctx.state_machine_arn(config.EXPORT_WORKFLOW))
        stall_seconds = 0.0
        if self.outcome == "stalled":
            # long enough for the heartbeat to lapse and HeartbeatSeconds to pass, short of the function's timeout
            stall_seconds = deployed.stall_after_seconds + deployed.heartbeat_seconds + 3
            if stall_seconds + 5 > deployed.function_timeout:
                raise ScenarioSetupError(
                    f"the consumer's timeout ({deployed.function_timeout}s) is too short for a stall of "
                    f"{stall_seconds:g}s; deploy with a shorter EXPORT_STACK_HEARTBEAT_SECONDS"
                )
        sfn = clients("stepfunctions")
        with FileServer() as server:
            runs: list[JobRun] = []
            prefix = f"{self.name}-{uuid.uuid4().hex[:8]}"
            for index in range(1, max(1, options.jobs) + 1):
                plan = self._plan(server, f"{prefix}-{index}", stall_seconds)
                arn = sfn.start_execution(stateMachineArn=deployed.state_machine_arn, name=plan.job_id,
                                          input=json.dumps(plan.execution_input()))["executionArn"]
                runs.append(JobRun(plan, arn))
            timed_out = not self._follow(runs, clients, options.timeout_seconds, progress)
            requests = list(server.requests)
        checks = self._checks(runs, clients, deployed)
        if timed_out:
            checks.insert(0, Check("finished in time", False,
                                   f"not every job finished within {options.timeout_seconds:g}s"))
        return ScenarioResult(
            scenario=self.name,
            expected=self.expected,
            checks=checks,
            jobs=[r.row() for r in runs],
            duration_s=round(time.monotonic() - started, 3),
            data={
                "stateMachineArn": deployed.state_machine_arn,
                "heartbeatSeconds": deployed.heartbeat_seconds,
                "sink": deployed.sink,
                "stallSeconds": stall_seconds,
                "httpRequests": len(requests),
                "executions": [
                    {
                        "jobId": r.plan.job_id,
                        "executionArn": r.execution_arn,
                        "status": r.execution_status,
                        "error": (r.description or {}).get("error"),
                        "cause": (r.description or {}).get("cause"),
                        "output": _output(r.description, None),
                        "record": _summary(r.record),
                    }
                    for r in runs
                ],
            },
        )

    def _plan(self, server: FileServer, job_id: str, stall_seconds: float) -> JobPlan:
        files, missing = [], set()
        count = 2 if self.outcome == "stalled" else self.files_per_job
        for n in range(1, count + 1):
            name = f"part-{n}.csv"
            path = f"/exports/{job_id}/{name}"
            if self.outcome == "partial" and n == count:
                missing.add(name)  # not registered: the server answers 404
                url = server.url(path)
            else:
                url = server.add(path, file_content(job_id, name))
            files.append({"url": url, "name": name})
        opts: dict[str, Any] = {}
        if self.outcome == "stalled":
            opts = {"stallSeconds": stall_seconds, "stallOnTask": 1}
        return JobPlan(job_id=job_id, export_id=f"export-{job_id[-10:]}", user_id="user-scenario", files=files,
                       missing=missing, options=opts)

    def _follow(self, runs: list[JobRun], clients: Callable[[str], Any], timeout: float,
                progress: Callable[[ProgressRows], None]) -> bool:
        """Poll until every execution has ended and every job has settled its callback; True if in time."""
        sfn, ddb = clients("stepfunctions"), clients("dynamodb")
        deadline = time.monotonic() + timeout
        while True:
            for run in runs:
                if run.execution_status in ("STARTING", "RUNNING"):
                    run.description = sfn.describe_execution(executionArn=run.execution_arn)
                if not _settled(run.record):
                    run.record = job_record(ddb, run.plan.job_id)
            progress([r.row() for r in runs])
            if all(r.execution_status not in ("STARTING", "RUNNING") and _settled(r.record) for r in runs):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)

    # -- checks -------------------------------------------------------------------------------------------
    def _checks(self, runs: list[JobRun], clients: Callable[[str], Any], deployed: Deployed) -> list[Check]:
        sfn = clients("stepfunctions")
        problems: dict[str, list[str]] = {name: [] for name in self._check_names()}
        for run in runs:
            job = run.plan.job_id
            history = execution_history(sfn, run.execution_arn)
            callbacks = [e for e in history if e["type"] in CALLBACK_EVENTS]
            record = run.record or {}
            desc = run.description or {}
            output = json.loads(desc["output"]) if desc.get("output") else None

            # final state and output
            problems["final state"] += [f"{job}: {p}" for p in self._final_state(desc, output)]
            # exactly one callback, in the history and in the job record's bookkeeping
            types = [e["type"] for e in callbacks]
            want = "TaskTimedOut" if self.outcome == "stalled" else (
                "TaskFailed" if self.outcome == "partial" else "TaskSucceeded")
            if types != [want]:
                problems["exactly one callback"].append(f"{job}: history has {types or 'no callback event'}, "
                                                        f"expected [{want}]")
            state, attempts = record.get("callbackState"), record.get("callbackAttempts")
            if self.outcome == "stalled":
                error = record.get("callbackError") or ""
                if state != "FAILED" or not error.startswith(("TaskTimedOut", "TaskDoesNotExist")) or attempts != 1:
                    problems["exactly one callback"].append(
                        f"{job}: late callback recorded as {state}/{error[:40]!r} after {attempts} attempt(s); "
                        "expected FAILED/TaskTimedOut after 1 (a finished token is not retried)")
            elif state != "SENT" or attempts != 1:
                problems["exactly one callback"].append(
                    f"{job}: job record callbackState={state}, callbackAttempts={attempts}; expected SENT after 1")
            # the callback's content
            problems["callback payload"] += [f"{job}: {p}" for p in self._payload(run, callbacks, record)]
            # the job record and the files in the sink
            problems["job record"] += [f"{job}: {p}" for p in self._record(run, record)]
            problems["files in the sink"] += [f"{job}: {p}" for p in self._files(run, record, clients, deployed)]

        details = self._check_details(len(runs), deployed)
        return [Check(name, not found, "; ".join(found[:5]) if found else details[name])
                for name, found in problems.items()]

    @staticmethod
    def _check_names() -> tuple[str, ...]:
        return ("final state", "exactly one callback", "callback payload", "job record", "files in the sink")

    def _check_details(self, jobs: int, deployed: Deployed) -> dict[str, str]:
        final = {
            "success": "SUCCEEDED via ProcessResults, output status COMPLETED",
            "partial": "SUCCEEDED via HandlePartialFailure, output status COMPLETED_WITH_FAILURES",
            "stalled": "FAILED ExportJobTimedOut via HandleTimeout, cause States.HeartbeatTimeout",
        }[self.outcome]
        payload = {
            "success": "TaskSucceeded output has exactly seed 004's fields, values match the job record",
            "partial": f"TaskFailed error {FAILURE_ERROR}, cause 'Job completed with N failed tasks out of M total'",
            "stalled": f"TaskTimedOut States.HeartbeatTimeout after HeartbeatSeconds={deployed.heartbeat_seconds}",
        }[self.outcome]
        one = ("one TaskTimedOut; the late callback answered 'token finished', recorded once, not retried"
               if self.outcome == "stalled" else "one callback event; job record callbackState SENT after 1 attempt")
        return {
            "final state": f"{jobs} job(s): {final}",
            "exactly one callback": one,
            "callback payload": payload,
            "job record": "status and counts match the served files; the 404s failed with their HTTP status"
            if self.outcome == "partial" else "status and counts match the served files",
            "files in the sink": f"every downloaded file is in {deployed.sink or 'the sink'}, byte for byte",
        }

    def _final_state(self, desc: dict[str, Any], output: dict[str, Any] | None) -> list[str]:
        status = desc.get("status")
        if self.outcome == "success":
            if status != "SUCCEEDED" or not output or output.get("status") != "COMPLETED":
                return [f"execution {status}, output status {(output or {}).get('status')}; expected SUCCEEDED/COMPLETED"]
        elif self.outcome == "partial":
            if (status != "SUCCEEDED" or not output or output.get("status") != "COMPLETED_WITH_FAILURES"
                    or output.get("error") != FAILURE_ERROR):
                return [f"execution {status}, output {output}; expected SUCCEEDED via HandlePartialFailure"]
        else:
            if (status, desc.get("error"), desc.get("cause")) != ("FAILED", "ExportJobTimedOut",
                                                                  "States.HeartbeatTimeout"):
                return [f"execution {status} error={desc.get('error')} cause={desc.get('cause')}; expected FAILED "
                        "ExportJobTimedOut / States.HeartbeatTimeout"]
        return []

    def _payload(self, run: JobRun, callbacks: list[dict[str, Any]], record: dict[str, Any]) -> list[str]:
        if len(callbacks) != 1:
            return ["no single callback event to check"]
        event = callbacks[0]
        plan = run.plan
        total = len(plan.files)
        failed = len(plan.missing)
        if self.outcome == "success":
            if "taskSucceededEventDetails" not in event:  # e.g. the task timed out: a failed check, not a crash
                return [f"the callback event is {event.get('type')}, not TaskSucceeded: no payload to check"]
            payload = json.loads(event["taskSucceededEventDetails"]["output"])
            problems = []
            if set(payload) != set(SUCCESS_FIELDS):
                problems.append(f"fields {sorted(payload)} != {sorted(SUCCESS_FIELDS)}")
            expected = {"jobId": plan.job_id, "exportId": plan.export_id, "userId": plan.user_id,
                        "status": "COMPLETED", "totalTasks": total, "completedTasks": total, "failedTasks": 0,
                        "completedAt": record.get("completedAt")}
            for key, value in expected.items():
                if payload.get(key) != value:
                    problems.append(f"{key}={payload.get(key)!r}, expected {value!r}")
            duration = _duration_ms(record)
            # the record keeps milliseconds, the payload was computed before truncation: 1 ms either way
            got = payload.get("durationMs")
            if not isinstance(got, int) or duration is None or abs(got - duration) > 1:
                problems.append(f"durationMs={got!r}, expected {duration!r} ± 1 "
                                "(completedAt - startedAt on the job record)")
            output = _output(run.description, {})
            if output.get("result") != payload:
                problems.append("the workflow's output result differs from the callback payload")
            return problems
        if self.outcome == "partial":
            details = event.get("taskFailedEventDetails", {})
            cause = f"Job completed with {failed} failed tasks out of {total} total"
            problems = []
            if details.get("error") != FAILURE_ERROR:
                problems.append(f"error {details.get('error')!r}, expected {FAILURE_ERROR!r}")
            if details.get("cause") != cause:
                problems.append(f"cause {details.get('cause')!r}, expected {cause!r}")
            output = _output(run.description, {})
            if (output.get("errorInfo") or {}).get("Cause") != cause:
                problems.append(f"HandlePartialFailure saw cause {(output.get('errorInfo') or {}).get('Cause')!r}")
            return problems
        details = event.get("taskTimedOutEventDetails", {})
        if details.get("error") != "States.HeartbeatTimeout":
            return [f"TaskTimedOut error {details.get('error')!r}, expected 'States.HeartbeatTimeout'"]
        return []

    def _record(self, run: JobRun, record: dict[str, Any]) -> list[str]:
        if not record:
            return ["no job record"]
        plan = run.plan
        total, failed = len(plan.files), len(plan.missing)
        problems = []
        status = "COMPLETED_WITH_FAILURES" if failed else "COMPLETED"
        got = (record.get("status"), record.get("totalTasks"), record.get("completedTasks"), record.get("failedTasks"))
        if got != (status, total, total - failed, failed):
            problems.append(f"status/total/completed/failed = {got}, expected {(status, total, total - failed, failed)}")
        if not record.get("taskToken"):
            problems.append("no task token stored")
        if not isinstance(record.get("ttl"), int):
            problems.append("no ttl attribute")
        for task in record.get("tasks") or []:
            if task["name"] in plan.missing:
                if task.get("status") != "FAILED" or "404" not in (task.get("error") or ""):
                    problems.append(f"{task['name']}: {task.get('status')} {task.get('error')!r}, expected FAILED/404")
        if failed:
            cause = f"Job completed with {failed} failed tasks out of {total} total"
            if record.get("failureCause") != cause:
                problems.append(f"failureCause {record.get('failureCause')!r}, expected {cause!r}")
        return problems

    def _files(self, run: JobRun, record: dict[str, Any], clients: Callable[[str], Any],
               deployed: Deployed) -> list[str]:
        plan = run.plan
        problems = []
        for spec in plan.files:
            name = spec["name"]
            location = expected_location(deployed.sink, plan.export_id, plan.job_id, name)
            data = read_sink_object(clients, location)
            if name in plan.missing:
                if data is not None:
                    problems.append(f"{name} answered 404 but {location} exists")
                continue
            task: dict[str, Any] = next((t for t in record.get("tasks") or [] if t["name"] == name), {})
            if task.get("location") != location:
                problems.append(f"{name}: recorded location {task.get('location')!r}, expected {location!r}")
            if data != file_content(plan.job_id, name):
                problems.append(f"{name}: {'missing' if data is None else 'different content'} at {location}")
        return problems


def _output(description: dict[str, Any] | None, default: Any) -> Any:
    """An execution's output from its DescribeExecution answer (``default`` while it has none)."""
    raw = (description or {}).get("output")
    return json.loads(raw) if raw else default


def _settled(record: dict[str, Any] | None) -> bool:
    """The job has ended and its callback is settled (sent, or final)."""
    if not record or record.get("status") in (None, "RUNNING"):
        return False
    if not record.get("taskToken"):
        return True
    return record.get("callbackState") in ("SENT", "FAILED")


def _duration_ms(record: dict[str, Any]) -> int | None:
    from sfn_callback.export.domain import parse_iso

    if not record.get("completedAt") or not record.get("startedAt"):
        return None
    delta = parse_iso(record["completedAt"]) - parse_iso(record["startedAt"])
    return max(0, round(delta.total_seconds() * 1000))


def _summary(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    keys = ("status", "totalTasks", "completedTasks", "failedTasks", "failureCause", "completedAt",
            "callbackState", "callbackError", "callbackAttempts")
    return {k: record.get(k) for k in keys if k in record}


SCENARIOS = (
    ExportScenario(
        "export-success",
        "Export jobs whose files all download: seed 004's success callback resumes the workflow.",
        "SUCCEEDED with the success payload (status COMPLETED, all tasks completed), one callback, files in the sink",
        "success",
    ),
    ExportScenario(
        "export-partial-failure",
        "Export jobs with one file answering HTTP 404: the JobCompletedWithFailures callback.",
        "SUCCEEDED via HandlePartialFailure after TaskFailed JobCompletedWithFailures "
        "('Job completed with 1 failed tasks out of 3 total'), one callback, the good files in the sink",
        "partial",
    ),
    ExportScenario(
        "export-stalled",
        "An export job whose first task hangs without progress: heartbeats lapse, States.HeartbeatTimeout.",
        "FAILED ExportJobTimedOut via HandleTimeout after States.HeartbeatTimeout; the late callback is answered "
        "'token finished' and not retried",
        "stalled",
    ),
)

for _scenario in SCENARIOS:
    register(_scenario)
