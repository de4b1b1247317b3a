"""The batch workflow on the embedded local cloud: scenario ``batch`` (50 records, a known mix of outcomes) end
to end through the code ``sfn-callback run batch`` uses, and what it reports read back independently."""

from __future__ import annotations

import json

import pytest

from sfn_callback import config, scenarios
from sfn_callback.config import Target
from sfn_callback.poc.batch_scenarios import MIX
from sfn_callback.scenarios import RunOptions
from support import stretched

pytestmark = pytest.mark.cloud


def test_batch_scenario_record_by_record(deployed):
    result = scenarios.get("batch").run(Target(endpoint_url=deployed.endpoint_url),
                                        RunOptions(jobs=1, interval_seconds=1, timeout_seconds=stretched(90)))
    failed = [(c.name, c.detail) for c in result.checks if not c.passed]
    assert result.passed, failed
    # Per kind of record: the path, the PoC's seven checks; then the batch's own checks.
    assert len(result.checks) == len(MIX) * 8 + 5
    assert len(result.jobs) == 50

    # Read back without the scenario's code: the summary, the map run's children and their token records.
    sfn, ddb = deployed.client("stepfunctions"), deployed.client("dynamodb")
    (execution_arn,) = result.data["executions"]
    done = sfn.describe_execution(executionArn=execution_arn)
    summary = json.loads(done["output"])
    assert (summary["records"], summary["succeeded"], summary["failed"], summary["timedOut"]) == (50, 40, 8, 2)
    by_status: dict[str, set[str]] = {}
    for r in summary["results"]:
        by_status.setdefault(r["status"], set()).add(r["recordId"].rsplit("-", 1)[0])
    assert by_status == {"SUCCESS": {"complete"}, "FAILED": {"fail", "max-attempts"}, "TIMEOUT": {"timeout"}}
    assert {r["errorName"] for r in summary["results"] if r["status"] == "FAILED"} == {
        "JobFailed", "MaxAttemptsExceeded"}

    (map_run,) = sfn.list_map_runs(executionArn=execution_arn)["mapRuns"]
    children = {c["executionArn"] for c in sfn.list_executions(mapRunArn=map_run["mapRunArn"])["executions"]}
    assert len(children) == 50
    records = []
    for job_id in result.data["jobIds"]:
        item = ddb.get_item(TableName=config.TOKENS_TABLE, Key={"jobId": {"S": job_id}},
                            ConsistentRead=True)["Item"]
        records.append((item["executionId"]["S"], item["status"]["S"], int(item["callbacksAccepted"]["N"])))
    assert {r[0] for r in records} == children  # each record's token belongs to its own child execution
    statuses = sorted(r[1] for r in records)
    assert statuses == sorted(["COMPLETED"] * 40 + ["FAILED"] * 5 + ["MAX_ATTEMPTS"] * 3 + ["TIMEOUT"] * 2)
    assert {r[2] for r in records} == {1}
