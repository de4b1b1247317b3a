"""The sweep adopts per-job records that their own schedule stopped polling (over the token lifecycle's fakes):
no job is orphaned, and one callback per token holds against a per-job poll that comes back."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "poc"))

import pytest  # noqa: E402
from poc_fakes import Interleaver, SimulatedCrash, World, all_interleavings  # noqa: E402
from test_sweep_service import FakeDueSource, sweep_world  # noqa: E402

from sfn_callback.config import SWEEP_MODE_SCHEDULE_NAME  # noqa: E402
from sfn_callback.polling.application.sweep import SweepPoller  # noqa: E402
from sfn_callback.polling.domain.lifecycle import TokenStatus  # noqa: E402

GRACE = 300
INTERVAL = 60


def sweeper(w, logs=None, **kwargs):
    kwargs.setdefault("adopt_after_seconds", GRACE)
    log = (lambda message, **fields: logs.append((message, fields))) if logs is not None else None
    s = SweepPoller(source=FakeDueSource(w.repo), repository=w.repo, sender=w.sender, jobs=w.jobs,
                    lease_seconds=w.lease_seconds, clock=w.clock, **kwargs)
    if log:
        s.log = log
    return s


def orphaned_world(**kwargs):
    """A per-job record whose schedule was never created (create-job died after storing the record)."""
    w = World(interval_seconds=INTERVAL, **kwargs)
    w.schedules.existing.clear()
    return w


def test_an_overdue_per_job_record_is_adopted_then_polled_at_its_cadence_with_one_callback():
    w = orphaned_world()
    w.jobs.script("job-1", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED")
    logs = []
    s = sweeper(w, logs)
    w.clock.advance(INTERVAL + GRACE + 1)
    result = s.sweep()
    assert (result.polled, result.adopted) == (1, 1) and result.to_dict()["adopted"] == 1
    adopted_at = w.record.adopted_at
    assert adopted_at == w.clock() and w.record.attempt_count == 1
    assert w.record.schedule_name == "poll-job-1"  # it keeps its own schedule's name
    (_, fields), = [entry for entry in logs if "adopted" in entry[0]]
    assert fields["job_id"] == "job-1" and fields["overdue_seconds"] == GRACE + 1
    assert w.token not in repr(logs) and w.token[-40:] not in repr(logs)

    # Adopted: due again one interval later (not one interval plus the grace), not counted as a new adoption.
    w.clock.advance(INTERVAL - 1)
    assert s.sweep().due == 0
    w.clock.advance(1)
    result = s.sweep()
    assert (result.polled, result.adopted) == (1, 0) and w.record.adopted_at == adopted_at
    w.clock.advance(INTERVAL)
    assert s.sweep().reconnected == 1
    assert len(w.sfn.accepted) == 1 and w.record.status is TokenStatus.COMPLETED and w.record.claim_count == 1
    assert w.record.attempt_count == 3 == w.jobs.checks["job-1"]
    assert w.schedules.deletes == []  # the sweep never deletes a per-job schedule

    # The schedule shows up late (create-job was slow, not dead): its first poll finds the job finished
    # and deletes it, as for any terminal record.
    w.schedules.existing.add("poll-job-1")
    assert w.poller().poll("job-1").detail == "already finished"
    assert "poll-job-1" not in w.schedules.existing and len(w.sfn.accepted) == 1


def test_a_per_job_record_within_the_grace_is_left_to_its_schedule():
    w = orphaned_world()
    w.jobs.script("job-1", "IN_PROGRESS")
    w.clock.advance(INTERVAL + GRACE - 0.001)  # overdue by just under the grace
    result = sweeper(w).sweep()
    assert (result.due, result.adopted) == (0, 0)
    assert w.record.attempt_count == 0 and w.record.adopted_at is None
    w.clock.advance(0.002)
    assert sweeper(w).sweep().adopted == 1


def test_adoption_off_never_polls_a_per_job_record():
    w = orphaned_world()
    w.clock.advance(INTERVAL + 10 * GRACE)
    assert sweeper(w, adopt_after_seconds=0).sweep().due == 0 and w.record.attempt_count == 0
    with pytest.raises(ValueError):
        sweeper(w, adopt_after_seconds=-1)


def test_a_sweep_mode_record_is_never_treated_as_adopted():
    w, _ = sweep_world(interval_seconds=INTERVAL, timeout_seconds=100 * GRACE)
    w.jobs.script("job-1", "IN_PROGRESS", "COMPLETED")
    s = sweeper(w)
    w.clock.advance(INTERVAL + 10 * GRACE)  # far behind: overdue by much more than the grace
    result = s.sweep()
    assert (result.polled, result.adopted) == (1, 0)
    assert w.record.adopted_at is None and w.record.schedule_name == SWEEP_MODE_SCHEDULE_NAME
    w.clock.advance(INTERVAL)
    assert s.sweep().adopted == 0 and w.record.status is TokenStatus.COMPLETED


def test_a_per_job_poll_takes_the_record_back_from_the_sweep():
    w = orphaned_world()
    w.jobs.script("job-1", "IN_PROGRESS")
    s = sweeper(w)
    w.clock.advance(INTERVAL + GRACE + 1)
    assert s.sweep().adopted == 1 and w.record.adopted_at is not None
    # The schedule is back (Scheduler delivers again): its poll clears the mark ...
    w.schedules.existing.add("poll-job-1")
    w.clock.advance(INTERVAL)
    assert w.poller().poll("job-1").attempt == 2 and w.record.adopted_at is None
    # ... and the sweep leaves the record to it again, until it is overdue by the grace once more.
    for _ in range(GRACE // INTERVAL):  # its next slot, then all but the last interval of the grace
        w.clock.advance(INTERVAL)
        assert s.sweep().due == 0
    w.clock.advance(INTERVAL)
    assert s.sweep().adopted == 1 and w.record.attempt_count == 3


@pytest.mark.parametrize("crash", ["before", "after"])
def test_a_per_job_claim_whose_poller_died_and_whose_schedule_is_gone_is_finished_by_the_sweep(crash):
    w = World(interval_seconds=INTERVAL, lease_seconds=60)
    w.jobs.script("job-1", "COMPLETED")
    setattr(w.sender, f"crash_{crash}_delivery", 1)
    w.clock.advance(INTERVAL)
    with pytest.raises(SimulatedCrash):
        w.poller().poll("job-1")
    w.schedules.existing.clear()  # and its schedule is gone
    assert w.record.status is TokenStatus.CALLBACK_PENDING
    s = sweeper(w)
    w.clock.advance(60 + GRACE - 1)  # stale for the per-job poller, not orphaned yet
    assert s.sweep().due == 0
    w.clock.advance(2)
    result = s.sweep()
    assert (result.polled, result.adopted) == (1, 1)
    assert len(w.sfn.accepted) == 1 and w.record.status is TokenStatus.COMPLETED
    assert w.record.callback_result == ("ACCEPTED" if crash == "before" else "ALREADY_FINISHED")


class GatedSource(FakeDueSource):
    """The query is a step of the interleaving too (it sees the record as it is at that moment)."""


@pytest.mark.parametrize("already_adopted", [False, True], ids=["adopting", "adopted"])
def test_adoption_racing_the_per_job_poll_interleaved_at_every_point_gives_one_callback(already_adopted):
    """The per-job schedule comes back while the sweep adopts (or polls an adopted record): the per-job
    attempt is conditional on POLLING only, the sweep's on the slot it saw; the claim decides the callback."""

    def run_once(choices):
        il = Interleaver(choices)
        w = World(interval_seconds=INTERVAL, gate=il.gate)
        w.jobs.script("job-1", "COMPLETED")
        w.clock.advance(INTERVAL + GRACE + 1)
        if already_adopted:
            w.repo.items["job-1"] = replace(w.record, adopted_at=w.clock())
        s = SweepPoller(source=GatedSource(w.repo), repository=w.repo, sender=w.sender, jobs=w.jobs,
                        lease_seconds=w.lease_seconds, clock=w.clock, adopt_after_seconds=GRACE)
        il.run([s.sweep, lambda: w.poller().poll("job-1")])
        il.world = w
        return il

    runs = 0
    for il in all_interleavings(run_once):
        runs += 1
        assert not il.errors, il.errors
        w = il.world
        assert len(w.sfn.accepted) == 1 and w.sender.calls == 1
        assert w.record.status is TokenStatus.COMPLETED and w.record.claim_count == 1
        assert w.record.schedule_name == "poll-job-1"
        assert 1 <= w.record.attempt_count == w.jobs.checks["job-1"] <= 2
        sweep = il.results[0]
        assert sweep.polled + sweep.skipped + sweep.errors <= 1 and sweep.errors == 0
        assert sweep.adopted <= (0 if already_adopted else 1)
        # The per-job poller deleted its schedule, or finds the record finished on its next poll and does.
        w.poller().poll("job-1")
        assert "poll-job-1" not in w.schedules.existing
    assert runs > 10, runs
