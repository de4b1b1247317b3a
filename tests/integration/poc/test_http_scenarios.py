"""The HTTP job adapter on the deployed stack: the four HTTP scenarios against the reference job service (a real
subprocess each run starts on a free loopback port), checked from the history, the token records and the
service's own counts; and a workflow input that tries to send the secret elsewhere is refused at create-job."""

from __future__ import annotations

import json

import pytest

from sfn_callback import config, scenarios
from sfn_callback.config import Target
from sfn_callback.poc.http_scenarios import SCENARIOS
from sfn_callback.scenarios import RunOptions
from support import stretched

pytestmark = pytest.mark.cloud


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_http_scenario(deployed, name):
    """One run each (they share the secret poc-job-api-key, so never concurrently); two jobs for
    http-complete, one polled per job and one by the sweep."""
    target = Target(endpoint_url=deployed.endpoint_url)
    jobs = 2 if name == "http-complete" else 1
    result = scenarios.get(name).run(target, RunOptions(jobs=jobs, interval_seconds=1, timeout_seconds=stretched(90)))
    assert result.passed, [(c.name, c.detail) for c in result.checks if not c.passed]
    ddb = deployed.client("dynamodb")
    for job_id in result.data["jobIds"]:
        record = ddb.get_item(TableName=config.TOKENS_TABLE, Key={"jobId": {"S": job_id}})["Item"]
        job_api = json.loads(record["jobApi"]["S"])
        assert job_api["config"]["status"]["url"].startswith(result.data["jobApiUrl"])
        assert "auth" not in job_api["config"]  # the secret never comes from, nor goes to, the record
        served = result.data["served"][job_id]["served"]
        if name == "http-flaky":
            assert served["throttled"] == 1 and served["errors"] == 2 and served["slow"] == 1
            assert int(record["transientChecks"]["N"]) >= 4 and int(record["maxAttempts"]["N"]) == 2
    if name == "http-auth":  # the key in force (read from the secret) is in no log line of the run
        key = deployed.client("secretsmanager").get_secret_value(SecretId="poc-job-api-key")["SecretString"]
        with open(deployed.log_path, encoding="utf-8", errors="replace") as log:
            assert key not in log.read()
        logs = deployed.client("logs")
        for function in (config.POLLER_FUNCTION, config.CREATE_JOB_FUNCTION):
            pages = logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/lambda/{function}")
            messages = [e["message"] for page in pages for e in page["events"]]
            assert messages and not [m for m in messages if key in m], function
    if name == "http-complete":
        modes = [ddb.get_item(TableName=config.TOKENS_TABLE, Key={"jobId": {"S": j}})["Item"]["scheduleName"]["S"]
                 for j in result.data["jobIds"]]
        assert sorted(m == config.SWEEP_MODE_SCHEDULE_NAME for m in modes) == [False, True]


def test_a_job_api_override_that_would_send_the_secret_elsewhere_is_refused(deployed):
    lam = deployed.client("lambda")
    event = {"record": {"id": "r-1", "data": {"job": {}}}, "taskToken": "t" * 64, "executionId": "arn:x",
             "pollingConfig": {"intervalSeconds": 1, "maxAttempts": 2, "timeoutSeconds": 10,
                               "jobApi": {"submit": {"url": "http://example.com/jobs"}}}}
    resp = lam.invoke(FunctionName=config.CREATE_JOB_FUNCTION, Payload=json.dumps(event).encode())
    error = json.loads(resp["Payload"].read())
    assert resp.get("FunctionError") and error["errorType"] == "InvalidEvent", error
    assert "outside the origins the secret may be sent to" in error["errorMessage"]
    event["pollingConfig"]["jobApi"] = {"auth": {"secret": "secretsmanager:other"}}
    error = json.loads(lam.invoke(FunctionName=config.CREATE_JOB_FUNCTION,
                                  Payload=json.dumps(event).encode())["Payload"].read())
    assert error["errorType"] == "InvalidEvent" and "auth cannot come from the workflow input" in error["errorMessage"]
