"""One attempt per poll slot, the API's outcome never losing to a verdict, and a crashed invocation's own retry
resuming its claim: the token lifecycle over the fakes, with every interleaving of the racing polls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from poc_fakes import FlakyStepFunctionsClient, Interleaver, SimulatedCrash, World, all_interleavings, gate_checks

from sfn_callback.polling.domain.lifecycle import ERROR_MAX_ATTEMPTS, SendResult, TokenStatus


def slot(w, n):
    """The scheduled time of the job's n-th schedule delivery."""
    return w.record.created_at + timedelta(seconds=n * w.record.interval_seconds)


def test_duplicate_deliveries_of_one_slot_count_one_attempt_and_ask_once():
    w = World(max_attempts=3)
    w.jobs.script("job-1", "IN_PROGRESS", "COMPLETED")
    p = w.poller()
    first = p.poll("job-1", slot=slot(w, 1))
    again = [p.poll("job-1", slot=slot(w, 1)) for _ in range(9)]
    assert first.to_dict() == {"status": "IN_PROGRESS", "attempt": 1, "maxAttempts": 3, "jobId": "job-1"}
    assert all(r.skipped and r.status == "POLLING" and r.attempt == 1 for r in again)
    assert "already polled" in again[0].detail
    assert w.record.attempt_count == 1 and w.jobs.checks["job-1"] == 1
    # An older slot delivered late is a duplicate too; the next slot polls, early or late.
    assert p.poll("job-1", slot=slot(w, 0)).skipped
    w.clock.advance(30)  # half an interval before slot 2: arrival time plays no part
    done = p.poll("job-1", slot=slot(w, 2))
    assert done.status == "COMPLETED" and done.reconnected and w.record.attempt_count == 2
    assert len(w.sfn.accepted) == 1


def test_a_manual_poll_is_an_extra_poll_and_leaves_the_schedules_slots_alone():
    w = World(max_attempts=5)
    w.jobs.script("job-1", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED")
    p = w.poller()
    assert p.poll("job-1", slot=slot(w, 1)).attempt == 1
    assert [p.poll("job-1").attempt for _ in range(2)] == [2, 3]  # seed poll-manually.sh, back to back
    assert p.poll("job-1", slot=slot(w, 1)).skipped  # the schedule's slot 1 is still taken
    assert p.poll("job-1", slot=slot(w, 2)).status == "COMPLETED"
    assert w.record.attempt_count == 4 == w.jobs.checks["job-1"]


@pytest.mark.parametrize("polls", [2, 3])
def test_duplicate_deliveries_interleaved_at_every_point_count_one_attempt(polls):
    def run_once(choices):
        il = Interleaver(choices)
        w = World(max_attempts=3, gate=il.gate)
        w.jobs.script("job-1", "IN_PROGRESS")
        s1 = slot(w, 1)
        il.run([lambda: w.poller().poll("job-1", slot=s1) for _ in range(polls)])
        il.world = w
        return il

    runs = 0
    for il in all_interleavings(run_once):
        runs += 1
        assert not il.errors, il.errors
        w = il.world
        assert w.record.attempt_count == 1 and w.jobs.checks["job-1"] == 1 and w.record.status is TokenStatus.POLLING
        assert sorted(r.skipped for r in il.results.values()) == [False] + [True] * (polls - 1)
    assert runs > 5


@pytest.mark.parametrize("answer", ["COMPLETED", "FAILED"])
def test_a_slow_check_overlapping_the_next_slots_verdict_wins_at_every_interleaving(answer):
    """maxAttempts 1: slot 1 asks the API (slowly); slot 2 is the attempts verdict and comes while the check is
    open. Whatever the order of their steps, the API's answer is the outcome and exactly one callback goes."""

    def run_once(choices):
        il = Interleaver(choices)
        w = World(max_attempts=1, gate=il.gate)
        w.jobs.script("job-1", answer)
        gate_checks(w, il.gate)
        s1, s2 = slot(w, 1), slot(w, 2)
        il.run([lambda: w.poller().poll("job-1", slot=s1), lambda: w.poller().poll("job-1", slot=s2)])
        il.world = w
        return il

    runs = deferred = 0
    for il in all_interleavings(run_once):
        runs += 1
        assert not il.errors, il.errors
        w = il.world
        assert [o.terminal_status.value for _, o in w.sfn.accepted] == [answer], (il.taken, w.sfn.accepted)
        assert w.record.status.value == answer and w.record.claim_count == 1
        deferred += sum(1 for r in il.results.values() if r.skipped and "deferred" in (r.detail or ""))
    assert runs > 10 and deferred > 0  # some orders really had the verdict wait for the open check


class Adversary:
    """Choices for the interleaver: every poll reads, then every poll counts its attempt, then the polls go on
    from the last one counted (the verdicts first): the order the adversarial run's ten invokes produced."""

    def __init__(self):
        self.il: Interleaver | None = None

    def __len__(self):
        return 1_000_000

    def __getitem__(self, step):
        waiting = sorted(self.il.waiting)
        for point in ("get", "increment"):
            at = [i for i in waiting if self.il.waiting[i] == point]
            if at:
                return waiting.index(at[0])
        return len(waiting) - 1


def burst(w, polls, **poll_args):
    adversary = Adversary()
    il = adversary.il = Interleaver(adversary)  # type: ignore[arg-type]
    w.repo.gate = w.sender.gate = il.gate
    gate_checks(w, il.gate)
    il.run([lambda: w.poller().poll("job-1", **poll_args) for _ in range(polls)])
    assert not il.errors, il.errors
    return list(il.results.values())


def test_ten_concurrent_manual_polls_never_let_the_attempt_limit_beat_the_apis_answer():
    """The adversarial run's finding: ten polls at once, maxAttempts 3, the job completes at its 2nd check;
    the polls that counted attempts 4-10 are verdicts, and they wait for the open checks."""
    w = World(max_attempts=3)
    w.jobs.script("job-1", "IN_PROGRESS", "COMPLETED")
    results = burst(w, 10)
    assert [o.error for _, o in w.sfn.accepted] == [None]  # one callback: the API's COMPLETED
    assert w.record.status is TokenStatus.COMPLETED and w.jobs.checks["job-1"] == 3
    assert sum(1 for r in results if "deferred" in (r.detail or "")) == 7


def test_ten_duplicate_deliveries_of_each_slot_count_one_attempt_each():
    w = World(max_attempts=3)
    w.jobs.script("job-1", "IN_PROGRESS", "COMPLETED")
    results = burst(w, 10, slot=slot(w, 1))
    assert w.record.attempt_count == 1 == w.jobs.checks["job-1"] and w.record.status is TokenStatus.POLLING
    assert sum(r.skipped for r in results) == 9
    w.clock.advance(60)
    results = burst(w, 10, slot=slot(w, 2))
    assert [o.error for _, o in w.sfn.accepted] == [None] and w.record.status is TokenStatus.COMPLETED
    assert w.record.attempt_count == 2 == w.jobs.checks["job-1"]


def test_a_verdict_waits_for_an_open_check_then_comes_at_a_later_slot():
    w = World(max_attempts=1, interval_seconds=60)
    w.jobs.script("job-1", "IN_PROGRESS")
    p = w.poller()
    release = []
    check = w.jobs.check_status

    def slow(job_id):  # the check of slot 1 is still running when slot 2 comes
        release.append(p.poll("job-1", slot=slot(w, 2)))
        return check(job_id)

    w.jobs.check_status = slow
    w.clock.advance(60)  # slot 1's time
    assert p.poll("job-1", slot=slot(w, 1)).status == "IN_PROGRESS"
    (during,) = release
    assert during.skipped and "MaxAttemptsExceeded deferred: a status check is open" in during.detail
    # The check's window (15 s) ends long before the next slot: it is left to expire, no write to close it.
    assert w.record.status is TokenStatus.POLLING and w.record.check_until == w.clock() + timedelta(seconds=15)
    w.jobs.check_status = check
    w.clock.advance(60)
    later = p.poll("job-1", slot=slot(w, 3))
    assert later.status == "MAX_ATTEMPTS" and [o.error for _, o in w.sfn.accepted] == [ERROR_MAX_ATTEMPTS]
    assert w.jobs.checks["job-1"] == 1


def test_only_the_checks_whose_window_a_verdict_could_meet_close_it():
    """A 5 s interval (shorter than the 15 s check window, as locally): the checks within reach of the attempt
    limit close their window when they answer (one more write each), the others leave it to expire."""
    w = World(max_attempts=5, interval_seconds=5)
    w.jobs.script("job-1", "IN_PROGRESS")
    p = w.poller()
    writes = []
    for n in range(1, 6):
        w.clock.advance(5)
        before = w.repo.writes
        assert p.poll("job-1", slot=slot(w, n)).status == "IN_PROGRESS"
        writes.append(w.repo.writes - before)
    assert writes == [1, 1, 2, 2, 2]  # attempt 3: the verdict (attempt 6) would come 15 s later, inside its window
    w.clock.advance(5)
    assert p.poll("job-1", slot=slot(w, 6)).status == "MAX_ATTEMPTS"  # not deferred
    assert w.jobs.checks["job-1"] == 5


def test_with_minute_intervals_no_check_needs_closing():
    w = World(max_attempts=2, interval_seconds=60)
    w.jobs.script("job-1", "IN_PROGRESS")
    p = w.poller()
    for n in (1, 2):
        w.clock.advance(60)
        before = w.repo.writes
        assert p.poll("job-1", slot=slot(w, n)).status == "IN_PROGRESS" and w.repo.writes == before + 1
    w.clock.advance(60)
    assert p.poll("job-1", slot=slot(w, 3)).status == "MAX_ATTEMPTS"


def test_an_answer_after_the_check_window_is_not_used():
    w = World(max_attempts=5, interval_seconds=60)
    w.jobs.script("job-1", "COMPLETED")
    check = w.jobs.check_status

    def slow(job_id):
        w.clock.advance(61)  # longer than the 60 s window
        return check(job_id)

    w.jobs.check_status = slow
    late = w.poller().poll("job-1", slot=slot(w, 1))
    assert late.status == "POLLING" and "after its window" in late.detail
    assert w.sfn.accepted == [] and w.record.status is TokenStatus.POLLING
    w.jobs.check_status = check
    assert w.poller().poll("job-1", slot=slot(w, 2)).status == "COMPLETED"


def test_a_failing_check_near_the_limit_closes_its_window():
    w = World(max_attempts=1, interval_seconds=5)
    w.jobs.check_status = lambda job_id: (_ for _ in ()).throw(RuntimeError("api down"))
    w.clock.advance(5)
    with pytest.raises(RuntimeError):
        w.poller().poll("job-1", slot=slot(w, 1))
    assert w.record.check_until is None
    w.clock.advance(5)
    assert w.poller().poll("job-1", slot=slot(w, 2)).status == "MAX_ATTEMPTS"


def test_the_invocations_own_retry_resumes_its_claim_at_once_and_another_waits_for_the_lease():
    w = World(lease_seconds=60)
    w.jobs.script("job-1", "COMPLETED")
    w.sender.crash_before_delivery = 1
    with pytest.raises(SimulatedCrash):
        w.poller().poll("job-1", slot=slot(w, 1), holder="req-1")
    assert w.record.status is TokenStatus.CALLBACK_PENDING and w.record.claim_holder == "req-1"
    other = w.poller().poll("job-1", slot=slot(w, 2), holder="req-2")
    assert other.status == "CALLBACK_PENDING" and "in progress elsewhere" in other.detail
    assert w.poller().poll("job-1").status == "CALLBACK_PENDING"  # a manual poll has no holder: waits too
    w.clock.advance(1)
    retry = w.poller().poll("job-1", slot=slot(w, 1), holder="req-1")  # Lambda's retry: same event, same id
    assert retry.status == "COMPLETED" and retry.reconnected and retry.recovered
    assert retry.to_dict()["recovered"] is True
    assert len(w.sfn.accepted) == 1 and w.record.claim_count == 2 and w.record.claim_holder == "req-1"


def test_a_finished_answer_after_a_possibly_delivered_attempt_is_our_own_callback():
    w = World()
    w.jobs.script("job-1", "COMPLETED")
    w.sender.send = lambda token, outcome: (w.sfn.deliver(token, outcome),
                                            SendResult(accepted=False, finished_reason="TaskDoesNotExist",
                                                       maybe_ours=True))[1]
    result = w.poller().poll("job-1")
    assert result.status == "COMPLETED" and not result.reconnected
    assert w.record.status is TokenStatus.COMPLETED and w.record.callback_result == "ALREADY_FINISHED"


def test_a_claim_whose_callback_failed_transiently_is_released_and_resumed_by_the_next_poll_at_once():
    """The invocation's every attempt answered 500: it releases its claim as it fails, so another poll (the next
    slot, the sweep) resumes it without waiting for the lease; one callback."""
    w = World(lease_seconds=60)
    w.jobs.script("job-1", "COMPLETED")
    flaky = FlakyStepFunctionsClient(w.sfn, failures=5)
    w.sender = flaky.sender()
    with pytest.raises(Exception, match="InternalFailure"):
        w.poller().poll("job-1", slot=slot(w, 1), holder="req-1")
    assert flaky.calls == 5 and w.record.status is TokenStatus.CALLBACK_PENDING
    assert w.record.claim_holder == "req-1" and w.record.claim_released_at == w.clock()
    resumed = w.poller().poll("job-1", slot=slot(w, 2), holder="req-2")  # no time has passed
    assert resumed.status == "COMPLETED" and resumed.reconnected and resumed.recovered
    assert len(w.sfn.accepted) == 1 and w.record.claim_count == 2 and w.record.claim_released_at is None
    assert w.poller().poll("job-1", slot=slot(w, 3), holder="req-1").detail == "already finished"
    assert len(w.sfn.accepted) == 1 and flaky.calls == 6


def test_a_refused_callback_keeps_its_claim_for_the_lease():
    w = World(lease_seconds=60)
    w.jobs.script("job-1", "COMPLETED")
    flaky = FlakyStepFunctionsClient(w.sfn, failures=1, code="AccessDeniedException", status=400)
    w.sender = flaky.sender()
    with pytest.raises(Exception, match="AccessDenied"):
        w.poller().poll("job-1", slot=slot(w, 1), holder="req-1")
    assert flaky.calls == 1 and w.record.claim_released_at is None
    assert "in progress elsewhere" in w.poller().poll("job-1", slot=slot(w, 2), holder="req-2").detail
    w.clock.advance(61)
    assert w.poller().poll("job-1", slot=slot(w, 3), holder="req-2").status == "COMPLETED"
    assert len(w.sfn.accepted) == 1
