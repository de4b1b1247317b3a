"""The batch scenario's input and its batch-level checks, decided from observations alone."""

from __future__ import annotations

import json

from sfn_callback.poc.batch_scenarios import BATCH, MIX, OUTCOME_STATE, RECORD_PATH_START, path_of, record_id_of
from sfn_callback.poc.scenarios import JobObservation, scenario

INPUT = BATCH.execution_input(1)


def _child(record: dict, n: int) -> JobObservation:
    kind = scenario(record["id"].rsplit("-", 1)[0])
    status = kind.expect.output_status
    output = {"recordId": record["id"], "index": n, "status": status}
    if kind.expect.error_name:
        output["errorName"] = kind.expect.error_name
    events = [{"type": "ExecutionStarted",
               "executionStartedEventDetails": {"input": json.dumps({"record": record, "index": n})}}]
    events += [{"type": "PassStateEntered", "stateEnteredEventDetails": {"name": name}}
               for name in (*RECORD_PATH_START, OUTCOME_STATE[status])]
    return JobObservation(execution_name=f"child-{n}", execution_arn=f"arn:child-{n}", status="SUCCEEDED",
                          output=output, events=events)


def _batch(children: list[JobObservation], summary: dict) -> dict:
    return {"name": "batch-1", "arn": "arn:batch-1", "status": "SUCCEEDED", "output": summary,
            "children": {c.execution_arn: c for c in children}, "mapRunArn": "arn:map-run:1",
            "mapRun": {"status": "SUCCEEDED", "itemCounts": {"succeeded": 50, "failed": 0}, "maxConcurrency": 50}}


def _summary(children: list[JobObservation]) -> dict:
    statuses = [c.output["status"] for c in children]
    return {"status": "DONE", "records": 50, "succeeded": statuses.count("SUCCESS"),
            "failed": statuses.count("FAILED"), "timedOut": statuses.count("TIMEOUT"), "withResult": len(children),
            "results": [c.output for c in children]}


def _checks(batch: dict) -> dict[str, bool]:
    return {c.name: c.passed for c in BATCH.check_batch(batch, INPUT)}


def test_the_input_is_fifty_records_of_the_mix_with_each_kinds_polling():
    assert len(INPUT["records"]) == 50 == sum(n for _, n in MIX)
    by_kind = {r["id"].rsplit("-", 1)[0]: r for r in INPUT["records"]}
    assert by_kind["complete"]["pollingConfig"]["jobOptions"] == {"completeAfterChecks": 2}
    assert by_kind["max-attempts"]["pollingConfig"]["maxAttempts"] == 2
    assert by_kind["timeout"]["pollingConfig"]["jobOptions"] == {"neverComplete": True}
    assert INPUT["pollingConfig"]["intervalSeconds"] == 1 and INPUT["maxConcurrency"] == 50
    assert BATCH.expected_counts() == {"records": 50, "succeeded": 40, "failed": 8, "timedOut": 2, "withResult": 50}


def test_batch_checks_pass_on_the_expected_data_and_catch_a_wrong_summary_or_a_missing_record():
    children = [_child(r, n) for n, r in enumerate(INPUT["records"])]
    assert record_id_of(children[0].events) == "complete-01"
    assert path_of(children[-1].events)[-1] == "RecordTimedOut"
    good = _checks(_batch(children, _summary(children)))
    for name in ("batch execution SUCCEEDED with a summary", "one child execution per record",
                 "summary counts = the expected mix", "per-record results = each record's own outcome", "map run",
                 "complete (40): execution path", "timeout (2): execution path"):
        assert good[name], name

    wrong = _summary(children)
    wrong["succeeded"], wrong["failed"] = 39, 9
    wrong["results"][0] = {**wrong["results"][0], "status": "FAILED"}
    bad = _checks(_batch(children, wrong))
    assert not bad["summary counts = the expected mix"]
    assert not bad["per-record results = each record's own outcome"]

    missing = _checks(_batch(children[1:], _summary(children[1:])))
    assert not missing["one child execution per record"] and not missing["complete (40): execution path"]

    children[3].events[-1]["stateEnteredEventDetails"]["name"] = "RecordFailed"
    assert not _checks(_batch(children, _summary(children)))["complete (40): execution path"]
