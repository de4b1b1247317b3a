"""The sweep poller's stack: one function, one schedule, seconds only on a local target."""

from __future__ import annotations

import pytest

from sfn_callback.deploy.spec import Schedule, Stack, StackContext
from sfn_callback.poc.sweep_stack import SWEEP_FUNCTION, contribute


@pytest.mark.parametrize("local, expression", [(True, "rate(1 second)"), (False, "rate(1 minute)")])
def test_one_schedule_fires_the_sweep_function(local, expression, monkeypatch):
    monkeypatch.delenv("SFN_CALLBACK_SWEEP_SECONDS", raising=False)
    ctx = StackContext("000000000000", "us-east-1", local)
    stack = Stack(ctx)
    contribute(stack, ctx)
    (schedule,) = stack.find("schedule")
    assert isinstance(schedule, Schedule) and schedule.name == "poc-sweep/poc-sweep"
    props = schedule.properties(ctx)
    assert props["expression"] == expression and props["targetArn"].endswith(f":function:{SWEEP_FUNCTION}")
    kinds = [r.kind for r in stack.ordered()]
    assert kinds.index("schedule-group") < kinds.index("schedule") and kinds.index("function") < kinds.index("schedule")


def test_a_bad_local_sweep_interval_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SFN_CALLBACK_SWEEP_SECONDS", "0")
    ctx = StackContext("000000000000", "us-east-1", True)
    with pytest.raises(ValueError, match="at least 1"):
        contribute(Stack(ctx), ctx)


@pytest.mark.parametrize("local, override, seconds", [(False, None, "300"), (True, None, "30"), (True, "0", "0"),
                                                      (False, "5", "300")])
def test_the_adoption_grace_is_five_minutes_on_aws_and_seconds_locally(local, override, seconds, monkeypatch):
    monkeypatch.delenv("SFN_CALLBACK_SWEEP_SECONDS", raising=False)
    if override is None:
        monkeypatch.delenv("SFN_CALLBACK_SWEEP_ADOPT_SECONDS", raising=False)
    else:
        monkeypatch.setenv("SFN_CALLBACK_SWEEP_ADOPT_SECONDS", override)
    ctx = StackContext("000000000000", "us-east-1", local)
    stack = Stack(ctx)
    contribute(stack, ctx)
    (function,) = [r for r in stack.resources if getattr(r, "name", None) == SWEEP_FUNCTION]
    assert dict(function.env)["SWEEP_ADOPT_AFTER_SECONDS"] == seconds


def test_a_bad_local_adoption_grace_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SFN_CALLBACK_SWEEP_ADOPT_SECONDS", "soon")
    ctx = StackContext("000000000000", "us-east-1", True)
    with pytest.raises(ValueError, match="whole number"):
        contribute(Stack(ctx), ctx)
