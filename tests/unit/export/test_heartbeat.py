"""The heartbeat thread: beats at the interval while alive, stops with the job, lapses on a stall."""

from __future__ import annotations

import time

import pytest

from sfn_callback.export.application import Heartbeat, HeartbeatSettings

from .fakes import TOKEN, FakeMetrics, FakeStepFunctions, finished_token_outcome


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def test_beats_while_progressing_and_stops_on_completion() -> None:
    sfn, metrics = FakeStepFunctions(), FakeMetrics()
    beat = Heartbeat(sfn, TOKEN, HeartbeatSettings(0.02, 0.5), job_id="j", metrics=metrics).start()

    def touched_until_three_beats() -> bool:
        beat.touch()
        return len(sfn.of_kind("heartbeat")) >= 3

    wait_for(touched_until_three_beats)
    beat.stop()
    sent = len(sfn.of_kind("heartbeat"))
    time.sleep(0.1)  # several intervals: nothing more after stop()
    assert len(sfn.of_kind("heartbeat")) == sent
    assert not beat.running and beat.stopped_reason == "job ended"
    assert all(args == (TOKEN,) for args in sfn.of_kind("heartbeat"))
    assert beat.sent == sent and len(metrics.outcomes) == sent and beat.lapses == 0


def test_lapses_when_no_progress_and_resumes_with_progress() -> None:
    sfn = FakeStepFunctions()
    beat = Heartbeat(sfn, TOKEN, HeartbeatSettings(0.02, 0.08), job_id="j").start()
    try:
        wait_for(lambda: beat.lapsed)
        during_stall = len(sfn.of_kind("heartbeat"))
        time.sleep(0.2)  # ten intervals of stall
        assert len(sfn.of_kind("heartbeat")) == during_stall
        assert beat.lapses == 1

        def touched_until_resumed() -> bool:
            beat.touch()
            return len(sfn.of_kind("heartbeat")) > during_stall

        wait_for(touched_until_resumed)
        assert not beat.lapsed
    finally:
        beat.stop()


def test_stops_for_good_when_the_token_is_finished() -> None:
    sfn = FakeStepFunctions(heartbeat_outcome=finished_token_outcome("heartbeat", "TaskTimedOut"))
    beat = Heartbeat(sfn, TOKEN, HeartbeatSettings(0.01, 10)).start()
    wait_for(lambda: not beat.running)
    assert len(sfn.of_kind("heartbeat")) == 1
    assert beat.stopped_reason == "token finished (TaskTimedOut)"
    beat.stop()
    assert beat.stopped_reason == "token finished (TaskTimedOut)"


def test_default_stall_window_and_disabled_interval() -> None:
    assert HeartbeatSettings(10).stall_after == 30
    assert HeartbeatSettings(10, 12).stall_after == 12
    assert not HeartbeatSettings(0).enabled
    with pytest.raises(ValueError):
        Heartbeat(FakeStepFunctions(), TOKEN, HeartbeatSettings(0))
