"""The cost measurement, the sweep mode and the report, end to end on the local cloud."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

import support
from sfn_callback import config
from sfn_callback.config import Target
from sfn_callback.cost.pricing import load_price_table
from sfn_callback.deploy.deployer import ensure_deployed
from sfn_callback.localcloud.capacity import item_size, write_units
from sfn_callback.observe.history import history_counts
from sfn_callback.report.report import SECTIONS

pytestmark = pytest.mark.cloud


@pytest.fixture(scope="module")
def deployed(local_cloud):
    ensure_deployed(Target(endpoint_url=local_cloud.endpoint_url), progress=lambda message: None)
    return local_cloud


def cli(cloud, state_dir, *args, check=True):
    env = {**os.environ, "SFN_CALLBACK_STATE_DIR": str(state_dir)}
    proc = subprocess.run([sys.executable, "-m", "sfn_callback.cli.main", "--endpoint", cloud.endpoint_url, *args],
                          capture_output=True, text=True, env=env, timeout=240)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def metrics(cloud):
    with urllib.request.urlopen(cloud.endpoint_url + "/_sfn_callback/metrics") as response:
        return json.loads(response.read())


def wait_execution(sfn, arn, timeout=60):
    return support.wait_execution(sfn, arn, timeout, interval=0.3)


def test_counters_of_a_polling_execution_whose_transitions_are_known(deployed):
    cloud = deployed
    sfn = cloud.client("stepfunctions")
    arn = f"arn:aws:states:us-east-1:{config.LOCAL_ACCOUNT_ID}:stateMachine:{config.POLLING_WORKFLOW}"
    name = f"known-{uuid.uuid4().hex[:8]}"
    body = {"record": {"id": name}, "pollingConfig": {"intervalSeconds": 1, "maxAttempts": 5, "timeoutSeconds": 60,
                                                      "jobOptions": {"completeAfterChecks": 2}}}
    ex = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(body))["executionArn"]
    desc = wait_execution(sfn, ex)
    output = json.loads(desc["output"])
    assert output["status"] == "SUCCESS" and output["result"]["attempts"] == 2
    events = sfn.get_execution_history(executionArn=ex, maxResults=1000)["events"]
    counts = history_counts(events)
    # Defaults, ApplyInput, CreateJob, 2 x (WaitInterval, CheckStatus, Decide), SuccessState
    assert counts.state_transitions == 4 + 3 * 2 and counts.lambda_invocations == 3
    jobs = metrics(cloud)["jobs"]
    created = jobs[ex]["lambda"]["poc-polling-job"]["invocations"]
    checks = jobs[output["result"]["jobId"]]["lambda"]["poc-polling-job"]["invocations"]
    assert (created, checks) == (1, 2)


def test_dynamodb_units_follow_the_item_size(local_cloud):
    ddb = local_cloud.client("dynamodb")
    table = f"units-{uuid.uuid4().hex[:6]}"
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    item = {"jobId": {"S": f"j-{table}"}, "blob": {"S": "x" * 2500}}
    ddb.put_item(TableName=table, Item=item)
    ddb.get_item(TableName=table, Key={"jobId": item["jobId"]})
    ddb.get_item(TableName=table, Key={"jobId": item["jobId"]}, ConsistentRead=True)
    usage = metrics(local_cloud)["jobs"][f"j-{table}"]["dynamodb"]["client"][table]
    assert usage["wcu"] == write_units(item_size(item)) == 3
    assert usage["rcu"] == 0.5 + 1.0 and usage["requests"] == 3


def test_sweep_jobs_complete_with_exactly_one_callback_each(deployed):
    cloud = deployed
    sfn, ddb = cloud.client("stepfunctions"), cloud.client("dynamodb")
    arn = f"arn:aws:states:us-east-1:{config.LOCAL_ACCOUNT_ID}:stateMachine:{config.CALLBACK_WORKFLOW}"
    run = uuid.uuid4().hex[:8]
    executions = []
    for i in range(5):
        body = {"record": {"id": f"sweep-{i}"}, "taskTimeoutSeconds": 120,
                "pollingConfig": {"intervalSeconds": 1, "maxAttempts": 10, "timeoutSeconds": 60, "mode": "sweep",
                                  "jobOptions": {"completeAfterChecks": 1 + i % 3}}}
        executions.append(sfn.start_execution(stateMachineArn=arn, name=f"sweep-{run}-{i}",
                                              input=json.dumps(body))["executionArn"])
    for ex in executions:
        assert json.loads(wait_execution(sfn, ex)["output"])["status"] == "SUCCESS"
        events = sfn.get_execution_history(executionArn=ex, maxResults=1000)["events"]
        assert sum(1 for e in events if e["type"] in ("TaskSucceeded", "TaskFailed")) == 1
    deadline = time.monotonic() + 20
    while True:
        items = ddb.scan(TableName=config.TOKENS_TABLE, FilterExpression="contains(executionId, :r)",
                         ExpressionAttributeValues={":r": {"S": run}})["Items"]
        if len(items) == 5 and all(i["status"]["S"] == "COMPLETED" for i in items) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert len(items) == 5
    for item in items:
        assert item["status"]["S"] == "COMPLETED" and item["scheduleName"]["S"] == "sweep-mode"
        assert item["callbacksAccepted"]["N"] == "1" and item["claimCount"]["N"] == "1"
    names = [s["Name"] for s in cloud.client("scheduler").list_schedules(GroupName=config.POLLING_SCHEDULE_GROUP)
             ["Schedules"]]
    assert not [n for n in names if any(n == f"poll-{i['jobId']['S']}" for i in items)]


def test_measure_price_estimate_and_report(deployed, tmp_path):
    cloud = deployed
    started = time.monotonic()
    proc = cli(cloud, tmp_path, "cost", "measure", "--polls", "1,3", "--json")
    assert time.monotonic() - started < 90
    priced = json.loads(proc.stdout)
    assert set(priced["comparisons"]) == {"callback", "sweep", "push"}
    saved = json.loads((tmp_path / "cost-measurement.json").read_text())
    by = {(j["design"], j["polls"]): j for j in saved["jobs"]}
    assert by[("polling", 1)]["usage"]["state_transitions"] == 7 and by[("polling", 3)]["usage"]["state_transitions"] == 13
    assert by[("callback", 1)]["usage"]["state_transitions"] == 4 == by[("callback", 3)]["usage"]["state_transitions"]
    for key in by:
        usage = by[key]["usage"]
        assert sum(v["invocations"] for v in usage["lambda"].values()) > 0
        if key[0] == "push":  # one push each; a fallback poll only for a job that outlasts its interval
            assert usage["lambda"]["poc-job-push"]["invocations"] == 1 and usage["dynamodb_wcu"] > 0
            assert by[key]["callbacks_accepted"] == 1 and by[key]["attempts"] <= 1
        elif key[0] != "polling":
            assert usage["dynamodb_wcu"] > 0 and usage["dynamodb_rcu"] > 0 and usage["scheduler_invocations"] > 0
            assert by[key]["callbacks_accepted"] == 1
    for png in priced["plots"].values():
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    prices = load_price_table()
    doubled = json.loads(prices.model_dump_json())
    for meter in doubled["meters"].values():
        meter["price"] *= 2
    (tmp_path / "doubled.json").write_text(json.dumps(doubled))
    again = json.loads(cli(cloud, tmp_path, "cost", "show", "--prices", str(tmp_path / "doubled.json"), "--json").stdout)
    for design in ("callback", "sweep", "push"):
        for a, b in zip(priced["comparisons"][design]["rows"], again["comparisons"][design]["rows"]):
            assert b["design"]["cost_per_job"]["total"] == pytest.approx(2 * a["design"]["cost_per_job"]["total"])
            assert b["baseline"]["cost_per_job"]["total"] == pytest.approx(2 * a["baseline"]["cost_per_job"]["total"])

    estimate = json.loads(cli(cloud, tmp_path, "cost", "estimate", "--jobs-per-month", "1000000", "--polls", "10",
                              "--json").stdout)
    assert set(estimate["designs"]) == {"callback", "sweep", "push", "polling"}
    for bill in estimate["designs"].values():
        assert 0 <= bill["monthly_with_free_tier"] <= bill["monthly_without_free_tier"]
    assert estimate["designs"]["polling"]["monthly_without_free_tier"] > estimate["designs"]["callback"][
        "monthly_without_free_tier"]

    bad = cli(cloud, tmp_path, "cost", "measure", "--polls", "1,x", check=False)
    assert bad.returncode == 2 and "whole numbers" in bad.stderr
    assert json.loads((tmp_path / "cost-measurement.json").read_text())["run_id"] == saved["run_id"]

    out = tmp_path / "report"
    cli(cloud, tmp_path, "report", "--out", str(out))
    markdown = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    for section in SECTIONS:
        assert f"## {section}" in markdown and f"<h2>{section.replace('&', '&amp;')}</h2>" in page
    assert "data:image/png;base64," in page and "```mermaid" in markdown
    assert "87%" in markdown and "no data" in markdown  # no scenario outcomes saved in this state dir
