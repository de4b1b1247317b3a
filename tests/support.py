"""Helpers shared by the test modules: polling until something holds.

A plain module, imported as ``from support import ...``: pytest puts this directory on ``sys.path`` when it
loads the root ``conftest.py`` here (rootdir-relative, as ``approval_support`` is imported).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from sfn_callback.poc import scenarios

T = TypeVar("T")

WAIT_STRETCH = float(os.environ.get("SFN_CALLBACK_TEST_WAIT_STRETCH") or 3)
"""Each wait below bounds a failure; it is not an expectation of speed: it returns as soon as what it waits for
holds, and gives up only after ``timeout * WAIT_STRETCH`` seconds, so that a loaded machine (two test workers,
other suites, a cold start of every function at once) does not fail a correct run. A real failure takes that
much longer to be reported."""


def stretched(seconds: float) -> float:
    """A scenario run's ``timeout_seconds`` (a wait until the jobs settle, like those below), stretched alike."""
    return seconds * WAIT_STRETCH


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.1,
             what: str = "condition") -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns a truthy value, and return that value;
    an ``AssertionError`` naming ``what`` if none came within ``timeout * WAIT_STRETCH`` seconds (the run command's own
    :func:`sfn_callback.poc.scenarios.wait_for`, failing as a test does)."""
    try:
        return scenarios.wait_for(predicate, timeout * WAIT_STRETCH, every=interval, what=what)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


def wait_execution(sfn: Any, arn: str, timeout: float = 30.0, interval: float = 0.1) -> dict[str, Any]:
    """``DescribeExecution`` of ``arn`` once it is no longer ``RUNNING``."""
    return wait_for(lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
                    timeout, interval, what=f"execution {arn.rsplit(':', 1)[-1]} ended")
