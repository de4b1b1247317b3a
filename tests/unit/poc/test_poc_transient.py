"""Transient answers of the job API (unreachable, timed out, 5xx, 429): the attempt is given back, the next poll
honours ``retry_after``, and a transient answer racing a real one still ends in exactly one callback."""

from __future__ import annotations

import threading
from datetime import timedelta

from poc_fakes import Interleaver, World, all_interleavings

from sfn_callback.polling.domain.jobs import Completed, InProgress, Transient
from sfn_callback.polling.domain.lifecycle import ERROR_POLLING_TIMEOUT, TokenStatus


class ScriptedJobs:
    """Answers job states in order, the last one repeating; counts what it was asked."""

    def __init__(self, *answers, gate=None):
        self.answers = list(answers)
        self.asked = 0
        self.lock = threading.Lock()
        self.gate = gate

    def check_status(self, job_id):
        if self.gate is not None:
            self.gate("check")
        with self.lock:
            self.asked += 1
            return self.answers[min(self.asked, len(self.answers)) - 1]


def slot(w, n):
    return w.record.created_at + timedelta(seconds=n * w.record.interval_seconds)


def test_a_transient_answer_gives_the_attempt_back_and_keeps_polling():
    w = World(max_attempts=2, interval_seconds=60)
    w.jobs = ScriptedJobs(Transient("HTTP 503"), Transient("timed out"), InProgress(), Completed({"ok": 1}))
    p = w.poller()
    first = p.poll("job-1", slot=slot(w, 1))
    assert first.status == "POLLING" and first.attempt == 0 and "HTTP 503" in first.detail
    assert w.record.attempt_count == 0 and w.record.transient_checks == 1 and w.record.check_until is None
    assert "transient: HTTP 503" in w.record.last_check_error and w.record.status is TokenStatus.POLLING
    assert p.poll("job-1", slot=slot(w, 1)).skipped  # the slot stays polled: a duplicate still counts nothing
    assert p.poll("job-1", slot=slot(w, 2)).attempt == 0
    # Two transient answers used up no attempt of the two allowed: both real answers are asked.
    assert p.poll("job-1", slot=slot(w, 3)).to_dict()["attempt"] == 1
    done = p.poll("job-1", slot=slot(w, 4))
    assert done.status == "COMPLETED" and done.attempt == 2 and done.reconnected
    assert w.jobs.asked == 4 and w.record.transient_checks == 2 and len(w.sfn.accepted) == 1
    assert w.sfn.accepted[0][1].output["result"] == {"ok": 1}


def test_the_next_poll_honours_retry_after_and_a_manual_poll_asks_anyway():
    w = World(max_attempts=5, interval_seconds=1)
    w.jobs = ScriptedJobs(Transient("HTTP 429", retry_after=5), InProgress(), InProgress(), Completed())
    p = w.poller()
    assert p.poll("job-1", slot=slot(w, 1)).attempt == 0
    not_before = w.record.not_before
    assert not_before == w.clock() + timedelta(seconds=5)
    assert w.record.next_poll_at == not_before  # the sweep does not find it due before then
    for n in (2, 3, 4):
        w.clock.advance(1)
        skipped = p.poll("job-1", slot=slot(w, n))
        assert skipped.skipped and "wait until" in skipped.detail
    assert w.jobs.asked == 1 and w.record.attempt_count == 0 and w.record.polled_slot == slot(w, 1)
    assert p.poll("job-1").attempt == 1  # a manual poll is asked for now: it asks
    w.clock.advance(2)  # past notBefore
    assert p.poll("job-1", slot=slot(w, 6)).attempt == 2
    assert p.poll("job-1", slot=slot(w, 7)).status == "COMPLETED"
    assert w.jobs.asked == 4 and len(w.sfn.accepted) == 1


def test_an_api_that_keeps_throttling_still_ends_on_the_polling_timeout():
    w = World(max_attempts=3, interval_seconds=60, timeout_seconds=180)
    w.jobs = ScriptedJobs(Transient("HTTP 429", retry_after=3600))
    p = w.poller()
    assert p.poll("job-1", slot=slot(w, 1)).attempt == 0
    w.clock.advance(120)
    assert p.poll("job-1", slot=slot(w, 2)).skipped
    w.clock.advance(61)  # past expiresAt: nothing skips any more
    ended = p.poll("job-1", slot=slot(w, 3))
    assert ended.status == "TIMEOUT" and w.sfn.accepted[0][1].error == ERROR_POLLING_TIMEOUT
    assert w.jobs.asked == 1


def test_a_transient_answer_racing_a_real_one_sends_one_callback_at_every_interleaving():
    """maxAttempts 1; slot 1 and slot 2 poll concurrently and the first status check answers transient, any later
    one COMPLETED. At every order of their steps: the transient's attempt is given back (attempts = real answers);
    the second poll asks (COMPLETED) or is the attempts verdict deferred for the open check (giving its attempt
    back too), and then slot 3 asks. Exactly one callback, COMPLETED, never MaxAttemptsExceeded."""

    def run_once(choices):
        il = Interleaver(choices)
        w = World(max_attempts=1, gate=il.gate)
        w.jobs = ScriptedJobs(Transient("HTTP 503"), Completed({"n": 1}), gate=il.gate)
        s1, s2 = slot(w, 1), slot(w, 2)
        il.run([lambda: w.poller().poll("job-1", slot=s1), lambda: w.poller().poll("job-1", slot=s2)])
        il.world = w
        return il

    runs = deferred = 0
    for il in all_interleavings(run_once):
        runs += 1
        assert not il.errors, il.errors
        w = il.world
        if not w.sfn.accepted:  # the second poll was the deferred verdict: the next slot asks
            w.jobs.gate = None
            assert w.record.status is TokenStatus.POLLING and w.record.attempt_count == 0
            assert w.poller().poll("job-1", slot=slot(w, 3)).status == "COMPLETED"
            deferred += 1
        assert [o.terminal_status for _, o in w.sfn.accepted] == [TokenStatus.COMPLETED], il.taken
        assert w.record.status is TokenStatus.COMPLETED and w.record.claim_count == 1
        # The transient's attempt is always given back, whatever the order: attempts = the one real answer.
        assert w.jobs.asked == 2 and w.record.transient_checks == 1 and w.record.attempt_count == 1
    assert runs > 10 and deferred > 0
