"""The PoC's end-to-end scenarios (seed 002's error scenarios), run on any target and checked from the data.

Each scenario starts N executions of ``poc-callback-workflow`` with an input that selects the behaviour
(``pollingConfig.intervalSeconds``, ``maxAttempts``, ``timeoutSeconds``, ``jobOptions`` and
``taskTimeoutSeconds``), lets the per-job schedules poll, and then decides every check from what the target
holds: the execution history (the task token Step Functions generated, the callback events, the final
output), the token record in ``poc-task-tokens``, the simulated job in ``poc-jobs`` and the polling
schedules. Tokens are only ever compared and shown as short SHA-256 prefixes.

The observation code (:class:`PocObserver`) is shared by ``sfn-callback run``, ``bench poc`` and the
integration tests; :func:`check_jobs` is pure and decides the checks from :class:`JobObservation` values.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from sfn_callback import config
from sfn_callback.common.aws import client
from sfn_callback.common.clock import parse_iso, utcnow
from sfn_callback.common.dynamo import from_item as _from_ddb
from sfn_callback.common.stepfunctions import execution_history
from sfn_callback.config import Target
from sfn_callback.polling.domain.lifecycle import schedule_name_for
from sfn_callback.scenarios import Check, ProgressRows, RunOptions, ScenarioResult, register

UNFINISHED_RECORD_STATUSES = frozenset({"POLLING", "CALLBACK_PENDING"})
CALLBACK_EVENTS = frozenset({"TaskSucceeded", "TaskFailed"})
TASK_ENDED_WITHOUT_JOB = frozenset({"TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed"})
"""Events that end the callback task's Lambda invocation when it returned no jobId (create-job failed)."""
DEFAULT_CREATE_JOB_TIMEOUT = 60.0


def workflow_arn(target: Target, account_id: str | None = None) -> str:
    account = account_id or (config.LOCAL_ACCOUNT_ID if target.is_local else
                             client("sts", target).get_caller_identity()["Account"])
    return f"arn:aws:states:{target.region}:{account}:stateMachine:{config.CALLBACK_WORKFLOW}"


def token_hash(token: str | None) -> str | None:
    """A short, stable fingerprint of a task token (what may be printed or compared in reports)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12] if token else None


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, every: float = 0.25, what: str = "a condition") -> Any:
    """Call ``predicate`` until it returns something truthy; that value, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# ------------------------------------------------------------------------------------------ history
def _callback_task_parameters(events: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    for event in events:
        if event.get("type") != "TaskScheduled":
            continue
        details = event.get("taskScheduledEventDetails") or {}
        if not str(details.get("resource", "")).endswith(".waitForTaskToken"):
            continue
        try:
            return json.loads(details.get("parameters") or "{}")
        except ValueError:
            return None
    return None


def token_from_history(events: Iterable[dict[str, Any]]) -> str | None:
    """The task token Step Functions passed to the callback task (``Payload.taskToken``), if visible."""
    params = _callback_task_parameters(events)
    payload = (params or {}).get("Payload")
    token = payload.get("taskToken") if isinstance(payload, dict) else None
    return token if isinstance(token, str) and token else None


def job_id_from_history(events: Iterable[dict[str, Any]]) -> str | None:
    """The jobId create-job returned (the callback task's ``TaskSubmitted`` output), if visible."""
    for event in events:
        if event.get("type") != "TaskSubmitted":
            continue
        try:
            output = json.loads((event.get("taskSubmittedEventDetails") or {}).get("output") or "{}")
        except ValueError:
            continue
        payload = output.get("Payload") if isinstance(output, dict) else None
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                payload = None
        job_id = payload.get("jobId") if isinstance(payload, dict) else None
        if isinstance(job_id, str) and job_id:
            return job_id
    return None


def count_events(events: Iterable[dict[str, Any]], types: Iterable[str] | str) -> int:
    wanted = {types} if isinstance(types, str) else set(types)
    return sum(1 for e in events if e.get("type") in wanted)


def create_job_may_still_run(events: list[dict[str, Any]]) -> bool:
    """Might the callback task's create-job invocation still store a token record? Not when the task never
    started or its invocation has ended (a jobId returned, or the task failed, timed out or never submitted);
    it may when the execution stopped (aborted, timed out) while create-job was running."""
    if _callback_task_parameters(events) is None:
        return False
    # A task's timeout ends the task, not its Lambda invocation: create-job runs on and may still store its record.
    ended = TASK_ENDED_WITHOUT_JOB - {"TaskTimedOut"}
    return not any(e.get("type") in ended or e.get("type") == "TaskSubmitted" for e in events)


# ----------------------------------------------------------------------------------------- observing
@dataclass
class JobObservation:
    """What the target holds about one execution of the scenario (token values are never kept whole)."""

    execution_name: str
    execution_arn: str
    status: str = "RUNNING"
    output: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    job_id: str | None = None
    record: dict[str, Any] | None = None  # poc-task-tokens item without taskToken (see record_token_hash)
    record_token_hash: str | None = None
    job: dict[str, Any] | None = None  # poc-jobs item
    schedule_exists: bool | None = None
    started_at: float = 0.0
    finished_at: float | None = None
    no_record: bool = False
    """The execution ended without a jobId and no token record can appear any more (create-job failed)."""

    @property
    def history_token_hash(self) -> str | None:
        return token_hash(token_from_history(self.events))

    @property
    def record_status(self) -> str | None:
        return (self.record or {}).get("status")

    @property
    def settled(self) -> bool:
        """Nothing will change any more: the execution finished, and its record is terminal with its schedule
        gone, or no record can appear (the execution ended and create-job returned no jobId)."""
        if self.status == "RUNNING":
            return False
        if self.no_record:
            return True
        return (self.record is not None and self.record_status not in UNFINISHED_RECORD_STATUSES
                and self.schedule_exists is False and not self.check_in_flight())

    def check_in_flight(self, now: datetime | None = None) -> bool:
        """A poll counted an attempt that the simulated API has not seen yet, and its status check window is
        still open: the poll may still ask (a poll that started before another one's callback). Counting
        attempts against the API's checks waits for it, or for its window to lapse."""
        record, api = self.record or {}, self.job or {}
        until = record.get("checkUntil")
        if not until or not api:
            return False
        unseen = int(record.get("attemptCount", 0)) - int(api.get("pollCount", 0)) - int(record.get("failedChecks", 0))
        return unseen > 0 and parse_iso(str(until)) > (now or utcnow())

    @property
    def recoveries(self) -> int:
        """Times a poll took over this job's callback from a poller that had died (re-claims)."""
        return max(0, int((self.record or {}).get("claimCount", 0)) - 1)

    def row(self) -> dict[str, Any]:
        record, job = self.record or {}, self.job or {}
        job_status = job.get("status", "-")
        if job:
            job_status = f"{job_status} ({job.get('pollCount', 0)} checks)"
        return {
            "execution": self.execution_name,
            "execution status": self.status if self.status != "SUCCEEDED" or not self.output
            else f"SUCCEEDED/{self.output.get('status')}",
            "job": self.job_id or "-",
            "attempts": record.get("attemptCount", 0) if record else "-",
            "job status": job_status,
            "token": f"{record.get('status')} #{self.record_token_hash}" if record else "-",
        }


def _strip_token(item: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    doc = _from_ddb(item)
    token = doc.pop("taskToken", None)
    return doc, token_hash(token)


class PocObserver:
    """Starts executions of the callback workflow and reads back what the target holds about them."""

    def __init__(self, target: Target, workers: int = 8) -> None:
        self.target = target
        self.sfn = client("stepfunctions", target)
        self.ddb = client("dynamodb", target)
        self.scheduler = client("scheduler", target)
        self.lam = client("lambda", target)
        self.machine_arn = workflow_arn(target)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poc-observer")
        self._create_job_timeout: float | None = None

    def create_job_timeout(self) -> float:
        """How long create-job may run (its function timeout): after that it can store no record."""
        if self._create_job_timeout is None:
            try:
                self._create_job_timeout = float(self.lam.get_function_configuration(
                    FunctionName=config.CREATE_JOB_FUNCTION)["Timeout"])
            except (ClientError, KeyError, ValueError):
                self._create_job_timeout = DEFAULT_CREATE_JOB_TIMEOUT
        return self._create_job_timeout

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- starting
    def start(self, prefix: str, inputs: Sequence[dict[str, Any] | None]) -> list[JobObservation]:
        run_id = uuid.uuid4().hex[:6]

        def one(index_input: tuple[int, dict[str, Any] | None]) -> JobObservation:
            index, execution_input = index_input
            name = f"{prefix}-{run_id}-{index + 1:03d}"
            kwargs: dict[str, Any] = {"stateMachineArn": self.machine_arn, "name": name}
            if execution_input is not None:
                kwargs["input"] = json.dumps(execution_input)
            started = time.monotonic()
            arn = self.sfn.start_execution(**kwargs)["executionArn"]
            return JobObservation(execution_name=name, execution_arn=arn, started_at=started)

        return list(self._pool.map(one, enumerate(inputs)))

    # -- reading
    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return execution_history(self.sfn, execution_arn)

    def record(self, job_id: str) -> tuple[dict[str, Any] | None, str | None]:
        item = self.ddb.get_item(TableName=config.TOKENS_TABLE, Key={"jobId": {"S": job_id}},
                                 ConsistentRead=True).get("Item")
        return _strip_token(item) if item else (None, None)

    def record_for_execution(self, execution_arn: str) -> dict[str, Any] | None:
        """The token record of an execution found by its executionId (a Scan: for tests and the seed path)."""
        kwargs: dict[str, Any] = {"TableName": config.TOKENS_TABLE, "FilterExpression": "executionId = :e",
                                  "ExpressionAttributeValues": {":e": {"S": execution_arn}}}
        while True:
            page = self.ddb.scan(**kwargs)
            if page["Items"]:
                return _strip_token(page["Items"][0])[0]
            if "LastEvaluatedKey" not in page:
                return None
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def job(self, job_id: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=config.JOBS_TABLE, Key={"jobId": {"S": job_id}},
                                 ConsistentRead=True).get("Item")
        return _from_ddb(item) if item else None

    def schedule_exists(self, job_id: str) -> bool:
        try:
            self.scheduler.get_schedule(Name=schedule_name_for(job_id), GroupName=config.POLLING_SCHEDULE_GROUP)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise

    def refresh(self, jobs: list[JobObservation], full: bool = False) -> None:
        """Bring every unsettled observation up to date (``full``: all of them, with their whole history)."""

        def one(job: JobObservation) -> None:
            if job.settled and not full:
                return
            if job.status == "RUNNING" or full:
                desc = self.sfn.describe_execution(executionArn=job.execution_arn)
                job.status = desc["status"]
                if job.status != "RUNNING":
                    job.finished_at = job.finished_at or time.monotonic()
                    output = desc.get("output")
                    job.output = json.loads(output) if output else None
            if job.job_id is None or full or job.status != "RUNNING":
                job.events = self.history(job.execution_arn)
                job.job_id = job.job_id or job_id_from_history(job.events)
            if job.job_id is None and job.status != "RUNNING":
                # The task may have ended (timed out) while create-job ran on: its record names the execution.
                found = self.record_for_execution(job.execution_arn)
                job.job_id = found.get("jobId") if found else None
            if job.job_id is None:
                if job.status != "RUNNING":
                    # Ended with no jobId: settled once create-job cannot store a record any more.
                    stopped_for = time.monotonic() - (job.finished_at or time.monotonic())
                    job.no_record = (not create_job_may_still_run(job.events)
                                     or stopped_for > self.create_job_timeout())
                return
            job.record, job.record_token_hash = self.record(job.job_id)
            job.job = self.job(job.job_id)
            job.schedule_exists = self.schedule_exists(job.job_id)

        list(self._pool.map(one, jobs))

    def wait_settled(self, jobs: list[JobObservation], timeout: float,
                     progress: Callable[[ProgressRows], None] | None = None, every: float = 0.5) -> bool:
        """Refresh until every job is settled or ``timeout`` passes; then a full refresh. True if settled."""
        deadline = time.monotonic() + timeout
        settled = False
        while time.monotonic() < deadline:
            self.refresh(jobs)
            if progress:
                progress([j.row() for j in jobs])
            if all(j.settled for j in jobs):
                settled = True
                break
            time.sleep(every)
        self.refresh(jobs, full=True)
        if progress:
            progress([j.row() for j in jobs])
        return settled


# ------------------------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class Expectation:
    """The outcome a scenario expects, per job."""

    output_status: str  # SUCCESS | FAILED | TIMEOUT (the workflow's final Pass state)
    error_name: str | None  # errorName in the output; None for success
    record_status: str  # COMPLETED | FAILED | MAX_ATTEMPTS | TIMEOUT
    callback_accepted: bool = True  # False: Step Functions closed the token first (States.Timeout)
    finished_reason: str | None = None  # with callback_accepted False: TaskTimedOut
    min_attempts: int = 1
    api_checks: int | None = None  # exact number of status checks the simulated API counts, when fixed
    every_attempt_checks: bool = True  # False: the final attempt(s) end polling without asking the API
    min_api_checks: int = 1  # with every_attempt_checks False: status checks the API counted at least

    def describe(self) -> str:
        end = self.output_status + (f" with {self.error_name}" if self.error_name else "")
        how = "callback accepted once" if self.callback_accepted else f"late callback refused ({self.finished_reason})"
        return f"execution SUCCEEDED/{end}, token record {self.record_status}, {how}, schedule deleted"


def _fmt(values: Iterable[Any], limit: int = 6) -> str:
    items = [str(v) for v in values]
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def _failing(jobs: list[JobObservation], bad: Callable[[JobObservation], str | None]) -> list[str]:
    problems = []
    for job in jobs:
        why = bad(job)
        if why:
            problems.append(f"{job.execution_name}: {why}")
    return problems


def _check(name: str, jobs: list[JobObservation], bad: Callable[[JobObservation], str | None], ok: str) -> Check:
    problems = _failing(jobs, bad)
    return Check(name, not problems and bool(jobs), _fmt(problems, 3) if problems else ok)


def check_jobs(expect: Expectation, jobs: list[JobObservation], now: float | None = None) -> list[Check]:
    """Every check of a scenario, decided from the observations alone."""
    now = time.time() if now is None else now
    history_hashes = [j.history_token_hash for j in jobs]
    record_hashes = [j.record_token_hash for j in jobs]
    # Token generated and unique: from the history when visible, else from the stored records.
    generated = [h or r for h, r in zip(history_hashes, record_hashes)]
    missing = [j.execution_name for j, h in zip(jobs, generated) if not h]
    distinct = {h for h in generated if h}
    unique_ok = bool(jobs) and not missing and len(distinct) == len(jobs)
    checks = [Check(
        "token generated and unique", unique_ok,
        (f"{len(jobs)} tokens, {len(distinct)} distinct (sha256 {_fmt(sorted(distinct), 3)})" if not missing
         else f"no token for {_fmt(missing, 3)}"),
    )]

    def stored(job: JobObservation) -> str | None:
        if job.record is None:
            return f"no token record (jobId {job.job_id or 'unknown'})"
        if not job.record_token_hash:
            return "record has no taskToken"
        if job.record.get("executionId") != job.execution_arn:
            return "record's executionId is another execution"
        if job.history_token_hash and job.history_token_hash != job.record_token_hash:
            return f"stored token sha256 {job.record_token_hash} != history's {job.history_token_hash}"
        return None

    seen_in_history = sum(1 for h in history_hashes if h)
    checks.append(_check("token stored", jobs, stored,
                         f"{len(jobs)} records; stored token = history's for {seen_in_history}/{len(jobs)}"))

    def polled(job: JobObservation) -> str | None:
        # Polls of one job may overlap (a slow poll, a duplicate delivery): each counts an attempt, but only
        # attempts made while the record was POLLING and before the limit or deadline ask the API.
        record, api = job.record or {}, job.job or {}
        attempts = int(record.get("attemptCount", 0))
        if attempts < expect.min_attempts:
            return f"attemptCount {attempts} < {expect.min_attempts}"
        if not record.get("lastPolledAt"):
            return "never polled (no lastPolledAt)"
        if not api:
            return "simulated job not found"
        checks_seen = int(api.get("pollCount", 0))
        failed = int(record.get("failedChecks", 0))  # attempts whose check raised (it may have reached the API)
        if expect.api_checks is not None and checks_seen != expect.api_checks:
            return f"the simulated API counted {checks_seen} status checks, expected {expect.api_checks}"
        if expect.every_attempt_checks and not checks_seen <= attempts <= checks_seen + failed:
            return (f"attemptCount {attempts} but the simulated API counted {checks_seen} status checks"
                    + (f" and {failed} failed ({record.get('lastCheckError')})" if failed else ""))
        if not expect.every_attempt_checks and not expect.min_api_checks <= checks_seen < attempts:
            return (f"attemptCount {attempts} but the simulated API counted {checks_seen} status checks "
                    f"(expected {expect.min_api_checks}..{attempts - 1}: the last attempt does not ask)")
        return None

    attempts = [int((j.record or {}).get("attemptCount", 0)) for j in jobs]
    checks.append(_check("polled by the schedule", jobs, polled,
                         f"attempts {_fmt(attempts)}; simulated API status checks consistent"))

    def callback(job: JobObservation) -> str | None:
        # Exactly once is what the execution history shows: one TaskSucceeded/TaskFailed. A poll that took over
        # the callback from a poller that died (claimCount > 1) is a recovery, not a second callback: its send
        # is accepted (the first never arrived) or answered "finished" (the first did).
        record = job.record or {}
        in_history = count_events(job.events, CALLBACK_EVENTS)
        accepted = int(record.get("callbacksAccepted", 0))
        if expect.callback_accepted:
            if in_history != 1:
                return f"{in_history} TaskSucceeded/TaskFailed events in history"
            result = record.get("callbackResult")
            if result == "ACCEPTED" and accepted == 1:
                return None
            if result == "ALREADY_FINISHED" and accepted == 0 and job.recoveries:
                return None
            return f"callbacksAccepted {accepted}, callbackResult {result}, claimCount {record.get('claimCount')}"
        if in_history != 0:
            return f"{in_history} callback events accepted in history, expected none"
        if count_events(job.events, "TaskTimedOut") != 1:
            return "no TaskTimedOut event in history"
        if accepted != 0 or record.get("callbackResult") != "ALREADY_FINISHED":
            return f"callbacksAccepted {accepted}, callbackResult {record.get('callbackResult')}"
        if expect.finished_reason and not str(record.get("reason", "")).startswith(expect.finished_reason):
            return f"stored reason {str(record.get('reason'))[:60]!r}, expected {expect.finished_reason}"
        return None

    recovered = [j for j in jobs if j.recoveries]
    recoveries = (f"; {len(recovered)} recovered after a poller died between claim and callback (re-claimed "
                  f"{_fmt(sorted(j.recoveries for j in recovered))} time(s))") if recovered else ""
    checks.append(_check(
        "callback sent exactly once" if expect.callback_accepted
        else f"Step Functions closed the token; the late callback answered {expect.finished_reason}",
        jobs, callback,
        (f"{len(jobs)} x one {'TaskSucceeded' if expect.error_name is None else 'TaskFailed'} in history"
         + (", callbacksAccepted 1" if not recovered else "") + recoveries if expect.callback_accepted else
         f"{len(jobs)} x TaskTimedOut in history, callbackResult ALREADY_FINISHED ({expect.finished_reason})"),
    ))

    def final(job: JobObservation) -> str | None:
        if job.status != "SUCCEEDED":
            return f"execution {job.status}"
        output = job.output or {}
        if output.get("status") != expect.output_status:
            return f"output status {output.get('status')}, expected {expect.output_status}"
        if expect.error_name is None:
            if (output.get("result") or {}).get("status") != "COMPLETED":
                return "output carries no COMPLETED job result"
        elif output.get("errorName") != expect.error_name:
            return f"errorName {output.get('errorName')}, expected {expect.error_name}"
        return None

    end = expect.output_status + (f" ({expect.error_name})" if expect.error_name else "")
    checks.append(_check(f"execution reached {end}", jobs, final, f"{len(jobs)} executions SUCCEEDED with {end}"))

    checks.append(_check("schedule deleted", jobs,
                         lambda j: None if j.schedule_exists is False else
                         ("schedule still exists" if j.schedule_exists else "schedule not looked up"),
                         f"{len(jobs)} poll-<jobId> schedules gone"))

    def record_status(job: JobObservation) -> str | None:
        record = job.record or {}
        if record.get("status") != expect.record_status:
            return f"record {record.get('status')}"
        if int(record.get("ttl", 0)) <= now:
            return "ttl missing or in the past"
        return None

    checks.append(_check(f"token record {expect.record_status}", jobs, record_status,
                         f"{len(jobs)} records {expect.record_status} with a future ttl"))
    return checks


# ------------------------------------------------------------------------------------------ scenarios
@dataclass(frozen=True)
class PocScenario:
    """One PoC scenario: the execution input it starts and the outcome it expects."""

    name: str
    description: str
    job_options: dict[str, Any]
    expect: Expectation
    max_attempts: int = 10
    timeout_intervals: int = 60  # polling timeout, in polling intervals
    task_timeout_intervals: int = 120  # the callback task's TimeoutSeconds, in polling intervals

    def execution_input(self, interval_seconds: int, record_id: str) -> dict[str, Any]:
        return {
            "record": {"id": record_id, "data": {"scenario": self.name}},
            "pollingConfig": {
                "intervalSeconds": interval_seconds,
                "maxAttempts": self.max_attempts,
                "timeoutSeconds": self.timeout_intervals * interval_seconds,
                "jobOptions": self.job_options,
            },
            "taskTimeoutSeconds": self.task_timeout_intervals * interval_seconds,
        }

    def run(self, target: Target, options: RunOptions,
            progress: Callable[[ProgressRows], None] | None = None) -> ScenarioResult:
        return self.run_observed(target, options, progress)[0]

    def run_observed(self, target: Target, options: RunOptions,
                     progress: Callable[[ProgressRows], None] | None = None
                     ) -> tuple[ScenarioResult, list[JobObservation]]:
        """:meth:`run`, also returning the observations (with full execution histories) for benchmarks."""
        started = time.monotonic()
        observer = PocObserver(target)
        try:
            inputs = [self.execution_input(options.interval_seconds, f"{self.name}-{i + 1}")
                      for i in range(options.jobs)]
            jobs = observer.start(self.name, inputs)
            every = 0.5 if options.jobs <= 20 else 1.0
            settled = observer.wait_settled(jobs, options.timeout_seconds, progress, every=every)
        finally:
            observer.close()
        checks = check_jobs(self.expect, jobs)
        if not settled:
            unsettled = [j.execution_name for j in jobs if not j.settled]
            checks.append(Check("finished in time", False,
                                f"{len(unsettled)} not settled after {options.timeout_seconds:.0f} s: "
                                f"{_fmt(unsettled, 3)}"))
        result = ScenarioResult(
            scenario=self.name,
            expected=self.expect.describe(),
            checks=checks,
            jobs=[j.row() for j in jobs],
            duration_s=round(time.monotonic() - started, 3),
            data={
                "executions": [j.execution_arn for j in jobs],
                "jobIds": [j.job_id for j in jobs],
                "recoveries": {j.job_id: j.recoveries for j in jobs if j.recoveries},
                "intervalSeconds": options.interval_seconds,
                "input": self.execution_input(options.interval_seconds, f"{self.name}-N"),
            },
        )
        return result, jobs


SCENARIOS: tuple[PocScenario, ...] = (
    PocScenario(
        "complete", "the job completes after 2 status checks; SendTaskSuccess resumes the workflow",
        {"completeAfterChecks": 2},
        Expectation("SUCCESS", None, "COMPLETED", min_attempts=2),
    ),
    PocScenario(
        "fail", "the job FAILS after 2 status checks; SendTaskFailure(JobFailed) -> FailedState",
        {"failAfterChecks": 2},
        Expectation("FAILED", "JobFailed", "FAILED", min_attempts=2),
    ),
    PocScenario(
        "max-attempts", "the job never completes; attempt 3 of maxAttempts 2 sends MaxAttemptsExceeded",
        {"neverComplete": True},
        Expectation("FAILED", "MaxAttemptsExceeded", "MAX_ATTEMPTS", min_attempts=3, api_checks=2,
                    every_attempt_checks=False),
        max_attempts=2,
    ),
    PocScenario(
        "timeout", "the job never completes; past expiresAt (3 intervals) the poller sends PollingTimeout",
        {"neverComplete": True},
        Expectation("TIMEOUT", "PollingTimeout", "TIMEOUT", min_attempts=2, every_attempt_checks=False),
        max_attempts=100, timeout_intervals=3,
    ),
    PocScenario(
        "sfn-timeout",
        "the callback task's TimeoutSeconds (2 intervals) fires first: States.Timeout; the poller's late "
        "callback is answered TaskTimedOut and the record ends TIMEOUT",
        {"neverComplete": True},
        Expectation("TIMEOUT", "States.Timeout", "TIMEOUT", callback_accepted=False, finished_reason="TaskTimedOut",
                    min_attempts=2, every_attempt_checks=False),
        max_attempts=100, timeout_intervals=4, task_timeout_intervals=2,
    ),
)

for _scenario in SCENARIOS:
    register(_scenario)


def scenario(name: str) -> PocScenario:
    return next(s for s in SCENARIOS if s.name == name)
