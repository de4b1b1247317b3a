"""The token lifecycle with in-memory fakes of every port."""

from __future__ import annotations

from datetime import timedelta

import pytest
from poc_fakes import Interleaver, SimulatedCrash, World, all_interleavings

from sfn_callback.polling.domain.lifecycle import (
    ERROR_JOB_FAILED,
    ERROR_MAX_ATTEMPTS,
    ERROR_POLLING_TIMEOUT,
    TokenStatus,
    UnknownJob,
    iso,
    parse_iso,
)


def test_in_progress_then_completed_sends_one_success_with_seed_output():
    w = World(max_attempts=5)
    w.jobs.script("job-1", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED")
    p = w.poller()

    r1 = p.poll("job-1").to_dict()
    r2 = p.poll("job-1").to_dict()
    assert r1 == {"status": "IN_PROGRESS", "attempt": 1, "maxAttempts": 5, "jobId": "job-1"}
    assert r2["attempt"] == 2 and "reconnected" not in r2
    assert w.sfn.accepted == [] and w.record.status is TokenStatus.POLLING

    r3 = p.poll("job-1").to_dict()
    assert r3["status"] == "COMPLETED" and r3["attempt"] == 3 and r3["reconnected"] is True
    assert len(w.sfn.accepted) == 1
    token, outcome = w.sfn.accepted[0]
    assert token == w.token
    assert set(outcome.output) == {"jobId", "status", "completedAt", "attempts", "result"}
    assert outcome.output["jobId"] == "job-1" and outcome.output["attempts"] == 3
    assert outcome.output["status"] == "COMPLETED" and outcome.output["result"]["status"] == "COMPLETED"
    parse_iso(outcome.output["completedAt"])
    rec = w.record
    assert rec.status is TokenStatus.COMPLETED and rec.callback_result == "ACCEPTED"
    assert rec.attempt_count == 3 and rec.claim_count == 1
    assert "poll-job-1" not in w.schedules.existing


def test_job_failed_sends_job_failed():
    w = World()
    w.jobs.script("job-1", "IN_PROGRESS", "FAILED")
    p = w.poller()
    p.poll("job-1")
    r = p.poll("job-1").to_dict()
    assert r["status"] == "FAILED" and r["reconnected"] is True
    assert [o.error for _, o in w.sfn.accepted] == [ERROR_JOB_FAILED]
    assert w.record.status is TokenStatus.FAILED and w.record.reason == ERROR_JOB_FAILED
    assert "poll-job-1" not in w.schedules.existing


def test_max_attempts_exceeded_without_asking_the_job_api_again():
    w = World(max_attempts=2)
    w.jobs.script("job-1", "IN_PROGRESS")
    p = w.poller()
    assert p.poll("job-1").status == "IN_PROGRESS"
    assert p.poll("job-1").status == "IN_PROGRESS"
    r = p.poll("job-1")
    assert r.status == "MAX_ATTEMPTS" and r.attempt == 3 and r.max_attempts == 2
    assert w.jobs.checks["job-1"] == 2
    assert [o.error for _, o in w.sfn.accepted] == [ERROR_MAX_ATTEMPTS]
    assert w.record.status is TokenStatus.MAX_ATTEMPTS
    assert "poll-job-1" not in w.schedules.existing


def test_polling_timeout_past_expires_at():
    w = World(timeout_seconds=120, max_attempts=100)
    w.jobs.script("job-1", "IN_PROGRESS")
    p = w.poller()
    w.clock.advance(60)
    assert p.poll("job-1").status == "IN_PROGRESS"
    w.clock.advance(61)
    r = p.poll("job-1")
    assert r.status == "TIMEOUT" and r.reconnected
    assert [o.error for _, o in w.sfn.accepted] == [ERROR_POLLING_TIMEOUT]
    assert w.record.status is TokenStatus.TIMEOUT
    assert w.jobs.checks["job-1"] == 1
    assert "poll-job-1" not in w.schedules.existing


def test_unknown_job_is_a_clear_error_and_writes_nothing():
    w = World()
    writes = w.repo.writes
    with pytest.raises(UnknownJob, match="job-nope"):
        w.poller().poll("job-nope")
    assert w.repo.writes == writes and w.sender.calls == 0 and w.schedules.deletes == []


def test_poll_of_a_finished_record_sends_nothing_and_removes_the_schedule_again():
    w = World()
    w.jobs.script("job-1", "COMPLETED")
    p = w.poller()
    p.poll("job-1")
    w.schedules.existing.add("poll-job-1")  # a delete that did not happen (e.g. the process died)
    r = p.poll("job-1")
    assert r.status == "COMPLETED" and not r.reconnected and r.attempt == 1
    assert len(w.sfn.accepted) == 1 and w.sender.calls == 1
    assert "poll-job-1" not in w.schedules.existing


def test_token_closed_by_step_functions_ends_timeout_with_reason():
    w = World()
    w.jobs.script("job-1", "IN_PROGRESS", "COMPLETED")
    p = w.poller()
    p.poll("job-1")
    w.sfn.time_out(w.token)  # States.Timeout closed the task
    r = p.poll("job-1")
    assert r.status == "TIMEOUT" and not r.reconnected
    assert w.sfn.accepted == [] and len(w.sfn.rejected) == 1
    rec = w.record
    assert rec.status is TokenStatus.TIMEOUT and rec.callback_result == "ALREADY_FINISHED"
    assert "InvalidToken" in rec.reason and "closed by Step Functions" in rec.reason
    assert "poll-job-1" not in w.schedules.existing


@pytest.mark.parametrize("code", ["TaskDoesNotExist", "TaskTimedOut", "InvalidToken"])
def test_each_finished_code_is_recorded_as_the_reason(code):
    w = World()
    w.sfn.finished_code = code
    w.jobs.script("job-1", "FAILED")
    w.sfn.time_out(w.token)
    w.poller().poll("job-1")
    assert w.record.status is TokenStatus.TIMEOUT and w.record.reason.startswith(code)


def test_crash_between_claim_and_callback_is_finished_by_the_next_poll_after_the_lease():
    w = World(lease_seconds=60)
    w.jobs.script("job-1", "COMPLETED")
    w.sender.crash_before_delivery = 1
    p = w.poller()
    with pytest.raises(SimulatedCrash):
        p.poll("job-1")
    rec = w.record
    assert rec.status is TokenStatus.CALLBACK_PENDING and rec.outcome.terminal_status is TokenStatus.COMPLETED
    assert w.sfn.accepted == [] and "poll-job-1" in w.schedules.existing

    w.clock.advance(30)  # inside the lease: the claim holder may still be sending
    r = p.poll("job-1")
    assert r.status == "CALLBACK_PENDING" and w.sfn.accepted == []

    w.clock.advance(31)
    r = p.poll("job-1")
    assert r.status == "COMPLETED" and r.reconnected
    assert len(w.sfn.accepted) == 1 and w.sfn.rejected == []
    assert w.record.status is TokenStatus.COMPLETED and w.record.claim_count == 2
    assert w.jobs.checks["job-1"] == 1  # the stored outcome is resent, the job is not asked again
    assert "poll-job-1" not in w.schedules.existing
    assert w.poller().poll("job-1").status == "COMPLETED" and len(w.sfn.accepted) == 1


def test_crash_after_the_callback_resend_answered_finished_is_done():
    w = World(lease_seconds=60)
    w.jobs.script("job-1", "FAILED")
    w.sender.crash_after_delivery = 1
    p = w.poller()
    with pytest.raises(SimulatedCrash):
        p.poll("job-1")
    assert len(w.sfn.accepted) == 1 and w.record.status is TokenStatus.CALLBACK_PENDING
    w.clock.advance(61)
    r = p.poll("job-1")
    assert r.status == "FAILED" and not r.reconnected
    assert len(w.sfn.accepted) == 1 and len(w.sfn.rejected) == 1
    rec = w.record
    assert rec.status is TokenStatus.FAILED and rec.callback_result == "ALREADY_FINISHED"
    assert "poll-job-1" not in w.schedules.existing


def test_send_error_other_than_finished_keeps_the_claim_for_a_later_resend():
    w = World(lease_seconds=10)
    w.jobs.script("job-1", "COMPLETED")

    class Boom(Exception):
        pass

    original = w.sender.send
    calls = {"n": 0}

    def flaky(token, outcome):
        calls["n"] += 1
        if calls["n"] == 1:
            raise Boom("service unavailable")
        return original(token, outcome)

    w.sender.send = flaky
    p = w.poller()
    with pytest.raises(Boom):
        p.poll("job-1")
    assert w.record.status is TokenStatus.CALLBACK_PENDING
    w.clock.advance(11)
    assert p.poll("job-1").status == "COMPLETED"
    assert len(w.sfn.accepted) == 1


def test_a_status_check_that_raises_is_counted_on_the_record_and_the_next_attempt_asks_again():
    w = World(max_attempts=5)
    w.jobs.script("job-1", "COMPLETED")
    original = w.jobs.check_status

    def unreachable(job_id):
        raise ConnectionError("the job API did not answer " + "z" * 500)

    w.jobs.check_status = unreachable
    p = w.poller()
    with pytest.raises(ConnectionError):
        p.poll("job-1")
    rec = w.record
    assert rec.status is TokenStatus.POLLING and rec.attempt_count == 1 and rec.failed_checks == 1
    assert rec.last_check_error.startswith("attempt 1: ConnectionError: the job API did not answer")
    assert len(rec.last_check_error) == 300  # bounded
    w.jobs.check_status = original
    assert p.poll("job-1").status == "COMPLETED"
    assert w.record.attempt_count == 2 and w.record.failed_checks == 1 and len(w.sfn.accepted) == 1


def _race(prefix, *, start_pending=False):
    holder = {}

    def run(choices):
        il = Interleaver(choices)
        w = World(lease_seconds=60, gate=il.gate)
        w.jobs.script("job-1", "COMPLETED")
        if start_pending:  # a claim whose holder died: both pollers find it stale
            w.sender.crash_before_delivery = 1
            try:
                w.poller().poll("job-1")
            except SimulatedCrash:
                pass
            w.clock.advance(120)
        holder["world"] = w
        il.run([lambda: w.poller().poll("job-1"), lambda: w.poller().poll("job-1")])
        il.world = w
        return il

    return run


@pytest.mark.parametrize("start_pending", [False, True], ids=["from-polling", "stale-claim"])
def test_two_pollers_interleaved_at_every_point_send_exactly_one_callback(start_pending):
    runs = 0
    for il in all_interleavings(_race(None, start_pending=start_pending)):
        runs += 1
        w = il.world
        assert not il.errors, il.errors
        assert len(w.sfn.accepted) == 1, (il.taken, w.sfn.accepted)
        assert w.record.status is TokenStatus.COMPLETED
        assert "poll-job-1" not in w.schedules.existing
        statuses = sorted(r.status for r in il.results.values())
        assert statuses[-1] == "COMPLETED"
        assert sum(1 for r in il.results.values() if r.reconnected) == 1
    assert runs > 20  # the search really explored many orders


def test_expires_at_and_ttl_from_the_record():
    w = World(timeout_seconds=900)
    rec = w.record
    assert rec.expires_at - rec.created_at == timedelta(seconds=900)
    assert rec.ttl == int((rec.expires_at + timedelta(days=7)).timestamp())
    assert iso(rec.created_at).endswith("Z")
