"""What makes a sweep fast keeps every guarantee: look-ahead, cadence, the query's copy of a record, the
lease and sweeping on while there is work (over the token lifecycle's fakes)."""

from __future__ import annotations

import sys
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "poc"))

import pytest  # noqa: E402
from poc_fakes import SimulatedCrash  # noqa: E402
from test_sweep_service import FakeDueSource, sweep_world  # noqa: E402

from sfn_callback.polling.application.sweep import DueRecord, SweepPoller, next_slot  # noqa: E402
from sfn_callback.polling.domain.lifecycle import TokenStatus, iso, parse_iso  # noqa: E402


class LookingAheadSource(FakeDueSource):
    """Records the horizon each query asked for."""

    def __init__(self, repo, prefetch=False):
        super().__init__(repo)
        self.horizons = []
        self.prefetch = prefetch

    def due(self, now, stale_claims_before, limit, **adoption):
        self.horizons.append(now)
        found = super().due(now, stale_claims_before, limit, **adoption)
        if self.prefetch:
            found = [replace(d, record=self.repo.items[d.job_id]) for d in found]
        return found


class CountingGets:
    def __init__(self, repo):
        self.inner, self.gets = repo, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def get(self, job_id):
        self.gets += 1
        return self.inner.get(job_id)


class FakeLease:
    def __init__(self):
        self.holder, self.until, self.lock = None, None, threading.Lock()
        self.acquired = self.refused = 0

    def acquire(self, holder, now, until):
        with self.lock:
            if self.holder is not None and self.until >= now:
                self.refused += 1
                return False
            self.holder, self.until = holder, until
            self.acquired += 1
            return True

    def release(self, holder):
        with self.lock:
            if self.holder == holder:
                self.holder = None


def sweeper(w, source=None, repository=None, **kwargs):
    return SweepPoller(source=source or FakeDueSource(w.repo), repository=repository or w.repo, sender=w.sender,
                       jobs=w.jobs, lease_seconds=w.lease_seconds, clock=w.clock, sleep=w.clock.advance,
                       concurrency=1, **kwargs)


def test_look_ahead_polls_a_record_due_just_after_the_sweep_at_its_slot_not_before():
    w, _ = sweep_world(interval_seconds=2)
    w.jobs.script("job-1", "IN_PROGRESS", "COMPLETED")
    slot = w.record.next_poll_at
    w.clock.advance(2 - 0.05)  # the sweep runs 50 ms before the job is due
    assert sweeper(w).sweep().due == 0  # without look-ahead it waits for the next sweep
    source = LookingAheadSource(w.repo)
    result = sweeper(w, source=source, lookahead_seconds=1).sweep()
    assert (result.due, result.polled) == (1, 1)
    assert source.horizons == [slot - timedelta(seconds=0.05) + timedelta(seconds=1)]
    assert w.clock() == slot  # it waited for the slot: never polled early
    assert w.record.attempt_count == 1 and w.jobs.checks["job-1"] == 1


def test_the_next_slot_keeps_the_jobs_cadence_when_the_sweep_is_late():
    w, _ = sweep_world(interval_seconds=2)
    w.jobs.script("job-1", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED")
    first = w.record.next_poll_at
    w.clock.advance(2.7)  # the sweep comes 0.7 s after the slot
    sweeper(w).sweep()
    assert w.record.next_poll_at == first + timedelta(seconds=2)  # not now + 2 s
    w.clock.advance(10)  # later than a whole interval: the next slot is one interval from now
    sweeper(w).sweep()
    assert w.record.next_poll_at == w.clock() + timedelta(seconds=2)


def test_next_slot():
    now = parse_iso("2025-01-01T00:00:10.500Z")
    default = now + timedelta(seconds=2)
    assert next_slot(None, now, default) == default
    assert next_slot("2025-01-01T00:00:10.000Z", now, default) == parse_iso("2025-01-01T00:00:12.000Z")
    assert next_slot("2025-01-01T00:00:08.000Z", now, default) == default  # 10.0 is already past


def test_the_querys_copy_of_the_record_saves_the_read_and_a_stale_copy_changes_nothing():
    w, tokens = sweep_world(jobs=3, interval_seconds=2)
    for job_id in tokens:
        w.jobs.script(job_id, "COMPLETED")
    w.clock.advance(2)
    repo = CountingGets(w.repo)
    result = sweeper(w, source=LookingAheadSource(w.repo, prefetch=True), repository=repo).sweep()
    assert result.polled == 3 and repo.gets == 0
    assert sorted(t for t, _ in w.sfn.accepted) == sorted(tokens.values())

    # A copy older than the record (another sweep polled it since): the slot condition stops the poll.
    w, _ = sweep_world(interval_seconds=2)
    w.jobs.script("job-1", "IN_PROGRESS", "COMPLETED")
    w.clock.advance(2)
    stale = w.repo.items["job-1"]

    class StaleSource(FakeDueSource):
        def due(self, now, stale_claims_before, limit, **adoption):
            return [DueRecord("job-1", "POLLING", iso(stale.next_poll_at), stale)]

    sweeper(w).sweep()  # another sweep takes the slot
    assert w.record.attempt_count == 1
    result = sweeper(w, source=StaleSource(w.repo)).sweep()
    assert (result.polled, result.skipped) == (0, 1)
    assert w.record.attempt_count == 1 and w.jobs.checks["job-1"] == 1


def test_a_stale_copy_of_a_claimed_record_does_not_resend_twice():
    w, _ = sweep_world(interval_seconds=2, lease_seconds=60)
    w.jobs.script("job-1", "COMPLETED")
    w.clock.advance(2)
    assert sweeper(w).sweep().reconnected == 1
    finished = w.repo.items["job-1"]
    # The query saw the record while it was claimed long ago; it has been finalized since.
    copy = replace(finished, status=TokenStatus.CALLBACK_PENDING, claimed_at=w.clock() - timedelta(seconds=120))

    class StaleSource(FakeDueSource):
        def due(self, now, stale_claims_before, limit, **adoption):
            return [DueRecord("job-1", "CALLBACK_PENDING", iso(copy.next_poll_at), copy)]

    result = sweeper(w, source=StaleSource(w.repo)).sweep()
    assert result.reconnected == 0 and len(w.sfn.accepted) == 1
    assert w.record.status is TokenStatus.COMPLETED and w.record.claim_count == 1


def test_a_sweep_that_finds_the_lease_held_does_nothing_and_a_crashed_holders_lease_expires():
    w, _ = sweep_world(interval_seconds=2)
    w.jobs.script("job-1", "COMPLETED")
    w.clock.advance(2)
    lease = FakeLease()
    assert lease.acquire("crashed-sweep", w.clock(), w.clock() + timedelta(seconds=50))
    busy = sweeper(w, lease=lease).sweep()
    assert busy.lease_busy and busy.due == 0 and busy.passes == 0 and w.record.attempt_count == 0
    assert busy.to_dict()["leaseBusy"] is True
    w.clock.advance(51)
    done = sweeper(w, lease=lease).sweep()
    assert not done.lease_busy and done.reconnected == 1
    assert lease.holder is None  # given back


def test_the_lease_is_given_back_when_a_poll_crashes():
    w, _ = sweep_world(interval_seconds=2)
    w.jobs.script("job-1", "COMPLETED")
    w.sender.crash_before_delivery = 1
    w.clock.advance(2)
    lease = FakeLease()
    with pytest.raises(SimulatedCrash):
        sweeper(w, lease=lease).sweep()
    assert lease.holder is None


def test_the_lease_holder_keeps_sweeping_while_there_is_work():
    w, tokens = sweep_world(jobs=4, interval_seconds=1)
    for job_id in tokens:
        w.jobs.script(job_id, "IN_PROGRESS", "IN_PROGRESS", "COMPLETED")
    w.clock.advance(1)
    lease = FakeLease()
    result = sweeper(w, lease=lease, lookahead_seconds=1, max_seconds=30).sweep()
    # Three checks a job, one second apart, in one invocation: the passes followed the jobs' slots.
    assert result.reconnected == 4 and result.polled == 12 and result.passes == 4
    assert sorted(t for t, _ in w.sfn.accepted) == sorted(tokens.values())
    assert all(w.repo.items[j].claim_count == 1 and w.repo.items[j].attempt_count == 3 for j in tokens)
    assert lease.acquired == 1 and lease.holder is None


def test_no_poll_starts_or_waits_past_the_deadline():
    w, _ = sweep_world(interval_seconds=2)
    w.jobs.script("job-1", "COMPLETED")
    w.clock.advance(1.5)  # due in 0.5 s
    result = sweeper(w, lookahead_seconds=1).sweep(time_left=lambda: 2.2)  # 2.2 - 0.5 < the 2 s margin
    assert (result.due, result.deferred, result.polled) == (1, 1, 0)
    assert w.record.attempt_count == 0
