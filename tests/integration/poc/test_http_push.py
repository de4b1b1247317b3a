"""Push with polling as the fallback on the deployed stack: the ``http-push`` scenario (the reference job
service, a real subprocess, pushes to ``poc-job-push``'s Function URL on the local cloud), and the push
endpoint's refusals over real HTTP, each a JSON error that changes nothing."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
import urllib3

from sfn_callback import config, scenarios
from sfn_callback.common.clock import utcnow
from sfn_callback.config import Target
from sfn_callback.deploy.deployer import Deployer
from sfn_callback.polling.adapters.dynamodb import DynamoTokenRepository
from sfn_callback.polling.application.push import sign_push
from sfn_callback.polling.domain.lifecycle import new_record
from sfn_callback.scenarios import RunOptions
from support import stretched

pytestmark = pytest.mark.cloud

SECRET = "a-per-job-push-secret-0123456789"


def test_http_push_scenario(deployed):
    target = Target(endpoint_url=deployed.endpoint_url)
    result = scenarios.get("http-push").run(target, RunOptions(jobs=3, interval_seconds=1, timeout_seconds=stretched(90)))
    assert result.passed, [(c.name, c.detail) for c in result.checks if not c.passed]
    cases = result.data["cases"]
    assert cases["arrives"]["claimHolder"].startswith("push:") and cases["arrives"]["resumedAfterPushSeconds"] < 1
    assert cases["lost"]["push"]["lost"] and not cases["lost"]["claimHolder"].startswith("push:")
    secrets = []
    ddb = deployed.client("dynamodb")
    for job_id in result.data["jobIds"]:
        item = ddb.get_item(TableName=config.TOKENS_TABLE, Key={"jobId": {"S": job_id}})["Item"]
        secrets.append(json.loads(item["jobApi"]["S"])["push"]["secret"])
    assert len(set(secrets)) == 3
    logs = deployed.client("logs")
    for function in (config.PUSH_FUNCTION, config.CREATE_JOB_FUNCTION, config.POLLER_FUNCTION):
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/lambda/{function}")
        messages = [e["message"] for page in pages for e in page["events"]]
        assert messages and not [m for m in messages for s in secrets if s in m], function


@pytest.fixture()
def push_job(deployed):
    """A token record that expects a push (its token is not a real one: only refusals are sent here)."""
    repo = DynamoTokenRepository(deployed.client("dynamodb"), config.TOKENS_TABLE)
    job_id = f"push-refusals-{time.monotonic_ns()}"
    record = new_record(job_id=job_id, task_token="AAAA" + "r" * 200, execution_id="arn:exec:none", now=utcnow(),
                        interval_seconds=5, timeout_seconds=300, max_attempts=3)
    repo.put_new(replace(record, job_api={"fields": {}, "push": {"secret": SECRET, "failedError": "JobFailed"}}))
    url = deployed.client("lambda").get_function_url_config(FunctionName=config.PUSH_FUNCTION)["FunctionUrl"]
    yield repo, job_id, url
    deployed.client("dynamodb").delete_item(TableName=config.TOKENS_TABLE, Key={"jobId": {"S": job_id}})


def post(url, doc=None, *, secret=SECRET, at=None, body=None, headers=None, method="POST"):
    body = body if body is not None else json.dumps(doc).encode()
    ts = str(int(at if at is not None else time.time()))
    sent = {"Content-Type": "application/json", "X-Push-Timestamp": ts,
            "X-Push-Signature": sign_push(secret, ts, body)} if headers is None else headers
    response = urllib3.request(method, url, body=body, headers=sent, timeout=30, retries=False)
    return response.status, json.loads(response.data)


def test_the_push_endpoint_refuses_bad_pushes_over_http_and_changes_nothing(push_job):
    repo, job_id, url = push_job
    before = repo.get_raw(job_id)
    doc = {"pushId": "p-1", "jobId": job_id, "status": "COMPLETED", "result": {"x": 1}}
    answers = {
        "unknown job": post(url, dict(doc, jobId="no-such-job")),
        "bad signature": post(url, doc, secret="not-this-jobs-secret-0123456789"),
        "stale": post(url, doc, at=time.time() - 301),
        "no timestamp": post(url, doc, headers={"Content-Type": "application/json"}),
        "malformed": post(url, body=b"{not json"),
        "oversized": post(url, dict(doc, result="x" * 70_000)),
        "not a POST": post(url, doc, method="PUT"),
    }
    codes = {case: (status, body.get("error")) for case, (status, body) in answers.items()}
    assert codes == {"unknown job": (404, "UnknownJob"), "bad signature": (401, "BadSignature"),
                     "stale": (401, "StaleTimestamp"), "no timestamp": (400, "BadRequest"),
                     "malformed": (400, "BadRequest"), "oversized": (413, "PayloadTooLarge"),
                     "not a POST": (405, "MethodNotAllowed")}, codes
    assert all(body.get("message") for _, body in answers.values())
    assert repo.get_raw(job_id) == before  # nothing written: no push id, no claim
    # A well-signed push is taken (its fake token is refused by Step Functions: the record ends TIMEOUT), and
    # its replay is refused without another callback.
    status, body = post(url, doc)
    assert status == 200 and body["jobId"] == job_id, body
    after = repo.get_raw(job_id)
    assert after["pushIds"] == ["p-1"] and after["claimHolder"].startswith("push:") and after["claimCount"] == 1
    status, body = post(url, doc)
    assert (status, body["error"]) == (409, "Replay")
    assert repo.get_raw(job_id)["claimCount"] == 1


def test_the_function_url_is_planned_converged_and_destroyed_with_the_stack(deployed):
    target = Target(endpoint_url=deployed.endpoint_url)
    plan = Deployer(target).plan(detect_deletes=False)
    urls = [c for c in plan.changes if c.kind == "function-url"]
    assert [(c.name, c.action) for c in urls] == [(config.PUSH_FUNCTION, "unchanged")]
    lam = deployed.client("lambda")
    policy = json.loads(lam.get_policy(FunctionName=config.PUSH_FUNCTION)["Policy"])
    statements = {s["Sid"]: (s["Action"], s.get("Condition")) for s in policy["Statement"]}
    # The public URL may be used by anyone; the function itself may be invoked only through the URL.
    assert statements == {
        "AllowPublicFunctionUrl": ("lambda:InvokeFunctionUrl", {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}),
        "AllowPublicInvokeViaUrl": ("lambda:InvokeFunction", {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}),
    }, statements
