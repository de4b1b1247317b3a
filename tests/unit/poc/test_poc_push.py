"""A pushed job end completes the token through the same claim as a poll: one callback whichever comes first,
with every interleaving of a push and a poll (the token lifecycle over the fakes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from poc_fakes import Interleaver, World, all_interleavings

from sfn_callback.polling.domain.jobs import Completed, Failed, InProgress
from sfn_callback.polling.domain.lifecycle import ERROR_MAX_ATTEMPTS, TokenStatus, UnknownJob


def slot(w, n):
    return w.record.created_at + timedelta(seconds=n * w.record.interval_seconds)


def test_a_push_completes_the_token_once_and_a_second_push_or_a_poll_sends_nothing():
    w = World(max_attempts=5)
    w.jobs.script("job-1", "COMPLETED")
    p = w.poller()
    done = p.complete_from_push("job-1", Completed({"rows": 3}), holder="push-1")
    assert done.status == "COMPLETED" and done.reconnected and done.attempt == 0
    assert w.record.status is TokenStatus.COMPLETED and w.record.claim_holder == "push-1"
    assert w.sfn.accepted[0][1].output["result"] == {"rows": 3}
    again = p.complete_from_push("job-1", Completed({"rows": 4}), holder="push-2")
    assert again.status == "COMPLETED" and again.detail == "already finished" and not again.reconnected
    assert p.poll("job-1", slot=slot(w, 1)).detail == "already finished"
    assert len(w.sfn.accepted) == 1 and not w.sfn.rejected and w.sender.calls == 1
    assert "job-1" not in w.jobs.checks  # the push asked the API nothing
    assert w.schedules.existing == set()


def test_a_pushed_failure_fails_the_task_and_a_push_in_progress_or_for_an_unknown_job_changes_nothing():
    w = World()
    p = w.poller()
    still = p.complete_from_push("job-1", InProgress(), holder="push-1")
    assert still.status == "POLLING" and "in progress" in still.detail and w.sender.calls == 0
    with pytest.raises(UnknownJob):
        p.complete_from_push("job-404", Completed(), holder="push-2")
    failed = p.complete_from_push("job-1", Failed("RenderError", "frame 7"), holder="push-3")
    assert failed.status == "FAILED" and w.sfn.accepted[0][1].error == "RenderError"
    assert w.record.attempt_count == 0


def gate_checks(w, gate):
    check = w.jobs.check_status

    def gated(job_id):
        gate("check")
        return check(job_id)

    w.jobs.check_status = gated


@pytest.mark.parametrize(("answer", "max_attempts"), [("COMPLETED", 5), ("IN_PROGRESS", 5), ("IN_PROGRESS", 0)])
def test_a_push_racing_a_poll_interleaved_at_every_point_gives_one_callback(answer, max_attempts):
    """The poll finds the job completed too, still in progress, or is past its attempts (a verdict)."""

    def run_once(choices):
        il = Interleaver(choices)
        w = World(max_attempts=max_attempts, gate=il.gate)
        w.jobs.script("job-1", answer)
        gate_checks(w, il.gate)
        s1 = slot(w, 1)
        il.run([lambda: w.poller().poll("job-1", slot=s1, holder="poll-1"),
                lambda: w.poller().complete_from_push("job-1", Completed({"by": "push"}), holder="push-1")])
        il.world = w
        return il

    runs = 0
    winners = set()
    for il in all_interleavings(run_once):
        runs += 1
        w = il.world
        assert not il.errors, il.errors
        assert len(w.sfn.accepted) == 1 and not w.sfn.rejected and w.sender.calls == 1
        assert w.record.status.is_terminal and w.record.callback_result == "ACCEPTED"
        assert w.record.claim_count == 1
        winners.add(w.record.claim_holder)
        if w.record.claim_holder == "poll-1" and max_attempts == 0:
            assert w.sfn.accepted[0][1].error == ERROR_MAX_ATTEMPTS
        if answer == "IN_PROGRESS" and max_attempts:
            assert w.record.claim_holder == "push-1"
    expected = {"push-1"} if answer == "IN_PROGRESS" and max_attempts else {"push-1", "poll-1"}
    assert winners == expected and runs > 5


def test_a_push_resends_a_stale_claim_outcome_instead_of_its_own():
    w = World(lease_seconds=60)
    w.jobs.script("job-1", "COMPLETED")
    w.sender.crash_before_delivery = 1
    p = w.poller()
    with pytest.raises(BaseException, match="died"):
        p.poll("job-1", slot=slot(w, 1), holder="poll-1")
    assert w.record.status is TokenStatus.CALLBACK_PENDING
    busy = p.complete_from_push("job-1", Failed(), holder="push-1")
    assert busy.detail == "callback in progress elsewhere" and not w.sfn.accepted
    w.clock.advance(61)
    resent = p.complete_from_push("job-1", Failed(), holder="push-1")
    assert resent.recovered and resent.status == "COMPLETED"
    assert len(w.sfn.accepted) == 1 and w.sfn.accepted[0][1].error is None
