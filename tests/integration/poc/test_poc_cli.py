"""``run``, ``poll`` and ``monitor`` as real subprocesses against the deployed local cloud."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from sfn_callback import config

pytestmark = pytest.mark.cloud


def cli(cloud, *args: str, code: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``sfn-callback --endpoint <cloud> ARGS`` in a fresh interpreter (``code`` runs first, in-process)."""
    prelude = code or ""
    program = textwrap.dedent(prelude) + (
        "\nimport sys\nfrom sfn_callback.cli.main import app\n"
        f"app([\"--endpoint\", {cloud.endpoint_url!r}, *sys.argv[1:]], prog_name=\"sfn-callback\")\n"
    )
    return subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "160"})


@pytest.fixture(scope="module")
def completed_run(deployed):
    done = cli(deployed, "run", "--scenario", "complete", "--jobs", "2", "--json")
    return done


def test_run_complete_json_exits_zero_with_checks_and_saves_the_result(completed_run):
    done = completed_run
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)  # exactly one JSON document on stdout
    assert doc["passed"] is True
    (run,) = doc["runs"]
    assert run["scenario"] == "complete" and run["passed"] is True and len(run["jobs"]) == 2
    names = [c["name"] for c in run["checks"]]
    for expected in ("token generated and unique", "token stored", "polled by the schedule",
                     "callback sent exactly once", "execution reached SUCCESS", "schedule deleted",
                     "token record COMPLETED"):
        assert expected in names
    assert all(c["passed"] for c in run["checks"])
    saved = json.load(open(run["savedTo"]))
    assert run["savedTo"] == os.path.join(config.state_dir(), "runs", "latest-complete.json")
    assert saved["passed"] is True and saved["runs"][0]["data"]["jobIds"] == run["data"]["jobIds"]
    assert "✔ token stored" in done.stderr  # the validation summary goes to stderr with --json


def test_run_exits_nonzero_when_the_observed_outcome_is_not_the_expected_one(deployed):
    # A scenario that runs the complete flow but expects JobFailed: the checks computed from the data disagree.
    register = """
        from sfn_callback.poc.scenarios import Expectation, PocScenario
        from sfn_callback.scenarios import register
        register(PocScenario("complete-expecting-failure", "test only", {"completeAfterChecks": 2},
                             Expectation("FAILED", "JobFailed", "FAILED", min_attempts=2)))
    """
    done = cli(deployed, "run", "--scenario", "complete-expecting-failure", "--no-deploy", "--json", code=register)
    assert done.returncode == 1, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    assert doc["passed"] is False
    failed = {c["name"]: c["detail"] for c in doc["runs"][0]["checks"] if not c["passed"]}
    assert set(failed) == {"execution reached FAILED (JobFailed)", "token record FAILED"}, failed
    assert "output status SUCCESS, expected FAILED" in failed["execution reached FAILED (JobFailed)"]


def test_run_rejects_an_unknown_scenario(deployed):
    done = cli(deployed, "run", "--scenario", "no-such-scenario")
    assert done.returncode == 2
    assert cli(deployed, "run", "complete", "no-such-scenario").returncode == 2  # names as arguments too
    assert "unknown scenario 'no-such-scenario'; known: alarm-callback-failures, alarm-dlq, batch, complete," in done.stderr


def test_poll_reports_a_finished_job_and_rejects_an_unknown_one(deployed, completed_run):
    job_id = json.loads(completed_run.stdout)["runs"][0]["data"]["jobIds"][0]
    done = cli(deployed, "poll", job_id, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"status": "COMPLETED", "attempt": result["attempt"], "maxAttempts": 10, "jobId": job_id,
                      "detail": "already finished"}
    assert result["attempt"] >= 2

    missing = cli(deployed, "poll", "job-does-not-exist")
    assert missing.returncode == 1
    assert "UnknownJob: no token record for jobId 'job-does-not-exist'" in missing.stderr


def test_monitor_json_lists_masked_tokens_jobs_executions_and_functions(deployed, completed_run):
    job_ids = set(json.loads(completed_run.stdout)["runs"][0]["data"]["jobIds"])
    done = cli(deployed, "monitor", "--json", "--limit", "500")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    tokens = {t["jobId"]: t for t in doc["tokens"]}
    assert job_ids <= set(tokens)
    ddb = deployed.client("dynamodb")
    for job_id in job_ids:
        whole = ddb.get_item(TableName=config.TOKENS_TABLE, Key={"jobId": {"S": job_id}})["Item"]["taskToken"]["S"]
        assert whole not in done.stdout  # never a whole token
        assert tokens[job_id]["token"].startswith(whole[:8]) and "********" in tokens[job_id]["token"]
        assert tokens[job_id]["status"] == "COMPLETED"
    assert job_ids <= {j["jobId"] for j in doc["jobs"]}
    assert {"poc-simulated-api", "poc-create-job", "poc-poller"} <= {f["name"] for f in doc["functions"]}
    assert any(e["name"].startswith("complete-") and e["status"] == "SUCCEEDED" for e in doc["executions"])

    table = cli(deployed, "monitor", "--limit", "3")
    assert table.returncode == 0 and "Task tokens (poc-task-tokens)" in table.stdout and "Functions" in table.stdout
