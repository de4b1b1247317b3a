"""``sfn-callback bench faults``: the guarantees under faults, measured on the local cloud.

N jobs run at once; each chosen fault is injected on its own share of them and a control group gets none:

==============================  =====================================================================================
fault                           how it is injected
==============================  =====================================================================================
``scheduler-duplicates``        every Scheduler delivery of the job's ``poll-<jobId>`` schedule is delivered twice
                                (the faults endpoint's ``duplicate`` action, aimed with ``contains: jobId``)
``concurrent-polls``            5 extra ``poc-poller`` invokes of the job's completing slot (its ``scheduledTime``),
                                sent at the moment the schedule delivers that slot
``poller-killed``               the worker sending the job's ``SendTaskSuccess`` is SIGKILLed, between claim and
                                callback (faults endpoint, ``kill``): ``poc-poller``, or ``poc-sweep-poller`` when
                                the sweep adopted a record whose schedule fell behind
``create-job-killed``           the ``poc-create-job`` worker is SIGKILLed on its ``CreateSchedule``, after it stored
                                the token record (these jobs start first, alone, so the kill hits only them)
``throttled-callbacks``         the job's first 3 ``SendTaskSuccess`` calls answer ``ThrottlingException``
``failing-callbacks``           the job's first 5 ``SendTaskSuccess`` calls answer ``InternalFailure`` (500): one
                                invocation's every attempt, so Lambda's retry of that invocation must finish it
``task-timeout-race``           the task's ``TimeoutSeconds`` (30 s, 50 s, 70 s...) ends while the job's completing
                                poll runs: the job's own schedule stays quiet, its simulated job completes at the
                                first check after ``completeAt``, which the bench moves to -500..+200 ms around the
                                deadline, and the bench polls it densely (``{"jobId"}``, manual polls) around it
``approval-deadline-race``      approval decisions aimed so that the approval service claims them -80..+80 ms
                                around the task's deadline (TaskScheduled + TimeoutSeconds: 60 s, 70 s, ...),
                                sent earlier by the lag the decisions so far showed
``approval-duplicate-delivery`` the approval request's message body sent to the queue again, once with the decision
                                and once after the workflow resumed
``export-duplicate-delivery``   the export job's message body sent again while the first is processed, and once more
                                after the workflow resumed
==============================  =====================================================================================

Every figure comes from the data: execution histories, token records, the simulated jobs (``poc-jobs``), the
approval and export items, the schedules, the faults endpoint's fired list and what the approval API answered:

* **injected**: firings in the fired list aimed at the group's jobs (error, duplicate; a kill only when it killed
  a worker before the workflow resumed), or what the bench sent (extra polls, messages); for the timeout race the
  jobs whose completing status check (``poc-jobs.completedAt``) ran within 1 s of the task's deadline
  (TaskScheduled + TimeoutSeconds); for the approval race the decisions the service claimed (the decision's
  ``at`` on the task, or its audit entry when refused) within 100 ms of the deadline;
* **lost**: a workflow that never ended, a record that never became terminal (token record, approval item, export
  job), or a polling schedule left behind;
* **duplicate**: more than one TaskSucceeded/TaskFailed in a history, or more than one accepted callback on a
  record (``callbacksAccepted``, an export job's ``callbackAttempts``);
* **wrong**: an outcome that differs from what the job did: the simulated API said COMPLETED but the workflow
  took another path or the record says otherwise; the simulated API asked more often than the job needed (a
  slot polled twice); a task that timed out whose record accepted the callback; a decision answered
  200 while the workflow took TimedOut (or 410 while it took the decision's path); a decided approval shown
  PENDING again; an export whose files were all served that did not end COMPLETED;
* **recovery**: the workflow resuming (the TaskSucceeded / TaskFailed / TaskTimedOut event) minus the moment of
  the last fault injected on the job before it, p50/p99. The control group's figure is the same measure without a
  fault: the completing status check to the workflow resuming.

The run passes (exit 0) only if lost, duplicate and wrong are 0 everywhere and every chosen fault was injected.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from sfn_callback import config
from sfn_callback.common.aws import client
from sfn_callback.common.clock import iso
from sfn_callback.common.stepfunctions import execution_history
from sfn_callback.config import Target
from sfn_callback.localcloud import process
from sfn_callback.localcloud.bench import percentile
from sfn_callback.localcloud.faults import DELIVERY, FAULTS_PATH

POC_FAULTS = ("scheduler-duplicates", "concurrent-polls", "poller-killed", "create-job-killed",
              "throttled-callbacks", "failing-callbacks", "task-timeout-race")
APPROVAL_FAULTS = ("approval-deadline-race", "approval-duplicate-delivery")
EXPORT_FAULTS = ("export-duplicate-delivery",)
FAULTS = POC_FAULTS + APPROVAL_FAULTS + EXPORT_FAULTS
CONTROL = "control"
DESCRIPTIONS = {
    CONTROL: "no fault (the baseline)",
    "scheduler-duplicates": "every Scheduler delivery of the job's schedule delivered twice",
    "concurrent-polls": "5 extra poc-poller invokes of the completing slot at the moment it is delivered",
    "poller-killed": "the worker sending the job's SendTaskSuccess SIGKILLed, between claim and callback",
    "create-job-killed": "poc-create-job SIGKILLed after storing the token record, before CreateSchedule",
    "throttled-callbacks": "3 x ThrottlingException on the job's SendTaskSuccess",
    "failing-callbacks": "5 x InternalFailure (500) on the job's SendTaskSuccess: one invocation's every attempt",
    "task-timeout-race": "the task's TimeoutSeconds ends while the completing poll runs (-500..+200 ms)",
    "approval-deadline-race": "decisions claimed -80..+80 ms around the approval task's deadline",
    "approval-duplicate-delivery": "the approval request delivered again with the decision and after it",
    "export-duplicate-delivery": "the export job delivered again while it runs and after it",
}
CALLBACK_EVENTS = ("TaskSucceeded", "TaskFailed")
RESUME_EVENTS = ("TaskSucceeded", "TaskFailed", "TaskTimedOut")
TERMINAL_RECORD = ("COMPLETED", "FAILED", "MAX_ATTEMPTS", "TIMEOUT")
EXTRA_POLLS = 5
ATTEMPTS_MARGIN = 10
"""maxAttempts = checks + this: a status check slower than its 15 s window (seen with the load average at 40) is
not used and the next slot asks again, which must not end a job MaxAttemptsExceeded; an attempt counted twice for
one slot is caught without the limit (attempts counted vs. slots delivered)."""
ARMED_ON_CALLBACK = ("poller-killed", "throttled-callbacks", "failing-callbacks")
ARMING_CHECKS = 3
"""The jobs whose fault is armed on their SendTaskSuccess (once create-job stored their record) complete this many
checks later than the others: under load arming one fault can take seconds, and a fault armed after the job's
callback would only hit a later resend."""
THROTTLES = 3
FAILURES = 5  # CALLBACK_MAX_ATTEMPTS: one invocation's every attempt
RACE_WINDOW_S = 1.0
RACE_TASK_TIMEOUT = 30
RACE_OFFSETS = (-0.5, 0.2)  # the completing check aims this long around the deadline (spread over the jobs)
RACE_MAX_ATTEMPTS = 1000  # every check of the dense polling counts an attempt
RACE_STREAMS = 3  # threads polling a race job around its completeAt
RACE_STREAM_STAGGER_S = 0.15
RACE_FAR_AWAY = 86_400  # a race job is created to complete a day later; the bench moves completeAt to its deadline
APPROVAL_RACE_WINDOW_S = 0.1
"""An approval decision races its task's deadline when the approval service claimed it (the decision's ``at``,
stored on the task) within this of the deadline (TaskScheduled + TimeoutSeconds in the history)."""
APPROVAL_OFFSETS = (-0.08, 0.08)  # the decisions aim this far around the deadline (spread over the tasks)
APPROVAL_STAGGER_S = 10
APPROVAL_DUPLICATE_TIMEOUT_S = 600  # the duplicate-delivery tasks are decided at once: no deadline in play
RACE_STAGGER_S = 20
RACE_SPREAD_S = 60  # at most this from the first race deadline to the last
"""The race jobs' deadlines are this far apart (30 s, 50 s, 70 s, ... after the task starts): on a loaded machine a
task's message or create-job can take tens of seconds to arrive, and a job that is not ready by its deadline does
not race (it is not counted as injected); each race job also aims with the lag the one before showed."""


class FaultBenchError(RuntimeError):
    """The bench cannot run on this target (the message says why)."""


@dataclass(frozen=True)
class FaultBenchConfig:
    jobs: int = 100
    faults: tuple[str, ...] = FAULTS
    interval_seconds: int = 2
    checks: int = 4  # status checks until a simulated job completes (its faults are armed meanwhile)
    approval_timeout_seconds: int = 60  # the first approval race task's; the next ones' APPROVAL_STAGGER_S later each
    settle_timeout_seconds: float = 300.0

    def __post_init__(self) -> None:
        unknown = [f for f in self.faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
        if not self.faults:
            raise ValueError("--faults names no fault")
        if self.jobs < 1:
            raise ValueError("--jobs must be at least 1")
        if self.interval_seconds < 1 or self.checks < 2:
            raise ValueError("--interval-seconds must be at least 1 and the checks per job at least 2")

    def shares(self) -> dict[str, int]:
        """Jobs per group: an equal share for each fault (at least one, three for the two deadline races) and the
        rest for the control group (at least one): with few jobs, every group still gets its jobs."""
        per = max(1, self.jobs // (len(self.faults) + 1))
        groups = {fault: per for fault in FAULTS if fault in self.faults}
        for race in ("task-timeout-race", "approval-deadline-race"):  # a race needs a few tries to be run at all
            if race in groups:
                groups[race] = max(3, per)
        return {CONTROL: max(1, self.jobs - per * len(groups)), **groups}


# ------------------------------------------------------------------------------------------ helpers
def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value)




def _scheduled(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The callback task's TaskScheduled event (``.waitForTaskToken``)."""
    for event in events:
        details = event.get("taskScheduledEventDetails") or {}
        if event.get("type") == "TaskScheduled" and str(details.get("resource", "")).endswith("waitForTaskToken"):
            return event
    return None


def _resumed_at(events: list[dict[str, Any]]) -> float | None:
    for event in events:
        if event.get("type") in RESUME_EVENTS:
            return _epoch(event["timestamp"])
    return None


def _count(events: list[dict[str, Any]], types: tuple[str, ...]) -> int:
    return sum(1 for e in events if e.get("type") in types)


def _ms_summary(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"samples": 0, "p50_ms": None, "p99_ms": None}
    ms = [s * 1000 for s in seconds]
    return {"samples": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p99_ms": round(percentile(ms, 99), 1)}


@dataclass
class GroupResult:
    """What one group's data shows."""

    name: str
    jobs: int = 0
    injected: int = 0
    affected: set[str] = field(default_factory=set)
    lost: list[str] = field(default_factory=list)
    duplicate: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    recovery: list[float] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fault": self.name, "description": DESCRIPTIONS[self.name], "jobs": self.jobs,
            "injected": self.injected, "affected": len(self.affected),
            "lost": len(self.lost), "duplicate": len(self.duplicate), "wrong": len(self.wrong),
            "recovery": _ms_summary(self.recovery),
            "problems": (self.lost + self.duplicate + self.wrong)[:10],
            **({"notes": self.notes} if self.notes else {}),
        }


class FaultApi:
    """The local cloud's fault injection endpoint; remembers which group and job each armed fault is for."""

    def __init__(self, endpoint: str) -> None:
        self.url = endpoint.rstrip("/") + FAULTS_PATH
        self.owners: dict[int, tuple[str, str]] = {}  # fault id -> (group, job key)
        self._lock = threading.Lock()

    def check(self) -> None:
        try:
            response = httpx.get(self.url, timeout=10)
        except httpx.HTTPError as exc:
            raise FaultBenchError(f"cannot reach the faults endpoint {self.url}: {exc}") from exc
        if response.status_code != 200:
            raise FaultBenchError(f"{self.url} answered {response.status_code}: fault injection needs the "
                                  "embedded local cloud (sfn-callback up)")

    def arm(self, group: str, job: str, **fault: Any) -> int:
        response = httpx.post(self.url, json=fault, timeout=10)
        if response.status_code != 201:
            raise FaultBenchError(f"could not arm {fault}: {response.status_code} {response.text}")
        fault_id = int(response.json()["fault"]["id"])
        with self._lock:
            self.owners[fault_id] = (group, job)
        return fault_id

    def disarm(self, fault_id: int) -> None:
        httpx.delete(self.url, params={"id": fault_id}, timeout=10)

    def state(self) -> dict[str, Any]:
        return httpx.get(self.url, timeout=30).json()

    def clear(self) -> None:
        httpx.delete(self.url, timeout=10)


# ---------------------------------------------------------------------------------------- the PoC part
@dataclass
class PocJob:
    group: str
    name: str
    arn: str = ""
    started: float = 0.0  # when the bench started the execution
    ready: float | None = None  # when create-job stored its token record (the record's createdAt)
    job_id: str | None = None
    task_timeout: int = 0
    armed: bool = False
    sent: list[float] = field(default_factory=list)  # moments the bench injected something itself
    answers: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    status: str = "RUNNING"
    output: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    simulated: dict[str, Any] | None = None
    schedule_exists: bool | None = None


class PocPart:
    """The callback PoC's jobs: start them, inject their faults, observe them."""

    def __init__(self, target: Target, cfg: FaultBenchConfig, faults: FaultApi, run_id: str,
                 say: Callable[[str], None]) -> None:
        self.target, self.cfg, self.faults, self.run_id, self.say = target, cfg, faults, run_id, say
        self.sfn = client("stepfunctions", target)
        self.ddb = client("dynamodb", target)
        self.lam = client("lambda", target)
        self.scheduler = client("scheduler", target)
        account = config.LOCAL_ACCOUNT_ID if target.is_local else client("sts", target).get_caller_identity()["Account"]
        self.machine = f"arn:aws:states:{target.region}:{account}:stateMachine:{config.CALLBACK_WORKFLOW}"
        self.jobs: list[PocJob] = []
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="faults-poc")
        self._ready_delay = 0.0
        self.armer = ThreadPoolExecutor(max_workers=16, thread_name_prefix="faults-arm")

    # -- starting
    def _input(self, job: PocJob, index: int) -> dict[str, Any]:
        interval, checks = self.cfg.interval_seconds, self.cfg.checks
        polling_timeout = 120 + self.cfg.jobs
        task_timeout = polling_timeout + 60
        if job.group == "task-timeout-race":
            # A quiet schedule (the bench polls the job itself at its deadline), completes at its first check.
            # The deadline leaves twice the time create-job took for the jobs started before (at least
            # RACE_TASK_TIMEOUT), and the race jobs' deadlines are RACE_STAGGER_S apart.
            racing = sum(1 for j in self.jobs if j.group == "task-timeout-race")
            stagger = min(RACE_STAGGER_S, RACE_SPREAD_S / max(1, racing - 1))
            job.task_timeout = (max(RACE_TASK_TIMEOUT, math.ceil(2 * self._ready_delay + 5))
                                + round(stagger * (int(job.name.rsplit("-", 1)[-1]) - 1)))
            far = iso(datetime.fromtimestamp(time.time() + RACE_FAR_AWAY, UTC))
            return {"record": {"id": job.name, "data": {"bench": "faults", "group": job.group}},
                    "pollingConfig": {"intervalSeconds": 3600, "maxAttempts": RACE_MAX_ATTEMPTS, "timeoutSeconds": 7200,
                                      "jobOptions": {"completeAt": far}},
                    "taskTimeoutSeconds": job.task_timeout}
        job.task_timeout = task_timeout
        if job.group in ARMED_ON_CALLBACK:
            checks += ARMING_CHECKS
        return {"record": {"id": job.name, "data": {"bench": "faults", "group": job.group}},
                "pollingConfig": {"intervalSeconds": interval, "maxAttempts": checks + ATTEMPTS_MARGIN,
                                  "timeoutSeconds": polling_timeout, "jobOptions": {"completeAfterChecks": checks}},
                "taskTimeoutSeconds": task_timeout}

    def _start(self, job: PocJob, index: int) -> PocJob:
        job.started = time.time()
        job.arn = self.sfn.start_execution(stateMachineArn=self.machine, name=job.name,
                                           input=json.dumps(self._input(job, index)))["executionArn"]
        return job

    def plan(self, shares: dict[str, int]) -> list[PocJob]:
        for group in (CONTROL, *POC_FAULTS):
            for i in range(shares.get(group, 0)):
                self.jobs.append(PocJob(group, f"faults-{self.run_id}-{group}-{i + 1:03d}"))
        return self.jobs

    def start_create_job_kills(self) -> None:
        """Start the create-job-killed jobs alone: the kill fault (on poc-create-job's CreateSchedule) cannot
        name a job that does not exist yet, so nothing else may create a schedule while it is armed."""
        group = [j for j in self.jobs if j.group == "create-job-killed"]
        if not group:
            return
        fault_id = self.faults.arm("create-job-killed", "*", operation="CreateSchedule",
                                   caller=config.CREATE_JOB_FUNCTION, action="kill", count=len(group))
        list(self.pool.map(lambda pair: self._start(pair[1], pair[0]), enumerate(group)))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            fired = [f for f in self.faults.state()["fired"] if f["id"] == fault_id]
            if len(fired) >= len(group):
                break
            time.sleep(0.2)
        self.faults.disarm(fault_id)  # whatever did not fire must not hit the other jobs
        self.say(f"create-job-killed: {len(group)} executions started, their create-job workers killed")

    def start_others(self) -> None:
        """All jobs but the create-job kills (started before) and the timeout races (started by :meth:`inject`
        once create-job's current latency is known: a race needs its job ready before its deadline)."""
        rest = [(i, j) for i, j in enumerate(self.jobs) if j.group not in ("create-job-killed", "task-timeout-race")]
        list(self.pool.map(lambda pair: self._start(pair[1], pair[0]), rest))
        self.say(f"{len(rest)} PoC executions started")

    def _start_races(self) -> None:
        racing = [(i, j) for i, j in enumerate(self.jobs) if j.group == "task-timeout-race"]
        ready = [j.ready - j.started for j in self.jobs
                 if j.ready is not None and j.started and j.group != "create-job-killed"]
        self._ready_delay = max(ready, default=0.0)
        with ThreadPoolExecutor(max_workers=4) as starter:  # not the shared pool: it may be busy refreshing
            list(starter.map(lambda pair: self._start(pair[1], pair[0]), racing))
        if racing:
            self.say(f"task-timeout-race: {len(racing)} executions started (create-job took up to "
                     f"{self._ready_delay:.1f} s; deadlines from {racing[0][1].task_timeout} s)")

    # -- injecting
    def inject(self, stop: threading.Event) -> None:
        """Arm each job's faults as soon as its jobId is known; fire the concurrent polls at their slot."""
        waiting = [j for j in self.jobs if j.group not in (CONTROL, "create-job-killed")]
        racing = [j for j in self.jobs if j.group == "task-timeout-race"]
        give_up = time.monotonic() + 120
        offsets = {j.name: RACE_OFFSETS[0] + (RACE_OFFSETS[1] - RACE_OFFSETS[0]) * i / max(1, len(racing) - 1)
                   for i, j in enumerate(racing)}
        bursts: list[threading.Thread] = []
        arming: list[Any] = []
        races_started = not racing
        while waiting and not stop.is_set():
            self.discover([j for j in self.jobs if j.arn])
            others = [j for j in self.jobs if j.arn and j.group != "create-job-killed"]
            ready = sum(1 for j in others if j.ready)
            if not races_started and (2 * ready >= len(others) > 0 or time.monotonic() > give_up):
                threading.Thread(target=self._start_races, daemon=True).start()
                races_started = True
            for job in list(waiting):
                if job.job_id is None or not job.arn:
                    continue
                waiting.remove(job)
                if job.group in ("concurrent-polls", "task-timeout-race"):
                    thread = threading.Thread(target=self._burst if job.group == "concurrent-polls" else self._race,
                                              args=(job, stop) if job.group == "concurrent-polls"
                                              else (job, offsets[job.name]), daemon=True)
                    thread.start()
                    bursts.append(thread)
                else:
                    arming.append(self.armer.submit(self._arm, job))  # at once: one POST can take seconds
            time.sleep(0.1)
        for thread in bursts:
            thread.join(timeout=120)
        for future in arming:
            future.result()

    def discover(self, jobs: list[PocJob]) -> None:
        """The jobIds of ``jobs`` whose token record create-job has stored (one Scan for all of them: the record
        is there long before create-job's answer reaches the history on a loaded machine)."""
        if all(j.job_id for j in jobs):
            return
        prefix = self.machine.replace(":stateMachine:", ":execution:") + f":faults-{self.run_id}-"
        found: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"TableName": config.TOKENS_TABLE, "FilterExpression": "begins_with(executionId, :p)",
                                  "ExpressionAttributeValues": {":p": {"S": prefix}},
                                  "ProjectionExpression": "jobId, executionId, createdAt"}
        while True:
            page = self.ddb.scan(**kwargs)
            found.update({i["executionId"]["S"]: i for i in page["Items"]})
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for job in jobs:
            item = found.get(job.arn)
            if item and job.job_id is None:
                job.job_id = item["jobId"]["S"]
                job.ready = _epoch(item["createdAt"]["S"]) if "createdAt" in item else time.time()

    def _arm(self, job: PocJob) -> None:
        assert job.job_id
        common = {"contains": job.job_id}
        if job.group == "scheduler-duplicates":
            self.faults.arm(job.group, job.name, operation=DELIVERY, action="duplicate", count=1000, **common)
        # Any caller: the job's callback comes from poc-poller, or from poc-sweep-poller when the sweep adopted
        # a record whose schedule fell behind (seen with the load average above 40).
        elif job.group == "poller-killed":
            self.faults.arm(job.group, job.name, operation="SendTaskSuccess", action="kill", **common)
        elif job.group == "throttled-callbacks":
            self.faults.arm(job.group, job.name, operation="SendTaskSuccess", count=THROTTLES,
                            error="ThrottlingException", **common)
        elif job.group == "failing-callbacks":
            self.faults.arm(job.group, job.name, operation="SendTaskSuccess", count=FAILURES,
                            error="InternalFailure", **common)
        job.armed = True

    def _race(self, job: PocJob, offset: float) -> None:
        """Make the job's completing status check run ``offset`` seconds from the task's deadline, whatever the
        load: the job was created to complete at a moment far away (``completeAt``); once the deadline is known
        from the history (TaskScheduled + TimeoutSeconds), the bench moves the simulated job's ``completeAt``
        (its item in poc-jobs) to deadline + offset and polls the job densely ({"jobId"}, manual polls, from
        RACE_STREAMS threads) from a second before it: the checks before answer IN_PROGRESS, the first one
        after it completes the job and its callback races the deadline."""
        scheduled = _scheduled(execution_history(self.sfn, job.arn))
        if scheduled is None:
            return
        deadline = _epoch(scheduled["timestamp"]) + job.task_timeout
        complete_at = deadline + offset
        self.ddb.update_item(TableName=config.JOBS_TABLE, Key={"jobId": {"S": job.job_id}},
                             UpdateExpression="SET completeAt = :at", ConditionExpression="attribute_exists(jobId)",
                             ExpressionAttributeValues={":at": {"S": iso(datetime.fromtimestamp(complete_at, UTC))}})
        time.sleep(max(0.0, complete_at - 1.0 - time.time()))
        done = threading.Event()
        lock = threading.Lock()

        def stream(n: int) -> None:
            time.sleep(n * RACE_STREAM_STAGGER_S)
            while not done.is_set() and time.time() < deadline + 60:
                sent = time.time()
                response = self.lam.invoke(FunctionName=config.POLLER_FUNCTION,
                                           Payload=json.dumps({"jobId": job.job_id}).encode())
                answer = json.loads(response["Payload"].read() or b"null")
                with lock:
                    job.answers.append({"sent": sent, "error": response.get("FunctionError"), "answer": answer})
                    job.sent.append(sent)
                if isinstance(answer, dict) and answer.get("status") in TERMINAL_RECORD:
                    done.set()

        with ThreadPoolExecutor(max_workers=RACE_STREAMS) as streams:
            list(streams.map(stream, range(RACE_STREAMS)))

    def _burst(self, job: PocJob, stop: threading.Event) -> None:
        """When the record has counted the attempt before the completing one, its nextPollAt is the completing
        slot: send EXTRA_POLLS polls of that slot at once, at the moment the schedule delivers it."""
        deadline = time.monotonic() + 60 + self.cfg.checks * self.cfg.interval_seconds
        slot = None
        while time.monotonic() < deadline and not stop.is_set():
            item = self.ddb.get_item(TableName=config.TOKENS_TABLE, Key={"jobId": {"S": job.job_id}},
                                     ConsistentRead=True).get("Item") or {}
            attempts = int(item.get("attemptCount", {}).get("N", "0"))
            if item.get("status", {}).get("S") not in (None, "POLLING") and "polledSlot" in item:
                slot = item["polledSlot"]["S"]  # the completing slot was polled first: its duplicates, late
                break
            if attempts >= self.cfg.checks - 1 and "nextPollAt" in item:
                slot = item["nextPollAt"]["S"]
                break
            time.sleep(0.1)
        if slot is None:
            return
        time.sleep(max(0.0, _epoch(slot) - time.time()))
        payload = json.dumps({"jobId": job.job_id, "scheduledTime": slot}).encode()

        def one(_: int) -> dict[str, Any]:
            sent = time.time()
            response = self.lam.invoke(FunctionName=config.POLLER_FUNCTION, Payload=payload)
            body = json.loads(response["Payload"].read() or b"null")
            return {"sent": sent, "error": response.get("FunctionError"), "answer": body}

        with ThreadPoolExecutor(max_workers=EXTRA_POLLS) as burst:
            answers = list(burst.map(one, range(EXTRA_POLLS)))
        job.answers.extend(answers)
        job.sent.extend(a["sent"] for a in answers)

    # -- observing
    def settled(self, job: PocJob) -> bool:
        return (job.status != "RUNNING" and job.record is not None
                and job.record.get("status") in TERMINAL_RECORD and job.schedule_exists is False)

    def refresh(self, job: PocJob) -> PocJob:
        if self.settled(job) or not job.arn:  # (a race job not started yet)
            return job
        description = self.sfn.describe_execution(executionArn=job.arn)
        job.status = description["status"]
        job.output = json.loads(description["output"]) if description.get("output") else None
        if job.job_id is None:
            return job
        item = self.ddb.get_item(TableName=config.TOKENS_TABLE, Key={"jobId": {"S": job.job_id}},
                                 ConsistentRead=True).get("Item")
        job.record = _plain(item) if item else None
        simulated = self.ddb.get_item(TableName=config.JOBS_TABLE, Key={"jobId": {"S": job.job_id}},
                                      ConsistentRead=True).get("Item")
        job.simulated = _plain(simulated) if simulated else None
        try:
            self.scheduler.get_schedule(Name=f"poll-{job.job_id}", GroupName=config.POLLING_SCHEDULE_GROUP)
            job.schedule_exists = True
        except self.scheduler.exceptions.ResourceNotFoundException:
            job.schedule_exists = False
        return job

    def wait(self, deadline: float) -> bool:
        """Until every job is settled; ``deadline`` plus the longest race task's TimeoutSeconds."""
        last = 0.0
        first = deadline
        while True:
            deadline = first + max((j.task_timeout for j in self.jobs if j.group == "task-timeout-race"), default=0)
            self.discover(self.jobs)
            list(self.pool.map(self.refresh, self.jobs))
            done = sum(1 for j in self.jobs if self.settled(j))
            if done == len(self.jobs):
                return True
            if time.monotonic() > deadline:
                return False
            if time.monotonic() - last > 10:
                last = time.monotonic()
                self.say(f"PoC: {done}/{len(self.jobs)} jobs settled")
            time.sleep(1.0)

    def finish(self) -> None:
        def full(job: PocJob) -> None:
            job.events = execution_history(self.sfn, job.arn)
        list(self.pool.map(full, self.jobs))
        self.pool.shutdown(wait=False)
        self.armer.shutdown(wait=False)
        # Scheduler deliveries per job, as the local cloud metered them (duplicates included).
        ids = [j.job_id for j in self.jobs if j.job_id]
        self.deliveries: dict[str, int] | None = {}
        try:
            for start in range(0, len(ids), 50):
                response = httpx.get(f"{self.target.endpoint_url}/_sfn_callback/metrics",
                                     params={"jobs": ",".join(ids[start:start + 50])}, timeout=30)
                for job_id, usage in (response.json().get("jobs") or {}).items():
                    self.deliveries[job_id] = int((usage.get("scheduler") or {}).get(config.POLLER_FUNCTION, 0))
        except (httpx.HTTPError, ValueError):
            self.deliveries = None  # not metered here: the attempts check is left out

    # -- judging
    def judge(self, fired: list[dict[str, Any]], owners: dict[int, tuple[str, str]]) -> dict[str, GroupResult]:
        by_job: dict[str, list[float]] = {}
        kills: dict[str, list[dict[str, Any]]] = {}  # poller-killed: each job's kill firings
        injected: dict[str, int] = {}
        self.duplicated: dict[str, int] = {}
        schedule_owner = {f"{config.POLLING_SCHEDULE_GROUP}/poll-{j.job_id}": j.name for j in self.jobs if j.job_id}
        for entry in fired:
            owner = owners.get(entry["id"])
            if owner is None:
                continue
            group, name = owner
            if name == "*":  # the create-job kill: one per job of the group, in the order they were started
                injected[group] = injected.get(group, 0) + 1
                continue
            if entry.get("operation") == DELIVERY and schedule_owner.get(entry.get("schedule", "")) != name:
                continue
            by_job.setdefault(name, []).append(float(entry["at"]))
            if group == "poller-killed":
                kills.setdefault(name, []).append(entry)  # counted below, against the job's history
                continue
            injected[group] = injected.get(group, 0) + 1
            if entry.get("operation") == DELIVERY:
                self.duplicated[name] = self.duplicated.get(name, 0) + 1
        kill_times = sorted(float(f["at"]) for f in fired if owners.get(f["id"], ("", ""))[1] == "*")
        results = {g: GroupResult(g) for g in (CONTROL, *POC_FAULTS) if any(j.group == g for j in self.jobs)}
        for job in self.jobs:
            result = results[job.group]
            result.jobs += 1
            moments = sorted(by_job.get(job.name, []) + job.sent)
            if job.group == "create-job-killed":
                # Which kill was this job's: its TaskFailed names the killed invocation; the kill came just before.
                resumed = _resumed_at(job.events)
                before = [t for t in kill_times if resumed is not None and t <= resumed]
                moments = before[-1:] if before else []
                if _count(job.events, ("TaskFailed",)) and "Runtime.ExitError" in json.dumps(job.output or {}):
                    result.affected.add(job.name)
            elif job.group == "poller-killed":
                moments = self._judge_kills(job, result, kills.get(job.name, []), moments)
            elif moments and job.group != "task-timeout-race":
                result.affected.add(job.name)
            self._judge_job(job, result, moments)
        for group, count in injected.items():
            results[group].injected += count
        if "concurrent-polls" in results:
            results["concurrent-polls"].injected = sum(len(j.answers) for j in self.jobs
                                                       if j.group == "concurrent-polls")
            answers: dict[str, int] = {}
            for j in (j for j in self.jobs if j.group == "concurrent-polls"):
                for a in j.answers:
                    body = a["answer"] or {}
                    kind = ("error" if a["error"] else "skipped (slot already polled)" if body.get("skipped")
                            else "reconnected the workflow" if body.get("reconnected") else str(body.get("detail")
                                                                                              or body.get("status")))
                    answers[kind] = answers.get(kind, 0) + 1
            results["concurrent-polls"].notes["extra polls answered"] = answers
        if "task-timeout-race" in results:
            race = results["task-timeout-race"]
            split: dict[str, int] = {}
            for job in (j for j in self.jobs if j.group == "task-timeout-race"):
                first = next((e["type"] for e in job.events if e.get("type") in RESUME_EVENTS), "none")
                split[first] = split.get(first, 0) + 1
            race.notes["first outcome"] = split
        return results

    @staticmethod
    def _judge_kills(job: PocJob, result: GroupResult, entries: list[dict[str, Any]],
                     moments: list[float]) -> list[float]:
        """A kill counts as injected when it killed a worker (the fired entry names its pid) before the workflow
        resumed (the history's TaskSucceeded): a crash between claim and the callback that resumed it. A kill
        armed too late fires on a later resend of the finished callback (the record's claim had gone stale);
        one that found no worker answered 500 instead. Both are reported apart, and recovery counts from the
        last real kill before the workflow resumed. Returns the moments recovery counts from."""
        resumed = _resumed_at(job.events)
        real = [e for e in entries if e.get("pid") and resumed is not None and float(e["at"]) <= resumed]
        for entry in entries:
            if entry in real:
                continue
            why = ("kill found no worker to kill (answered 500)" if not entry.get("pid")
                   else "kill fired after the workflow had resumed (a resend)")
            result.notes[why] = result.notes.get(why, 0) + 1
        if real:
            result.injected += len(real)
            result.affected.add(job.name)
            return sorted(float(e["at"]) for e in real)
        return []

    def _slots(self, job: PocJob) -> int | None:
        """Poll slots the schedule delivered for the job (its metered deliveries less the duplicates the faults
        endpoint added) plus the bench's manual polls; None when not known (not metered, or adopted by the sweep)."""
        deliveries = getattr(self, "deliveries", None)
        if deliveries is None or job.job_id not in deliveries or job.group == "create-job-killed":
            return None
        manual = len(job.answers) if job.group == "task-timeout-race" else 0
        if job.group == "concurrent-polls" and job.answers:
            # The burst names one slot; when one of its polls gets there before the schedule does, the job may end
            # on it and its schedule go before delivering that slot: the slot counts once either way.
            manual = 1
        return deliveries[job.job_id] - self.duplicated.get(job.name, 0) + manual

    def _judge_job(self, job: PocJob, result: GroupResult, moments: list[float]) -> None:
        record, simulated, output = job.record or {}, job.simulated or {}, job.output or {}
        name = job.name
        if job.status == "RUNNING":
            result.lost.append(f"{name}: the workflow never ended")
        elif job.record is None:
            result.lost.append(f"{name}: no token record")
        elif record.get("status") not in TERMINAL_RECORD:
            result.lost.append(f"{name}: record {record.get('status')} never became terminal")
        elif job.schedule_exists:
            result.lost.append(f"{name}: schedule poll-{job.job_id} left behind")
        callbacks = _count(job.events, CALLBACK_EVENTS)
        accepted = int(record.get("callbacksAccepted", 0))
        if callbacks > 1 or accepted > 1:
            result.duplicate.append(f"{name}: {callbacks} TaskSucceeded/TaskFailed, callbacksAccepted {accepted}")
        resumed = _resumed_at(job.events)
        timed_out = _count(job.events, ("TaskTimedOut",)) > 0
        why = None
        crashed = _count(job.events, ("TaskFailed",)) and "Runtime.ExitError" in json.dumps(job.output or {})
        if job.status == "RUNNING":
            pass  # lost, above: no outcome to judge
        elif job.group == "create-job-killed" and crashed:
            # The crash is what happened to the job: the workflow fails the task; the record (adopted by the sweep)
            # ends without any callback accepted.
            if output.get("status") != "FAILED" or output.get("errorName") != "Runtime.ExitError":
                why = (f"workflow ended {output.get('status')}/{output.get('errorName')}, "
                       "expected FAILED/Runtime.ExitError")
            elif accepted:
                why = "a callback was accepted for a task that had failed"
        elif timed_out:
            if (output.get("status"), output.get("errorName")) != ("TIMEOUT", "States.Timeout"):
                why = f"the task timed out but the workflow ended {output.get('status')}/{output.get('errorName')}"
            elif record.get("status") != "TIMEOUT" or accepted:
                why = f"the task timed out but the record is {record.get('status')} with {accepted} callback accepted"
        elif job.status != "RUNNING":
            if simulated.get("status") != "COMPLETED":
                why = f"the simulated job is {simulated.get('status')} after {simulated.get('pollCount')} checks"
            elif output.get("status") != "SUCCESS":
                why = (f"the simulated API said COMPLETED but the workflow ended {output.get('status')}/"
                       f"{output.get('errorName')}")
            elif record.get("status") != "COMPLETED":
                why = f"the workflow succeeded but the record is {record.get('status')}"
            elif int(simulated.get("pollCount", 0)) > int(record.get("attemptCount", 0)):
                why = (f"the simulated API was asked {simulated.get('pollCount')} times for "
                       f"{record.get('attemptCount')} attempts: a duplicate asked it again")
            elif (slots := self._slots(job)) is not None and int(record.get("attemptCount", 0)) > slots:
                why = (f"{record.get('attemptCount')} attempts counted for {slots} poll slots delivered: a duplicate "
                       "delivery or a concurrent poll counted one")
        if why:
            result.wrong.append(f"{name}: {why}")
        if resumed is None:
            return
        if job.group == CONTROL:
            if simulated.get("completedAt"):
                result.recovery.append(max(0.0, resumed - _epoch(simulated["completedAt"])))
            return
        if job.group == "task-timeout-race":
            scheduled = _scheduled(job.events)
            checked = _epoch(simulated["completedAt"]) if simulated.get("completedAt") else None
            if scheduled is not None and checked is not None:
                deadline = _epoch(scheduled["timestamp"]) + job.task_timeout
                result.notes.setdefault("completing check minus deadline (ms)", []).append(
                    round((checked - deadline) * 1000))
                if abs(checked - deadline) <= RACE_WINDOW_S:
                    result.injected += 1
                    result.affected.add(job.name)
                    result.recovery.append(max(0.0, resumed - min(deadline, checked)))
            return
        before = [m for m in moments if m <= resumed]
        if before:
            result.recovery.append(resumed - before[-1])


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain values, without its task token."""
    from sfn_callback.common.dynamo import from_item

    doc = from_item(item)
    doc.pop("taskToken", None)
    return doc


# ---------------------------------------------------------------------------------- the approval part
@dataclass
class ApprovalTask:
    group: str
    order: str
    arn: str = ""
    action: str = "approve"
    offset: float = 0.0
    timeout: int = 3600
    answer: int | None = None
    sent_at: float | None = None
    decided_at: float | None = None  # the decision's ``at`` as the approval service stored it (its claim)
    deadline: float | None = None
    duplicates: list[float] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    status: str = "RUNNING"
    output: dict[str, Any] | None = None
    item: dict[str, Any] | None = None


class _WorkflowPart:
    """What the approval and export parts share: the target's clients and their workflow's ARN."""

    workflow = ""

    def __init__(self, target: Target, cfg: FaultBenchConfig, run_id: str, say: Callable[[str], None]) -> None:
        self.target, self.cfg, self.run_id, self.say = target, cfg, run_id, say
        self.sfn = client("stepfunctions", target)
        self.ddb = client("dynamodb", target)
        self.sqs = client("sqs", target)
        account = config.LOCAL_ACCOUNT_ID if target.is_local else client("sts", target).get_caller_identity()["Account"]
        self.machine = f"arn:aws:states:{target.region}:{account}:stateMachine:{self.workflow}"


class ApprovalPart(_WorkflowPart):
    """Approval tasks: decisions racing their deadline, and requests delivered twice."""

    workflow = config.APPROVAL_WORKFLOW

    def __init__(self, target: Target, cfg: FaultBenchConfig, run_id: str, say: Callable[[str], None]) -> None:
        super().__init__(target, cfg, run_id, say)
        self.tasks: list[ApprovalTask] = []
        self._lags: list[float] = []  # decision sent -> the service's claim (its ``at``), seconds
        self._lock = threading.Lock()

    def plan(self, shares: dict[str, int]) -> None:
        low, high = APPROVAL_OFFSETS
        for group in APPROVAL_FAULTS:
            n = shares.get(group, 0)
            for i in range(n):
                racing = group == "approval-deadline-race"
                offset = (low + (high - low) * i / (n - 1) if n > 1 else 0.0) if racing else 0.0
                timeout = (self.cfg.approval_timeout_seconds + APPROVAL_STAGGER_S * i if racing
                           else APPROVAL_DUPLICATE_TIMEOUT_S)
                self.tasks.append(ApprovalTask(group, f"faults-{self.run_id}-{group}-{i + 1:03d}",
                                               action="approve" if i % 2 == 0 else "reject", offset=offset,
                                               timeout=timeout))

    def run(self) -> None:
        if not self.tasks:
            return
        from sfn_callback.approval.bootstrap import bootstrap
        from sfn_callback.approval.entrypoints.auth import KeyRing
        from sfn_callback.approval.entrypoints.rest_app import create_app
        from sfn_callback.approval.entrypoints.server import ServerThread

        key = secrets.token_urlsafe(24)
        app = create_app(bootstrap(self.target), KeyRing.from_mapping({"faults-bench": key}),
                         table_name=config.APPROVALS_TABLE)
        with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=60,
                                                       headers={"Authorization": f"Bearer {key}"}) as http, \
                ThreadPoolExecutor(max_workers=max(1, len(self.tasks))) as pool:
            list(pool.map(lambda task: self._one(task, http), self.tasks))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # the API's reconciliation records what a 410 did not
                list(pool.map(self._refresh, self.tasks))
                if all(t.status != "RUNNING" and (t.item or {}).get("status") not in (None, "PENDING")
                       for t in self.tasks):
                    break
                time.sleep(1.0)
        for task in self.tasks:
            task.events = execution_history(self.sfn, task.arn)
        self.say(f"approval: {len(self.tasks)} tasks decided and checked")

    def _one(self, task: ApprovalTask, http: httpx.Client) -> None:
        timeout = task.timeout
        task.arn = self.sfn.start_execution(stateMachineArn=self.machine, name=task.order, input=json.dumps(
            {"orderId": task.order, "timeoutSeconds": timeout, "details": {"bench": "faults"}}))["executionArn"]
        # Until the approval consumer has stored the task (a race task: up to its deadline and a bit more; a late
        # one is still decided, and must be answered 410, but does not count as racing).
        limit = time.monotonic() + (timeout + 10 if task.group == "approval-deadline-race" else 60)
        while self._item(task.order) is None:
            if time.monotonic() > limit:
                return
            time.sleep(0.25)
        limit = time.monotonic() + 60
        scheduled = _scheduled(execution_history(self.sfn, task.arn))  # the item exists: its message was sent
        if scheduled is None:
            return
        params = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])
        body = {"output": {"order": task.order}} if task.action == "approve" else {"reason": f"bench {task.order}"}
        if task.group == "approval-deadline-race":
            # The task's deadline as the cloud holds it: the callback task's TaskScheduled + TimeoutSeconds.
            task.deadline = _epoch(scheduled["timestamp"]) + timeout
            # Aim the service's claim (not the request) at deadline + offset: send earlier by the lag the
            # decisions so far showed (sent -> the claim's ``at``), coarse sleep first, then in 1 ms steps.
            target = task.deadline + task.offset - self._lag()
            while (left := target - time.time()) > 0.05:
                time.sleep(min(left - 0.05, 1.0))
            while time.time() < target:
                time.sleep(0.001)
            self._decide(task, http, body)
            return
        # The request again, at the moment of the decision; and once more after the workflow resumed.
        message = json.dumps(params["MessageBody"])
        task.duplicates.append(time.time())
        self.sqs.send_message(QueueUrl=params["QueueUrl"], MessageBody=message)
        self._decide(task, http, body)
        while self.sfn.describe_execution(executionArn=task.arn)["status"] == "RUNNING" and time.monotonic() < limit:
            time.sleep(0.2)
        task.duplicates.append(time.time())
        self.sqs.send_message(QueueUrl=params["QueueUrl"], MessageBody=message)
        time.sleep(3.0)  # the consumer takes it within its polling interval

    def _decide(self, task: ApprovalTask, http: httpx.Client, body: dict[str, Any]) -> None:
        """Send the decision; read back when the service claimed it: the stored decision's ``at``, or, for a
        decision refused because the token had closed (410), its entry in the task's audit trail."""
        task.sent_at = time.time()
        task.answer = http.post(f"/tasks/{task.order}/{task.action}", json=body).status_code
        item = self._item(task.order) or {}
        claimed = [e["at"] for e in item.get("audit") or [] if e.get("event") in ("APPROVED", "REJECTED")]
        at = (item.get("decision") or {}).get("at") or (claimed[-1] if claimed else None)
        if at:
            task.decided_at = _epoch(at)
            with self._lock:
                self._lags.append(task.decided_at - task.sent_at)

    def _lag(self) -> float:
        """The median lag from sending a decision to the service's claim, of the last 5 decisions (0 before
        the first)."""
        with self._lock:
            lags = sorted(self._lags[-5:])
        return lags[len(lags) // 2] if lags else 0.0

    def _item(self, order: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=config.APPROVALS_TABLE, Key={"orderId": {"S": order}},
                                 ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def _refresh(self, task: ApprovalTask) -> None:
        if task.arn:
            description = self.sfn.describe_execution(executionArn=task.arn)
            task.status = description["status"]
            task.output = json.loads(description["output"]) if description.get("output") else None
        task.item = self._item(task.order)

    def judge(self) -> dict[str, GroupResult]:
        results = {g: GroupResult(g) for g in APPROVAL_FAULTS if any(t.group == g for t in self.tasks)}
        for task in self.tasks:
            result = results[task.group]
            result.jobs += 1
            name, item = task.order, task.item or {}
            path = [e["stateEnteredEventDetails"]["name"] for e in task.events if "stateEnteredEventDetails" in e]
            last = path[-1] if path else None
            if task.status == "RUNNING" or not task.arn:
                result.lost.append(f"{name}: the workflow never ended")
            elif item.get("status") in (None, "PENDING"):
                result.lost.append(f"{name}: the task is {item.get('status') or 'not stored'} after the workflow ended")
            callbacks = _count(task.events, CALLBACK_EVENTS)
            if callbacks > 1:
                result.duplicate.append(f"{name}: {callbacks} TaskSucceeded/TaskFailed in the history")
            decided = {"approve": ("Approved", "APPROVED"), "reject": ("Rejected", "REJECTED")}[task.action]
            why = None
            if task.answer is None:
                result.notes["no decision sent (the task was not stored in time)"] = \
                    result.notes.get("no decision sent (the task was not stored in time)", 0) + 1
            elif task.answer == 202:  # recorded, delivery pending: the decision or the deadline, but one of them
                if (last, item.get("status")) not in (decided, ("TimedOut", "TIMED_OUT")):
                    why = (f"{task.action} answered 202 but the workflow took {last}, "
                           f"the task is {item.get('status')}")
            elif task.answer == 200:
                if (last, item.get("status")) != decided:
                    why = (f"{task.action} answered {task.answer} but the workflow took {last}, "
                           f"the task is {item.get('status')}")
            elif task.answer == 410:
                if (last, item.get("status")) != ("TimedOut", "TIMED_OUT"):
                    why = f"{task.action} answered 410 but the workflow took {last}, the task is {item.get('status')}"
            else:
                why = f"{task.action} answered {task.answer}"
            if why:
                result.wrong.append(f"{name}: {why}")
            resumed = _resumed_at(task.events)
            deadline = task.deadline
            racing = task.group == "approval-deadline-race" and deadline is not None
            if deadline is not None and racing and task.decided_at is not None:
                result.notes.setdefault("decision claimed minus deadline (ms)", []).append(
                    round((task.decided_at - deadline) * 1000))
                if abs(task.decided_at - deadline) <= APPROVAL_RACE_WINDOW_S:
                    result.injected += 1
                    result.affected.add(name)
                    if resumed is not None:
                        result.recovery.append(max(0.0, resumed - min(task.decided_at, deadline)))
            elif deadline is not None and racing and task.sent_at is not None:
                result.notes.setdefault("decision not claimed (task closed before), sent minus deadline (ms)",
                                        []).append(round((task.sent_at - deadline) * 1000))
            if racing:
                answers = result.notes.setdefault("answers (racing the deadline / not)", {})
                key = f"{task.answer} {'racing' if name in result.affected else 'not racing'}"
                answers[key] = answers.get(key, 0) + 1
            elif task.duplicates:
                result.injected += len(task.duplicates)
                result.affected.add(name)
                before = [d for d in task.duplicates if resumed is not None and d <= resumed]
                if before and resumed is not None:
                    result.recovery.append(resumed - before[-1])
        return results


# ------------------------------------------------------------------------------------ the export part
@dataclass
class ExportJob:
    job_id: str
    arn: str = ""
    duplicates: list[float] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    status: str = "RUNNING"
    output: dict[str, Any] | None = None
    record: dict[str, Any] | None = None


class ExportPart(_WorkflowPart):
    """Export jobs whose SQS message is delivered again while it runs and after it finished."""

    workflow = config.EXPORT_WORKFLOW

    def __init__(self, target: Target, cfg: FaultBenchConfig, run_id: str, say: Callable[[str], None]) -> None:
        super().__init__(target, cfg, run_id, say)
        self.jobs: list[ExportJob] = []
        self.queue_url: str | None = None
        self.wait: dict[str, Any] = {}

    def plan(self, shares: dict[str, int]) -> None:
        self.jobs = [ExportJob(f"faults-{self.run_id}-export-{i + 1:03d}")
                     for i in range(shares.get("export-duplicate-delivery", 0))]

    def run(self) -> None:
        if not self.jobs:
            return
        from sfn_callback.export.scenarios import FileServer, file_content

        with FileServer() as server, ThreadPoolExecutor(max_workers=max(1, len(self.jobs))) as pool:
            def one(job: ExportJob) -> None:
                files = []
                for n in (1, 2):
                    name = f"part-{n}.csv"
                    files.append({"name": name, "url": server.add(f"/exports/{job.job_id}/{name}",
                                                                  file_content(job.job_id, name))})
                job.arn = self.sfn.start_execution(stateMachineArn=self.machine, name=job.job_id, input=json.dumps(
                    {"jobId": job.job_id, "exportId": f"export-{job.job_id[-10:]}", "userId": "user-faults",
                     "metadata": {"requestedBy": "bench", "format": "csv"}, "files": files}))["executionArn"]
                limit = time.monotonic() + 120
                scheduled = None
                while scheduled is None and time.monotonic() < limit:
                    scheduled = _scheduled(execution_history(self.sfn, job.arn))
                    time.sleep(0.25)
                if scheduled is None:
                    return
                params = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])
                self.queue_url = params["QueueUrl"]
                message = json.dumps(params["MessageBody"])
                job.duplicates.append(time.time())  # while the first delivery is being processed
                self.sqs.send_message(QueueUrl=params["QueueUrl"], MessageBody=message)
                while self.sfn.describe_execution(executionArn=job.arn)["status"] == "RUNNING" \
                        and time.monotonic() < limit:
                    time.sleep(0.2)
                job.duplicates.append(time.time())  # after the workflow resumed
                self.sqs.send_message(QueueUrl=params["QueueUrl"], MessageBody=message)
                time.sleep(3.0)

            list(pool.map(one, self.jobs))
            self._wait_for_records()
            for job in self.jobs:
                job.events = execution_history(self.sfn, job.arn) if job.arn else []
        self.say(f"export: {len(self.jobs)} jobs delivered three times and checked")

    def _wait_for_records(self) -> None:
        """Until every workflow has ended and every record's callback is SENT or FAILED, for up to the queue's
        visibility timeout plus 30 s: a consumer that died (or timed out) after claiming a callback leaves it
        CLAIMED until its message comes back, after the visibility timeout, and the redelivery sends it."""
        visibility = 0
        if self.queue_url:
            attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"])
            visibility = int(attributes["Attributes"].get("VisibilityTimeout", 0))
        started = time.monotonic()
        limit = started + visibility + 30
        pending = list(self.jobs)
        late: list[str] = []
        first = True
        while pending:
            for job in list(pending):
                self._refresh(job)
                if job.status != "RUNNING" and (job.record or {}).get("callbackState") in ("SENT", "FAILED"):
                    pending.remove(job)
                    if not first:
                        late.append(job.job_id)
            first = False
            if not pending or time.monotonic() > limit:
                break
            time.sleep(1.0)
        self.wait = {"waited_s": round(time.monotonic() - started, 1), "limit_s": visibility + 30,
                     "settled_late": len(late)}
        if late:
            self.say(f"export: {len(late)} record(s) finished {self.wait['waited_s']:.0f} s after the jobs ran "
                     "(a redelivery after the visibility timeout)")

    def _refresh(self, job: ExportJob) -> None:
        if not job.arn:
            return
        description = self.sfn.describe_execution(executionArn=job.arn)
        job.status = description["status"]
        job.output = json.loads(description["output"]) if description.get("output") else None
        item = self.ddb.get_item(TableName=config.EXPORT_JOBS_TABLE, Key={"jobId": {"S": job.job_id}},
                                 ConsistentRead=True).get("Item")
        job.record = _plain(item) if item else None

    def judge(self) -> dict[str, GroupResult]:
        if not self.jobs:
            return {}
        result = GroupResult("export-duplicate-delivery")
        if self.wait:
            result.notes["waited for the records (s)"] = self.wait["waited_s"]
            result.notes["wait limit: visibility timeout + 30 s"] = self.wait["limit_s"]
            result.notes["records finished during the wait"] = self.wait["settled_late"]
        for job in self.jobs:
            result.jobs += 1
            record, output, name = job.record or {}, job.output or {}, job.job_id
            if job.status == "RUNNING" or not job.arn:
                result.lost.append(f"{name}: the workflow never ended")
            elif record.get("callbackState") not in ("SENT", "FAILED"):
                result.lost.append(f"{name}: job {record.get('status')} with callback {record.get('callbackState')}")
            callbacks = _count(job.events, CALLBACK_EVENTS)
            if callbacks > 1:
                result.duplicate.append(f"{name}: {callbacks} callback events in the history")
            if int(record.get("callbackAttempts") or 0) > 1:  # retried sends (throttling, 5xx), not callbacks
                result.notes["callback sent in more than one attempt"] = \
                    result.notes.get("callback sent in more than one attempt", 0) + 1
            if _count(job.events, ("TaskTimedOut",)):
                # The heartbeat (or TimeoutSeconds) lapsed first, e.g. on a loaded machine: the workflow must take
                # HandleTimeout and the job's late callback must have been refused, not sent.
                result.notes["timed out before the callback"] = result.notes.get("timed out before the callback", 0) + 1
                if (job.status, record.get("callbackState")) != ("FAILED", "FAILED") or callbacks:
                    result.wrong.append(f"{name}: the task timed out but the workflow ended {job.status} and the "
                                        f"job's callback is {record.get('callbackState')}")
            elif job.status != "RUNNING" and (job.status != "SUCCEEDED" or output.get("status") != "COMPLETED"
                                              or record.get("status") != "COMPLETED"):
                result.wrong.append(f"{name}: every file was served but the workflow ended {job.status}/"
                                    f"{output.get('status')}, the job {record.get('status')}")
            if job.duplicates:
                result.injected += len(job.duplicates)
                result.affected.add(name)
                resumed = _resumed_at(job.events)
                before = [d for d in job.duplicates if resumed is not None and d <= resumed]
                if before and resumed is not None:
                    result.recovery.append(resumed - before[-1])
        return {result.name: result}


# ------------------------------------------------------------------------------------------- the run
def _deploy(target: Target, say: Callable[[str], None]) -> dict[str, Any]:
    from sfn_callback.deploy.deployer import Deployer

    deployer = Deployer(target)
    plan = deployer.plan()
    if not plan.has_changes:
        say(f"stack up to date ({len(plan.changes)} resources)")
        return {"applied": 0, "seconds": 0.0}
    applied = deployer.apply(plan)
    say(f"deployed {len(applied.applied)} changes in {applied.seconds:.1f} s")
    return {"applied": len(applied.applied), "seconds": round(applied.seconds, 3)}


WARM_UP: dict[str, tuple[dict[str, Any], int]] = {config.POLLER_FUNCTION: ({"jobId": "faults-warm-up"}, 6),  # UnknownJob: nothing is written
           config.CREATE_JOB_FUNCTION: ({}, 3),  # InvalidEvent: refused before anything is created
           config.SIMULATED_API_FUNCTION: ({"action": "CHECK_STATUS", "jobId": "faults-warm-up"}, 3)}
_NOT_A_MESSAGE = {"Records": [{"messageId": "faults-warm-up", "receiptHandle": "faults-warm-up", "body": "{}",
                               "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                               "md5OfBody": "99914b932bd37a50b983c5e7c90ae93b", "eventSource": "aws:sqs",
                               "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:faults-warm-up",
                               "awsRegion": "us-east-1"}]}
WARM_UP |= {config.APPROVAL_CONSUMER_FUNCTION: (_NOT_A_MESSAGE, 1),  # an invalid message: a batch item failure
            config.EXPORT_CONSUMER_FUNCTION: (_NOT_A_MESSAGE, 1)}


def warm_up(target: Target, say: Callable[[str], None]) -> float:
    """Start the PoC functions' execution environments with harmless invokes that change nothing (an unknown
    jobId, an invalid event), several at once, so that the measured jobs do not wait behind cold starts: on a
    loaded 2-core machine ten fresh environments of one function took ~40 s, longer than a task's deadline."""
    lam = client("lambda", target)
    started = time.monotonic()
    calls = [(name, payload) for name, (payload, n) in WARM_UP.items() for _ in range(n)]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        list(pool.map(lambda call: lam.invoke(FunctionName=call[0], Payload=json.dumps(call[1]).encode()), calls))
    took = time.monotonic() - started
    say(f"functions warm ({len(calls)} invokes in {took:.1f} s)")
    return took


def run_fault_bench(cfg: FaultBenchConfig, target: Target | None = None,
                    say: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """The whole run. ``target`` None: a fresh local cloud of its own, stopped at the end."""
    started = time.monotonic()
    proc = None
    if target is None:
        port = process.free_port()
        log_path = os.path.join(config.state_dir(), f"bench-faults-{port}.log")
        proc, endpoint = process.start_detached("127.0.0.1", port, log_path=log_path, timeout=90)
        say(f"local cloud healthy at {endpoint} (log {log_path})")
        target = Target(endpoint_url=endpoint)
        # The export jobs' heartbeat: on a machine loaded by other work a download can take seconds, and the
        # local defaults (HeartbeatSeconds 5, heartbeats stop after 2 s without progress) would time the jobs out
        # before any duplicate matters. The stack of a cloud named with --endpoint is left as it is.
        overrides = {"EXPORT_STACK_HEARTBEAT_SECONDS": "120", "EXPORT_STACK_STALL_AFTER_SECONDS": "60",
                     "EXPORT_STACK_TIMEOUT_SECONDS": "600"}
        for key, value in overrides.items():
            os.environ.setdefault(key, value)
    elif not target.is_local:
        raise FaultBenchError("bench faults runs on the local cloud: it injects faults through its faults endpoint")
    faults = FaultApi(target.endpoint_url or "")
    try:
        faults.check()
        deployed = _deploy(target, say)
        warm_s = warm_up(target, say)
        faults.clear()
        run_id = uuid.uuid4().hex[:6]
        shares = cfg.shares()
        poc = PocPart(target, cfg, faults, run_id, say)
        approval = ApprovalPart(target, cfg, run_id, say)
        export = ExportPart(target, cfg, run_id, say)
        poc.plan(shares)
        approval.plan(shares)
        export.plan(shares)
        say(f"{sum(shares.values())} jobs: " + ", ".join(f"{g} {n}" for g, n in shares.items()))
        t0 = time.monotonic()
        poc.start_create_job_kills()
        stop = threading.Event()
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="faults-part") as parts:
            others = [parts.submit(approval.run), parts.submit(export.run)]
            poc.start_others()
            injector = threading.Thread(target=poc.inject, args=(stop,), daemon=True)
            injector.start()
            settled = poc.wait(time.monotonic() + cfg.settle_timeout_seconds)
            stop.set()
            injector.join(timeout=60)
            for future in others:
                future.result()
        poc.finish()
        fired = faults.state()["fired"]
        groups = {**poc.judge(fired, faults.owners), **approval.judge(), **export.judge()}
        span = time.monotonic() - t0
    finally:
        try:
            faults.clear()
        except httpx.HTTPError:
            pass
        if proc is not None:
            process.stop_process(proc.pid)
    rows = [groups[g].to_dict() for g in (CONTROL, *FAULTS) if g in groups]
    faulted = [r for r in rows if r["fault"] != CONTROL]
    totals = {k: sum(r[k] for r in rows) for k in ("lost", "duplicate", "wrong")}
    not_injected = [r["fault"] for r in faulted if r["injected"] == 0]
    passed = settled and not any(totals.values()) and not not_injected
    return {
        "kind": "sfn-callback/fault-bench",
        "measured_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
        "target": target.endpoint_url,
        "fresh_cloud": proc is not None,
        "deploy": deployed,
        "warm_up_s": round(warm_s, 1),
        "jobs": sum(r["jobs"] for r in rows),
        "interval_seconds": cfg.interval_seconds,
        "checks_per_job": cfg.checks,
        "faults": faulted,
        "control": next((r for r in rows if r["fault"] == CONTROL), None),
        "totals": totals,
        "not_injected": not_injected,
        "settled_in_time": settled,
        "span_s": round(span, 1),
        "duration_s": round(time.monotonic() - started, 1),
        "passed": passed,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def render(result: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"Fault run: {result['jobs']} jobs on {result['target']} ({result['span_s']:.0f} s)",
                  title_justify="left")
    for column in ("fault", "injected", "jobs affected", "lost", "duplicate callbacks", "wrong outcomes",
                   "recovery p50", "recovery p99"):
        table.add_column(column, justify="left" if column == "fault" else "right")
    rows = ([result["control"]] if result["control"] else []) + result["faults"]
    for row in rows:
        rec = row["recovery"]
        table.add_row(row["fault"], "-" if row["fault"] == CONTROL else str(row["injected"]),
                      f"{row['affected']}/{row['jobs']}" if row["fault"] != CONTROL else f"-/{row['jobs']}",
                      str(row["lost"]), str(row["duplicate"]), str(row["wrong"]),
                      _ms(rec["p50_ms"]), _ms(rec["p99_ms"]))
    console.print(table)
    for row in rows:
        for problem in row["problems"]:
            console.print(f"  [red]✘[/] {row['fault']}: {problem}", highlight=False)
    if result["not_injected"]:
        console.print(f"[red]not injected:[/] {', '.join(result['not_injected'])}")
    if not result["settled_in_time"]:
        console.print("[red]not every job settled in time[/]")
    verdict = "[bold green]PASSED[/]" if result["passed"] else "[bold red]FAILED[/]"
    console.print(f"{verdict}: lost {result['totals']['lost']}, duplicate {result['totals']['duplicate']}, "
                  f"wrong {result['totals']['wrong']}")
