"""Scenario ``batch``: one execution of ``poc-batch-workflow`` over 50 records with a known mix of outcomes,
checked record by record from the data.

The mix is the PoC's own scenarios per record (:data:`MIX`): most records complete, some fail, some run out of
attempts, two time out; each record carries the polling settings of its PoC scenario in its own
``pollingConfig``. Each record is a child execution of the batch's Distributed Map; the checks read, for every
record, its child execution (found through ``ListMapRuns`` / ``ListExecutions(mapRunArn)``; its history gives the
task token, the callback events and the path of states it took), its token record, its simulated job and its
schedule, with the PoC's own checks (:func:`~sfn_callback.poc.scenarios.check_jobs`) per kind of record; then
the batch's summary against the expected mix and against each record's own outcome.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sfn_callback import config
from sfn_callback.config import Target
from sfn_callback.poc.scenarios import (
    JobObservation,
    PocObserver,
    PocScenario,
    _fmt,
    check_jobs,
    scenario,
)
from sfn_callback.scenarios import Check, ProgressRows, RunOptions, ScenarioResult, register

MIX: tuple[tuple[str, int], ...] = (("complete", 40), ("fail", 5), ("max-attempts", 3), ("timeout", 2))
"""(PoC scenario, records of that kind) in a batch run: 50 records."""
TIMEOUT_INTERVALS = {"timeout": 20}
"""Polling timeouts (in intervals) longer than the PoC scenario's 3 where 50 records start at once: a record's
first polls queue behind the others' while 50 jobs are created and polled every second (10 to 12 s late measured
on a fresh local cloud on a loaded 2-core laptop), and its scenario expects at least 2 attempts, one of which
asked the API, before the job expires."""
BATCH_EXPECT = {"timeout": replace(scenario("timeout").expect, min_attempts=1, min_api_checks=0)}
"""What a batch expects of a kind where it differs from the PoC scenario's: a timeout record's first poll may
come after its (longer) expiry when 50 records start at once on a loaded machine (seen at load 12: one attempt,
the PollingTimeout verdict, no status check); its outcome, callback and schedule are checked as for the PoC."""
MAX_CONCURRENCY = 50
TOLERATED_FAILURE_PERCENTAGE = 0  # every record must end with an outcome of its own; none may fail its child
OUTCOME_STATE = {"SUCCESS": "RecordSucceeded", "FAILED": "RecordFailed", "TIMEOUT": "RecordTimedOut"}
RECORD_PATH_START = ("RecordPollingConfig", "MergeRecordPollingConfig", "UseRecordPollingConfig", "CreateJobAndWait")
ENTERED = ("ChoiceStateEntered", "PassStateEntered", "TaskStateEntered", "FailStateEntered", "SucceedStateEntered")


def batch_workflow_arn(observer: PocObserver) -> str:
    return observer.machine_arn.rsplit(":", 1)[0] + ":" + config.BATCH_WORKFLOW


def path_of(events: list[dict[str, Any]]) -> tuple[str, ...]:
    """The states an execution entered, in order."""
    return tuple((e.get("stateEnteredEventDetails") or {}).get("name", "?") for e in events
                 if e.get("type") in ENTERED)


def record_id_of(events: list[dict[str, Any]]) -> str | None:
    """The record a child execution processed (its ``ExecutionStarted`` input)."""
    for event in events:
        if event.get("type") == "ExecutionStarted":
            try:
                doc = json.loads((event.get("executionStartedEventDetails") or {}).get("input") or "{}")
            except ValueError:
                return None
            record = doc.get("record") if isinstance(doc, dict) else None
            return record.get("id") if isinstance(record, dict) else None
    return None


def kind_of(record_id: str | None) -> str | None:
    """``complete-07`` -> ``complete`` (the record ids the scenario gives)."""
    return record_id.rsplit("-", 1)[0] if record_id and "-" in record_id else None


@dataclass(frozen=True)
class BatchScenario:
    name: str = "batch"
    description: str = ("50 records in one poc-batch-workflow execution (40 complete, 5 fail, 3 run out of "
                        "attempts, 2 time out), each a child execution of the Distributed Map; checked record by "
                        "record, then the summary's counts against the mix")

    def kinds(self) -> list[tuple[PocScenario, int]]:
        return [(scenario(name), count) for name, count in MIX]

    def execution_input(self, interval_seconds: int) -> dict[str, Any]:
        records = []
        for kind, count in self.kinds():
            for i in range(count):
                records.append({
                    "id": f"{kind.name}-{i + 1:02d}",
                    "data": {"scenario": self.name, "kind": kind.name},
                    "pollingConfig": {"maxAttempts": kind.max_attempts,
                                      "timeoutSeconds": TIMEOUT_INTERVALS.get(kind.name, kind.timeout_intervals)
                                      * interval_seconds,
                                      "jobOptions": kind.job_options},
                })
        return {
            "records": records,
            "pollingConfig": {"intervalSeconds": interval_seconds, "maxAttempts": 10,
                              "timeoutSeconds": 60 * interval_seconds},
            "taskTimeoutSeconds": 120 * interval_seconds,
            "maxConcurrency": MAX_CONCURRENCY,
            "toleratedFailurePercentage": TOLERATED_FAILURE_PERCENTAGE,
        }

    def expected_counts(self) -> dict[str, int]:
        counts = Counter({"SUCCESS": 0, "FAILED": 0, "TIMEOUT": 0})
        for kind, count in self.kinds():
            counts[kind.expect.output_status] += count
        return {"records": sum(counts.values()), "succeeded": counts["SUCCESS"], "failed": counts["FAILED"],
                "timedOut": counts["TIMEOUT"], "withResult": sum(counts.values())}

    # ------------------------------------------------------------------------------------------ run
    def run(self, target: Target, options: RunOptions,
            progress: Callable[[ProgressRows], None] | None = None) -> ScenarioResult:
        started = time.monotonic()
        deadline = started + options.timeout_seconds
        observer = PocObserver(target)
        sfn = observer.sfn
        batches: list[dict[str, Any]] = []
        try:
            execution_input = self.execution_input(options.interval_seconds)
            run_id = uuid.uuid4().hex[:6]
            for n in range(options.jobs):
                name = f"{self.name}-{run_id}-{n + 1:03d}"
                arn = sfn.start_execution(stateMachineArn=batch_workflow_arn(observer), name=name,
                                          input=json.dumps(execution_input))["executionArn"]
                batches.append({"name": name, "arn": arn, "status": "RUNNING", "children": {}})
            while time.monotonic() < deadline:
                for batch in batches:
                    self._refresh_batch(observer, batch)
                if progress:
                    progress(self._rows(batches))
                if all(b["status"] != "RUNNING" for b in batches):
                    break
                time.sleep(1.0)
            children = [c for b in batches for c in b["children"].values()]
            settled = observer.wait_settled(children, max(1.0, deadline - time.monotonic()), every=1.0)
            for batch in batches:
                self._refresh_batch(observer, batch)  # every child listed, none missed by a page
            if progress:
                progress(self._rows(batches))
        finally:
            observer.close()
        checks: list[Check] = []
        for batch in batches:
            label = f"{batch['name']}: " if len(batches) > 1 else ""
            checks.extend(Check(label + c.name, c.passed, c.detail)
                          for c in self.check_batch(batch, execution_input))
        if not settled or any(b["status"] == "RUNNING" for b in batches):
            checks.append(Check("finished in time", False,
                                f"not settled after {options.timeout_seconds:.0f} s: "
                                f"{sum(b['status'] == 'RUNNING' for b in batches)} batch(es) still running, "
                                f"{sum(not c.settled for c in children)} record(s) unsettled"))
        return ScenarioResult(
            scenario=self.name,
            expected=(f"execution SUCCEEDED/DONE with {self.expected_counts()}; each record's child execution "
                      "took its kind's path with one callback, record terminal, schedule deleted"),
            checks=checks,
            jobs=self._rows(batches),
            duration_s=round(time.monotonic() - started, 3),
            data={
                "executions": [b["arn"] for b in batches],
                "mapRuns": [b.get("mapRunArn") for b in batches],
                "summaries": [b.get("output") for b in batches],
                "expected": self.expected_counts(),
                "mix": dict(MIX),
                "jobIds": [c.job_id for c in children],
                "intervalSeconds": options.interval_seconds,
            },
        )

    def _refresh_batch(self, observer: PocObserver, batch: dict[str, Any]) -> None:
        sfn = observer.sfn
        if batch["status"] == "RUNNING" or "output" not in batch:
            desc = sfn.describe_execution(executionArn=batch["arn"])
            batch["status"] = desc["status"]
            if desc["status"] != "RUNNING":
                batch["output"] = json.loads(desc["output"]) if desc.get("output") else None
                batch["error"] = desc.get("error")
        if "mapRunArn" not in batch:
            runs = sfn.list_map_runs(executionArn=batch["arn"]).get("mapRuns", [])
            if not runs:
                return
            batch["mapRunArn"] = runs[0]["mapRunArn"]
            batch["mapRuns"] = len(runs)
        kwargs: dict[str, Any] = {"mapRunArn": batch["mapRunArn"]}
        while True:
            page = sfn.list_executions(**kwargs)
            for item in page.get("executions", []):
                child = batch["children"].get(item["executionArn"])
                if child is None:
                    child = JobObservation(execution_name=item["name"], execution_arn=item["executionArn"],
                                           started_at=time.monotonic())
                    batch["children"][item["executionArn"]] = child
                batch.setdefault("listed", {})[item["executionArn"]] = item["status"]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        if batch["status"] != "RUNNING":
            batch["mapRun"] = sfn.describe_map_run(mapRunArn=batch["mapRunArn"])

    @staticmethod
    def _rows(batches: list[dict[str, Any]]) -> ProgressRows:
        rows = []
        for batch in batches:
            children = sorted(batch["children"].values(), key=lambda c: record_id_of(c.events) or c.execution_name)
            if not children:
                rows.append({"execution": batch["name"], "execution status": batch["status"]})
            for child in children:
                row = child.row()
                row["execution"] = record_id_of(child.events) or child.execution_name[:8]
                if child.status == "RUNNING":  # not described yet: as listed
                    row["execution status"] = batch.get("listed", {}).get(child.execution_arn, "RUNNING")
                rows.append(row)
        return rows

    # ---------------------------------------------------------------------------------------- checks
    def check_batch(self, batch: dict[str, Any], execution_input: dict[str, Any]) -> list[Check]:
        """Every check of one batch execution, from what was read back (pure)."""
        children: list[JobObservation] = list(batch["children"].values())
        for child in children:
            child.execution_name = record_id_of(child.events) or child.execution_name
        output = batch.get("output") or {}
        checks = [Check(
            "batch execution SUCCEEDED with a summary", batch["status"] == "SUCCEEDED" and output.get("status") == "DONE",
            f"{batch['status']}, output status {output.get('status')}" + (f", error {batch.get('error')}"
                                                                           if batch.get("error") else ""))]

        wanted = [r["id"] for r in execution_input["records"]]
        seen = Counter(c.execution_name for c in children)
        missing = [r for r in wanted if r not in seen]
        doubled = [r for r, n in seen.items() if n > 1]
        strangers = [r for r in seen if r not in set(wanted)]
        checks.append(Check(
            "one child execution per record", not missing and not doubled and not strangers and bool(children),
            f"{len(children)} child executions of map run {str(batch.get('mapRunArn', '-')).rsplit(':', 1)[-1][:8]} "
            f"for {len(wanted)} records" + (f"; missing {_fmt(missing, 3)}" if missing else "")
            + (f"; twice {_fmt(doubled, 3)}" if doubled else "") + (f"; unknown {_fmt(strangers, 3)}"
                                                                     if strangers else "")))

        for kind, count in self.kinds():
            group = sorted((c for c in children if kind_of(c.execution_name) == kind.name),
                           key=lambda c: c.execution_name)
            want_path = (*RECORD_PATH_START, OUTCOME_STATE[kind.expect.output_status])
            wrong = [f"{c.execution_name}: {' > '.join(path_of(c.events)) or 'no states'}"
                     for c in group if path_of(c.events) != want_path]
            checks.append(Check(f"{kind.name} ({count}): execution path", not wrong and len(group) == count,
                                _fmt(wrong, 2) if wrong else f"{len(group)} x {' > '.join(want_path)}"))
            checks.extend(Check(f"{kind.name} ({count}): {c.name}", c.passed and len(group) == count,
                                c.detail if len(group) == count else f"{len(group)} records of {count}: {c.detail}")
                          for c in check_jobs(BATCH_EXPECT.get(kind.name, kind.expect), group))

        expected = self.expected_counts()
        counts = {k: output.get(k) for k in expected}
        checks.append(Check("summary counts = the expected mix", counts == expected,
                            f"summary {counts}" + ("" if counts == expected else f", expected {expected}")))

        by_record = {c.execution_name: c for c in children}
        listed = output.get("results")
        results: list[Any] = listed if isinstance(listed, list) else []
        disagree = []
        for result in results:
            found = by_record.get(result.get("recordId"))
            own = (found.output or {}) if found else {}
            if found is None or own != result:
                disagree.append(f"{result.get('recordId')}: summary {result.get('status')}/"
                                f"{result.get('errorName')}, own {own.get('status')}/{own.get('errorName')}")
        ids = [r.get("recordId") for r in results]
        in_order = ids == wanted
        checks.append(Check(
            "per-record results = each record's own outcome", bool(results) and not disagree and in_order,
            _fmt(disagree, 3) if disagree else
            (f"{len(results)} results in record order, each equal to its child execution's output"
             if in_order else f"results not in record order: {_fmt(ids, 4)}")))

        map_run = batch.get("mapRun") or {}
        items = map_run.get("itemCounts") or {}
        map_ok = (map_run.get("status") == "SUCCEEDED" and items.get("succeeded") == len(wanted)
                  and not items.get("failed") and map_run.get("maxConcurrency") == MAX_CONCURRENCY)
        checks.append(Check("map run", map_ok,
                            f"{map_run.get('status')}, items succeeded {items.get('succeeded')} failed "
                            f"{items.get('failed')}, maxConcurrency {map_run.get('maxConcurrency')}, tolerated "
                            f"{map_run.get('toleratedFailurePercentage')} %"))
        return checks


BATCH = register(BatchScenario())
