"""The scenario checks decided from crafted observations (pure logic: no cloud)."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from sfn_callback.poc.scenarios import (
    JobObservation,
    check_jobs,
    create_job_may_still_run,
    job_id_from_history,
    scenario,
    token_from_history,
    token_hash,
)

RESOURCE = "arn:aws:states:::lambda:invoke.waitForTaskToken"


def history(token: str, job_id: str, outcome: str = "TaskSucceeded") -> list[dict]:
    return [
        {"id": 1, "type": "ExecutionStarted"},
        {"id": 2, "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "CreateJobAndWait"}},
        {"id": 3, "type": "TaskScheduled", "taskScheduledEventDetails": {
            "resource": "invoke.waitForTaskToken", "resourceType": "lambda",
            "parameters": json.dumps({"FunctionName": "f", "Payload": {"taskToken": token, "executionId": "x"}})}},
        {"id": 4, "type": "TaskSubmitted", "taskSubmittedEventDetails": {
            "output": json.dumps({"StatusCode": 200, "Payload": {"jobId": job_id, "status": "POLLING"}})}},
        {"id": 5, "type": outcome, f"{outcome[0].lower()}{outcome[1:]}EventDetails": {"resource": RESOURCE}},
        {"id": 6, "type": "PassStateEntered", "stateEnteredEventDetails": {"name": "SuccessState"}},
        {"id": 7, "type": "ExecutionSucceeded"},
    ]


def completed_job(n: int, token: str | None = None) -> JobObservation:
    token = token or f"token-{n}-" + "x" * 60
    job_id = f"job-{n}"
    arn = f"arn:aws:states:us-east-1:000000000000:execution:poc-callback-workflow:complete-{n}"
    return JobObservation(
        execution_name=f"complete-{n}", execution_arn=arn, status="SUCCEEDED",
        output={"status": "SUCCESS", "result": {"jobId": job_id, "status": "COMPLETED"}},
        events=history(token, job_id), job_id=job_id,
        record={"jobId": job_id, "executionId": arn, "status": "COMPLETED", "attemptCount": 2,
                "lastPolledAt": "2026-01-01T00:00:00.000Z", "callbacksAccepted": 1, "claimCount": 1,
                "callbackResult": "ACCEPTED", "ttl": int(time.time()) + 3600},
        record_token_hash=token_hash(token), job={"jobId": job_id, "status": "COMPLETED", "pollCount": 2},
        schedule_exists=False,
    )


def failed_checks(expect, jobs) -> dict[str, str]:
    return {c.name: c.detail for c in check_jobs(expect, jobs) if not c.passed}


def test_history_parsing_finds_the_token_and_the_job_id():
    events = history("tok-" + "a" * 40, "job-7")
    assert token_from_history(events) == "tok-" + "a" * 40
    assert job_id_from_history(events) == "job-7"
    assert token_from_history([]) is None and job_id_from_history([{"type": "TaskSubmitted"}]) is None


def test_a_complete_run_passes_every_check_and_shows_no_whole_token():
    jobs = [completed_job(1), completed_job(2)]
    checks = check_jobs(scenario("complete").expect, jobs)
    assert [c.name for c in checks if not c.passed] == []
    assert len(checks) == 7
    assert not any("x" * 20 in c.detail for c in checks)


def test_duplicate_tokens_fail_uniqueness():
    same = "shared-" + "y" * 60
    assert "token generated and unique" in failed_checks(scenario("complete").expect,
                                                         [completed_job(1, same), completed_job(2, same)])


def test_a_stored_token_other_than_the_generated_one_fails_token_stored():
    job = completed_job(1)
    job.record_token_hash = token_hash("another token entirely")
    assert "history's" in failed_checks(scenario("complete").expect, [job])["token stored"]


def test_two_callbacks_in_history_fail_callback_once():
    job = completed_job(1)
    job.events = job.events[:5] + [dict(job.events[4], id=55)] + job.events[5:]
    assert "2 TaskSucceeded/TaskFailed" in failed_checks(scenario("complete").expect, [job])["callback sent exactly once"]


def test_attempts_inconsistent_with_the_simulated_api_fail_polling():
    job = completed_job(1)
    job.job = dict(job.job, pollCount=5)
    assert "counted 5" in failed_checks(scenario("complete").expect, [job])["polled by the schedule"]


def test_an_attempt_whose_check_failed_is_accounted_for_and_only_then():
    job = completed_job(1)
    job.record = dict(job.record, attemptCount=3)  # one attempt more than the API saw
    assert "counted 2 status checks" in failed_checks(scenario("complete").expect, [job])["polled by the schedule"]
    job.record = dict(job.record, failedChecks=1, lastCheckError="attempt 1: ExternalApiError: Runtime.ExitError")
    assert failed_checks(scenario("complete").expect, [job]) == {}
    job.record = dict(job.record, attemptCount=4)  # still one attempt nobody accounts for
    assert "1 failed (attempt 1" in failed_checks(scenario("complete").expect, [job])["polled by the schedule"]


def test_a_schedule_left_behind_and_a_wrong_final_state_fail():
    job = completed_job(1)
    job.schedule_exists = True
    job.output = {"status": "FAILED", "errorName": "JobFailed"}
    failed = failed_checks(scenario("complete").expect, [job])
    assert failed["schedule deleted"].endswith("schedule still exists")
    assert "output status FAILED" in failed["execution reached SUCCESS"]


def test_max_attempts_needs_exactly_max_attempts_api_checks():
    job = completed_job(1)
    job.output = {"status": "FAILED", "errorName": "MaxAttemptsExceeded"}
    job.events = history("t" * 40, "job-1", outcome="TaskFailed")
    job.record = dict(job.record, status="MAX_ATTEMPTS", attemptCount=3)
    job.job = dict(job.job, status="IN_PROGRESS", pollCount=2)
    expect = scenario("max-attempts").expect
    job.record_token_hash = token_hash("t" * 40)
    assert failed_checks(expect, [job]) == {}
    wrong = replace(job, job=dict(job.job, pollCount=3))
    assert "expected 2" in failed_checks(expect, [wrong])["polled by the schedule"]


def test_sfn_timeout_wants_no_accepted_callback_and_the_task_timed_out_reason():
    token = "z" * 50
    job = completed_job(1, token)
    job.events = [e for e in history(token, "job-1") if e["type"] != "TaskSucceeded"] + [{"id": 9, "type": "TaskTimedOut"}]
    job.output = {"status": "TIMEOUT", "errorName": "States.Timeout"}
    job.record = dict(job.record, status="TIMEOUT", attemptCount=4, callbacksAccepted=0,
                      callbackResult="ALREADY_FINISHED", reason="TaskTimedOut: the token was closed ...")
    job.job = dict(job.job, status="IN_PROGRESS", pollCount=3)
    expect = scenario("sfn-timeout").expect
    assert failed_checks(expect, [job]) == {}
    accepted = replace(job, record=dict(job.record, callbackResult="ACCEPTED", callbacksAccepted=1))
    (name,) = failed_checks(expect, [accepted])
    assert name.startswith("Step Functions closed the token")


def test_no_jobs_never_passes():
    assert all(not c.passed for c in check_jobs(scenario("complete").expect, []))


def test_a_recovered_callback_is_sent_exactly_once_and_reported_as_a_recovery():
    expect = scenario("complete").expect
    resent = completed_job(1)
    resent.record = dict(resent.record, claimCount=2)  # the first poller died before its send went out
    found_sent = completed_job(2)  # ... or after it: the resend was answered "finished"
    found_sent.record = dict(found_sent.record, claimCount=2, callbacksAccepted=0, callbackResult="ALREADY_FINISHED")
    checks = {c.name: c for c in check_jobs(expect, [completed_job(0), resent, found_sent])}
    callback = checks["callback sent exactly once"]
    assert callback.passed, callback.detail
    assert callback.detail == ("3 x one TaskSucceeded in history; 2 recovered after a poller died between claim "
                               "and callback (re-claimed 1, 1 time(s))")
    assert resent.recoveries == 1 and completed_job(0).recoveries == 0
    # "finished" without a recovery, or two callbacks in history, is still a failure.
    wrong = completed_job(3)
    wrong.record = dict(wrong.record, callbacksAccepted=0, callbackResult="ALREADY_FINISHED")
    assert "callbackResult ALREADY_FINISHED" in failed_checks(expect, [wrong])["callback sent exactly once"]


def test_an_execution_that_ended_without_a_job_is_settled_at_once():
    job = JobObservation(execution_name="e", execution_arn="arn:e", status="FAILED",
                         events=[e for e in history("t" * 40, "job-1") if e["type"] != "TaskSubmitted"][:3]
                         + [{"id": 4, "type": "TaskFailed"}])
    assert create_job_may_still_run(job.events[:3]) and not create_job_may_still_run(job.events)
    assert not job.settled
    job.no_record = True
    assert job.settled
    assert not create_job_may_still_run([{"id": 1, "type": "ExecutionStarted"}, {"id": 2, "type": "ExecutionFailed"}])


def test_a_task_that_timed_out_leaves_its_create_job_running():
    """The task's TimeoutSeconds ends the task, not the Lambda invocation behind it: create-job may still store
    its record (the sfn-timeout scenario at 1-second intervals, where create-job's cold start outlasts the task)."""
    started = [e for e in history("t" * 40, "job-1") if e["type"] != "TaskSubmitted"][:3]
    assert create_job_may_still_run(started + [{"id": 4, "type": "TaskTimedOut"}])
    assert not create_job_may_still_run(started + [{"id": 4, "type": "TaskStartFailed"}])


def test_a_batch_timeout_whose_first_poll_came_after_expiry_passes_only_with_the_batchs_expectation():
    from sfn_callback.poc.batch_scenarios import BATCH_EXPECT

    job = completed_job(1)
    job.output = {"status": "TIMEOUT", "errorName": "PollingTimeout"}
    job.record = dict(job.record, status="TIMEOUT", attemptCount=1)
    job.job = dict(job.job, status="IN_PROGRESS", pollCount=0)
    assert "polled by the schedule" in failed_checks(scenario("timeout").expect, [job])
    assert "polled by the schedule" not in failed_checks(BATCH_EXPECT["timeout"], [job])
    job.job = dict(job.job, pollCount=1)  # a check by the one attempt that ended polling: still wrong
    assert "expected 0..0" in failed_checks(BATCH_EXPECT["timeout"], [job])["polled by the schedule"]


def test_a_job_with_a_status_check_in_flight_is_not_settled_until_the_check_lands_or_its_window_lapses():
    """A poll that counted its attempt before another poll's callback may still ask the API afterwards (the
    Terraform run: attemptCount 3 read while the third check was on its way, the API at 2)."""
    from datetime import timedelta

    from sfn_callback.common.clock import iso, utcnow

    job = completed_job(1)
    assert job.settled
    now = utcnow()
    job.record = dict(job.record, attemptCount=3, checkUntil=iso(now + timedelta(seconds=15)))
    assert job.check_in_flight(now) and not job.settled
    assert "attemptCount 3 but the simulated API counted 2" in failed_checks(scenario("complete").expect, [job])[
        "polled by the schedule"]
    job.job = dict(job.job, pollCount=3)  # the third check arrived
    assert not job.check_in_flight(now) and job.settled
    job.job = dict(job.job, pollCount=2)
    job.record = dict(job.record, failedChecks=1)  # ... or raised and was counted as failed
    assert job.settled
    job.record = dict(job.record, failedChecks=0)
    assert not job.check_in_flight(now + timedelta(seconds=16))  # ... or its window lapsed: nothing will come
    job.record = {k: v for k, v in job.record.items() if k != "checkUntil"}
    assert not job.check_in_flight(now)
