"""The export scenarios' checks decide from the data they are given, whatever it holds."""

from __future__ import annotations


def test_a_success_scenario_whose_callback_timed_out_fails_its_check_instead_of_crashing() -> None:
    """Under load the task of an export-success job may time out: the run reports it, it does not raise."""
    from sfn_callback.export.scenarios import ExportScenario, JobPlan, JobRun

    scenario = ExportScenario("export-success", "", "", "success")
    run = JobRun(JobPlan("job-1", "exp-1", "u-1", [{"url": "http://127.0.0.1:1/a.csv", "name": "a.csv"}], set()),
                 "arn:aws:states:us-east-1:000000000000:execution:poc-export-workflow:x")
    timed_out = {"type": "TaskTimedOut", "taskTimedOutEventDetails": {"error": "States.HeartbeatTimeout"}}
    assert scenario._payload(run, [timed_out], {}) == [
        "the callback event is TaskTimedOut, not TaskSucceeded: no payload to check"]
