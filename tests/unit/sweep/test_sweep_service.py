"""The sweep poller over the token lifecycle's fakes: every PoC guarantee holds in sweep mode."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "poc"))

from poc_fakes import FlakyStepFunctionsClient, Interleaver, SimulatedCrash, World, all_interleavings  # noqa: E402

from sfn_callback.config import SWEEP_MODE_SCHEDULE_NAME  # noqa: E402
from sfn_callback.polling.application.create_job import CreateJobService  # noqa: E402
from sfn_callback.polling.application.sweep import DueRecord, SweepPoller  # noqa: E402
from sfn_callback.polling.domain.lifecycle import TokenStatus, iso, new_record  # noqa: E402


class FakeDueSource:
    """The GSI queries, over the fake repository's dict (the slot-conditional attempt is the repository's)."""

    def __init__(self, repo):
        self.repo = repo

    def due(self, now, stale_claims_before, limit, adopt_before=None, adopt_claims_before=None):
        self.repo.gate("query")
        with self.repo.lock:
            records = sorted(self.repo.items.values(), key=lambda r: r.next_poll_at)

        def ours(r):
            return r.schedule_name == SWEEP_MODE_SCHEDULE_NAME or r.adopted_at is not None

        def entry(r):
            return DueRecord(r.job_id, r.status.value, iso(r.next_poll_at), adopted=not ours(r))

        polling = [r for r in records if r.status is TokenStatus.POLLING and r.next_poll_at <= now and ours(r)]
        claims = [r for r in records if r.status is TokenStatus.CALLBACK_PENDING and r.next_poll_at <= now
                  and ((r.claimed_at <= stale_claims_before or r.claim_released_at is not None) and ours(r)
                       or adopt_claims_before is not None and r.claimed_at <= adopt_claims_before)]
        overdue = [] if adopt_before is None else [
            r for r in records if r.status is TokenStatus.POLLING and r.next_poll_at <= adopt_before and not ours(r)]
        return [entry(r) for r in polling + claims + overdue][:limit]


def sweep_world(jobs=1, gate=None, **kwargs):
    w = World(gate=gate, **kwargs) if gate else World(**kwargs)
    w.repo.items[w.job_id] = replace(w.record, schedule_name=SWEEP_MODE_SCHEDULE_NAME)
    w.schedules.existing.clear()
    tokens = {w.job_id: w.token}
    for i in range(2, jobs + 1):
        job_id = f"job-{i}"
        token = w.sfn.issue(f"token-{i}-" + "y" * 100)
        record = new_record(job_id=job_id, task_token=token, execution_id=f"arn:exec:{i}", now=w.clock(),
                            interval_seconds=kwargs.get("interval_seconds", 60), timeout_seconds=900, max_attempts=10)
        w.repo.put_new(replace(record, schedule_name=SWEEP_MODE_SCHEDULE_NAME))
        tokens[job_id] = token
    return w, tokens


def sweeper(w, **kwargs):
    return SweepPoller(source=FakeDueSource(w.repo), repository=w.repo, sender=w.sender, jobs=w.jobs,
                       lease_seconds=w.lease_seconds, clock=w.clock, **kwargs)


def test_several_jobs_complete_with_exactly_one_callback_each():
    w, tokens = sweep_world(jobs=5)
    for i, job_id in enumerate(tokens, start=1):
        w.jobs.script(job_id, *(["IN_PROGRESS"] * i), "COMPLETED")
    s = sweeper(w, concurrency=3)
    assert s.sweep().due == 0  # nothing due before the first interval
    for _ in range(7):
        w.clock.advance(60)
        s.sweep()
    assert sorted(t for t, _ in w.sfn.accepted) == sorted(tokens.values())
    for i, job_id in enumerate(tokens, start=1):
        record = w.repo.items[job_id]
        assert record.status is TokenStatus.COMPLETED and record.claim_count == 1
        assert record.attempt_count == i + 1 == w.jobs.checks[job_id]
    assert w.schedules.deletes == []  # sweep-mode records have no schedule of their own
    w.clock.advance(60)
    assert s.sweep().due == 0


def test_records_of_per_job_mode_are_left_to_their_schedules():
    w = World()
    w.clock.advance(120)
    assert sweeper(w).sweep().due == 0 and w.record.attempt_count == 0


@pytest.mark.parametrize("crash", ["before", "after"])
def test_crash_between_claim_and_callback_is_finished_by_a_later_sweep(crash):
    w, _ = sweep_world(lease_seconds=60)
    w.jobs.script("job-1", "COMPLETED")
    setattr(w.sender, f"crash_{crash}_delivery", 1)
    s = sweeper(w)
    w.clock.advance(60)
    with pytest.raises(SimulatedCrash):
        s.sweep()
    assert w.record.status is TokenStatus.CALLBACK_PENDING
    w.clock.advance(30)
    assert s.sweep().polled == 0  # the claim is still within its lease
    w.clock.advance(31)
    result = s.sweep()
    assert result.polled == 1
    assert len(w.sfn.accepted) == 1 and w.record.status is TokenStatus.COMPLETED
    assert w.record.callback_result == ("ACCEPTED" if crash == "before" else "ALREADY_FINISHED")


def test_a_sweep_whose_callback_failed_transiently_is_resumed_by_the_next_sweep_at_once():
    """A sweep poll's every SendTaskSuccess attempt answered 500: the sweep releases the claim (recorded with
    the invocation's request id), and the next sweep resumes it at once rather than after the 60 s lease."""
    w, _ = sweep_world(lease_seconds=60)
    w.jobs.script("job-1", "COMPLETED")
    flaky = FlakyStepFunctionsClient(w.sfn, failures=5)
    w.sender = flaky.sender()
    w.clock.advance(60)
    first = sweeper(w).sweep(holder="req-1")
    assert (first.polled, first.errors) == (0, 1) and flaky.calls == 5
    assert w.record.status is TokenStatus.CALLBACK_PENDING and w.record.claim_holder == "req-1"
    assert w.record.claim_released_at is not None
    w.clock.advance(1)
    second = sweeper(w).sweep(holder="req-2")
    assert second.polled == 1 and second.reconnected == 1
    assert len(w.sfn.accepted) == 1 and w.record.status is TokenStatus.COMPLETED and w.record.claim_count == 2


def test_two_overlapping_sweeps_interleaved_at_every_point_poll_once_and_call_back_once():
    def run_once(choices):
        il = Interleaver(choices)
        w, _ = sweep_world(gate=il.gate)
        w.jobs.script("job-1", "COMPLETED")
        w.clock.advance(60)
        s1, s2 = sweeper(w), sweeper(w)
        il.run([s1.sweep, s2.sweep])
        il.world = w
        return il

    runs = 0
    for il in all_interleavings(run_once):
        runs += 1
        assert not il.errors, il.errors
        w = il.world
        assert len(w.sfn.accepted) == 1
        assert w.record.status is TokenStatus.COMPLETED and w.record.claim_count == 1
        assert w.record.attempt_count == 1 and w.jobs.checks["job-1"] == 1
        # Each sweep polled the job, found its slot taken, or no longer saw it due.
        assert all(r.polled + r.skipped + r.errors <= 1 and r.errors == 0 for r in il.results.values())
    assert runs > 1


def test_a_failing_poll_leaves_the_record_for_the_next_sweep():
    w, _ = sweep_world(jobs=2)
    w.jobs.script("job-1", "COMPLETED")
    w.jobs.script("job-2", "COMPLETED")
    original = w.jobs.check_status
    w.jobs.check_status = lambda job_id: (_ for _ in ()).throw(RuntimeError("api down")) if job_id == "job-2" \
        else original(job_id)
    w.clock.advance(60)
    result = sweeper(w).sweep()
    assert (result.polled, result.errors) == (1, 1)
    w.jobs.check_status = original
    w.clock.advance(60)
    assert sweeper(w).sweep().polled == 1
    assert len(w.sfn.accepted) == 2


def test_sweep_mode_create_job_stores_the_record_without_a_schedule():
    w = World(job_id="job-0")
    service = CreateJobService(jobs=w.jobs, repository=w.repo, schedules=w.schedules, allow_sub_minute=True,
                               clock=w.clock)
    event = {"record": {"id": "r"}, "taskToken": "t" * 40, "executionId": "arn:exec:9",
             "pollingConfig": {"intervalSeconds": 5, "maxAttempts": 3, "timeoutSeconds": 60, "mode": "sweep"}}
    result = service.handle(event)
    assert result["pollingMode"] == "sweep" and w.schedules.created == []
    record = w.repo.items[result["jobId"]]
    assert record.schedule_name == SWEEP_MODE_SCHEDULE_NAME and record.next_poll_at is not None
    per_job = service.handle(event | {"pollingConfig": event["pollingConfig"] | {"mode": "per-job"}})
    assert w.schedules.created and per_job["scheduleName"].startswith("poll-")
    with pytest.raises(ValueError, match="mode"):
        service.handle(event | {"pollingConfig": event["pollingConfig"] | {"mode": "hourly"}})
