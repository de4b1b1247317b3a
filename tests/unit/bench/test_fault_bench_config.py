"""The fault run's groups: a share per fault, the rest for the control group, refusals for bad options."""

from __future__ import annotations

import pytest

from sfn_callback.bench.faults import CONTROL, FAULTS, FaultBenchConfig


def test_each_fault_gets_an_equal_share_and_the_control_group_the_rest():
    shares = FaultBenchConfig(jobs=100).shares()
    assert list(shares) == [CONTROL, *FAULTS]
    assert {shares[f] for f in FAULTS} == {9} and shares[CONTROL] == 100 - 9 * len(FAULTS)


def test_with_few_jobs_every_group_still_gets_its_jobs():
    shares = FaultBenchConfig(jobs=10).shares()
    assert shares[CONTROL] == 1 and shares["task-timeout-race"] == shares["approval-deadline-race"] == 3
    assert all(shares[f] == 1 for f in FAULTS if not f.endswith("race"))
    chosen = FaultBenchConfig(jobs=10, faults=("poller-killed",)).shares()
    assert chosen == {CONTROL: 5, "poller-killed": 5}


@pytest.mark.parametrize("options, message", [
    ({"faults": ("poller-killed", "gremlins")}, "unknown fault(s) gremlins"),
    ({"faults": ()}, "names no fault"),
    ({"jobs": 0}, "--jobs must be at least 1"),
    ({"interval_seconds": 0}, "--interval-seconds"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FaultBenchConfig(**options)
