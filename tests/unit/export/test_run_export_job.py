"""RunExportJob: files through source and sink, outcomes, heartbeats, the callback."""

from __future__ import annotations

import pytest

from sfn_callback.export.application import (
    CallbackResult,
    FileSourceError,
    FileSpec,
    HeartbeatSettings,
    RunExportJob,
    RunOptions,
    StartExportJob,
    StartExportJobCommand,
)

from .fakes import TOKEN, FakeFileSource, FakeSink, FakeStepFunctions

FILES = {f"http://files/{n}.csv": f"data {n}".encode() for n in (1, 2, 3)}


def start(repo, clock, *, token=TOKEN, urls=tuple(FILES)) -> str:
    command = StartExportJobCommand(
        job_id="job-1",
        export_id="export-1",
        user_id="user-1",
        files=[FileSpec(url=u, name=u.rsplit("/", 1)[1]) for u in urls],
        task_token=token,
    )
    return StartExportJob(repo, clock=clock).execute(command).job_id


def runner(repo, source, sink, sfn, clock, interval=0.02, stall_after=None) -> RunExportJob:
    return RunExportJob(repo, source, sink, sfn, heartbeat=HeartbeatSettings(interval, stall_after), clock=clock)


def test_exports_every_file_and_sends_success_last(repo, sink, sfn, clock) -> None:
    source = FakeFileSource(FILES)
    job_id = start(repo, clock)
    # Files of 0.1 s each, a beat every 0.02 s, and a stall threshold far above any scheduling pause of a loaded
    # machine (the default, 3 beats, is 0.06 s: a 60 ms pause of this process would count as a stall).
    result = runner(repo, source, sink, sfn, clock, stall_after=1.0).execute(job_id, RunOptions(file_delay_seconds=0.1))

    assert sorted(sink.written.values()) == sorted(FILES.values())
    assert result.job.status.value == "COMPLETED"
    assert result.callback.result is CallbackResult.SENT
    assert [t.location for t in repo.get(job_id).tasks] == [
        f"mem://export-1/job-1/{n}.csv" for n in (1, 2, 3)
    ]
    kinds = [kind for kind, _ in sfn.calls]
    assert kinds[-1] == "success" and kinds.count("success") == 1
    assert result.heartbeats_sent == kinds.count("heartbeat") >= 1  # slow files kept the heartbeat going
    assert result.heartbeat_lapses == 0


def test_failed_files_give_the_failure_callback(repo, sfn, clock) -> None:
    source = FakeFileSource({**FILES, "http://files/2.csv": FileSourceError("GET http://files/2.csv answered HTTP 404")})
    sink = FakeSink(fail_names={"3.csv"})
    job_id = start(repo, clock)
    result = runner(repo, source, sink, sfn, clock).execute(job_id)

    assert sfn.of_kind("failure") == [(TOKEN, "JobCompletedWithFailures", "Job completed with 2 failed tasks out of 3 total")]
    tasks = repo.get(job_id).tasks
    assert [t.status.value for t in tasks] == ["COMPLETED", "FAILED", "FAILED"]
    assert "HTTP 404" in tasks[1].error and "disk full" in tasks[2].error
    assert result.job.counts() == {"totalTasks": 3, "completedTasks": 1, "failedTasks": 2}


def test_job_without_token_runs_without_any_call(repo, sink, sfn, clock) -> None:
    job_id = start(repo, clock, token=None)
    result = runner(repo, FakeFileSource(FILES), sink, sfn, clock).execute(job_id, RunOptions(file_delay_seconds=0.05))
    assert sfn.calls == [] and len(sink.written) == 3
    assert result.job.status.value == "COMPLETED" and result.callback.result is CallbackResult.NO_TOKEN


def test_stalled_task_lets_the_heartbeat_lapse(repo, sink, sfn, clock) -> None:
    job_id = start(repo, clock)
    result = runner(repo, FakeFileSource(FILES), sink, sfn, clock, interval=0.02, stall_after=0.1).execute(
        job_id, RunOptions(stall_seconds=0.5, stall_on_task=2)
    )
    assert result.heartbeat_lapses == 1
    # the callback is still attempted when the stalled task ends; here the token is still valid
    assert sfn.of_kind("success")


def test_stall_then_token_finished_is_recorded_not_raised(repo, sink, clock) -> None:
    from .fakes import finished_token_outcome

    sfn = FakeStepFunctions(success_outcome=finished_token_outcome("success", "TaskTimedOut"))
    job_id = start(repo, clock)
    result = runner(repo, FakeFileSource(FILES), sink, sfn, clock, interval=0.02, stall_after=0.05).execute(
        job_id, RunOptions(stall_seconds=0.2, stall_on_task=1)
    )
    assert result.job.status.value == "COMPLETED"
    assert result.callback.result is CallbackResult.FAILED
    assert repo.get(job_id).callback_state == "FAILED"


def test_hanging_download_lets_the_heartbeat_lapse(repo, sink, sfn, clock) -> None:
    import threading

    source = FakeFileSource(FILES)
    release = source.hang["http://files/1.csv"] = threading.Event()
    job_id = start(repo, clock)
    run = runner(repo, source, sink, sfn, clock, interval=0.02, stall_after=0.06)
    done: list = []
    worker = threading.Thread(target=lambda: done.append(run.execute(job_id)))
    worker.start()
    import time

    deadline = time.monotonic() + 5
    while len(sfn.calls) == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.2)  # the hang outlasts the stall window: heartbeats stop
    beats_during_hang = len(sfn.of_kind("heartbeat"))
    time.sleep(0.2)
    assert len(sfn.of_kind("heartbeat")) == beats_during_hang
    release.set()
    worker.join(5)
    assert done and done[0].heartbeat_lapses == 1 and done[0].callback.result is CallbackResult.SENT


def test_empty_job_and_redelivery_owe_only_the_callback(repo, sink, sfn, clock) -> None:
    job_id = start(repo, clock, urls=())
    run = runner(repo, FakeFileSource(), sink, sfn, clock)
    first = run.execute(job_id)
    assert first.callback.result is CallbackResult.SENT
    assert sfn.of_kind("success")[0][1]["totalTasks"] == 0
    assert run.execute(job_id).callback.result is CallbackResult.ALREADY_CLAIMED
    assert len(sfn.calls) == 1


@pytest.mark.parametrize("delay", [0.0])
def test_resume_processes_only_pending_tasks(repo, sink, sfn, clock, delay) -> None:
    source = FakeFileSource(FILES)
    job_id = start(repo, clock)
    job = repo.get(job_id)
    job.record_outcome("task-1", success=True, at=clock(), location="earlier")
    repo.save(job)
    runner(repo, source, sink, sfn, clock).execute(job_id, RunOptions(file_delay_seconds=delay))
    assert source.fetched == ["http://files/2.csv", "http://files/3.csv"]
