"""Measure what one job costs in each design, from real executions on the local cloud.

For every polls-per-job value P, ``jobs_per_point`` simulated jobs that need exactly P status checks
(``completeAfterChecks: P``) run through each design, all at once:

* ``callback``: ``poc-callback-workflow`` with one polling schedule per job (``mode: per-job``);
* ``sweep``: the same workflow with ``mode: sweep`` (one schedule, one sweep poller for every job);
* ``push``: the callback workflow against the reference job service (``sfn-callback job-api``, started for the
  run on a free loopback port) with ``push``: the job lasts as long as P polls would take (``completeAfterSeconds:
  P x interval``), pushes its end to ``poc-job-push``'s Function URL, and is polled at the fallback cadence
  (5 x the interval) meanwhile;
* ``polling``: ``poc-polling-workflow`` (Wait -> status check Lambda -> Choice loop).

Counted per job, from real data:

* state transitions: the execution's history (:func:`sfn_callback.observe.history.history_counts`);
* Lambda invocations and handler durations, Scheduler deliveries, DynamoDB request units (from item
  sizes) and SQS requests: the local cloud's metering (``/_sfn_callback/metrics``), attributed to the job by
  its ``jobId`` / execution ARN and to the design by the calling function. The external job API
  (``poc-simulated-api`` and its ``poc-jobs`` table) is the job system being waited on, not part of either
  design, and is left out of both;
* the sweep poller's invocations name no job: each sweep invocation (its Lambda request and duration, its
  Scheduler delivery and its GSI query's read units) is shared equally among the sweep-mode jobs waiting at
  that moment. The sweep's per-job share therefore shrinks as more jobs wait at once;
* a push invocation names no job either (its job is in the Function URL request's body): each is given to the push
  job whose callback is nearest to the moment it ended (the push sends that callback). The reference job service
  itself, like the simulated API, is the job system being waited on and is left out.

The saved measurement keeps raw usage per job (durations, not GB-seconds), so that pricing, including
Lambda's billing granularity, follows whatever price table is applied later.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sfn_callback import config
from sfn_callback.common.aws import client as make_client
from sfn_callback.config import Target
from sfn_callback.cost.comparison import Comparison, compare_designs
from sfn_callback.cost.model import billed_gb_seconds
from sfn_callback.cost.pricing import PriceTable
from sfn_callback.cost.usage import UsageCounts
from sfn_callback.deploy.deployer import ensure_deployed
from sfn_callback.observe.history import history_counts, reconnect_latencies
from sfn_callback.observe.records import execution_history, token_records
from sfn_callback.poc.http_scenarios import JobApiProcess, reference_job_api
from sfn_callback.polling.application.push import PUSH_HOLDER_PREFIX
from sfn_callback.polling.domain.job_api_config import FALLBACK_FACTOR

CALLBACK, SWEEP, PUSH, POLLING = "callback", "sweep", "push", "polling"
DESIGNS = (CALLBACK, SWEEP, PUSH, POLLING)
BASELINE = POLLING
DEFAULT_POLLS = (1, 3, 5, 10, 15, 30)
MEASUREMENT_FILE = "cost-measurement.json"
MEASUREMENT_KIND = "sfn-callback/cost-measurement"
METRICS_PATH = "/_sfn_callback/metrics"

POLLING_JOB_FUNCTION = "poc-polling-job"
SWEEP_FUNCTION = "poc-sweep-poller"
DESIGN_FUNCTIONS: dict[str, tuple[str, ...]] = {
    CALLBACK: (config.CREATE_JOB_FUNCTION, config.POLLER_FUNCTION),
    SWEEP: (config.CREATE_JOB_FUNCTION, SWEEP_FUNCTION),
    PUSH: (config.CREATE_JOB_FUNCTION, config.POLLER_FUNCTION, config.PUSH_FUNCTION),
    POLLING: (POLLING_JOB_FUNCTION,),
}
WORKFLOWS = {CALLBACK: config.CALLBACK_WORKFLOW, SWEEP: config.CALLBACK_WORKFLOW, PUSH: config.CALLBACK_WORKFLOW,
             POLLING: config.POLLING_WORKFLOW}
TERMINAL_RECORD = {"COMPLETED", "FAILED", "MAX_ATTEMPTS", "TIMEOUT"}


class MeasurementError(RuntimeError):
    """The measurement could not be taken (target without metering, jobs that did not finish, ...)."""


# ------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class MeasureConfig:
    polls: tuple[int, ...] = DEFAULT_POLLS
    interval_seconds: int = 1
    jobs_per_point: int = 1
    designs: tuple[str, ...] = DESIGNS
    timeout_seconds: float | None = None
    warm_up: bool = True

    def __post_init__(self) -> None:
        if not self.polls:
            raise ValueError("give at least one polls-per-job value")
        if any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in self.polls):
            raise ValueError(f"polls per job must be whole numbers >= 1, got {list(self.polls)}")
        if len(set(self.polls)) != len(self.polls):
            raise ValueError(f"polls per job values must be distinct, got {list(self.polls)}")
        if self.interval_seconds < 1:
            raise ValueError(f"the interval must be at least 1 second, got {self.interval_seconds}")
        if self.jobs_per_point < 1:
            raise ValueError(f"jobs per point must be at least 1, got {self.jobs_per_point}")
        unknown = [d for d in self.designs if d not in DESIGNS]
        if unknown or BASELINE not in self.designs or len(self.designs) < 2:
            raise ValueError(f"designs must include {BASELINE!r} and one of {list(DESIGNS)}; got {list(self.designs)}")

    @property
    def wait_budget(self) -> float:
        """How long to wait for every job (generous: the local cloud is busy running them all at once)."""
        if self.timeout_seconds is not None:
            return self.timeout_seconds
        return 60.0 + 3.0 * max(self.polls) * self.interval_seconds


def parse_polls(text: str) -> tuple[int, ...]:
    """``"1,3,5"`` -> ``(1, 3, 5)``; a clear error for anything else."""
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(int(part))
        except ValueError:
            raise ValueError(f"--polls takes whole numbers separated by commas, got {part!r} in {text!r}") from None
    if not values:
        raise ValueError(f"--polls needs at least one value, got {text!r}")
    return tuple(values)


def job_input(design: str, polls: int, interval_seconds: int, name: str, job_api_url: str | None = None) -> dict[str, Any]:
    """The execution input of one measured job (a job that needs exactly ``polls`` status checks; for ``push``,
    a job of the reference service at ``job_api_url`` that lasts as long)."""
    polling_config: dict[str, Any] = {
        "intervalSeconds": interval_seconds,
        # Far from the limit, as a job that completes normally is: with 1 s intervals a check near the limit
        # closes its status-check window with one more write (sfn_callback.polling.domain.lifecycle), which a job polled
        # at AWS's 1-minute minimum never needs.
        "maxAttempts": polls + 20,
        "timeoutSeconds": 120 + 4 * polls * interval_seconds,
        "jobOptions": {"completeAfterChecks": polls},
    }
    if design == SWEEP:
        polling_config["mode"] = "sweep"
    data: dict[str, Any] = {"measure": design, "polls": polls}
    if design == PUSH:
        if job_api_url is None:
            raise ValueError("the push design needs the reference job service's URL")
        del polling_config["jobOptions"]
        polling_config["jobApi"] = reference_job_api(job_api_url, push=True)
        data["job"] = {"completeAfterSeconds": polls * interval_seconds}
    doc: dict[str, Any] = {"record": {"id": name, "data": data}, "pollingConfig": polling_config}
    if design != POLLING:
        doc["taskTimeoutSeconds"] = polling_config["timeoutSeconds"] + 60
    return doc


# ------------------------------------------------------------------------------------------ metrics
def fetch_metrics(endpoint: str, detail: bool = True, since: float | None = None) -> dict[str, Any]:
    """The local cloud's metering snapshot; a clear error when the target has none."""
    query = [] if detail else ["detail=0"]
    if since is not None:
        query.append(f"since={since:.3f}")
    url = endpoint.rstrip("/") + METRICS_PATH + ("?" + "&".join(query) if query else "")
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise MeasurementError(
            f"no usage metering at {endpoint} ({exc}); cost measure needs the embedded local cloud "
            "(sfn-callback up), whose metering counts Lambda, Scheduler and DynamoDB usage per job"
        ) from None


def _design_usage(usage: Mapping[str, Any], functions: Iterable[str]) -> dict[str, Any]:
    """From one job tag's metered usage, what the design's own functions did."""
    functions = set(functions)
    lam = {fn: v for fn, v in (usage.get("lambda") or {}).items() if fn in functions}
    scheduler = sum(n for fn, n in (usage.get("scheduler") or {}).items() if fn in functions)
    rcu = wcu = 0.0
    for caller, tables in (usage.get("dynamodb") or {}).items():
        if caller in functions:
            for per_table in tables.values():
                rcu += per_table["rcu"]
                wcu += per_table["wcu"]
    return {
        "lambda": {fn: {"invocations": v["invocations"], "durations": [[d, 1.0] for d in v["durations_ms"]]}
                   for fn, v in lam.items()},
        "scheduler_invocations": float(scheduler),
        "dynamodb_rcu": rcu,
        "dynamodb_wcu": wcu,
    }


def _merge(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    for fn, v in more.get("lambda", {}).items():
        entry = into["lambda"].setdefault(fn, {"invocations": 0.0, "durations": []})
        entry["invocations"] += v["invocations"]
        entry["durations"].extend(v["durations"])
    for key in ("scheduler_invocations", "dynamodb_rcu", "dynamodb_wcu", "sqs_requests"):
        into[key] = into.get(key, 0.0) + float(more.get(key, 0.0))


def _empty_usage(transitions: int) -> dict[str, Any]:
    return {"state_transitions": float(transitions), "lambda": {}, "scheduler_invocations": 0.0,
            "dynamodb_rcu": 0.0, "dynamodb_wcu": 0.0, "sqs_requests": 0.0}


def share_sweep_invocations(jobs: list[dict[str, Any]], events: list[list[Any]], sweep_function: str,
                            untagged_rcu_per_invocation: float, untagged_wcu_per_invocation: float) -> int:
    """Share each sweep invocation among the sweep jobs waiting while it ran; returns how many were shared.

    ``jobs`` are measured sweep jobs with ``waiting_from``/``waiting_until`` (epoch seconds) and ``usage``;
    ``events`` are the metering's untagged invocations ``[epoch it ended, function, duration_ms]``. An
    invocation runs over ``[end - duration, end]``; each job waiting during that span takes a share in
    proportion to how long it waited inside it (a long sweep that keeps polling serves every job it overlaps).
    """
    shared = 0
    for ended, function, duration_ms in events:
        if function != sweep_function:
            continue
        began = ended - duration_ms / 1000.0
        overlaps = [(j, min(ended, j["waiting_until"]) - max(began, j["waiting_from"])) for j in jobs]
        # An instant invocation (a busy-lease tick) counts for the jobs waiting at that instant.
        overlaps = [(j, max(o, 0.0) if ended > began else 1.0) for j, o in overlaps
                    if (o > 0 if ended > began else j["waiting_from"] <= ended <= j["waiting_until"])]
        total = sum(o for _, o in overlaps)
        if not overlaps or total <= 0:
            continue
        shared += 1
        for job, overlap in overlaps:
            weight = overlap / total
            usage = job["usage"]
            entry = usage["lambda"].setdefault(function, {"invocations": 0.0, "durations": []})
            entry["invocations"] += weight
            entry["durations"].append([duration_ms, weight])
            usage["scheduler_invocations"] += weight
            usage["dynamodb_rcu"] += weight * untagged_rcu_per_invocation
            usage["dynamodb_wcu"] += weight * untagged_wcu_per_invocation
    return shared


# ---------------------------------------------------------------------------------------- measuring
def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)


def attribute_push_invocations(jobs: list[dict[str, Any]], events: list[list[Any]], push_function: str) -> int:
    """Give each push invocation (``events``: ``[epoch it ended, function, duration_ms]``, untagged) to the push
    job whose callback (``waiting_until``) is nearest to its end; returns how many were given."""
    given = 0
    for ended, function, duration_ms in events:
        if function != push_function or not jobs:
            continue
        job = min(jobs, key=lambda j: abs(j["waiting_until"] - ended))
        entry = job["usage"]["lambda"].setdefault(function, {"invocations": 0.0, "durations": []})
        entry["invocations"] += 1.0
        entry["durations"].append([duration_ms, 1.0])
        given += 1
    return given


def _run_jobs(sfn: Any, target: Target, account: str, cfg: MeasureConfig, run_id: str,
              polls_values: Iterable[int], per_point: int, progress: Callable[[str], None],
              job_api_url: str | None = None) -> list[dict[str, Any]]:
    """Start the jobs (the longest first, so the run ends sooner) and wait until every execution ends."""
    jobs: list[dict[str, Any]] = []
    for polls in sorted(polls_values, reverse=True):
        for design in cfg.designs:
            for i in range(per_point):
                name = f"cost-{run_id}-{design}-p{polls}-{i}"
                arn = f"arn:aws:states:{target.region}:{account}:stateMachine:{WORKFLOWS[design]}"
                execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(
                    job_input(design, polls, cfg.interval_seconds, name, job_api_url)))
                jobs.append({"design": design, "polls": polls, "name": name,
                             "executionArn": execution["executionArn"]})
    deadline = time.monotonic() + cfg.wait_budget
    pending = {j["executionArn"]: j for j in jobs}
    while pending:
        if time.monotonic() > deadline:
            raise MeasurementError(f"{len(pending)} of {len(jobs)} executions still running after "
                                   f"{cfg.wait_budget:.0f} s: {sorted(pending)[:3]}")
        for arn in list(pending):
            desc = sfn.describe_execution(executionArn=arn)
            if desc["status"] != "RUNNING":
                pending.pop(arn)["execution"] = {"status": desc["status"], "output": desc.get("output")}
        if pending:
            progress(f"{len(jobs) - len(pending)}/{len(jobs)} executions finished")
            time.sleep(1.0)
    return jobs



def measure(target: Target, cfg: MeasureConfig, progress: Callable[[str], None] = lambda message: None,
            deploy: bool = True) -> dict[str, Any]:
    """Run the jobs, count their usage, and return the measurement document (see the module docstring)."""
    if not target.is_local:
        raise MeasurementError("cost measure runs on the local cloud (or another endpoint with its metering); "
                               "real AWS has no per-request metering to read here")
    fetch_metrics(target.endpoint_url or "", detail=False)  # fail early and clearly
    if deploy:
        ensure_deployed(target, progress)
    service = None
    if PUSH in cfg.designs:
        progress("starting the reference job service for the push design")
        service = JobApiProcess().start(target)
    try:
        return _measure(target, cfg, progress, service.url if service is not None else None)
    finally:
        if service is not None:
            service.stop()


def _measure(target: Target, cfg: MeasureConfig, progress: Callable[[str], None],
             job_api_url: str | None) -> dict[str, Any]:
    sfn, ddb, lam = make_client("stepfunctions", target), make_client("dynamodb", target), make_client("lambda", target)
    ctx_account = make_client("sts", target).get_caller_identity()["Account"]
    memory = {}
    for design in cfg.designs:
        for fn in DESIGN_FUNCTIONS[design]:
            memory[fn] = float(lam.get_function_configuration(FunctionName=fn)["MemorySize"])

    if cfg.warm_up:
        # Start the functions' execution environments first: the measured jobs then see warm environments,
        # as a system with steady traffic does (the first call in a new environment also builds its clients).
        progress("warming up the functions (one unmeasured job per design)")
        _run_jobs(sfn, target, ctx_account, cfg, f"w{uuid.uuid4().hex[:8]}", polls_values=(1,), per_point=1,
                  progress=lambda message: None, job_api_url=job_api_url)

    run_id = f"m{uuid.uuid4().hex[:8]}"
    before = fetch_metrics(target.endpoint_url or "", detail=False)
    started_at = time.time()
    progress(f"starting {len(cfg.polls) * len(cfg.designs) * cfg.jobs_per_point} executions "
             f"({', '.join(cfg.designs)} x polls {list(cfg.polls)} x {cfg.jobs_per_point})")
    deadline = time.monotonic() + cfg.wait_budget
    jobs = _run_jobs(sfn, target, ctx_account, cfg, run_id, cfg.polls, cfg.jobs_per_point, progress, job_api_url)

    # The token records end (and their schedules go) just after the callback: wait for them too.
    records: dict[str, dict[str, Any]] = {}
    callback_jobs = [j for j in jobs if j["design"] != POLLING]
    while callback_jobs:
        records = token_records(ddb, run_id)
        open_ = [j for j in callback_jobs
                 if records.get(j["executionArn"], {}).get("status", {}).get("S") not in TERMINAL_RECORD]
        if not open_:
            break
        if time.monotonic() > deadline:
            raise MeasurementError(f"{len(open_)} token records did not reach a final status")
        time.sleep(0.5)
    time.sleep(max(1.5, 1.5 * cfg.interval_seconds))  # let a delivery already under way finish and be counted
    finished_at = time.time()
    after = fetch_metrics(target.endpoint_url or "", detail=True, since=started_at)

    problems: list[str] = []
    for job in jobs:
        history = execution_history(sfn, job["executionArn"])
        counts = history_counts(history)
        job["usage"] = _empty_usage(counts.state_transitions)
        job["history_lambda_invocations"] = counts.lambda_invocations
        output = json.loads(job["execution"].get("output") or "null") or {}
        job["outcome"] = output.get("status")
        if job["execution"]["status"] != "SUCCEEDED" or output.get("status") != "SUCCESS":
            problems.append(f"{job['name']}: ended {job['execution']['status']} / {output.get('status')}")
        tags = [job["executionArn"]]
        if job["design"] == POLLING:
            result = output.get("result") or {}
            job["jobId"] = result.get("jobId")
            job["attempts"] = result.get("attempts")
        else:
            record = records.get(job["executionArn"], {})
            job["jobId"] = record.get("jobId", {}).get("S")
            job["attempts"] = int(record["attemptCount"]["N"]) if "attemptCount" in record else None
            job["callbacks_accepted"] = int(record.get("callbacksAccepted", {}).get("N", "0"))
            if job["design"] == PUSH:
                job["pushed"] = record.get("claimHolder", {}).get("S", "").startswith(PUSH_HOLDER_PREFIX)
            job["reconnect_latencies_seconds"] = reconnect_latencies(history)
            waits = [e for e in history if e["type"] in ("TaskScheduled", "TaskSucceeded", "TaskFailed",
                                                         "TaskTimedOut")]
            job["waiting_from"] = _epoch(waits[0]["timestamp"]) if waits else started_at
            job["waiting_until"] = _epoch(waits[-1]["timestamp"]) if waits else finished_at
        if job["jobId"]:
            tags.append(job["jobId"])
        if job["design"] == PUSH:
            # Fallback polls only: one per fallback interval the job lasted (the last may race the push).
            most = job["polls"] // FALLBACK_FACTOR + 1
            if job["attempts"] is None or job["attempts"] > most or job.get("callbacks_accepted") != 1:
                problems.append(f"{job['name']}: {job['attempts']} fallback polls (at most {most}), "
                                f"{job.get('callbacks_accepted')} callbacks")
        elif job["attempts"] != job["polls"]:
            problems.append(f"{job['name']}: needed {job['polls']} polls, the data shows {job['attempts']}")
        for tag in tags:
            _merge(job["usage"], _design_usage((after.get("jobs") or {}).get(tag, {}),
                                               DESIGN_FUNCTIONS[job["design"]]))
        job["usage"]["sqs_requests"] = 0.0

    # SQS: requests made by each design's functions over the run, shared among that design's jobs.
    for design in cfg.designs:
        design_jobs = [j for j in jobs if j["design"] == design]
        sqs = sum(_count(after, ["requests_by_caller", fn, "sqs"]) - _count(before, ["requests_by_caller", fn, "sqs"])
                  for fn in DESIGN_FUNCTIONS[design] if fn != config.CREATE_JOB_FUNCTION or design == CALLBACK)
        for job in design_jobs:
            job["usage"]["sqs_requests"] = sqs / len(design_jobs)

    sweep_note = None
    if SWEEP in cfg.designs:
        sweep_jobs = [j for j in jobs if j["design"] == SWEEP]
        events = [e for e in after.get("untagged_invocations", []) if started_at <= e[0] <= finished_at]
        invocations = sum(1 for e in events if e[1] == SWEEP_FUNCTION)
        untagged = _delta(before, after, ["untagged", "dynamodb", SWEEP_FUNCTION])
        untagged_rcu, untagged_wcu = max(0.0, untagged["rcu"]), max(0.0, untagged["wcu"])
        shared = share_sweep_invocations(sweep_jobs, events, SWEEP_FUNCTION,
                                         untagged_rcu / invocations if invocations else 0.0,
                                         untagged_wcu / invocations if invocations else 0.0)
        sweep_note = {"sweep_invocations": invocations, "shared_among_waiting_jobs": shared,
                      "untagged_rcu": untagged_rcu}
        if shared == 0:
            problems.append("no sweep invocation fell inside the sweep jobs' waiting time")

    push_note = None
    if PUSH in cfg.designs:
        push_jobs = [j for j in jobs if j["design"] == PUSH]
        events = [e for e in after.get("untagged_invocations", []) if started_at <= e[0] <= finished_at]
        given = attribute_push_invocations(push_jobs, events, config.PUSH_FUNCTION)
        push_note = {"push_invocations": given, "completed_by_push": sum(1 for j in push_jobs if j.get("pushed")),
                     "jobs": len(push_jobs)}
        if given < len(push_jobs):
            problems.append(f"{given} push invocations for {len(push_jobs)} push jobs")

    latencies = [x for j in jobs for x in j.get("reconnect_latencies_seconds", [])]
    doc = {
        "kind": MEASUREMENT_KIND,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": target.endpoint_url,
        "run_id": run_id,
        "interval_seconds": cfg.interval_seconds,
        "jobs_per_point": cfg.jobs_per_point,
        "polls": sorted(cfg.polls),
        "designs": list(cfg.designs),
        "baseline": BASELINE,
        "design_functions": {d: list(DESIGN_FUNCTIONS[d]) for d in cfg.designs},
        "lambda_memory_mb": memory,
        "wall_seconds": round(finished_at - started_at, 3),
        "sweep": sweep_note,
        "push": push_note,
        "problems": problems,
        "reconnect_latencies_seconds": latencies,
        "jobs": [{k: v for k, v in j.items() if k not in ("execution",)} for j in jobs],
    }
    return doc


def _count(doc: Any, path: list[str]) -> float:
    for key in path:
        doc = doc.get(key) if isinstance(doc, Mapping) else None
    return float(doc) if isinstance(doc, (int, float)) else 0.0


def _delta(before: Mapping[str, Any], after: Mapping[str, Any], path: list[str]) -> Any:
    def walk(doc: Any) -> Any:
        for key in path:
            doc = doc.get(key, {}) if isinstance(doc, Mapping) else {}
        return doc

    b, a = walk(before), walk(after)
    if isinstance(a, Mapping):  # {table: {rcu, wcu, requests}} -> summed {rcu, wcu}
        def total(doc: Any, key: str) -> float:
            return sum(float(v.get(key, 0.0)) for v in doc.values()) if isinstance(doc, Mapping) else 0.0

        return {k: total(a, k) - total(b, k) for k in ("rcu", "wcu")}
    return float(a or 0) - float(b or 0)


# ------------------------------------------------------------------------------------------ pricing
def job_counts(job: Mapping[str, Any], memory_mb: Mapping[str, float], prices: PriceTable) -> UsageCounts:
    """One measured job's usage as the cost model's counts, GB-seconds billed per the price table."""
    usage = job["usage"]
    gb_seconds = 0.0
    invocations = 0.0
    for fn, entry in usage["lambda"].items():
        invocations += float(entry["invocations"])
        for duration, weight in entry["durations"]:
            gb_seconds += weight * billed_gb_seconds([duration], memory_mb[fn], prices.lambda_billing)
    return UsageCounts(
        state_transitions=usage["state_transitions"],
        lambda_invocations=invocations,
        lambda_gb_seconds=gb_seconds,
        scheduler_invocations=usage["scheduler_invocations"],
        dynamodb_wcu=usage["dynamodb_wcu"],
        dynamodb_rcu=usage["dynamodb_rcu"],
        sqs_requests=usage["sqs_requests"],
    )


def design_measurements(measurement: Mapping[str, Any], prices: PriceTable) -> dict[str, dict[float, UsageCounts]]:
    """Per design, per polls value: the mean counts of the measured jobs."""
    check_measurement(measurement)
    grouped: dict[str, dict[float, list[UsageCounts]]] = {}
    for job in measurement["jobs"]:
        counts = job_counts(job, measurement["lambda_memory_mb"], prices)
        grouped.setdefault(job["design"], {}).setdefault(float(job["polls"]), []).append(counts)
    return {d: {p: UsageCounts.mean(items) for p, items in by_polls.items()} for d, by_polls in grouped.items()}


def comparisons(measurement: Mapping[str, Any], prices: PriceTable, *, jobs_per_month: float | None = None,
                polls: Iterable[float] | None = None) -> dict[str, Comparison]:
    """Each design against the polling baseline, keyed by design name."""
    by_design = design_measurements(measurement, prices)
    baseline = by_design.get(BASELINE)
    if not baseline:
        raise ValueError("the measurement has no jobs of the polling baseline")
    out = {}
    for design in measurement["designs"]:
        if design == BASELINE or design not in by_design:
            continue
        out[design] = compare_designs(by_design[design], baseline, prices, polls=polls, jobs_per_month=jobs_per_month,
                                      design_name=design, baseline_name=BASELINE)
    return out


def check_measurement(doc: Any) -> None:
    if not isinstance(doc, Mapping) or doc.get("kind") != MEASUREMENT_KIND:
        raise ValueError("not a cost measurement saved by `sfn-callback cost measure`")
    for key in ("jobs", "designs", "lambda_memory_mb", "polls"):
        if key not in doc:
            raise ValueError(f"malformed cost measurement: no {key!r}")


# ------------------------------------------------------------------------------------------ storage
def measurement_path(directory: str | None = None) -> str:
    return os.path.join(directory or config.state_dir(), MEASUREMENT_FILE)


def save_measurement(doc: Mapping[str, Any], path: str | None = None) -> str:
    path = path or measurement_path()
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, indent=1, sort_keys=True, default=str)
    os.replace(tmp, path)  # a reader never sees half a file, and a failed run keeps the previous one
    return path


def load_measurement(path: str | None = None) -> dict[str, Any]:
    path = path or measurement_path()
    try:
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
    except FileNotFoundError:
        raise ValueError(f"no cost measurement at {path}; run `sfn-callback cost measure` first") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the cost measurement at {path}: {exc}") from None
    check_measurement(doc)
    return doc
