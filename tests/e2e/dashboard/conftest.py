"""Fixtures of the dashboard's tests: the stack on the session's local cloud, the dashboard served against it,
waiting PoC jobs (stopped afterwards)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dashboard_support import Alarm, Dashboard, Jobs, alarm_in_alarm, serve_dashboard, stop_dashboard

from sfn_callback.config import Target
from sfn_callback.deploy.deployer import Deployer


@pytest.fixture(scope="module")
def stack(local_cloud: Any) -> Any:
    Deployer(Target(endpoint_url=local_cloud.endpoint_url)).apply()
    return local_cloud


@pytest.fixture
def dashboard(stack: Any, tmp_path: Any) -> Iterator[Dashboard]:
    served = serve_dashboard(stack.endpoint_url, str(tmp_path / "dashboard.log"), "--refresh", "1")
    try:
        yield served
    finally:
        stop_dashboard(served)


@pytest.fixture
def jobs(stack: Any) -> Iterator[Jobs]:
    made = Jobs(stack)
    try:
        yield made
    finally:
        made.stop_all()


@pytest.fixture
def make_alarm(stack: Any) -> Iterator[Callable[..., Alarm]]:
    """``make_alarm(prefix, treat_missing=...)``: an alarm in ALARM (see ``alarm_in_alarm``), deleted afterwards
    with its topic and queue."""
    made: list[Alarm] = []

    def make(prefix: str, treat_missing: str = "ignore") -> Alarm:
        made.append(alarm_in_alarm(stack, prefix, treat_missing))
        return made[-1]

    yield make
    for alarm in made:
        alarm.delete(stack)
